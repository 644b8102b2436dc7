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
    /// The best shift refined below a frame by a parabola through the minimum and its neighbours
    /// (`audioDelayMs` is this, in milliseconds; `audioDelayFrames` stays the integer shift).
    public var audioDelayFramesRefined: Double = 0
    /// Scale-free readings of the curve, comparable between people (`confidence` is in the
    /// distance's own units, whose scale differs from face to face). The dip's depth in units of the
    /// curve's own spread: (median − min) / (1.4826 · MAD).
    public var robustConfidence: Double = 0
    /// How much of the dip lies within ±2 frames: 1 − (mean of the distances 2 frames either side
    /// − min) / (median − min), clamped to 0...1. A narrow, sharp dip reads near 1.
    public var dipSharpness: Double = 0
    /// Learned method: the share of windows whose own best shift is within one frame of the track's.
    public var windowAgreement: Double?
    /// The calibrated probability that the speech belongs to this face (`SyncCalibration`).
    public var syncProbability: Double?
    /// How much the mouth moves over the track: the 10th-90th percentile range of the inner-lip gap,
    /// in inter-ocular distances (scale-free; a still mouth ~0.01, speech 0.1 and more).
    public var mouthActivity: Double?
    /// Why this reading should not be stated as fact (`SyncDetector.unreliability`), or nil.
    public var unreliable: String?

    /// Fills the scale-free readings from the curve (and, for the learned method, the windows' rows).
    mutating func describeCurve(rows: [[Float]]? = nil, fps: Double) {
        let c = distCurve, vshift = (c.count - 1) / 2
        guard let best = c.indices.min(by: { c[$0] < c[$1] }) else { return }
        let refined = Double(best - vshift) + CurveStatistics.parabolicOffset(c, at: best)
        audioDelayFramesRefined = refined
        audioDelayMs = refined * 1000 / fps
        robustConfidence = CurveStatistics.robustDepth(c, at: best)
        dipSharpness = CurveStatistics.sharpness(c, at: best)
        if let rows { windowAgreement = CurveStatistics.agreement(rows, best: best) }
        syncProbability = SyncCalibration.probability(of: self)
    }
}

/// Readings of a distance curve (one distance per shift, minimum at the best shift) that do not
/// depend on the distance's scale, which differs from person to person.
public enum CurveStatistics {
    /// Vertex of the parabola through the minimum and its two neighbours, in frames from the minimum
    /// (−0.5...0.5; 0 at an edge or on a flat stretch).
    public static func parabolicOffset(_ c: [Double], at i: Int) -> Double {
        guard i > 0, i + 1 < c.count else { return 0 }
        let a = c[i - 1], b = c[i], d = c[i + 1]
        let curvature = a - 2 * b + d
        guard curvature > 1e-12 else { return 0 }
        return max(-0.5, min(0.5, 0.5 * (a - d) / curvature))
    }

    /// (median − c[i]) / (1.4826 · MAD): the dip in robust standard deviations of the curve.
    public static func robustDepth(_ c: [Double], at i: Int) -> Double {
        let m = median(c)
        let mad = 1.4826 * median(c.map { abs($0 - m) })
        return (m - c[i]) / max(mad, 1e-6)
    }

    /// 1 − (mean of c[i ± 2] − c[i]) / (median − c[i]), clamped to 0...1.
    public static func sharpness(_ c: [Double], at i: Int) -> Double {
        let depth = median(c) - c[i]
        let sides = [i - 2, i + 2].filter { c.indices.contains($0) }.map { c[$0] }
        guard depth > 1e-9, !sides.isEmpty else { return 0 }
        let rise = sides.reduce(0, +) / Double(sides.count) - c[i]
        return max(0, min(1, rise / depth))
    }

    /// Share of rows (one distance per shift each) whose own minimum is within one shift of `best`.
    public static func agreement(_ rows: [[Float]], best: Int) -> Double {
        var agree = 0, n = 0
        for r in rows {
            guard let k = r.indices.filter({ !r[$0].isNaN }).min(by: { r[$0] < r[$1] }) else { continue }
            n += 1
            if abs(k - best) <= 1 { agree += 1 }
        }
        return n == 0 ? 0 : Double(agree) / Double(n)
    }
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
        var o = TrackOffset(track: track, startFrame: frames.lowerBound, endFrame: frames.upperBound - 1,
                            audioDelayFrames: shift, audioDelayMs: Double(shift) * 1000 / fps,
                            minDist: curve[best], confidence: median(curve) - curve[best],
                            framewiseConfidence: medianFilter(framewise, width: 9), distCurve: curve, method: .correlation)
        o.describeCurve(fps: fps)
        return o
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

/// "Probability the speech belongs to this face": a logistic map of the scale-free readings, fitted
/// (`lipsync eval sync --swap --fit-calibration`) on matched and swapped pairs of data the unseen
/// rows never touch. See docs/sync.md for the fit and its reliability.
public enum SyncCalibration {
    public struct Logistic: Codable, Sendable, Equatable {
        public var bias: Double
        public var weights: [Double]
        public func probability(_ x: [Double]) -> Double {
            let z = bias + zip(weights, x).reduce(0) { $0 + $1.0 * $1.1 }
            return 1 / (1 + exp(-z))
        }
    }

    public static let featureNames = ["log(1 + robust_confidence)", "dip_sharpness", "window_agreement (learned)"]

    /// The features the map reads: log(1 + robust depth), sharpness, and (learned) window agreement.
    public static func features(of o: TrackOffset) -> [Double] {
        var x = [log1p(max(0, o.robustConfidence)), o.dipSharpness]
        if let a = o.windowAgreement { x.append(a) }
        return x
    }

    /// Fitted maps per method; nil where none is fitted. The question `detect` asks is about faces
    /// the model never saw, so the learned map is fitted on readings of a never-seen identity
    /// without touching any reported unseen row: GRID s4's 20 matched and 20 swapped pairs as the
    /// s1-only model read them (the model before s4-more was added, runs kept in docs/sync.md):
    /// `lipsync eval sync ../shared/data/grid/s4 --shifts 0:0 --swap --fit-calibration --model <s1-only model>`.
    /// The shipped model (s1 + s4-more) stands to the unseen faces as that model stood to s4. A map
    /// fitted on identities the model trained on (s1 held out + s4) was far surer (bias −7.4) and
    /// called the bundled unseen speaker's own audio mismatched: docs/sync.md.
    public static let fitted: [SyncMethod: Logistic] =
        [.learned: Logistic(bias: -1.8601897151790265, weights: [1.3512399366807326, 0.19277641372048696, 0.45077074321737504])]

    public static func probability(of o: TrackOffset) -> Double? {
        guard let map = fitted[o.method] else { return nil }
        let x = features(of: o)
        return x.count == map.weights.count ? map.probability(x) : nil
    }

    /// L2-regularised logistic regression by Newton's method (a handful of features, so the exact
    /// Hessian is cheap); `l2` keeps a separable training set from driving the weights to infinity.
    public static func fit(_ x: [[Double]], labels: [Bool], l2: Double = 1.0) -> Logistic? {
        guard let d = x.first?.count, x.count == labels.count, Set(labels).count == 2 else { return nil }
        var w = [Double](repeating: 0, count: d + 1)  // w[0] is the bias
        for _ in 0..<50 {
            var g = [Double](repeating: 0, count: d + 1)
            var h = [Double](repeating: 0, count: (d + 1) * (d + 1))
            for (xi, yi) in zip(x, labels) {
                let v = [1] + xi
                let p = 1 / (1 + exp(-zip(w, v).reduce(0) { $0 + $1.0 * $1.1 }))
                let r = p - (yi ? 1 : 0), s = p * (1 - p)
                for a in 0...d {
                    g[a] += r * v[a]
                    for b in 0...d { h[a * (d + 1) + b] += s * v[a] * v[b] }
                }
            }
            for a in 1...d { g[a] += l2 * w[a]; h[a * (d + 1) + a] += l2 }
            guard let step = solve(h, g, d + 1) else { break }
            for a in 0...d { w[a] -= step[a] }
            if step.reduce(0, { $0 + abs($1) }) < 1e-10 { break }
        }
        return Logistic(bias: w[0], weights: Array(w[1...]))
    }

    /// Gaussian elimination with partial pivoting.
    static func solve(_ a: [Double], _ b: [Double], _ n: Int) -> [Double]? {
        var m = a, y = b
        for c in 0..<n {
            guard let p = (c..<n).max(by: { abs(m[$0 * n + c]) < abs(m[$1 * n + c]) }), abs(m[p * n + c]) > 1e-15 else { return nil }
            if p != c { for k in 0..<n { m.swapAt(c * n + k, p * n + k) }; y.swapAt(c, p) }
            for r in (c + 1)..<max(c + 1, n) {
                let f = m[r * n + c] / m[c * n + c]
                for k in c..<n { m[r * n + k] -= f * m[c * n + k] }
                y[r] -= f * y[c]
            }
        }
        var out = [Double](repeating: 0, count: n)
        for r in (0..<n).reversed() {
            var s = y[r]
            for k in (r + 1)..<max(r + 1, n) { s -= m[r * n + k] * out[k] }
            out[r] = s / m[r * n + r]
        }
        return out
    }
}
