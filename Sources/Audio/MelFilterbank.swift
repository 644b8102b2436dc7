import Foundation

/// Triangular mel filters on the Slaney scale with Slaney area normalisation, as
/// `librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm='slaney')`.
/// Stored sparsely: each filter covers a short run of FFT bins.
public struct MelFilterbank: Sendable {
    public struct Filter: Sendable {
        public var firstBin: Int
        public var weights: [Float]
    }
    public let filters: [Filter]
    public let bins: Int

    public init(sampleRate: Int, nFFT: Int, nMels: Int, fmin: Double, fmax: Double) {
        bins = nFFT / 2 + 1
        let melMin = Self.hzToMel(fmin), melMax = Self.hzToMel(fmax)
        let melPoints = (0..<(nMels + 2)).map { Self.melToHz(melMin + (melMax - melMin) * Double($0) / Double(nMels + 1)) }
        let fftFreqs = (0..<bins).map { Double($0) * Double(sampleRate) / Double(nFFT) }
        var filters: [Filter] = []
        for m in 0..<nMels {
            let lo = melPoints[m], centre = melPoints[m + 1], hi = melPoints[m + 2]
            let norm = 2 / (hi - lo)
            var dense = [Float](repeating: 0, count: bins)
            for (k, f) in fftFreqs.enumerated() {
                let lower = (f - lo) / (centre - lo), upper = (hi - f) / (hi - centre)
                // librosa computes in float64 and stores float32.
                dense[k] = Float(max(0, min(lower, upper)) * norm)
            }
            let first = dense.firstIndex { $0 != 0 } ?? 0
            let last = dense.lastIndex { $0 != 0 } ?? -1
            filters.append(Filter(firstBin: first, weights: last >= first ? Array(dense[first...last]) : []))
        }
        self.filters = filters
    }

    /// Slaney's mel scale: linear below 1 kHz, logarithmic above.
    public static func hzToMel(_ f: Double) -> Double {
        let fSp = 200.0 / 3, minLogHz = 1000.0, minLogMel = minLogHz / fSp, logStep = log(6.4) / 27
        return f >= minLogHz ? minLogMel + log(f / minLogHz) / logStep : f / fSp
    }

    public static func melToHz(_ m: Double) -> Double {
        let fSp = 200.0 / 3, minLogHz = 1000.0, minLogMel = minLogHz / fSp, logStep = log(6.4) / 27
        return m >= minLogMel ? minLogHz * exp(logStep * (m - minLogMel)) : fSp * m
    }

    /// Dense nMels x bins matrix (row-major), for comparison with librosa.
    public var dense: [Float] {
        var out = [Float](repeating: 0, count: filters.count * bins)
        for (m, f) in filters.enumerated() {
            for (j, w) in f.weights.enumerated() { out[m * bins + f.firstBin + j] = w }
        }
        return out
    }
}
