import Foundation

/// Splits `count` items into contiguous blocks run on every core.
public func parallelBlocks(count: Int, minimumBlock: Int = 64, _ body: (Range<Int>) -> Void) {
    let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, (count + minimumBlock - 1) / minimumBlock))
    if workers == 1 { body(0..<count); return }
    let per = (count + workers - 1) / workers
    // Blocks are disjoint, so sharing the non-Sendable body across the workers is safe.
    withoutActuallyEscaping(body) { body in
        nonisolated(unsafe) let run = body
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = w * per, hi = min(count, lo + per)
            if lo < hi { run(lo..<hi) }
        }
    }
}
