import CFFmpeg
import Foundation

/// Small helpers over libav* that the readers and the writer share.
enum FF {
    static let eagain = lipsync_averror_eagain()
    static let eof = lipsync_averror_eof()
    static let invalidData = lipsync_averror_invaliddata()
    static let noPTS = lipsync_nopts()
    static let timeBase = Int64(lipsync_time_base())

    static func errorString(_ code: Int32) -> String {
        var buf = [CChar](repeating: 0, count: 256)
        av_strerror(code, &buf, buf.count)
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func seconds(_ r: AVRational) -> Double { r.den == 0 ? 0 : Double(r.num) / Double(r.den) }

    /// Opens a container for reading, mapping libav failures to `MediaError`.
    static func openInput(_ path: String) throws -> UnsafeMutablePointer<AVFormatContext> {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw MediaError.fileNotFound(path: path) }
        guard !isDir.boolValue else { throw MediaError.isDirectory(path: path) }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw MediaError.notMedia(path: path, reason: "permission denied")
        }
        av_log_set_level(AV_LOG_QUIET)
        var ctx: UnsafeMutablePointer<AVFormatContext>? = nil
        let rc = avformat_open_input(&ctx, path, nil, nil)
        guard rc >= 0, let fmt = ctx else {
            throw MediaError.notMedia(path: path, reason: errorString(rc))
        }
        let rc2 = avformat_find_stream_info(fmt, nil)
        if rc2 < 0 {
            var c: UnsafeMutablePointer<AVFormatContext>? = fmt
            avformat_close_input(&c)
            throw MediaError.notMedia(path: path, reason: errorString(rc2))
        }
        return fmt
    }

    /// The instant every stream of the file is measured from, in seconds: the container's start
    /// time, as ffmpeg uses it to shift all streams so that video frame 0 and audio sample 0 line up.
    static func timelineOrigin(_ fmt: UnsafeMutablePointer<AVFormatContext>) -> Double {
        let st = fmt.pointee.start_time
        return st == noPTS ? 0 : Double(st) / Double(timeBase)
    }

    static func stream(_ fmt: UnsafeMutablePointer<AVFormatContext>, _ i: Int32) -> UnsafeMutablePointer<AVStream> {
        fmt.pointee.streams[Int(i)]!
    }

    /// Clockwise rotation in degrees (0, 90, 180, 270) that displays the stream upright.
    static func rotation(of st: UnsafeMutablePointer<AVStream>) -> Int {
        var size: Int = 0
        guard let raw = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size), size >= 36 else { return 0 }
        let angle = raw.withMemoryRebound(to: Int32.self, capacity: 9) { av_display_rotation_get($0) }
        guard angle.isFinite else { return 0 }
        let cw = Int((-angle).rounded())
        let r = ((cw % 360) + 360) % 360
        return (r + 45) / 90 * 90 % 360
    }

    static func codecName(_ id: AVCodecID) -> String { String(cString: avcodec_get_name(id)) }

    /// Decoder threads: both cores by default, never more than the machine has.
    static var defaultThreads: Int32 { Int32(max(1, min(16, ProcessInfo.processInfo.activeProcessorCount))) }

    static func openDecoder(for st: UnsafeMutablePointer<AVStream>, path: String, threads: Int32) throws
        -> UnsafeMutablePointer<AVCodecContext>
    {
        guard let codec = avcodec_find_decoder(st.pointee.codecpar.pointee.codec_id) else {
            throw MediaError.notMedia(path: path, reason: "no decoder for codec \(codecName(st.pointee.codecpar.pointee.codec_id))")
        }
        guard let ctx = avcodec_alloc_context3(codec) else { throw MediaError.notMedia(path: path, reason: "out of memory") }
        var c: UnsafeMutablePointer<AVCodecContext>? = ctx
        var rc = avcodec_parameters_to_context(ctx, st.pointee.codecpar)
        if rc >= 0 {
            ctx.pointee.thread_count = threads
            ctx.pointee.thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE
            ctx.pointee.pkt_timebase = st.pointee.time_base
            rc = avcodec_open2(ctx, codec, nil)
        }
        if rc < 0 {
            avcodec_free_context(&c)
            throw MediaError.notMedia(path: path, reason: "cannot open decoder: \(errorString(rc))")
        }
        return ctx
    }
}
