import Foundation
import NN

/// An optimiser under the name its schedule, log and checkpoint entries go by.
public struct NamedOptimizer {
    public var name: String
    public var optimizer: Adam
    /// The schedule's peak: warm-up to it, then cosine decay (`Trainer.learningRate`).
    public var peakLearningRate: Float
    /// Clip the global norm of this optimiser's gradients to this value before each update.
    public var clipNorm: Float?

    public init(name: String, optimizer: Adam, peakLearningRate: Float, clipNorm: Float? = nil) {
        (self.name, self.optimizer, self.peakLearningRate, self.clipNorm) = (name, optimizer, peakLearningRate, clipNorm)
    }
}

/// One training task, plugged into `Trainer`: it samples batches and turns a batch into named
/// losses with the gradients left on the parameters. The trainer updates the optimisers in the
/// order listed; each is a phase of the step, so an objective alternates them as a GAN does
/// (critic first, then generator against the updated critic).
public protocol Objective: AnyObject {
    associatedtype Batch
    /// Everything a checkpoint must hold (trained and frozen models alike).
    var models: [any Model] { get }
    var optimizers: [NamedOptimizer] { get }
    /// Samples in one batch (for samples/s and ETA).
    var samplesPerStep: Int { get }
    func nextBatch() -> Batch
    /// Named losses of `batch` for the optimiser named `phase`, whose gradients the trainer has
    /// zeroed; gradients are left on its parameters.
    func step(_ batch: Batch, phase: String) -> [String: Float]
    /// Held-out measurements, logged under their own names.
    func evaluate() -> [String: Double]
    /// State the checkpoint keeps beside the weights (the data generator's position, say).
    var state: [String: String] { get }
    func restore(state: [String: String])
}

public enum TrainingError: Error, CustomStringConvertible {
    case unwritableLog(path: String)
    case noCheckpoint(path: String)
    public var description: String {
        switch self {
        case .unwritableLog(let p): return "\(p): cannot open the training log for writing"
        case .noCheckpoint(let p): return "\(p): no checkpoint to resume"
        }
    }
}

/// The training loop, model-agnostic (llm.c's thin main): schedule, clipping, optimiser updates,
/// cadence of logging, held-out evaluation and checkpoints, progress with ETA on stderr, and
/// bit-for-bit resume.
public final class Trainer<O: Objective> {
    public struct Options: Sendable {
        public var steps = 10_000
        /// Linear warm-up steps before the cosine decay.
        public var warmup = 300
        /// The cosine decays to this share of the peak.
        public var floor: Float = 0.03
        public var logEvery = 25
        /// 0: only at the end.
        public var evalEvery = 500
        public var checkpointEvery = 250
        public var checkpoint: String?
        public var log: String?
        /// Recorded in the checkpoint; the objective was built with it.
        public var seed: UInt64 = 1
        /// Progress on stderr (tests turn it off).
        public var printsProgress = true
        /// A held-out measurement (higher is better) whose best value so far calls `onBest`: the last
        /// step is not always the best one, and a checkpoint keeps only the last.
        public var bestMetric: String?
        public init() {}
    }

    /// Called with the step after a held-out evaluation that beats every earlier one on
    /// `options.bestMetric` (the best value survives a resume, in the checkpoint).
    public var onBest: ((_ step: Int, _ value: Double) throws -> Void)?
    public private(set) var bestValue: Double?

    public let objective: O
    public let options: Options
    public private(set) var step = 0
    private var logFile: LogFile?

    public init(objective: O, options: Options) {
        self.objective = objective
        self.options = options
    }

    /// Warm-up then cosine decay to `floor` of the peak; `step` counts updates already made.
    public static func learningRate(peak: Float, step: Int, warmup: Int, total: Int, floor: Float = 0.03) -> Float {
        let warm = min(1, Float(step + 1) / Float(max(1, warmup)))
        let progress = min(1, Float(step) / Float(max(1, total)))
        return peak * warm * (floor + (1 - floor) * 0.5 * (1 + cosf(.pi * progress)))
    }

    /// One step: a fresh batch, then each optimiser's phase (zero, losses and gradients, clip, update).
    @discardableResult
    public func trainStep() -> [String: Float] {
        let batch = objective.nextBatch()
        var losses: [String: Float] = [:]
        for slot in objective.optimizers {
            let o = slot.optimizer
            o.zeroGrad()
            losses.merge(objective.step(batch, phase: slot.name)) { _, new in new }
            if let c = slot.clipNorm { Self.clip(o.parameters, norm: o.gradientNorm(), to: c) }
            o.learningRate = Self.learningRate(peak: slot.peakLearningRate, step: o.step, warmup: options.warmup,
                                               total: options.steps, floor: options.floor)
            o.update()
        }
        step += 1
        return losses
    }

    /// Scales gradients so their global norm is at most `limit` (the factor PyTorch's clip_grad_norm_ uses).
    static func clip(_ parameters: [Parameter], norm: Float, to limit: Float) {
        guard norm > limit else { return }
        let scale = limit / (norm + 1e-6)
        for p in parameters {
            let g = p.grad.data
            for i in 0..<p.grad.count { g[i] *= scale }
        }
    }

    public func saveCheckpoint(to path: String) throws {
        var meta = objective.state
        meta["step"] = String(step)
        meta["seed"] = String(options.seed)
        meta["steps"] = String(options.steps)
        if let bestValue { meta["best_value"] = String(bestValue) }
        try Checkpoint.save(models: objective.models, optimizers: objective.optimizers.map { ($0.name, $0.optimizer) }, metadata: meta, to: path)
    }

    /// Restores weights, optimiser moments and steps, and the objective's state; returns the step reached.
    @discardableResult
    public func resume(from path: String) throws -> Int {
        guard FileManager.default.fileExists(atPath: path) else { throw TrainingError.noCheckpoint(path: path) }
        let meta = try Checkpoint.load(from: path, models: objective.models, optimizers: objective.optimizers.map { ($0.name, $0.optimizer) })
        objective.restore(state: meta)
        step = Int(meta["step"] ?? "0") ?? 0
        bestValue = meta["best_value"].flatMap(Double.init)
        return step
    }

    /// Trains to `options.steps`, from the checkpoint when `resume` (the log is then appended to;
    /// otherwise it starts afresh).
    public func run(resume: Bool = false) throws {
        if resume, let ckpt = options.checkpoint {
            try self.resume(from: ckpt)
            note("resumed at step \(step)")
        } else if let log = options.log {
            try? FileManager.default.removeItem(atPath: log)
        }
        logFile = try options.log.map { try LogFile(path: $0) }
        let batch = objective.samplesPerStep, steps = options.steps
        var window: [[String: Float]] = []
        var t0 = Date(), startStep = step
        let started = Date()
        while step < steps {
            window.append(trainStep())
            if step % options.logEvery == 0 || step == steps {
                let el = Date().timeIntervalSince(t0)
                let rate = Double((step - startStep) * batch) / max(el, 1e-9)
                let eta = Double(steps - step) * Double(batch) / max(rate, 1e-9)
                var record: [String: Double] = ["step": Double(step), "samples_per_s": rate, "elapsed_s": Date().timeIntervalSince(started)]
                var line = "\rstep \(step)/\(steps)"
                for name in window.flatMap(\.keys).uniqued().sorted() {
                    let values = window.compactMap { $0[name] }
                    let mean = values.reduce(0, +) / Float(values.count)
                    record[name] = Double(mean)
                    line += String(format: "  %@ %.4f", name, mean)
                }
                let slots = objective.optimizers
                for s in slots { record[slots.count == 1 ? "lr" : "lr_\(s.name)"] = Double(s.optimizer.learningRate) }
                line += String(format: "  %.0f samples/s  ETA %@   ", rate, Self.duration(eta))
                progress(line)
                try logFile?.append(record)
                window.removeAll()
                if step - startStep >= 200 { t0 = Date(); startStep = step }
            }
            if (options.evalEvery > 0 && step % options.evalEvery == 0) || step == steps {
                try evaluateHeldOut()
            }
            // After the evaluation, so that a checkpoint of the same step holds the best value it found.
            if let ckpt = options.checkpoint, step % options.checkpointEvery == 0 || step == steps { try saveCheckpoint(to: ckpt) }
        }
    }

    /// One held-out measurement: progress line, log record, and `onBest` when it beats the best so far.
    private func evaluateHeldOut() throws {
        let h = objective.evaluate()
        guard !h.isEmpty else { return }
        var line = "\n  held-out:"
        for (k, v) in h.sorted(by: { $0.key < $1.key }) {
            let label = (k.hasPrefix("heldout_") ? String(k.dropFirst("heldout_".count)) : k).replacingOccurrences(of: "_", with: " ")
            line += String(format: "  %@ %.4f", label, v)
        }
        progress(line + "\n")
        var record = h
        record["step"] = Double(step)
        try logFile?.append(record)
        if let name = options.bestMetric, let value = h[name], !value.isNaN, value > (bestValue ?? -.infinity) {
            bestValue = value
            try onBest?(step, value)
        }
    }

    public static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%dh%02dm", t / 3600, t % 3600 / 60) : String(format: "%dm%02ds", t / 60, t % 60)
    }

    func progress(_ s: String) { if options.printsProgress { FileHandle.standardError.write(Data(s.utf8)) } }
    func note(_ s: String) { progress(s + "\n") }
}

extension Sequence where Element: Hashable {
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}

/// Appends JSON objects, one per line, flushed as they come (a crash loses nothing logged).
public final class LogFile {
    let handle: FileHandle
    public init(path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else { throw TrainingError.unwritableLog(path: path) }
        h.seekToEndOfFile()
        handle = h
    }
    public func append(_ record: [String: Double]) throws {
        let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        handle.write(data + Data("\n".utf8))
    }
}
