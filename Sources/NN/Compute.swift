import COpenBLAS
import Foundation

/// Who uses the cores. LipSync runs OpenBLAS single-threaded inside its own workers: OpenBLAS's
/// idle threads spin (sched_yield) and, beside our workers, oversubscribe the cores; measured on
/// SyncNet, that spinning took ~17 % of the CPU. `LIPSYNC_THREADS` sets the worker count
/// (default: every core). OpenBLAS's core type (OPENBLAS_CORETYPE) is left as the user set it.
public enum Compute {
    public static let threads: Int = {
        if let s = ProcessInfo.processInfo.environment["LIPSYNC_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    private static let configured: Bool = {
        openblas_set_num_threads(1)
        return true
    }()

    static func configure() { _ = configured }

    /// Splits 0..<count into at most `threads` contiguous parts and runs body(part, range) on each.
    static func partition(_ count: Int, _ body: (Int, Range<Int>) -> Void) {
        configure()
        let parts = max(1, min(threads, count))
        if parts == 1 { body(0, 0..<count); return }
        let per = (count + parts - 1) / parts
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let run = body
            DispatchQueue.concurrentPerform(iterations: parts) { w in
                let lo = w * per, hi = min(count, lo + per)
                if lo < hi { run(w, lo..<hi) }
            }
        }
    }

    /// sgemm (no transposes on B's column split) spread over the workers by splitting N, for calls
    /// made outside a worker. Small products run directly.
    static func gemm(transA: Bool = false, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                     b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        configure()
        if threads == 1 || m * n * k < 1 << 20 || n < 32 {
            sgemm(transA: transA, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        let blocks = (n + 15) / 16
        partition(blocks) { _, r in
            let lo = r.lowerBound * 16, hi = min(n, r.upperBound * 16)
            sgemm(transA: transA, m: m, n: hi - lo, k: k, a: a, lda: lda, b: b + lo, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
        }
    }

    /// Runs body over 0..<count in contiguous blocks on every worker when the work is large enough
    /// to pay for the hand-off (elementwise passes over activations).
    static func forEachBlock(_ count: Int, minimum: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
        if count < 2 * minimum || threads == 1 { body(0..<count); return }
        partition(count) { _, r in body(r) }
    }
}
