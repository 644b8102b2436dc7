import CFFmpeg
import Foundation

/// What `lipsync probe` reports about a file.
public struct MediaInfo: Codable, Equatable, Sendable {
    public struct Video: Codable, Equatable, Sendable {
        public var codec: String
        /// Displayed size, after rotation.
        public var width: Int
        public var height: Int
        public var averageFPS: Double
        public var variableFrameRate: Bool
        /// Clockwise rotation applied for display.
        public var rotationClockwise: Int
    }
    public struct Audio: Codable, Equatable, Sendable {
        public var codec: String
        public var sampleRate: Int
        public var channels: Int
    }
    public var path: String
    public var container: String
    public var duration: Double?
    public var video: Video?
    public var audio: Audio?
    /// LipSync's provenance mark (`lipsync_generated` tag), when the file carries one.
    public var generatedBy: String?
    /// The container key of the provenance mark `lipsync generate` writes.
    public static let provenanceKey = "lipsync_generated"

    /// Reads the container header and, to judge frame-rate variability, the first few hundred video
    /// packet timestamps (demux only, nothing is decoded).
    public init(probing path: String) throws {
        var fmt: UnsafeMutablePointer<AVFormatContext>? = try FF.openInput(path)
        defer { avformat_close_input(&fmt) }
        let f = fmt!
        self.path = path
        container = String(cString: f.pointee.iformat.pointee.name)
        duration = f.pointee.duration == FF.noPTS || f.pointee.duration <= 0 ? nil
            : Double(f.pointee.duration) / Double(FF.timeBase)
        if let e = av_dict_get(f.pointee.metadata, Self.provenanceKey, nil, 0), let v = e.pointee.value { generatedBy = String(cString: v) }
        let vi = av_find_best_stream(f, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        let ai = av_find_best_stream(f, AVMEDIA_TYPE_AUDIO, -1, -1, nil, 0)
        if ai >= 0 {
            let p = FF.stream(f, ai).pointee.codecpar.pointee
            audio = Audio(codec: FF.codecName(p.codec_id), sampleRate: Int(p.sample_rate), channels: Int(p.ch_layout.nb_channels))
        }
        if vi >= 0 {
            let st = FF.stream(f, vi)
            let p = st.pointee.codecpar.pointee
            let rot = FF.rotation(of: st)
            let (w, h) = rot % 180 == 0 ? (Int(p.width), Int(p.height)) : (Int(p.height), Int(p.width))
            let (measured, variable) = Self.scanFrameRate(f, stream: vi)
            let avg = FF.seconds(st.pointee.avg_frame_rate)
            let fps = avg > 0 && avg < 1000 ? avg : (measured ?? FF.seconds(st.pointee.r_frame_rate))
            video = Video(codec: FF.codecName(p.codec_id), width: w, height: h, averageFPS: fps,
                          variableFrameRate: variable, rotationClockwise: rot)
        }
    }

    /// Frame rate from packet timestamps, and whether frame durations vary by more than 10 %.
    private static func scanFrameRate(_ f: UnsafeMutablePointer<AVFormatContext>, stream: Int32) -> (Double?, Bool) {
        for i in 0..<Int32(f.pointee.nb_streams) where i != stream {
            FF.stream(f, i).pointee.discard = AVDISCARD_ALL
        }
        var pkt: UnsafeMutablePointer<AVPacket>? = av_packet_alloc()
        defer { av_packet_free(&pkt) }
        var stamps: [Int64] = []
        var unstamped = 0
        while stamps.count < 600, av_read_frame(f, pkt) >= 0 {
            if pkt!.pointee.stream_index == stream {
                if pkt!.pointee.pts != FF.noPTS { stamps.append(pkt!.pointee.pts) } else { unstamped += 1 }
            }
            av_packet_unref(pkt)
        }
        stamps.sort()
        let st = FF.stream(f, stream).pointee
        if unstamped > 0 {
            // Some packets carry no time (MPEG-PS): deltas would show false gaps, so compare the
            // average rate with the base rate every timestamp fits.
            let avg = FF.seconds(st.avg_frame_rate), real = FF.seconds(st.r_frame_rate)
            return (nil, avg > 0 && real > 0 && abs(avg - real) > 0.01 * real)
        }
        // Drop the last few: with B-frames, packets of the tail may still be missing from the scan.
        let tb = FF.seconds(FF.stream(f, stream).pointee.time_base)
        let deltas = zip(stamps.dropFirst(), stamps).map { Double($0 - $1) * tb }.filter { $0 > 0 }
        guard deltas.count >= 2 else { return (nil, false) }
        let sorted = deltas.sorted()
        let median = sorted[sorted.count / 2]
        let core = sorted.dropLast(min(2, sorted.count / 10))
        let variable = core.contains { abs($0 - median) > 0.1 * median + tb }
        let mean = deltas.reduce(0, +) / Double(deltas.count)
        return (1 / mean, variable)
    }
}
