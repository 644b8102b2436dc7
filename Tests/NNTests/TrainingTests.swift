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
