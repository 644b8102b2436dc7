import CFFTW
import Foundation

/// A real-to-complex FFTW plan of one size, made once and shared. Execution uses FFTW's new-array
/// interface on per-thread buffers, which is thread-safe; only planning needs the lock.
final class RealFFT: @unchecked Sendable {
    let size: Int
    var bins: Int { size / 2 + 1 }
    private let plan: fftwf_plan

    private static let lock = NSLock()
    nonisolated(unsafe) private static var cache: [Int: RealFFT] = [:]

    static func shared(size: Int) -> RealFFT {
        lock.lock()
        defer { lock.unlock() }
        if let p = cache[size] { return p }
        let p = RealFFT(size: size)
        cache[size] = p
        return p
    }

    private init(size: Int) {
        self.size = size
        let input = fftwf_alloc_real(size)!
        let output = fftwf_alloc_complex(size / 2 + 1)!
        // ESTIMATE, not MEASURE: MEASURE times candidate algorithms, so under load two runs of the
        // same binary picked different ones and their spectra differed in the last bits (seen: 100 of
        // 680 offset JSONs changed between runs). Reproducible numbers matter more than the few
        // microseconds a measured plan saves on an 800-point transform.
        plan = fftwf_plan_dft_r2c_1d(Int32(size), input, output, FFTW_ESTIMATE)
        fftwf_free(input)
        fftwf_free(output)
    }

    /// Buffers with FFTW's alignment, for one worker thread.
    final class Workspace {
        let input: UnsafeMutablePointer<Float>
        let output: UnsafeMutablePointer<fftwf_complex>
        let size: Int
        init(size: Int) {
            self.size = size
            input = fftwf_alloc_real(size)!
            output = fftwf_alloc_complex(size / 2 + 1)!
        }
        deinit { fftwf_free(input); fftwf_free(output) }
    }

    func makeWorkspace() -> Workspace { Workspace(size: size) }

    /// Transforms `ws.input` into `ws.output`.
    func execute(_ ws: Workspace) {
        fftwf_execute_dft_r2c(plan, ws.input, ws.output)
    }
}
