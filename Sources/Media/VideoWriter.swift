import CFFmpeg
import Foundation

/// Where the written video's sound comes from.
public enum AudioTrackSource: Sendable {
    case none
    /// Mono Float32 samples at this rate, pushed with `VideoWriter.append(audio:)`, encoded as AAC.
    case samples(sampleRate: Int)
    /// The audio stream of another file, copied without re-encoding (transcoded to AAC if MP4 cannot hold it).
    case copy(fromFile: String)
}

public struct VideoWriterOptions: Sendable {
    public var crf: Int
    public var preset: String
    public var audio: AudioTrackSource
    public var audioBitrate: Int
    /// Container tags (MP4: written as metadata items, so custom keys survive).
    public var metadata: [String: String] = [:]
    public init(crf: Int = 18, preset: String = "medium", audio: AudioTrackSource = .none, audioBitrate: Int = 128_000) {
        self.crf = crf
        self.preset = preset
        self.audio = audio
        self.audioBitrate = audioBitrate
    }
}

/// Streaming H.264/MP4 encoder. Writes to a hidden temporary file beside the target and renames it
/// into place on `finish()`, so a failed or interrupted run never leaves a half-written output.
public final class VideoWriter {
    public let path: String
    public let width: Int
    public let height: Int
    public let fps: Double
    /// Name of the video encoder in use (libx264, or the fallback).
    public private(set) var encoderName = ""
    public private(set) var warnings: [String] = []

    private let tempPath: String
    private var oc: UnsafeMutablePointer<AVFormatContext>?
    private var venc: UnsafeMutablePointer<AVCodecContext>?
    private var vst: UnsafeMutablePointer<AVStream>?
    private var aenc: UnsafeMutablePointer<AVCodecContext>?
    private var ast: UnsafeMutablePointer<AVStream>?
    private var vframe: UnsafeMutablePointer<AVFrame>?
    private var aframe: UnsafeMutablePointer<AVFrame>?
    private var pkt: UnsafeMutablePointer<AVPacket>?
    private var sws: OpaquePointer?
    private var scratch: UnsafeMutableRawPointer?
    private var scratchBytes = 0
    private var frameCount: Int64 = 0
    private var audioPending: [Float] = []
    private var audioPTS: Int64 = 0
    private var copySource: CopySource?
    private var transcodeSource: AudioReader?
    private var finished = false
    private var headerWritten = false

    private final class CopySource {
        var fmt: UnsafeMutablePointer<AVFormatContext>?
        let index: Int32
        let origin: Int64
        let tb: AVRational
        var pkt: UnsafeMutablePointer<AVPacket>? = av_packet_alloc()
        var done = false
        init(fmt: UnsafeMutablePointer<AVFormatContext>, index: Int32) {
            self.fmt = fmt
            self.index = index
            tb = FF.stream(fmt, index).pointee.time_base
            let o = fmt.pointee.start_time
            origin = o == FF.noPTS ? 0 : av_rescale_q(o, AVRational(num: 1, den: Int32(FF.timeBase)), tb)
        }
        deinit { av_packet_free(&pkt); avformat_close_input(&fmt) }
    }

    public init(path: String, width: Int, height: Int, fps: Double, options: VideoWriterOptions = .init()) throws {
        guard width >= 2, height >= 2, fps > 0, fps.isFinite else {
            throw MediaError.invalidArgument("\(path): invalid output size \(width)x\(height) at \(fps) fps")
        }
        self.path = path
        // yuv420p needs even sizes: the odd last row or column is cropped.
        self.width = width & ~1
        self.height = height & ~1
        self.fps = fps
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw MediaError.unwritableOutput(path: path, reason: "directory \(dir) does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: dir) else {
            throw MediaError.unwritableOutput(path: path, reason: "directory \(dir) is not writable")
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw MediaError.unwritableOutput(path: path, reason: "is a directory")
        }
        tempPath = AtomicOutput.temporaryPath(for: path)
        do {
            try setUp(options: options)
        } catch {
            cleanUp()
            throw error
        }
    }

    deinit { cleanUp() }

    private func fail(_ reason: String) -> MediaError { .encodeFailed(path: path, reason: reason) }

    private func setUp(options: VideoWriterOptions) throws {
        av_log_set_level(AV_LOG_QUIET)
        var ctx: UnsafeMutablePointer<AVFormatContext>? = nil
        var rc = avformat_alloc_output_context2(&ctx, nil, nil, tempPath)
        if rc < 0 || ctx == nil { rc = avformat_alloc_output_context2(&ctx, nil, "mp4", tempPath) }
        guard rc >= 0, let oc = ctx else { throw fail("cannot create container: \(FF.errorString(rc))") }
        self.oc = oc
        pkt = av_packet_alloc()
        try openVideoEncoder(options)
        switch options.audio {
        case .none: break
        case .samples(let rate): try openAudioEncoder(sampleRate: rate, bitrate: options.audioBitrate)
        case .copy(let file): try openAudioCopy(file, bitrate: options.audioBitrate)
        }
        let orc = avio_open(&oc.pointee.pb, tempPath, AVIO_FLAG_WRITE)
        guard orc >= 0 else { throw MediaError.unwritableOutput(path: path, reason: FF.errorString(orc)) }
        var opts: OpaquePointer? = nil
        for (k, v) in options.metadata.sorted(by: { $0.key < $1.key }) { av_dict_set(&oc.pointee.metadata, k, v, 0) }
        if String(cString: oc.pointee.oformat.pointee.name).contains("mp4") {
            av_dict_set(&opts, "movflags", options.metadata.isEmpty ? "+faststart" : "+faststart+use_metadata_tags", 0)
        }
        rc = avformat_write_header(oc, &opts)
        av_dict_free(&opts)
        guard rc >= 0 else { throw fail("cannot write header: \(FF.errorString(rc))") }
        headerWritten = true
    }

    private func openVideoEncoder(_ options: VideoWriterOptions) throws {
        var codec = avcodec_find_encoder_by_name("libx264")
        if codec == nil {
            for name in ["libopenh264", "mpeg4"] {
                if let c = avcodec_find_encoder_by_name(name) {
                    codec = c
                    let w = "libx264 is not available; encoding with \(name) instead"
                    warnings.append(w)
                    FileHandle.standardError.write(Data("warning: \(path): \(w)\n".utf8))
                    break
                }
            }
        }
        guard let codec = codec else { throw fail("no H.264 or MPEG-4 encoder in this libavcodec") }
        encoderName = String(cString: codec.pointee.name)
        guard let enc = avcodec_alloc_context3(codec), let st = avformat_new_stream(oc, nil) else { throw fail("out of memory") }
        venc = enc
        vst = st
        let rate = av_d2q(fps, 1_001_000)
        enc.pointee.width = Int32(width)
        enc.pointee.height = Int32(height)
        enc.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        enc.pointee.time_base = AVRational(num: rate.den, den: rate.num)
        enc.pointee.framerate = rate
        enc.pointee.gop_size = Int32(max(1, (fps * 2).rounded()))
        enc.pointee.thread_count = FF.defaultThreads
        if (oc!.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER) != 0 {
            enc.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
        }
        var opts: OpaquePointer? = nil
        if encoderName == "libx264" {
            av_dict_set(&opts, "crf", String(options.crf), 0)
            av_dict_set(&opts, "preset", options.preset, 0)
        } else {
            enc.pointee.bit_rate = Int64(width * height) * Int64(fps.rounded()) / 8
        }
        let rc = avcodec_open2(enc, codec, &opts)
        av_dict_free(&opts)
        guard rc >= 0 else { throw fail("cannot open \(encoderName): \(FF.errorString(rc))") }
        avcodec_parameters_from_context(st.pointee.codecpar, enc)
        st.pointee.time_base = enc.pointee.time_base
        st.pointee.avg_frame_rate = rate
        vframe = av_frame_alloc()
        vframe!.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        vframe!.pointee.width = Int32(width)
        vframe!.pointee.height = Int32(height)
        guard av_frame_get_buffer(vframe, 0) >= 0 else { throw fail("out of memory") }
    }

    private func openAudioEncoder(sampleRate: Int, bitrate: Int) throws {
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_AAC),
              let enc = avcodec_alloc_context3(codec), let st = avformat_new_stream(oc, nil) else {
            throw fail("no AAC encoder")
        }
        aenc = enc
        ast = st
        enc.pointee.sample_fmt = AV_SAMPLE_FMT_FLTP
        enc.pointee.sample_rate = Int32(sampleRate)
        av_channel_layout_default(&enc.pointee.ch_layout, 1)
        enc.pointee.bit_rate = Int64(bitrate)
        enc.pointee.time_base = AVRational(num: 1, den: Int32(sampleRate))
        if (oc!.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER) != 0 {
            enc.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
        }
        let rc = avcodec_open2(enc, codec, nil)
        guard rc >= 0 else { throw fail("cannot open AAC encoder: \(FF.errorString(rc))") }
        avcodec_parameters_from_context(st.pointee.codecpar, enc)
        st.pointee.time_base = enc.pointee.time_base
        aframe = av_frame_alloc()
        aframe!.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
        aframe!.pointee.nb_samples = enc.pointee.frame_size
        aframe!.pointee.sample_rate = Int32(sampleRate)
        av_channel_layout_default(&aframe!.pointee.ch_layout, 1)
        guard av_frame_get_buffer(aframe, 0) >= 0 else { throw fail("out of memory") }
    }

    private func openAudioCopy(_ file: String, bitrate: Int) throws {
        let inFmt = try FF.openInput(file)
        let idx = av_find_best_stream(inFmt, AVMEDIA_TYPE_AUDIO, -1, -1, nil, 0)
        guard idx >= 0 else {
            var c: UnsafeMutablePointer<AVFormatContext>? = inFmt
            avformat_close_input(&c)
            throw MediaError.noAudioStream(path: file)
        }
        let inPar = FF.stream(inFmt, idx).pointee.codecpar!
        if avformat_query_codec(oc!.pointee.oformat, inPar.pointee.codec_id, FF_COMPLIANCE_NORMAL) == 1 {
            guard let st = avformat_new_stream(oc, nil) else { throw fail("out of memory") }
            avcodec_parameters_copy(st.pointee.codecpar, inPar)
            st.pointee.codecpar.pointee.codec_tag = 0
            st.pointee.time_base = FF.stream(inFmt, idx).pointee.time_base
            ast = st
            copySource = CopySource(fmt: inFmt, index: idx)
        } else {
            // The container cannot carry this codec: decode and re-encode as AAC at the source rate.
            let rate = Int(inPar.pointee.sample_rate)
            var c: UnsafeMutablePointer<AVFormatContext>? = inFmt
            avformat_close_input(&c)
            transcodeSource = try AudioReader(path: file, sampleRate: rate > 0 ? rate : 48_000)
            try openAudioEncoder(sampleRate: transcodeSource!.sampleRate, bitrate: bitrate)
        }
    }

    /// Appends one picture. Its size must match the writer's (odd sizes are cropped by one pixel).
    public func append(_ image: RGBImage) throws {
        guard !finished else { throw fail("append after finish") }
        guard image.width == width || image.width == width + 1, image.height == height || image.height == height + 1 else {
            throw MediaError.invalidArgument("\(path): frame is \(image.width)x\(image.height), writer expects \(width)x\(height)")
        }
        if sws == nil {
            sws = sws_getContext(Int32(width), Int32(height), AV_PIX_FMT_RGB24, Int32(width), Int32(height),
                                 AV_PIX_FMT_YUV420P, Int32(SWS_BICUBIC | SWS_ACCURATE_RND), nil, nil, nil)
        }
        guard av_frame_make_writable(vframe) >= 0 else { throw fail("out of memory") }
        let f = vframe!
        // Packed rows go through an aligned, padded copy: swscale's SIMD loads read past packed rows.
        let rowBytes = image.width * 3, stride = (rowBytes + 63) & ~63
        if scratchBytes < stride * height + 64 {
            av_free(scratch)
            scratchBytes = stride * height + 64
            scratch = av_mallocz(scratchBytes)
        }
        let base = scratch!
        image.pixels.withUnsafeBytes { src in
            for y in 0..<height { (base + y * stride).copyMemory(from: src.baseAddress! + y * rowBytes, byteCount: rowBytes) }
        }
        var src: [UnsafePointer<UInt8>?] = [UnsafePointer(base.assumingMemoryBound(to: UInt8.self)), nil, nil, nil]
        var srcStride: [Int32] = [Int32(stride), 0, 0, 0]
        withUnsafeMutablePointer(to: &f.pointee.data) { d in
            d.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { dst in
                withUnsafeMutablePointer(to: &f.pointee.linesize) { l in
                    l.withMemoryRebound(to: Int32.self, capacity: 8) { ls in
                        _ = sws_scale(sws, &src, &srcStride, 0, Int32(height), dst, ls)
                    }
                }
            }
        }
        f.pointee.pts = frameCount
        frameCount += 1
        try encode(venc!, frame: f, stream: vst!)
        try pumpAudio(untilSeconds: Double(frameCount) / fps + 1)
    }

    /// Appends mono samples at the rate given in `.samples(sampleRate:)`.
    public func append(audio samples: [Float]) throws {
        guard case .some = aenc, copySource == nil, transcodeSource == nil else {
            throw MediaError.invalidArgument("\(path): this writer was not set up for pushed audio samples")
        }
        audioPending.append(contentsOf: samples)
        try encodePendingAudio(final: false)
    }

    private func encodePendingAudio(final: Bool) throws {
        guard let enc = aenc, let f = aframe else { return }
        let n = Int(enc.pointee.frame_size)
        var start = 0
        while audioPending.count - start >= n || (final && audioPending.count - start > 0) {
            let count = min(n, audioPending.count - start)
            guard av_frame_make_writable(f) >= 0 else { throw fail("out of memory") }
            f.pointee.nb_samples = Int32(count)
            let dst = UnsafeMutableRawPointer(f.pointee.data.0!).assumingMemoryBound(to: Float.self)
            audioPending.withUnsafeBufferPointer { src in
                dst.update(from: src.baseAddress! + start, count: count)
            }
            f.pointee.pts = audioPTS
            audioPTS += Int64(count)
            start += count
            try encode(enc, frame: f, stream: ast!)
        }
        audioPending.removeFirst(start)
    }

    /// Feeds copied or transcoded audio up to a little past the video written so far, keeping the
    /// muxer's interleaving queue short.
    private func pumpAudio(untilSeconds limit: Double) throws {
        if let t = transcodeSource {
            let rate = Double(t.sampleRate)
            while Double(audioPTS + Int64(audioPending.count)) / rate < limit, let chunk = try t.read(maxSamples: 4096) {
                audioPending.append(contentsOf: chunk)
            }
            try encodePendingAudio(final: false)
            return
        }
        guard let src = copySource, !src.done, let ost = ast else { return }
        while true {
            let rc = av_read_frame(src.fmt, src.pkt)
            if rc < 0 { src.done = true; return }
            let p = src.pkt!
            defer { av_packet_unref(p) }
            guard p.pointee.stream_index == src.index else { continue }
            if p.pointee.pts != FF.noPTS { p.pointee.pts -= src.origin }
            if p.pointee.dts != FF.noPTS { p.pointee.dts -= src.origin }
            let t = p.pointee.pts == FF.noPTS ? 0 : Double(p.pointee.pts) * FF.seconds(src.tb)
            av_packet_rescale_ts(p, src.tb, ost.pointee.time_base)
            p.pointee.stream_index = ost.pointee.index
            p.pointee.pos = -1
            let wr = av_interleaved_write_frame(oc, p)
            guard wr >= 0 else { throw fail("cannot write audio packet: \(FF.errorString(wr))") }
            if t > limit { return }
        }
    }

    private func encode(_ enc: UnsafeMutablePointer<AVCodecContext>, frame: UnsafeMutablePointer<AVFrame>?,
                        stream: UnsafeMutablePointer<AVStream>) throws {
        var rc = avcodec_send_frame(enc, frame)
        guard rc >= 0 || rc == FF.eof else { throw fail("encoder rejected frame: \(FF.errorString(rc))") }
        while true {
            rc = avcodec_receive_packet(enc, pkt)
            if rc == FF.eagain || rc == FF.eof { return }
            guard rc >= 0 else { throw fail("encoder error: \(FF.errorString(rc))") }
            av_packet_rescale_ts(pkt, enc.pointee.time_base, stream.pointee.time_base)
            pkt!.pointee.stream_index = stream.pointee.index
            let wr = av_interleaved_write_frame(oc, pkt)
            guard wr >= 0 else { throw MediaError.unwritableOutput(path: path, reason: FF.errorString(wr)) }
        }
    }

    /// Flushes the encoders, finalises the container and moves it to `path`.
    public func finish() throws {
        guard !finished else { return }
        finished = true
        do {
            try encode(venc!, frame: nil, stream: vst!)
            if transcodeSource != nil || copySource != nil { try pumpAudio(untilSeconds: .infinity) }
            if let enc = aenc {
                try encodePendingAudio(final: true)
                try encode(enc, frame: nil, stream: ast!)
            }
            let rc = av_write_trailer(oc)
            guard rc >= 0 else { throw fail("cannot finalise container: \(FF.errorString(rc))") }
            avio_closep(&oc!.pointee.pb)
            try AtomicOutput.commit(tempPath, to: path)
        } catch let e as MediaError {
            cleanUp()
            throw e
        } catch {
            cleanUp()
            throw MediaError.unwritableOutput(path: path, reason: error.localizedDescription)
        }
        releaseCodecs()
    }

    private func releaseCodecs() {
        avcodec_free_context(&venc)
        avcodec_free_context(&aenc)
        av_frame_free(&vframe)
        av_frame_free(&aframe)
        av_packet_free(&pkt)
        if let s = sws { sws_freeContext(s); sws = nil }
        av_free(scratch)
        scratch = nil
        scratchBytes = 0
        copySource = nil
        transcodeSource = nil
        if let o = oc {
            if o.pointee.pb != nil { avio_closep(&o.pointee.pb) }
            avformat_free_context(o)
            oc = nil
        }
    }

    /// Drops everything and deletes the temporary file; the target path is never touched.
    private func cleanUp() {
        releaseCodecs()
        AtomicOutput.discard(tempPath)
    }
}
