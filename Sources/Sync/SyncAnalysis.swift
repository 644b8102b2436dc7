import Audio
import Foundation
import Media
import Vision

public enum SyncError: Error, CustomStringConvertible {
    case noTrack(path: String, minimumSeconds: Double)
    case modelUnavailable(String)
    public var description: String {
        switch self {
        case .noTrack(let p, let s): return "\(p): no face track of at least \(String(format: "%.1f", s)) s"
        case .modelUnavailable(let m): return m
        }
    }
}

/// Per-frame signals of a video, gathered in one streaming pass: for every face track its mouth
/// opening per frame, and the speech energy of the audio under each frame. Frame i is the constant-
/// rate grid frame at i / fps, and its audio is the mel columns from Int(i * 80 / fps) up to the next
/// frame's: the mel windows follow the video's own clock, so 29.97 fps does not drift.
public struct SyncSignals: Sendable {
    public var fps: Double
    public var frameCount: Int
    /// Track id -> (first frame, mouth opening per frame from there; NaN where the face was missing).
    public var mouth: [Int: (start: Int, values: [Double])]
    /// Speech-band energy per frame (mean normalised log-mel, bands 5-60, about 150 Hz - 4 kHz).
    public var audio: [Double]

    /// Reads `video` (and the audio of `audioPath`, default the video's own).
    public static func gather(video: String, audioPath: String? = nil, trackerOptions: FaceTracker.Options = .init(),
                              progress: ((Int) -> Void)? = nil) throws -> SyncSignals {
        let reader = try VideoReader(path: video, options: .constantFrameRateAtSource)
        let fps = reader.frameRate
        let tracker = try FaceTracker(options: trackerOptions)
        var mouth: [Int: (start: Int, values: [Double])] = [:]
        var count = 0
        func take(_ frames: [FrameFaces]) {
            for f in frames {
                count = max(count, f.frame + 1)
                for o in f.faces {
                    var entry = mouth[o.track] ?? (f.frame, [])
                    while entry.start + entry.values.count < f.frame { entry.values.append(.nan) }
                    entry.values.append(o.mouthOpening)
                    mouth[o.track] = entry
                }
            }
            progress?(count)
        }
        var image = RGBImage.empty
        while let t = try reader.readFrame(into: &image) { take(tracker.push(image, frame: t.index, time: t.time)) }
        take(tracker.finish())
        let audio = try speechEnergy(path: audioPath ?? video, fps: fps, frames: count)
        return SyncSignals(fps: fps, frameCount: count, mouth: mouth, audio: audio)
    }

    /// Speech-band energy per video frame, streamed through the mel front end.
    public static func speechEnergy(path: String, fps: Double, frames: Int) throws -> [Double] {
        let reader = try AudioReader(path: path)
        let stream = MelStream(MelSpectrogram())
        var perColumn: [Double] = []
        func add(_ m: MelFrames) {
            for t in 0..<m.count {
                var s = 0.0
                for b in 5..<60 { s += Double(m[column: t, band: b]) }
                perColumn.append(s / 55)
            }
        }
        while let chunk = try reader.read(maxSamples: 160_000) { add(stream.push(chunk)) }
        add(stream.finish())
        return (0..<frames).map { i in
            let lo = MelFrames.windowStart(frame: i, fps: fps), hi = max(lo + 1, MelFrames.windowStart(frame: i + 1, fps: fps))
            guard lo < perColumn.count else { return .nan }
            let slice = perColumn[lo..<min(hi, perColumn.count)]
            return slice.reduce(0, +) / Double(slice.count)
        }
    }

    /// Offsets for every track with at least `minimumSeconds` of measured frames.
    public func offsets(vshift: Int, minimumSeconds: Double = 1.0) -> [TrackOffset] {
        mouth.keys.sorted().compactMap { id in
            let (start, values) = mouth[id]!
            guard Double(values.filter { !$0.isNaN }.count) >= minimumSeconds * fps else { return nil }
            // The track on the whole frame grid, so shifted audio may reach beyond its ends.
            var full = [Double](repeating: .nan, count: max(frameCount, start + values.count))
            for (k, v) in values.enumerated() { full[start + k] = v }
            return CorrelationOffset.estimate(track: id, frames: start..<(start + values.count), mouth: full, audio: audio,
                                              fps: fps, vshift: vshift)
        }
    }
}
