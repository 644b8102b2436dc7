import Foundation

/// The result of searching audio shifts for one face track.
public struct TrackOffset: Codable, Sendable, Equatable {
    public var track: Int
    public var startFrame: Int
    public var endFrame: Int
    /// Positive: the sound comes late against the picture; advance the audio by this much to fix it.
    public var audioDelayFrames: Int
    public var audioDelayMs: Double
    /// Distance at the best shift (1 - correlation for the correlation method).
    public var minDist: Double
    /// Median distance over all shifts minus the minimum, as syncnet_python defines it.
    public var confidence: Double
    /// Confidence of each frame's neighbourhood (windows of `window` frames), median-filtered.
    public var framewiseConfidence: [Double]
    /// Distance at each shift from -vshift to +vshift.
    public var distCurve: [Double]
    public var method: SyncMethod
}

/// How alignment is scored. An enum, so a misspelt method is a compile error rather than a lookup
/// that silently finds nothing.
public enum SyncMethod: String, Codable, Sendable, CaseIterable {
    /// The sync model's embeddings (Models/sync.safetensors or --model).
    case learned
    /// Mouth opening against speech energy: training-free, the baseline and the short-track fallback.
    case correlation
}

/// Training-free offset estimation: the mouth opening seen in the video against the speech energy
/// heard in the audio, correlated over a range of audio shifts. It needs no weights and works on any
/// face; it is the yardstick the learned model must beat and its fallback for short tracks.
public enum CorrelationOffset {
    /// Distance curve over shifts -vshift...vshift: for shift s, mouth[i] is compared with audio[i + s]
    /// (audio s frames later). Frames where either signal is missing (NaN) are skipped.
    public static func distances(mouth: [Double], audio: [Double], vshift: Int, range: Range<Int>? = nil) -> [Double] {
        let r = range ?? 0..<mouth.count
        return (-vshift...vshift).map { s in
            var xs: [Double] = [], ys: [Double] = []
            for i in r where i + s >= 0 && i + s < audio.count && !mouth[i].isNaN && !audio[i + s].isNaN {
                xs.append(mouth[i]); ys.append(audio[i + s])
            }
            return 1 - pearson(xs, ys)
        }
    }

    static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        guard x.count >= 3 else { return 0 }
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (a, b) in zip(x, y) { sxy += (a - mx) * (b - my); sxx += (a - mx) * (a - mx); syy += (b - my) * (b - my) }
        return sxx > 0 && syy > 0 ? sxy / (sxx * syy).squareRoot() : 0
    }

    /// Best shift, confidence and per-frame confidence for the frames `frames` of one track (signals
    /// indexed by frame number; the mouth is NaN outside the track).
    public static func estimate(track: Int, frames: Range<Int>, mouth: [Double], audio: [Double], fps: Double,
                                vshift: Int, window: Int = 25) -> TrackOffset {
        let curve = distances(mouth: mouth, audio: audio, vshift: vshift, range: frames)
        let best = curve.indices.min { curve[$0] < curve[$1] } ?? vshift
        let shift = best - vshift
        let framewise = frames.map { i -> Double in
            let lo = max(frames.lowerBound, i - window / 2), hi = min(frames.upperBound, lo + window)
            let local = distances(mouth: mouth, audio: audio, vshift: vshift, range: lo..<hi)
            return median(local) - (local.min() ?? 0)
        }
        return TrackOffset(track: track, startFrame: frames.lowerBound, endFrame: frames.upperBound - 1,
                           audioDelayFrames: shift, audioDelayMs: Double(shift) * 1000 / fps,
                           minDist: curve[best], confidence: median(curve) - curve[best],
                           framewiseConfidence: medianFilter(framewise, width: 9), distCurve: curve, method: .correlation)
    }
}

func median(_ xs: [Double]) -> Double {
    guard !xs.isEmpty else { return 0 }
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func medianFilter(_ xs: [Double], width: Int) -> [Double] {
    xs.indices.map { i in median(Array(xs[max(0, i - width / 2)..<min(xs.count, i + width / 2 + 1)])) }
}
