import CFFmpeg
import Foundation

/// Streaming audio decoder to mono Float32 at a fixed rate (16 kHz by default) through libswresample.
///
/// Sample 0 sits at the file's timeline origin, the instant `VideoReader` measures frame times from.
/// A stream that starts later is preceded by silence; one that starts earlier (encoder priming that
/// the container's edit list or skip-samples do not already remove) is trimmed. Gaps in the stream's
/// timestamps are filled with silence, so sample n always means time n / sampleRate.
public final class AudioReader {
    public static let defaultSampleRate = 16_000

    public let path: String
    public let sampleRate: Int
    public let sourceSampleRate: Int
    public let sourceChannels: Int
    public let codecName: String

    private var fmt: UnsafeMutablePointer<AVFormatContext>?
    private var dec: UnsafeMutablePointer<AVCodecContext>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var swr: OpaquePointer?
    private let streamIndex: Int32
    private let timeBase: AVRational
    private let origin: Double
    private var pending: [Float] = []
    private var pendingStart = 0
    private var produced = 0          // samples handed to `pending` so far (timeline position)
    private var toDrop = 0            // samples still to discard to reach the timeline position
    private var started = false
    private var draining = false
    private var finished = false

    public init(path: String, sampleRate: Int = AudioReader.defaultSampleRate) throws {
        guard sampleRate > 0 else { throw MediaError.invalidArgument("\(path): sample rate must be positive") }
        self.path = path
        self.sampleRate = sampleRate
        let fmt = try FF.openInput(path)
        self.fmt = fmt
        let idx = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, nil, 0)
        guard idx >= 0 else {
            var c: UnsafeMutablePointer<AVFormatContext>? = fmt
            avformat_close_input(&c)
            throw MediaError.noAudioStream(path: path)
        }
        streamIndex = idx
        for i in 0..<Int32(fmt.pointee.nb_streams) where i != idx {
            FF.stream(fmt, i).pointee.discard = AVDISCARD_ALL
        }
        let st = FF.stream(fmt, idx)
        timeBase = st.pointee.time_base
        origin = FF.timelineOrigin(fmt)
        codecName = FF.codecName(st.pointee.codecpar.pointee.codec_id)
        do {
            dec = try FF.openDecoder(for: st, path: path, threads: 1)
        } catch {
            var c: UnsafeMutablePointer<AVFormatContext>? = fmt
            avformat_close_input(&c)
            throw error
        }
        sourceSampleRate = Int(dec!.pointee.sample_rate)
        sourceChannels = Int(dec!.pointee.ch_layout.nb_channels)
        packet = av_packet_alloc()
        frame = av_frame_alloc()
    }

    deinit {
        av_packet_free(&packet)
        av_frame_free(&frame)
        avcodec_free_context(&dec)
        avformat_close_input(&fmt)
        swr_free(&swr)
    }

    /// Up to `maxSamples` further samples; nil once the stream is exhausted.
    public func read(maxSamples: Int) throws -> [Float]? {
        precondition(maxSamples > 0)
        while pending.count - pendingStart < maxSamples && !finished {
            try decodeMore()
        }
        let available = pending.count - pendingStart
        if available == 0 { return nil }
        let n = min(maxSamples, available)
        let out = Array(pending[pendingStart..<pendingStart + n])
        pendingStart += n
        if pendingStart > 1 << 16 && pendingStart * 2 > pending.count {
            pending.removeFirst(pendingStart)
            pendingStart = 0
        }
        return out
    }

    /// The whole remaining stream. A 2-hour film is about 460 MB at 16 kHz: prefer `read(maxSamples:)`.
    public func readAll() throws -> [Float] {
        var all: [Float] = []
        while let chunk = try read(maxSamples: 1 << 20) { all.append(contentsOf: chunk) }
        return all
    }

    /// Convenience: the whole audio track of `path` at `sampleRate`.
    /// Decoded samples in a file at `sampleRate`, counted chunk by chunk (nothing is kept): a
    /// stream's exact length, which container durations only approximate.
    public static func sampleCount(path: String, sampleRate: Int = defaultSampleRate) throws -> Int {
        let r = try AudioReader(path: path, sampleRate: sampleRate)
        var n = 0
        while let s = try r.read(maxSamples: 160_000) { n += s.count }
        return n
    }

    public static func decodeAll(path: String, sampleRate: Int = defaultSampleRate) throws -> [Float] {
        try AudioReader(path: path, sampleRate: sampleRate).readAll()
    }

    private func ensureResampler(_ f: UnsafeMutablePointer<AVFrame>) throws {
        if swr != nil { return }
        var inLayout = AVChannelLayout()
        if f.pointee.ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || f.pointee.ch_layout.nb_channels == 0 {
            av_channel_layout_default(&inLayout, max(1, f.pointee.ch_layout.nb_channels))
        } else {
            av_channel_layout_copy(&inLayout, &f.pointee.ch_layout)
        }
        defer { av_channel_layout_uninit(&inLayout) }
        var outLayout = AVChannelLayout()
        av_channel_layout_default(&outLayout, 1)
        var ctx: OpaquePointer? = nil
        var rc = swr_alloc_set_opts2(&ctx, &outLayout, AV_SAMPLE_FMT_FLT, Int32(sampleRate),
                                     &inLayout, AVSampleFormat(rawValue: f.pointee.format), f.pointee.sample_rate, 0, nil)
        guard rc >= 0, let s = ctx else {
            throw MediaError.decodeFailed(path: path, at: 0, reason: "cannot set up resampler: \(FF.errorString(rc))")
        }
        // Downmix as the mean of the channels (librosa's to_mono), not swresample's -3 dB centre mix.
        let n = Int(inLayout.nb_channels)
        var matrix = [Double](repeating: 1.0 / Double(n), count: n)
        rc = swr_set_matrix(s, &matrix, Int32(n))
        if rc >= 0 { rc = swr_init(s) }
        if rc < 0 {
            var c: OpaquePointer? = s
            swr_free(&c)
            throw MediaError.decodeFailed(path: path, at: 0, reason: "cannot set up resampler: \(FF.errorString(rc))")
        }
        swr = s
    }

    private var timelinePosition: Double { Double(produced) / Double(sampleRate) }

    private func decodeMore() throws {
        guard let dec = dec, let frame = frame, let packet = packet, let fmt = fmt else { finished = true; return }
        let rc = avcodec_receive_frame(dec, frame)
        if rc == 0 {
            defer { av_frame_unref(frame) }
            try ensureResampler(frame)
            align(to: frame)
            try resample(frame)
            return
        }
        if rc == FF.eof || (rc == FF.eagain && draining) {
            try flushResampler()
            finished = true
            return
        }
        if rc != FF.eagain {
            finished = true
            throw MediaError.decodeFailed(path: path, at: timelinePosition, reason: FF.errorString(rc))
        }
        let rr = av_read_frame(fmt, packet)
        if rr == FF.eof {
            draining = true
            avcodec_send_packet(dec, nil)
            return
        }
        if rr < 0 {
            finished = true
            throw MediaError.decodeFailed(path: path, at: timelinePosition, reason: FF.errorString(rr))
        }
        defer { av_packet_unref(packet) }
        guard packet.pointee.stream_index == streamIndex else { return }
        let sr = avcodec_send_packet(dec, packet)
        if sr < 0 && sr != FF.eagain && sr != FF.invalidData {
            finished = true
            throw MediaError.decodeFailed(path: path, at: timelinePosition, reason: FF.errorString(sr))
        }
    }

    /// Places the frame on the timeline: silence before a late start or across a gap, trimming before
    /// an early start. Small jitter (under 40 ms) is left alone, as ffmpeg's aresample async does.
    private func align(to f: UnsafeMutablePointer<AVFrame>) {
        var ts = f.pointee.best_effort_timestamp
        if ts == FF.noPTS { ts = f.pointee.pts }
        guard ts != FF.noPTS else { started = true; return }
        let t = Double(ts) * FF.seconds(timeBase) - origin
        let delayed = swr.map { Int(swr_get_delay($0, Int64(sampleRate))) } ?? 0
        let expected = produced + delayed - toDrop
        let wanted = Int((t * Double(sampleRate)).rounded())
        let tolerance = started ? sampleRate * 40 / 1000 : 0
        started = true
        if wanted - expected > tolerance {
            appendSilence(wanted - expected)
        } else if expected - wanted > tolerance {
            toDrop += expected - wanted
        }
    }

    private func appendSilence(_ n: Int) {
        guard n > 0 else { return }
        pending.append(contentsOf: repeatElement(0, count: n))
        produced += n
    }

    private func resample(_ f: UnsafeMutablePointer<AVFrame>) throws {
        let inCount = f.pointee.nb_samples
        let cap = Int(swr_get_out_samples(swr, inCount)) + 16
        var out = [Float](repeating: 0, count: cap)
        let got = out.withUnsafeMutableBytes { raw -> Int32 in
            var dst: UnsafeMutablePointer<UInt8>? = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            return withUnsafeMutablePointer(to: &f.pointee.extended_data.pointee) { _ in
                let src = UnsafeMutableRawPointer(f.pointee.extended_data!)
                    .assumingMemoryBound(to: UnsafePointer<UInt8>?.self)
                return swr_convert(swr, &dst, Int32(cap), src, inCount)
            }
        }
        if got < 0 {
            throw MediaError.decodeFailed(path: path, at: timelinePosition, reason: "resampling failed: \(FF.errorString(got))")
        }
        emit(out, count: Int(got))
    }

    private func flushResampler() throws {
        guard let s = swr else { return }
        let cap = Int(swr_get_out_samples(s, 0)) + 16
        var out = [Float](repeating: 0, count: cap)
        let got = out.withUnsafeMutableBytes { raw -> Int32 in
            var dst: UnsafeMutablePointer<UInt8>? = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            return swr_convert(s, &dst, Int32(cap), nil, 0)
        }
        if got > 0 { emit(out, count: Int(got)) }
    }

    private func emit(_ samples: [Float], count: Int) {
        var start = 0
        if toDrop > 0 {
            start = min(toDrop, count)
            toDrop -= start
        }
        guard start < count else { return }
        pending.append(contentsOf: samples[start..<count])
        produced += count - start
    }
}
