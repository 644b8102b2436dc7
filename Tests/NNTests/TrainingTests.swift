import XCTest
@testable import NN

final class TrainingTests: XCTestCase {
    /// A 3-layer network learns which quadrant of a 6x6 image holds a bright blob.
    func makeBatch(_ rng: inout SeededRandom, n: Int) -> (Tensor, [Float]) {
        let x = Tensor(shape: [n, 1, 6, 6]), y = [Float](repeating: 0, count: n * 4)
        var labels = y
        for i in 0..<n {
            let q = Int(rng.next() % 4), oy = (q / 2) * 3 + Int(rng.next() % 2), ox = (q % 2) * 3 + Int(rng.next() % 2)
            for j in 0..<36 { x[i * 36 + j] = 0.3 * rng.normal() }
            x[i * 36 + oy * 6 + ox] += 2
            x[i * 36 + (oy + 1) * 6 + ox] += 2
            labels[i * 4 + q] = 1
        }
        return (x, labels)
    }

    func makeNet(_ rng: inout SeededRandom) -> Sequential {
        Sequential([Conv2d(1, 8, kernel: (3, 3), padding: (1, 1), name: "c1", rng: &rng), BatchNorm2d(8, name: "bn1"), ReLU(),
                    MaxPool2d(kernel: (2, 2)), Conv2d(8, 8, kernel: (3, 3), padding: (1, 1), name: "c2", rng: &rng), ReLU(),
                    Flatten(), Linear(72, 4, name: "fc", rng: &rng)])
    }

    func train(_ net: Sequential, _ adam: Adam, steps: Range<Int>, data: inout SeededRandom) -> Float {
        let g = Tensor(shape: [1])
        var last: Float = 0
        for _ in steps {
            let (x, t) = makeBatch(&data, n: 32)
            adam.zeroGrad()
            last = Loss.bceWithLogits(net.forward(x), target: t, grad: g)
            _ = net.backward(g)
            adam.update()
        }
        return last
    }

    func testToyNetworkLearns() {
        var rng = SeededRandom(seed: 11), data = SeededRandom(seed: 12)
        let net = makeNet(&rng)
        let adam = Adam.adamW(parameters: net.parameters, learningRate: 1e-2, clipNorm: 5)
        let first = train(net, adam, steps: 0..<1, data: &data)
        _ = train(net, adam, steps: 1..<150, data: &data)
        net.setTraining(false)
        var eval = SeededRandom(seed: 99)
        let (x, t) = makeBatch(&eval, n: 256)
        let loss = Loss.bceWithLogits(net.forward(x), target: t, grad: Tensor(shape: [1]))
        XCTAssertGreaterThan(first, 0.5)
        XCTAssertLessThan(loss, 0.1, "held-out loss after training")
    }

    func testCheckpointResumesBitForBit() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var rngA = SeededRandom(seed: 1), dataA = SeededRandom(seed: 2)
        let a = makeNet(&rngA)
        let optA = Adam(parameters: a.parameters, learningRate: 5e-3)
        _ = train(a, optA, steps: 0..<5, data: &dataA)
        let bnA = a.layers[1] as! BatchNorm2d
        try Checkpoint.save(parameters: a.parameters, extraTensors: [("bn1.running_mean", bnA.runningMean), ("bn1.running_var", bnA.runningVar)],
                            optimizer: optA, metadata: ["data_rng": String(dataA.state)], to: path)
        _ = train(a, optA, steps: 5..<10, data: &dataA)

        var rngB = SeededRandom(seed: 77)
        let b = makeNet(&rngB)
        let optB = Adam(parameters: b.parameters, learningRate: 5e-3)
        let bnB = b.layers[1] as! BatchNorm2d
        let meta = try Checkpoint.load(from: path, parameters: b.parameters,
                                       extraTensors: [("bn1.running_mean", bnB.runningMean), ("bn1.running_var", bnB.runningVar)], optimizer: optB)
        XCTAssertEqual(optB.step, 5)
        var dataB = SeededRandom(seed: UInt64(meta["data_rng"]!)!)
        _ = train(b, optB, steps: 5..<10, data: &dataB)
        for (pa, pb) in zip(a.parameters, b.parameters) { XCTAssertEqual(pa.value.values, pb.value.values, pa.name) }
        XCTAssertEqual(bnA.runningMean.values, bnB.runningMean.values)
    }

    func testBatchNormFoldsIntoConvolution() {
        var rng = SeededRandom(seed: 4)
        let conv = Conv2d(3, 5, kernel: (3, 3), padding: (1, 1), rng: &rng), bn = BatchNorm2d(5)
        for c in 0..<5 { bn.runningMean[c] = rng.normal(); bn.runningVar[c] = 0.5 + rng.uniform(); bn.gamma.value[c] = rng.normal(); bn.beta.value[c] = rng.normal() }
        bn.setTraining(false)
        let x = randomTensor([2, 3, 6, 6], rng: &rng)
        let reference = bn.forward(conv.forward(x)).clone()
        let folded = conv.folding(bn, rng: &rng).forward(x)
        XCTAssertLessThan(maxRelativeError(folded, reference), 1e-5)
    }

    func testLayersReuseTheirBuffers() {
        var rng = SeededRandom(seed: 8)
        let conv = Conv2d(3, 4, kernel: (3, 3), padding: (1, 1), rng: &rng)
        let x = randomTensor([2, 3, 8, 8], rng: &rng)
        let y1 = conv.forward(x), p1 = y1.data
        let y2 = conv.forward(x)
        XCTAssertTrue(y1 === y2)
        XCTAssertEqual(p1, y2.data)
    }
}
