import CFFTW
import Foundation
import Parallel

/// Parameters of the MFCC. The defaults are python_speech_features' `mfcc`, which syncnet_python uses
/// on int16 samples.
public struct MFCCConfiguration: Sendable, Equatable {
    public var sampleRate = 16_000
    public var windowSeconds = 0.025
    public var stepSeconds = 0.01
    public var coefficients = 13
    public var filters = 26
    public var nFFT = 512
    public var lowFrequency = 0.0
    public var highFrequency: Double? = nil
    public var preemphasis = 0.97
    public var lifter = 22.0
    /// Replace c0 with the log of the frame's total energy.
    public var appendEnergy = true
    /// Multiply samples in [-1, 1] by this before analysis (32768: int16 scale, as syncnet_python reads WAVs).
    public var inputScale = 32768.0

    public init() {}

    var frameLength: Int { Int((windowSeconds * Double(sampleRate)).rounded(.toNearestOrAwayFromZero)) }
    var frameStep: Int { Int((stepSeconds * Double(sampleRate)).rounded(.toNearestOrAwayFromZero)) }
}

/// MFCC features (frames x coefficients, row-major), computed in double precision.
public struct MFCCFrames: Sendable, Equatable {
    public var coefficients: Int
    public var values: [Float]
    public var count: Int { coefficients == 0 ? 0 : values.count / coefficients }
    public subscript(frame t: Int, coefficient c: Int) -> Float { values[t * coefficients + c] }
}

/// python_speech_features.mfcc: pre-emphasis, rectangular 25 ms frames every 10 ms (zero-padded at
/// the end), power spectrum |rfft|^2 / nfft, 26 HTK-mel triangles with bin edges floored, log, DCT-II
/// (orthonormal), lifter 22, and c0 replaced by the log frame energy.
public final class MFCC: @unchecked Sendable {
    public let configuration: MFCCConfiguration
    let filterbank: [[Double]]       // filters x (nFFT/2 + 1)
    // The same filters stored sparsely: filter j covers bins firstBin[j] ..< firstBin[j] + count[j].
    let firstBin: [Int], binCount: [Int], sparseWeights: [Double]
    let dct: [Double]                // coefficients x filters
    let lift: [Double]
    private let plan: fftw_plan
    private let planLock = NSLock()

    public init(_ configuration: MFCCConfiguration = .init()) {
        self.configuration = configuration
        let c = configuration
        let bins = c.nFFT / 2 + 1
        let hzToMel = { (f: Double) in 2595 * log10(1 + f / 700) }
        let melToHz = { (m: Double) in 700 * (pow(10, m / 2595) - 1) }
        let lowMel = hzToMel(c.lowFrequency), highMel = hzToMel(c.highFrequency ?? Double(c.sampleRate) / 2)
        let edges = (0..<(c.filters + 2)).map { i -> Double in
            let mel = lowMel + (highMel - lowMel) * Double(i) / Double(c.filters + 1)
            return Foundation.floor(Double(c.nFFT + 1) * melToHz(mel) / Double(c.sampleRate))
        }
        var fb: [[Double]] = []
        for j in 0..<c.filters {
            var row = [Double](repeating: 0, count: bins)
            for i in Int(edges[j])..<Int(edges[j + 1]) where i < bins { row[i] = (Double(i) - edges[j]) / (edges[j + 1] - edges[j]) }
            for i in Int(edges[j + 1])..<Int(edges[j + 2]) where i < bins { row[i] = (edges[j + 2] - Double(i)) / (edges[j + 2] - edges[j + 1]) }
            fb.append(row)
        }
        filterbank = fb
        var firsts: [Int] = [], counts: [Int] = [], flat: [Double] = []
        for row in fb {
            let lo = row.firstIndex { $0 != 0 } ?? 0, hi = row.lastIndex { $0 != 0 } ?? -1
            firsts.append(lo)
            counts.append(max(0, hi - lo + 1))
            if hi >= lo { flat.append(contentsOf: row[lo...hi]) }
        }
        firstBin = firsts
        binCount = counts
        sparseWeights = flat
        let n = Double(c.filters)
        var d = [Double](repeating: 0, count: c.coefficients * c.filters)
        for k in 0..<c.coefficients {
            let s = k == 0 ? (1 / n).squareRoot() : (2 / n).squareRoot()
            for i in 0..<c.filters { d[k * c.filters + i] = s * cos(Double.pi * Double(k) * (2 * Double(i) + 1) / (2 * n)) }
        }
        dct = d
        lift = (0..<c.coefficients).map { 1 + (c.lifter / 2) * sin(Double.pi * Double($0) / c.lifter) }
        let input = fftw_alloc_real(c.nFFT)!, output = fftw_alloc_complex(bins)!
        plan = fftw_plan_dft_r2c_1d(Int32(c.nFFT), input, output, FFTW_ESTIMATE)
        fftw_free(input)
        fftw_free(output)
    }

    /// Number of frames python_speech_features makes for n samples.
    public func frameCount(samples n: Int) -> Int {
        let len = configuration.frameLength, step = configuration.frameStep
        return n <= len ? 1 : 1 + Int((Double(n - len) / Double(step)).rounded(.up))
    }

    public func compute(_ samples: [Float]) -> MFCCFrames {
        let stream = MFCCStream(self)
        var out = stream.push(samples)
        out.values += stream.finish().values
        return out
    }

    /// Frames `frames` of a pre-emphasised, scaled signal held in `y` from global index `offset`;
    /// samples at or beyond `total` are the zero padding after the end.
    func frames(_ y: UnsafeBufferPointer<Double>, offset: Int, total: Int, frames: Range<Int>) -> [Float] {
        let c = configuration
        var out = [Float](repeating: 0, count: frames.count * c.coefficients)
        sparseWeights.withUnsafeBufferPointer { wts in
        dct.withUnsafeBufferPointer { dct in
        out.withUnsafeMutableBufferPointer { dst in
            let dstBase = dst.baseAddress!
            parallelBlocks(count: frames.count, minimumBlock: 64) { block in
                let bins = c.nFFT / 2 + 1
                let input = fftw_alloc_real(c.nFFT)!, output = fftw_alloc_complex(bins)!
                defer { fftw_free(input); fftw_free(output) }
                let power = UnsafeMutablePointer<Double>.allocate(capacity: bins)
                let logMel = UnsafeMutablePointer<Double>.allocate(capacity: c.filters)
                defer { power.deallocate(); logMel.deallocate() }
                let len = min(c.frameLength, c.nFFT), invN = 1 / Double(c.nFFT)
                for k in len..<c.nFFT { input[k] = 0 }
                let z = UnsafeMutableRawPointer(output).assumingMemoryBound(to: Double.self)
                for j in block {
                    let start = (frames.lowerBound + j) * c.frameStep
                    if start + len <= total {
                        let src = y.baseAddress! + (start - offset)
                        for k in 0..<len { input[k] = src[k] }
                    } else {
                        for k in 0..<len { let g = start + k; input[k] = g < total ? y[g - offset] : 0 }
                    }
                    fftw_execute_dft_r2c(plan, input, output)
                    var energy = 0.0
                    for k in 0..<bins {
                        let p = (z[2 * k] * z[2 * k] + z[2 * k + 1] * z[2 * k + 1]) * invN
                        power[k] = p
                        energy += p
                    }
                    var w = 0
                    for f in 0..<c.filters {
                        var acc = 0.0
                        let fb = firstBin[f], n = binCount[f]
                        for i in 0..<n { acc += wts[w + i] * power[fb + i] }
                        w += n
                        logMel[f] = Foundation.log(acc == 0 ? Double.ulpOfOne : acc)
                    }
                    for k in 0..<c.coefficients {
                        var acc = 0.0
                        for f in 0..<c.filters { acc += dct[k * c.filters + f] * logMel[f] }
                        dstBase[j * c.coefficients + k] = Float(acc * lift[k])
                    }
                    if c.appendEnergy {
                        dstBase[j * c.coefficients] = Float(Foundation.log(energy == 0 ? Double.ulpOfOne : energy))
                    }
                }
            }
        }
        }
        }
        return out
    }
}

/// Incremental MFCC: push chunks of any size; each frame comes out once its 25 ms have arrived, the
/// rest (zero-padded as python_speech_features pads) at `finish()`. Equal to `MFCC.compute` for any
/// chunking, in memory bounded by the chunk size.
public final class MFCCStream {
    public let mfcc: MFCC
    private var buffer: [Double] = []
    private var bufferStart = 0
    private var total = 0
    private var previous = 0.0
    private var next = 0

    public init(_ mfcc: MFCC) { self.mfcc = mfcc }

    public func push(_ samples: [Float]) -> MFCCFrames {
        let c = mfcc.configuration
        let old = buffer.count, isFirst = total == 0, k = c.preemphasis, scale = c.inputScale
        buffer.append(contentsOf: repeatElement(0, count: samples.count))
        var prev = previous
        buffer.withUnsafeMutableBufferPointer { b in
            samples.withUnsafeBufferPointer { x in
                for i in 0..<x.count {
                    let v = Double(x[i])
                    b[old + i] = scale * (isFirst && i == 0 ? v : v - k * prev)
                    prev = v
                }
            }
        }
        previous = prev
        total += samples.count
        var end = next
        while end * c.frameStep + c.frameLength <= total { end += 1 }
        return emit(upTo: end)
    }

    public func finish() -> MFCCFrames { emit(upTo: mfcc.frameCount(samples: total)) }

    private func emit(upTo end: Int) -> MFCCFrames {
        let c = mfcc.configuration
        guard end > next else { return MFCCFrames(coefficients: c.coefficients, values: []) }
        let values = buffer.withUnsafeBufferPointer { mfcc.frames($0, offset: bufferStart, total: total, frames: next..<end) }
        next = end
        let keep = next * c.frameStep
        if keep - bufferStart > 1 << 14 {
            buffer.removeFirst(keep - bufferStart)
            bufferStart = keep
        }
        return MFCCFrames(coefficients: c.coefficients, values: values)
    }
}
