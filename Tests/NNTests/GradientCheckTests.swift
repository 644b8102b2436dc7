import XCTest
@testable import NN

/// Central-difference checks of every op's backward, independent of PyTorch.
final class GradientCheckTests: XCTestCase {
    var rng = SeededRandom(seed: 42)

    func testConvolutionPaths() {
        let cases: [(Int, Int, (Int, Int), (Int, Int), (Int, Int), Int, [Int])] = [
            (3, 4, (3, 3), (1, 1), (1, 1), 1, [2, 3, 6, 7]),     // im2col + sgemm
            (3, 4, (3, 3), (1, 2), (1, 1), 1, [2, 3, 6, 7]),     // asymmetric stride
            (2, 3, (3, 1), (3, 1), (0, 0), 1, [2, 2, 9, 4]),     // asymmetric kernel
            (4, 6, (3, 3), (2, 2), (1, 1), 2, [2, 4, 7, 7]),     // groups
            (4, 4, (3, 3), (2, 2), (1, 1), 4, [2, 4, 7, 8]),     // depthwise
            (5, 3, (1, 1), (1, 1), (0, 0), 1, [2, 5, 8, 9]),     // 1x1 direct sgemm
        ]
        for (cin, cout, k, s, p, g, shape) in cases {
            let conv = Conv2d(cin, cout, kernel: k, stride: s, padding: p, groups: g, rng: &rng)
            gradientCheck(conv, input: randomTensor(shape, rng: &rng))
        }
        // Without the input gradient, the weight gradient is unchanged and dx is zero.
        let a = Conv2d(3, 4, kernel: (3, 3), padding: (1, 1), rng: &rng)
        let x = randomTensor([2, 3, 5, 5], rng: &rng), r = randomTensor([2, 4, 5, 5], rng: &rng)
        _ = a.forward(x); _ = a.backward(r)
        let full = a.weight.grad.clone()
        a.weight.grad.zero(); a.bias!.grad.zero()
        a.computesInputGradient = false
        _ = a.forward(x)
        XCTAssertTrue(a.backward(r).values.allSatisfy { $0 == 0 })
        XCTAssertEqual(a.weight.grad.values, full.values)
        let t = ConvTranspose2d(3, 2, kernel: (3, 3), stride: (2, 2), padding: (1, 1), outputPadding: (1, 1), rng: &rng)
        gradientCheck(t, input: randomTensor([2, 3, 4, 5], rng: &rng))
    }

    func testDenseAndNormalisation() {
        gradientCheck(Linear(6, 4, rng: &rng), input: randomTensor([3, 6], rng: &rng))
        gradientCheck(BatchNorm2d(3), input: randomTensor([4, 3, 3, 3], rng: &rng), h: 5e-3, tolerance: 3e-2)
        gradientCheck(L2Normalize(), input: randomTensor([3, 5], rng: &rng))
    }

    func testElementwiseAndShape() {
        let x = { [self] in randomTensor([2, 3, 4, 5], rng: &rng, awayFromZero: 0.05) }
        gradientCheck(ReLU(), input: x())
        gradientCheck(LeakyReLU(slope: 0.1), input: x())
        gradientCheck(PReLU(channels: 3), input: x())
        gradientCheck(Sigmoid(), input: x())
        gradientCheck(Tanh(), input: x())
        gradientCheck(MaxPool2d(kernel: (2, 2)), input: x())
        gradientCheck(MaxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)), input: x())
        gradientCheck(AvgPool2d(kernel: (2, 2)), input: x())
        gradientCheck(AvgPool2d.global, input: x())
        gradientCheck(ChannelPad(extra: 2), input: x())
        gradientCheck(ZeroPad2d(top: 0, bottom: 1, left: 0, right: 1), input: x())
        gradientCheck(Flatten(), input: x())
        gradientCheck(Upsample(scale: 2), input: x())
    }

    func testLossGradients() {
        // Predictions kept away from L1's kink at the target (0) and inside (0, 1) for BCE on probabilities.
        let z = randomTensor([10], rng: &rng, awayFromZero: 0.05)
        let p = Tensor(shape: [10], values: (0..<10).map { 0.1 + 0.08 * Float($0) })
        let t: [Float] = (0..<10).map { Float($0 % 2) }
        let zero = Tensor(shape: [10])
        let losses: [(String, Tensor, (Tensor, Tensor) -> Float)] = [
            ("bceWithLogits", z, { Loss.bceWithLogits($0, target: t, grad: $1) }),
            ("bce", p, { Loss.bce($0, target: t, grad: $1) }),
            ("mse", z, { Loss.mse($0, target: zero, grad: $1) }),
            ("l1", z, { Loss.l1($0, target: zero, grad: $1) }),
        ]
        let h: Float = 1e-3
        for (name, x, f) in losses {
            let g = Tensor(shape: [1])
            _ = f(x, g)
            for i in 0..<10 {
                let old = x[i]
                x[i] = old + h; let lp = f(x, Tensor(shape: [1]))
                x[i] = old - h; let lm = f(x, Tensor(shape: [1]))
                x[i] = old
                XCTAssertEqual(g[i], (lp - lm) / (2 * h), accuracy: 2e-3, "\(name)[\(i)]")
            }
        }
    }

    func testCosineSimilarityGradient() {
        let a = randomTensor([3, 6], rng: &rng), b = randomTensor([3, 6], rng: &rng)
        let cos = CosineSimilarity(), w: [Float] = [0.5, -1, 2]
        let ga = Tensor(shape: [1]), gb = Tensor(shape: [1])
        cos.backward(a, b, gradCos: w, gradA: ga, gradB: gb)
        func loss() -> Float { zip(cos.forward(a, b), w).map { $0 * $1 }.reduce(0, +) }
        let h: Float = 1e-3
        for i in stride(from: 0, to: 18, by: 5) {
            let old = a[i]
            a[i] = old + h; let lp = loss()
            a[i] = old - h; let lm = loss()
            a[i] = old
            XCTAssertEqual(ga[i], (lp - lm) / (2 * h), accuracy: 2e-3)
        }
    }

    /// BatchNorm's lane-wide sums: a large mean over a small spread (where Float sums would cancel),
    /// and plane sizes that leave a tail after the lanes; ReLU's lane-wide mask with a tail too.
    func testBatchNormStatisticsAndReLUMaskAcrossLaneTails() {
        for hw in [1, 7, 13, 37] {
            let x = Tensor(shape: [3, 2, 1, hw])
            for i in 0..<x.count { x[i] = 1000 + rng.normal() * 0.01 }
            let bn = BatchNorm2d(2)
            let y = bn.forward(x)
            for c in 0..<2 {
                var v: [Double] = []
                for n in 0..<3 { for i in 0..<hw { v.append(Double(x[(n * 2 + c) * hw + i])) } }
                let mean = v.reduce(0, +) / Double(v.count)
                let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)
                for n in 0..<3 {
                    for i in 0..<hw {
                        let k = (n * 2 + c) * hw + i
                        XCTAssertEqual(Double(y[k]), (Double(x[k]) - mean) / (variance + 1e-5).squareRoot(), accuracy: 2e-2, "hw \(hw)")
                    }
                }
            }
            // The input gradient is orthogonal to the constant and to x̂ per channel (PyTorch's formula).
            let x2 = Tensor(shape: [3, 1, 1, hw]), dy = Tensor(shape: [3, 1, 1, hw])
            for i in 0..<x2.count { x2[i] = 3 + rng.normal(); dy[i] = rng.normal() }
            let bn2 = BatchNorm2d(1)
            let xh = bn2.forward(x2).values
            let dx = bn2.backward(dy)
            guard x2.count > 1 else { continue }
            var sum = 0.0, dot = 0.0, scale = 0.0
            for i in 0..<dx.count { sum += Double(dx[i]); dot += Double(dx[i]) * Double(xh[i]); scale += abs(Double(dx[i])) }
            XCTAssertEqual(sum, 0, accuracy: 1e-4 * max(1, scale), "hw \(hw)")
            XCTAssertEqual(dot, 0, accuracy: 1e-4 * max(1, scale), "hw \(hw)")
            let relu = ReLU(), r = Tensor(shape: [1, 1, 1, 16 * hw + hw % 16])
            for i in 0..<r.count { r[i] = rng.normal() }
            _ = relu.forward(r)
            let g = Tensor(shape: r.shape)
            for i in 0..<g.count { g[i] = rng.normal() }
            let gx = relu.backward(g)
            for i in 0..<r.count { XCTAssertEqual(gx[i], r[i] > 0 ? g[i] : 0) }
        }
    }
}
