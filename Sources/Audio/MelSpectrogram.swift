import CFFTW
import Foundation
import Parallel
#if canImport(Glibc)
import Glibc
#endif

/// How the signal is extended by n_fft/2 samples at each end before framing.
public enum PaddingMode: String, Sendable, CaseIterable {
    /// Mirror without repeating the edge sample: librosa 0.7 (pinned by Wav2Lip).
    case reflect
    /// Zeros: librosa >= 0.9.
    case constant
}

/// Parameters of the log-mel spectrogram. The defaults are Wav2Lip's `audio.melspectrogram`.
public struct MelConfiguration: Sendable, Equatable {
    public var sampleRate = 16_000
    public var nFFT = 800
    public var hopLength = 200
    public var windowLength = 800
    public var nMels = 80
    public var fmin = 55.0
    public var fmax = 7600.0
    public var preemphasis: Float = 0.97
    public var referenceLevelDB: Float = 20
    public var minLevelDB: Float = -100
    public var maxAbsValue: Float = 4
    public var padding = PaddingMode.reflect

    public init(padding: PaddingMode = .reflect) { self.padding = padding }

    /// Mel columns per second of audio (80 for the defaults).
    public var columnsPerSecond: Double { Double(sampleRate) / Double(hopLength) }
}

/// A spectrogram stored column after column: `values[t * nMels + m]` is band m of column t.
/// Read as a Fortran-order (nMels, count) array this is exactly Wav2Lip's `(80, T)` matrix.
public struct MelFrames: Sendable, Equatable {
    public var nMels: Int
    public var values: [Float]
    public var count: Int { nMels == 0 ? 0 : values.count / nMels }

    public init(nMels: Int, values: [Float] = []) {
        self.nMels = nMels
        self.values = values
    }

    public subscript(column t: Int, band m: Int) -> Float { values[t * nMels + m] }

    /// First mel column of the 16-column window for video frame `frame` at `fps`:
    /// `Int(Double(frame) * 80 / fps)` (Wav2Lip's convention). Computed from the frame's own index and
    /// rate, never accumulated, so windows do not drift at 29.97 or 23.976 fps.
    public static func windowStart(frame: Int, fps: Double, columnsPerSecond: Double = 80) -> Int {
        Int(Double(frame) * columnsPerSecond / fps)
    }

    /// The `length`-column window starting at `start`, as (nMels x length) row-major (band-major),
    /// which is the model's 1x80x16 input. Past the end, the last `length` columns are used; a
    /// spectrogram shorter than `length` is padded on the left with the floor value.
    public func window(start: Int, length: Int = 16, floor: Float = -4) -> [Float] {
        var out = [Float](repeating: floor, count: nMels * length)
        let n = count
        var s = start
        if s + length > n { s = n - length }
        for j in 0..<length {
            let t = s + j
            guard t >= 0 && t < n else { continue }
            for m in 0..<nMels { out[m * length + j] = values[t * nMels + m] }
        }
        return out
    }
}

/// Wav2Lip's normalised log-mel spectrogram over FFTW:
/// pre-emphasis, centred STFT (periodic Hann, n_fft 800, hop 200), magnitude, Slaney mel filters,
/// `20 log10(max(1e-5, M)) - 20`, then `clip(8 (S + 100) / 100 - 4, -4, 4)`.
public final class MelSpectrogram: @unchecked Sendable {
    public let configuration: MelConfiguration
    public let filterbank: MelFilterbank
    let window: [Float]
    let fft: RealFFT

    public init(_ configuration: MelConfiguration = .init()) {
        self.configuration = configuration
        filterbank = MelFilterbank(sampleRate: configuration.sampleRate, nFFT: configuration.nFFT,
                                   nMels: configuration.nMels, fmin: configuration.fmin, fmax: configuration.fmax)
        // Periodic Hann (scipy get_window('hann', N, fftbins=True)), centred in n_fft.
        let w = configuration.windowLength
        var win = [Float](repeating: 0, count: configuration.nFFT)
        let offset = (configuration.nFFT - w) / 2
        for i in 0..<w { win[offset + i] = Float(0.5 - 0.5 * cos(2 * Double.pi * Double(i) / Double(w))) }
        window = win
        fft = RealFFT.shared(size: configuration.nFFT)
    }

    /// The whole spectrogram of `samples` (mono, at the configured rate).
    public func compute(_ samples: [Float]) -> MelFrames {
        let stream = MelStream(self)
        var out = MelFrames(nMels: configuration.nMels)
        out.values.reserveCapacity((samples.count / configuration.hopLength + 1) * configuration.nMels)
        out.values.append(contentsOf: stream.push(samples).values)
        out.values.append(contentsOf: stream.finish().values)
        return out
    }

    /// Number of columns for `n` samples: 1 + floor(n / hop).
    public func columnCount(samples n: Int) -> Int { 1 + n / configuration.hopLength }

    /// Computes columns `range` of a signal whose real samples are `signal` (global index `offset` is
    /// `signal[0]`, the signal having `total` samples in all); `edge(i)` supplies the padded value at a
    /// virtual index outside 0..<total. Runs on every core.
    func columns(_ range: Range<Int>, signal: UnsafeBufferPointer<Float>, offset: Int, total: Int,
                 edge: (Int) -> Float) -> [Float] {
        let c = configuration
        let nMels = c.nMels, nFFT = c.nFFT, half = nFFT / 2, hop = c.hopLength, bins = fft.bins
        var out = [Float](repeating: 0, count: range.count * nMels)
        let scale = 20 / Float(log(10.0))
        let floorDB = c.minLevelDB, ref = c.referenceLevelDB, maxAbs = c.maxAbsValue
        let firstBins = filterbank.filters.map(\.firstBin)
        let lengths = filterbank.filters.map(\.weights.count)
        let weights = filterbank.filters.flatMap(\.weights)
        window.withUnsafeBufferPointer { win in
        weights.withUnsafeBufferPointer { wts in
        out.withUnsafeMutableBufferPointer { dst in
            let dstBase = dst.baseAddress!, sig = signal.baseAddress!
            parallelBlocks(count: range.count, minimumBlock: 32) { block in
                let ws = fft.makeWorkspace()
                let mag = UnsafeMutablePointer<Float>.allocate(capacity: bins)
                defer { mag.deallocate() }
                let input = ws.input
                for j in block {
                    let base = (range.lowerBound + j) * hop - half
                    if base >= 0 && base + nFFT <= total {
                        let src = sig + (base - offset)
                        for k in 0..<nFFT { input[k] = src[k] * win[k] }
                    } else {
                        for k in 0..<nFFT {
                            let i = base + k
                            input[k] = (i >= 0 && i < total ? sig[i - offset] : edge(i)) * win[k]
                        }
                    }
                    fft.execute(ws)
                    ws.output.withMemoryRebound(to: Float.self, capacity: 2 * bins) { z in
                        for k in 0..<bins {
                            let re = z[2 * k], im = z[2 * k + 1]
                            mag[k] = (re * re + im * im).squareRoot()
                        }
                    }
                    var w = 0
                    for m in 0..<nMels {
                        var acc: Float = 0
                        let fb = firstBins[m], n = lengths[m]
                        for i in 0..<n { acc += wts[w + i] * mag[fb + i] }
                        w += n
                        let db = scale * logf(max(1e-5, acc)) - ref
                        let v = 2 * maxAbs * ((db - floorDB) / -floorDB) - maxAbs
                        dstBase[j * nMels + m] = min(maxAbs, max(-maxAbs, v))
                    }
                }
            }
        }
        }
        }
        return out
    }
}

/// Incremental spectrogram: push audio in chunks of any size, get each column as soon as every
/// sample it depends on has arrived. Concatenated output equals `MelSpectrogram.compute` of the
/// whole signal exactly, and memory stays bounded by the chunk size.
public final class MelStream {
    public let spectrogram: MelSpectrogram
    private var buffer: [Float] = []     // pre-emphasised samples from global index `bufferStart`
    private var bufferStart = 0
    private var total = 0                // samples pushed so far
    private var previous: Float = 0      // last raw sample, for pre-emphasis across chunks
    private var nextColumn = 0
    private var finished = false

    public init(_ spectrogram: MelSpectrogram) { self.spectrogram = spectrogram }

    /// Columns emitted so far.
    public var columnsEmitted: Int { nextColumn }

    public func push(_ samples: [Float]) -> MelFrames {
        precondition(!finished, "MelStream: push after finish")
        let k = spectrogram.configuration.preemphasis
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: samples.count))
        let isFirst = total == 0
        var prev = previous
        buffer.withUnsafeMutableBufferPointer { b in
            samples.withUnsafeBufferPointer { x in
                for i in 0..<x.count {
                    b[old + i] = isFirst && i == 0 ? x[i] : x[i] - k * prev
                    prev = x[i]
                }
            }
        }
        previous = prev
        total += samples.count
        let c = spectrogram.configuration
        let half = c.nFFT / 2
        // Column t needs real samples up to t*hop + half - 1; columns touching the left edge also
        // need samples 1...half for the mirror (unless the padding is zeros).
        guard total > half || c.padding == .constant else { return MelFrames(nMels: c.nMels) }
        var last = nextColumn
        while last * c.hopLength + half <= total { last += 1 }
        return emit(upTo: last, final: false)
    }

    /// The remaining columns, using the end padding. The stream cannot be used afterwards.
    public func finish() -> MelFrames {
        precondition(!finished, "MelStream: finish twice")
        finished = true
        return emit(upTo: spectrogram.columnCount(samples: total), final: true)
    }

    private func emit(upTo end: Int, final: Bool) -> MelFrames {
        let c = spectrogram.configuration
        guard end > nextColumn else { return MelFrames(nMels: c.nMels) }
        let n = total, start = bufferStart
        let reflect = c.padding == .reflect
        let values = buffer.withUnsafeBufferPointer { buf in
            spectrogram.columns(nextColumn..<end, signal: buf, offset: start, total: n) { i -> Float in
                guard reflect, n > 0 else { return 0 }
                // numpy's 'reflect' pad: the signal mirrored about its end samples, repeated as needed.
                if n == 1 { return buf[0 - start] }
                let period = 2 * (n - 1)
                var m = i % period
                if m < 0 { m += period }
                if m >= n { m = period - m }
                return buf[m - start]
            }
        }
        nextColumn = end
        if !final { trim() }
        return MelFrames(nMels: c.nMels, values: values)
    }

    /// Drops samples no future column can touch, keeping the left mirror source until it is used.
    private func trim() {
        let c = spectrogram.configuration
        let keepFrom = nextColumn * c.hopLength - c.nFFT / 2
        guard keepFrom > bufferStart, keepFrom > c.nFFT / 2 + 1 else { return }
        let drop = keepFrom - bufferStart
        if drop > 1 << 15 || drop * 2 > buffer.count {
            buffer.removeFirst(drop)
            bufferStart = keepFrom
        }
    }
}
