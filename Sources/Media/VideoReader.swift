import CFFmpeg
import Foundation

/// One decoded picture and where it sits on the file's timeline.
public struct VideoFrame: Sendable {
    /// 0-based index of the frame as delivered (after any frame-rate conversion).
    public var index: Int
    /// Presentation time in seconds, measured from the file's timeline origin (audio sample 0).
    public var time: Double
    /// Time of the decoded source frame this picture came from (differs from `time` when converting fps).
    public var sourceTime: Double
    public var image: RGBImage
}

/// What the decoder met that it could not decode cleanly: packets it rejected (skipped) and frames
/// it delivered with errors concealed. Decoding goes on past both, so without this count a damaged
/// file reads as a clean one with fewer faces.
public struct DecodeDamage: Sendable, Codable, Equatable {
    public var corruptPackets = 0
    public var damagedFrames = 0
    /// Source times (s) of the first and last damage seen.
    public var firstAt: Double?
    public var lastAt: Double?

    public init() {}

    public var isEmpty: Bool { corruptPackets == 0 && damagedFrames == 0 }

    mutating func note(packet: Bool, at t: Double) {
        if packet { corruptPackets += 1 } else { damagedFrames += 1 }
        firstAt = min(firstAt ?? t, t)
        lastAt = max(lastAt ?? t, t)
    }

    /// "3 corrupt packets and 12 damaged frames between 1.20 s and 2.48 s".
    public var summary: String {
        var parts: [String] = []
        if corruptPackets > 0 { parts.append("\(corruptPackets) corrupt packet\(corruptPackets == 1 ? "" : "s") skipped") }
        if damagedFrames > 0 { parts.append("\(damagedFrames) damaged frame\(damagedFrames == 1 ? "" : "s") concealed") }
        let what = parts.joined(separator: " and ")
        guard let a = firstAt, let b = lastAt else { return what }
        return what + (b - a < 0.005 ? String(format: " at %.2f s", a) : String(format: " between %.2f s and %.2f s", a, b))
    }
}

public struct VideoReaderOptions: Sendable {
    /// Deliver a constant frame rate by timestamp, duplicating or dropping source frames.
    /// `nil` delivers every decoded frame at its own time.
    public var constantFrameRate: Double?
    /// Decoder threads; `nil` uses every core.
    public var threads: Int?
    /// Apply the stream's display-matrix rotation (as ffmpeg's autorotate does).
    public var autorotate: Bool

    public init(constantFrameRate: Double? = nil, threads: Int? = nil, autorotate: Bool = true) {
        self.constantFrameRate = constantFrameRate
        self.threads = threads
        self.autorotate = autorotate
    }

    /// Constant-rate delivery at the source's own average rate (variable-rate phone video in, an
    /// even frame grid out).
    public static var constantFrameRateAtSource: VideoReaderOptions {
        var o = VideoReaderOptions()
        o.convertsAtSourceRate = true
        return o
    }

    /// Set by `constantFrameRateAtSource`: the target is the container's average rate.
    public var convertsAtSourceRate = false
}

/// Streaming video decoder: one RGB frame at a time, constant memory whatever the file's length.
///
/// Frame times are measured from the container's start time, the same origin `AudioReader` uses,
/// so frame time t and audio sample t * rate describe the same instant.
public final class VideoReader {
    public let path: String
    public let options: VideoReaderOptions
    /// Average frame rate the container declares (or 25 if it declares none).
    public let sourceFrameRate: Double
    /// Clockwise rotation applied to every frame.
    public let rotation: Int
    /// Size of delivered frames (after rotation).
    public let width: Int
    public let height: Int
    /// Declared video duration in seconds, if the container knows it.
    public let declaredDuration: Double?
    /// Packets the decoder rejected as corrupt and skipped, and frames it concealed errors in.
    public private(set) var damage = DecodeDamage()
    public var corruptPackets: Int { damage.corruptPackets }

    private var fmt: UnsafeMutablePointer<AVFormatContext>?
    private var dec: UnsafeMutablePointer<AVCodecContext>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var sws: OpaquePointer?
    private var swsKey = (w: Int32(0), h: Int32(0), f: Int32(-1))
    private let streamIndex: Int32
    private let timeBase: AVRational
    private let origin: Double
    private var draining = false
    private var finished = false
    private var lastSourceTime = -Double.infinity
    private var lastInterval = 0.0
    private var sourceIndex = 0
    private var deliveredIndex = 0
    // Constant-frame-rate state: the frame filling output slots, and the one after it.
    private var held: (image: RGBImage, time: Double)?
    private var upcoming: (image: RGBImage, time: Double)?
    private var sourceEnded = false
    private var nextSlot = 0
    private var rotateScratch = RGBImage.empty

    public init(path: String, options: VideoReaderOptions = .init()) throws {
        self.path = path
        var options = options
        let fmt = try FF.openInput(path)
        self.fmt = fmt
        let idx = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard idx >= 0 else {
            var c: UnsafeMutablePointer<AVFormatContext>? = fmt
            avformat_close_input(&c)
            throw MediaError.noVideoStream(path: path)
        }
        streamIndex = idx
        let st = FF.stream(fmt, idx)
        for i in 0..<Int32(fmt.pointee.nb_streams) where i != idx {
            FF.stream(fmt, i).pointee.discard = AVDISCARD_ALL
        }
        timeBase = st.pointee.time_base
        origin = FF.timelineOrigin(fmt)
        let avg = FF.seconds(st.pointee.avg_frame_rate)
        let real = FF.seconds(st.pointee.r_frame_rate)
        sourceFrameRate = avg > 0 && avg < 1000 ? avg : (real > 0 && real < 1000 ? real : 25)
        rotation = options.autorotate ? FF.rotation(of: st) : 0
        let cw = Int(st.pointee.codecpar.pointee.width), ch = Int(st.pointee.codecpar.pointee.height)
        (width, height) = rotation % 180 == 0 ? (cw, ch) : (ch, cw)
        if st.pointee.duration != FF.noPTS && st.pointee.duration > 0 {
            declaredDuration = Double(st.pointee.duration) * FF.seconds(timeBase)
        } else {
            declaredDuration = nil
        }
        do {
            dec = try FF.openDecoder(for: st, path: path, threads: Int32(options.threads ?? Int(FF.defaultThreads)))
        } catch {
            var c: UnsafeMutablePointer<AVFormatContext>? = fmt
            avformat_close_input(&c)
            throw error
        }
        packet = av_packet_alloc()
        frame = av_frame_alloc()
        if options.convertsAtSourceRate && options.constantFrameRate == nil { options.constantFrameRate = sourceFrameRate }
        self.options = options
        if let fps = options.constantFrameRate, !(fps > 0 && fps.isFinite) {
            throw MediaError.invalidArgument("\(path): frame rate must be positive, got \(fps)")
        }
    }

    deinit {
        av_packet_free(&packet)
        av_frame_free(&frame)
        avcodec_free_context(&dec)
        avformat_close_input(&fmt)
        if let s = sws { sws_freeContext(s) }
        av_free(scratch)
    }

    /// The output frame rate: the conversion target, or the source's own average.
    public var frameRate: Double { options.constantFrameRate ?? sourceFrameRate }

    /// Next frame in a freshly allocated image, or nil at the end of the stream.
    public func nextFrame() throws -> VideoFrame? {
        var image = RGBImage.empty
        guard let t = try readFrame(into: &image) else { return nil }
        return VideoFrame(index: t.index, time: t.time, sourceTime: t.sourceTime, image: image)
    }

    /// Decodes the next frame into `image`, reusing its storage when the size matches (no allocation
    /// in steady state). Returns nil at the end of the stream.
    public func readFrame(into image: inout RGBImage) throws -> (index: Int, time: Double, sourceTime: Double)? {
        guard let fps = options.constantFrameRate else {
            guard let t = try decodeSourceFrame(into: &image) else { return nil }
            defer { deliveredIndex += 1 }
            return (deliveredIndex, t, t)
        }
        // Constant frame rate, by timestamp: the source frame at time t owns output slot round(t * fps)
        // and fills every slot until the next source frame's slot. Several frames claiming one slot:
        // the last wins (drops). A gap: the frame before it repeats (duplicates).
        while true {
            if held == nil {
                if sourceEnded { return nil }
                var first = RGBImage.empty
                guard let t = try decodeSourceFrame(into: &first) else { sourceEnded = true; return nil }
                held = (first, t)
            }
            if upcoming == nil && !sourceEnded {
                var next = RGBImage.empty
                if let t = try decodeSourceFrame(into: &next) { upcoming = (next, t) } else { sourceEnded = true }
            }
            let h = held!
            let lastSlot: Int
            if let up = upcoming {
                lastSlot = Int((up.time * fps).rounded()) - 1
            } else {
                // The last frame lasts as long as the interval before it.
                let duration = lastInterval > 0 ? lastInterval : 1 / sourceFrameRate
                lastSlot = max(Int((h.time * fps).rounded()), Int(((h.time + duration) * fps).rounded()) - 1)
            }
            if nextSlot <= lastSlot {
                image = h.image
                let slot = nextSlot
                nextSlot += 1
                return (slot, Double(slot) / fps, h.time)
            }
            held = upcoming
            upcoming = nil
            if held == nil { return nil }
        }
    }

    /// Decodes one source frame into `image` and returns its time, or nil at end of stream.
    private func decodeSourceFrame(into image: inout RGBImage) throws -> Double? {
        guard let dec = dec, let frame = frame, let packet = packet, let fmt = fmt else { return nil }
        while !finished {
            let rc = avcodec_receive_frame(dec, frame)
            if rc == 0 {
                defer { av_frame_unref(frame) }
                let t = frameTime(frame)
                if frame.pointee.decode_error_flags != 0 || frame.pointee.flags & Int32(AV_FRAME_FLAG_CORRUPT) != 0 {
                    damage.note(packet: false, at: t)
                }
                try convert(frame, into: &image)
                if lastSourceTime.isFinite && t > lastSourceTime { lastInterval = t - lastSourceTime }
                lastSourceTime = t
                sourceIndex += 1
                return t
            }
            if rc == FF.eof { finished = true; break }
            if rc != FF.eagain {
                finished = true
                throw MediaError.decodeFailed(path: path, at: max(0, lastSourceTime), reason: FF.errorString(rc))
            }
            if draining { finished = true; break }
            // The decoder wants input.
            let rr = av_read_frame(fmt, packet)
            if rr == FF.eof {
                draining = true
                avcodec_send_packet(dec, nil)
                continue
            }
            if rr < 0 {
                finished = true
                throw MediaError.decodeFailed(path: path, at: max(0, lastSourceTime), reason: FF.errorString(rr))
            }
            defer { av_packet_unref(packet) }
            if packet.pointee.stream_index != streamIndex { continue }
            let sr = avcodec_send_packet(dec, packet)
            if sr < 0 && sr != FF.eagain {
                if sr == FF.invalidData {
                    let pts = packet.pointee.pts != FF.noPTS ? packet.pointee.pts : packet.pointee.dts
                    let t = pts == FF.noPTS ? max(0, lastSourceTime) : Double(pts) * FF.seconds(timeBase) - origin
                    damage.note(packet: true, at: t)
                    continue
                }
                finished = true
                throw MediaError.decodeFailed(path: path, at: max(0, lastSourceTime), reason: FF.errorString(sr))
            }
        }
        try checkCompleteness()
        return nil
    }

    private func checkCompleteness() throws {
        if sourceIndex == 0 { throw MediaError.notMedia(path: path, reason: "no decodable video frames") }
        // A container that declares a length we fell well short of was cut off.
        guard let want = declaredDuration, let fmt = fmt else { return }
        let st = FF.stream(fmt, streamIndex).pointee.start_time
        let start = st == FF.noPTS ? 0 : Double(st) * FF.seconds(timeBase) - origin
        let got = lastSourceTime + 1 / sourceFrameRate
        if want - (got - start) > max(0.5, 0.1 * want) {
            throw MediaError.truncated(path: path, decodedUntil: max(0, got), expected: want + start)
        }
    }

    private func frameTime(_ f: UnsafeMutablePointer<AVFrame>) -> Double {
        var ts = f.pointee.best_effort_timestamp
        if ts == FF.noPTS { ts = f.pointee.pts }
        if ts == FF.noPTS {
            return lastSourceTime.isFinite ? lastSourceTime + 1 / sourceFrameRate : 0
        }
        return Double(ts) * FF.seconds(timeBase) - origin
    }

    private func convert(_ f: UnsafeMutablePointer<AVFrame>, into image: inout RGBImage) throws {
        let w = f.pointee.width, h = f.pointee.height, pf = f.pointee.format
        guard w > 0, h > 0 else { throw MediaError.decodeFailed(path: path, at: max(0, lastSourceTime), reason: "empty frame") }
        if sws == nil || swsKey != (w, h, pf) {
            if let s = sws { sws_freeContext(s) }
            sws = sws_getContext(w, h, AVPixelFormat(rawValue: pf), w, h, AV_PIX_FMT_RGB24,
                                 Int32(SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT), nil, nil, nil)
            swsKey = (w, h, pf)
            guard sws != nil else {
                throw MediaError.decodeFailed(path: path, at: max(0, lastSourceTime), reason: "unsupported pixel format")
            }
        }
        let rotate = rotation != 0
        let count = Int(w) * Int(h) * 3
        // Rotated output goes through a scratch buffer, then is turned into `image`.
        if rotate {
            scale(f, w: w, h: h, into: &rotateScratch, count: count)
            image = rotateScratch.rotated(clockwiseDegrees: rotation)
        } else {
            scale(f, w: w, h: h, into: &image, count: count)
        }
    }

    /// swscale wants aligned rows with slack at the end (its SIMD stores overrun packed rows), so it
    /// writes into a padded scratch buffer, and rows are copied out packed.
    private var scratch: UnsafeMutableRawPointer?
    private var scratchBytes = 0

    private func scale(_ f: UnsafeMutablePointer<AVFrame>, w: Int32, h: Int32, into image: inout RGBImage, count: Int) {
        let rowBytes = Int(w) * 3
        let stride = (rowBytes + 63) & ~63
        let need = stride * Int(h) + 64
        if scratchBytes < need {
            av_free(scratch)
            scratch = av_malloc(need)
            scratchBytes = need
        }
        var dst: [UnsafeMutablePointer<UInt8>?] = [scratch!.assumingMemoryBound(to: UInt8.self), nil, nil, nil]
        var dstStride: [Int32] = [Int32(stride), 0, 0, 0]
        withUnsafePointer(to: &f.pointee.data) { dataTuple in
            dataTuple.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { src in
                withUnsafePointer(to: &f.pointee.linesize) { lsTuple in
                    lsTuple.withMemoryRebound(to: Int32.self, capacity: 8) { ls in
                        _ = sws_scale(sws, src, ls, 0, h, &dst, &dstStride)
                    }
                }
            }
        }
        if image.pixels.count != count { image.pixels = [UInt8](repeating: 0, count: count) }
        image.width = Int(w)
        image.height = Int(h)
        let base = scratch!
        image.pixels.withUnsafeMutableBytes { out in
            for y in 0..<Int(h) {
                (out.baseAddress! + y * rowBytes).copyMemory(from: base + y * stride, byteCount: rowBytes)
            }
        }
    }
}
