import Audio
import Foundation
import Media
import Vision

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
        let stream = MelStream(SpeechEnergy.mel)
        var perColumn: [Double] = []
        while let chunk = try reader.read(maxSamples: 160_000) { perColumn += SpeechEnergy.perColumn(stream.push(chunk)) }
        perColumn += SpeechEnergy.perColumn(stream.finish())
        return SpeechEnergy.perFrame(perColumn, fps: fps, frames: frames)
    }

    /// One track's mouth opening laid on the whole frame grid (NaN outside the track), so shifted
    /// audio may reach beyond the track's ends.
    public func mouthOnGrid(track id: Int) -> (frames: Range<Int>, values: [Double])? {
        guard let (start, values) = mouth[id] else { return nil }
        var full = [Double](repeating: .nan, count: max(frameCount, start + values.count))
        for (k, v) in values.enumerated() { full[start + k] = v }
        return (start..<(start + values.count), full)
    }

    /// Offsets for every track with at least `minimumSeconds` of measured frames.
    public func offsets(vshift: Int, minimumSeconds: Double = 1.0) -> [TrackOffset] {
        mouth.keys.sorted().compactMap { id in
            guard let (frames, full) = mouthOnGrid(track: id),
                  Double(full.filter { !$0.isNaN }.count) >= minimumSeconds * fps else { return nil }
            return CorrelationOffset.estimate(track: id, frames: frames, mouth: full, audio: audio, fps: fps, vshift: vshift)
        }
    }
}

/// The audio feature the correlation method compares with the mouth: mean normalised log-mel over
/// bands 5-60 (about 150 Hz - 4 kHz), averaged over each video frame's mel columns.
enum SpeechEnergy {
    /// One spectrogram configuration for every caller: its FFT plan and filterbank are built once.
    static let mel = MelSpectrogram()

    static func perColumn(_ m: MelFrames) -> [Double] {
        (0..<m.count).map { t in (5..<60).reduce(0.0) { $0 + Double(m[column: t, band: $1]) } / 55 }
    }

    /// Frame i averages columns Int(i * 80 / fps) up to the next frame's (at least one); NaN past the end.
    static func perFrame(_ perColumn: [Double], fps: Double, frames: Int) -> [Double] {
        (0..<frames).map { i in
            let lo = MelFrames.windowStart(frame: i, fps: fps), hi = max(lo + 1, MelFrames.windowStart(frame: i + 1, fps: fps))
            guard lo < perColumn.count else { return .nan }
            let slice = perColumn[lo..<min(hi, perColumn.count)]
            return slice.reduce(0, +) / Double(slice.count)
        }
    }
}
