import Foundation
import XCTest
@testable import NN
@testable import Training

/// A small network as a `Model`; two of them share local parameter names on purpose.
final class ToyModel: Model {
    static let format = "lipsync-toy-1"
    let scope: String
    let net: Sequential
    let bn: BatchNorm2d
    private(set) var mode = ModelMode.training
    init(scope: String, seed: UInt64) {
        self.scope = scope
        var rng = SeededRandom(seed: seed)
        bn = BatchNorm2d(8, name: "bn1")
        net = Sequential([Conv2d(1, 8, kernel: (3, 3), padding: (1, 1), name: "c1", rng: &rng), bn, ReLU(),
                          MaxPool2d(kernel: (2, 2)), Flatten(), Linear(72, 4, name: "fc", rng: &rng)])
    }
    var parameters: [Parameter] { net.parameters }
    var buffers: [(name: String, tensor: Tensor)] { [("bn1.running_mean", bn.runningMean), ("bn1.running_var", bn.runningVar)] }
    func setMode(_ mode: ModelMode) { self.mode = mode; net.setMode(mode) }
}

/// Two networks, each with its own optimiser, updated in turn on one batch (the shape of a GAN step).
final class TwoNetObjective: Objective {
    let first: ToyModel, second: ToyModel
    let firstOptimizer: Adam, secondOptimizer: Adam
    var rng: SeededRandom
    let grad = Tensor(shape: [1])

    init(seed: UInt64) {
        first = ToyModel(scope: "first", seed: seed)
        second = ToyModel(scope: "second", seed: seed + 1)
        firstOptimizer = Adam(parameters: first.parameters, learningRate: 5e-3)
        secondOptimizer = Adam.adamW(parameters: second.parameters, learningRate: 5e-3)
        rng = SeededRandom(seed: seed + 2)
    }

    var models: [any Model] { [first, second] }
    var optimizers: [NamedOptimizer] {
        [NamedOptimizer(name: "first", optimizer: firstOptimizer, peakLearningRate: 5e-3, clipNorm: 1),
         NamedOptimizer(name: "second", optimizer: secondOptimizer, peakLearningRate: 2e-3)]
    }
    var samplesPerStep: Int { 16 }

    func nextBatch() -> (Tensor, [Float]) {
        let n = 16, x = Tensor(shape: [n, 1, 6, 6])
        var labels = [Float](repeating: 0, count: n * 4)
        for i in 0..<n {
            let q = Int(rng.next() % 4)
            for j in 0..<36 { x[i * 36 + j] = 0.3 * rng.normal() }
            x[i * 36 + (q / 2) * 18 + (q % 2) * 3 + 7] += 2
            labels[i * 4 + q] = 1
        }
        return (x, labels)
    }

    func step(_ batch: (Tensor, [Float]), phase: String) -> [String: Float] {
        let m = phase == "first" ? first : second
        let loss = Loss.bceWithLogits(m.net.forward(batch.0), target: batch.1, grad: grad)
        _ = m.net.backward(grad)
        return ["\(phase)_loss": loss]
    }

    /// Held-out readings to report, one per evaluation (none: nothing is measured).
    var scripted: [Double] = []
    func evaluate() -> [String: Double] { scripted.isEmpty ? [:] : ["heldout_score": scripted.removeFirst()] }
    var state: [String: String] { ["rng": String(rng.state)] }
    func restore(state: [String: String]) { if let s = state["rng"], let v = UInt64(s) { rng.state = v } }
}

final class TrainerTests: XCTestCase {
    func makeTrainer(seed: UInt64, steps: Int) -> Trainer<TwoNetObjective> {
        var o = Trainer<TwoNetObjective>.Options()
        o.steps = steps
        o.warmup = 3
        o.printsProgress = false
        return Trainer(objective: TwoNetObjective(seed: seed), options: o)
    }

    /// One checkpoint holds two models with the same local names and two optimisers; resuming
    /// continues bit for bit.
    func testTwoOptimizerCheckpointResumesBitForBit() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt2-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let a = makeTrainer(seed: 1, steps: 20)
        for _ in 0..<6 { a.trainStep() }
        try a.saveCheckpoint(to: path)
        let names = try SafetensorsFile(path: path).names
        XCTAssertTrue(names.contains("first.c1.weight") && names.contains("second.c1.weight"), "\(names)")
        XCTAssertTrue(names.contains("optim.first.m.first.c1.weight") && names.contains("optim.second.v.second.fc.bias"))
        let continued = (0..<5).map { _ in a.trainStep() }

        let b = makeTrainer(seed: 9, steps: 20)
        XCTAssertEqual(try b.resume(from: path), 6)
        XCTAssertEqual(b.objective.firstOptimizer.step, 6)
        XCTAssertEqual(b.objective.secondOptimizer.step, 6)
        let resumed = (0..<5).map { _ in b.trainStep() }
        XCTAssertEqual(resumed, continued)
        for (pa, pb) in zip(a.objective.models.flatMap(\.parameters), b.objective.models.flatMap(\.parameters)) {
            XCTAssertEqual(pa.value.values, pb.value.values, pa.name)
        }
        XCTAssertEqual(a.objective.second.bn.runningMean.values, b.objective.second.bn.runningMean.values)
    }

    /// `onBest` fires only when the watched held-out reading beats every earlier one, and the best
    /// so far survives a resume (it is in the checkpoint), so a resumed run does not overwrite a
    /// better earlier model with a worse one.
    func testTheBestHeldOutStepIsReportedAcrossAResume() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-best-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        func trainer(steps: Int, readings: [Double]) -> Trainer<TwoNetObjective> {
            var o = Trainer<TwoNetObjective>.Options()
            o.steps = steps
            o.warmup = 2
            o.evalEvery = 2
            o.checkpointEvery = 2
            o.checkpoint = path
            o.bestMetric = "heldout_score"
            o.printsProgress = false
            let t = Trainer(objective: TwoNetObjective(seed: 4), options: o)
            t.objective.scripted = readings
            return t
        }
        var calls: [Int] = []
        let first = trainer(steps: 6, readings: [1, 3, 2])
        first.onBest = { step, _ in calls.append(step) }
        try first.run()
        XCTAssertEqual(calls, [2, 4])
        XCTAssertEqual(first.bestValue, 3)
        let second = trainer(steps: 10, readings: [2.5, 4])
        second.onBest = { step, _ in calls.append(step) }
        try second.run(resume: true)
        XCTAssertEqual(second.bestValue, 4)
        XCTAssertEqual(calls, [2, 4, 10], "2.5 at step 8 is under the 3 of step 4, reached before the resume")
    }

    /// The schedule: linear warm-up to the peak, cosine down to the floor share at the end.
    func testWarmupCosineSchedule() {
        let lr = { (s: Int) in Trainer<TwoNetObjective>.learningRate(peak: 1, step: s, warmup: 10, total: 100) }
        XCTAssertEqual(lr(0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(lr(9), 0.9807, accuracy: 1e-3)
        XCTAssertEqual(lr(50), 0.515, accuracy: 1e-3)
        XCTAssertEqual(lr(100), 0.03, accuracy: 1e-6)
    }

    /// Clipping scales the gradients to the limit's norm and leaves small ones alone.
    func testClippingScalesToTheLimit() {
        let p = Parameter("p", shape: [2])
        p.grad[0] = 3; p.grad[1] = 4
        Trainer<TwoNetObjective>.clip([p], norm: 5, to: 1)
        XCTAssertEqual(p.grad[0], 0.6, accuracy: 1e-5)
        XCTAssertEqual(p.grad[1], 0.8, accuracy: 1e-5)
        Trainer<TwoNetObjective>.clip([p], norm: 1, to: 2)
        XCTAssertEqual(p.grad[0], 0.6, accuracy: 1e-5)
    }

    /// A weights file of one model is refused by another model's loader.
    func testWeightsOfAnotherFormatAreRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("w-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let m = ToyModel(scope: "toy", seed: 1)
        try m.saveWeights(to: path)
        XCTAssertNoThrow(try ToyModel(scope: "other", seed: 2).loadWeights(from: path))
        try SafetensorsFile.write(m.namedTensors, metadata: ["format": "something-else"], to: path)
        XCTAssertThrowsError(try ToyModel(scope: "toy", seed: 1).loadWeights(from: path))
    }
}
