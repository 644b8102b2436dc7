import XCTest
@testable import NN

/// Every op against PyTorch outputs and gradients saved by tools/make_nn_references.py.
final class TorchParityTests: XCTestCase {
    let f = NNFixture.ops
    let tolerance: Float = 1e-4

    func check(_ name: String, _ layer: Layer, params: [String: Parameter] = [:], file: StaticString = #filePath, line: UInt = #line) throws {
        try checkAgainstPyTorch(name, layer, params: params, tolerance: tolerance, file: file, line: line)
    }

    /// The convolution fixtures (tools/make_nn_references.py), shared with OneDNNConvolutionTests.
    /// `direct`: the direct 3×3 kernel where the CPU has one, on shapes where it would not be chosen.
    static let convolutionCases: [(name: String, cin: Int, cout: Int, kernel: (Int, Int), stride: (Int, Int),
                                   padding: (Int, Int), groups: Int, direct: Bool)] = [
        ("conv3x3", 4, 6, (3, 3), (1, 1), (1, 1), 1, false),
        ("conv_s12", 3, 5, (3, 3), (1, 2), (1, 1), 1, false),
        ("conv_k31", 3, 4, (3, 1), (3, 1), (0, 0), 1, false),
        ("conv_7x7s2", 3, 8, (7, 7), (2, 2), (3, 3), 1, false),
        ("conv_groups", 4, 6, (3, 3), (1, 1), (1, 1), 2, false),
        ("conv_dw", 6, 6, (5, 5), (2, 2), (2, 2), 6, false),
        ("conv_1x1", 8, 5, (1, 1), (1, 1), (0, 0), 1, false),
        ("conv3x3_direct_b1", 5, 19, (3, 3), (1, 1), (1, 1), 1, true),
        ("conv3x3_direct_b3", 17, 33, (3, 3), (1, 1), (1, 1), 1, true),
        ("conv3x3_narrow", 3, 4, (3, 3), (1, 1), (1, 1), 1, false),
    ]

    func testConvolutions() throws {
        defer { Conv2d.alwaysDirect = false }
        for t in Self.convolutionCases {
            Conv2d.alwaysDirect = t.direct
            var rng = SeededRandom(seed: 1)
            let c = Conv2d(t.cin, t.cout, kernel: t.kernel, stride: t.stride, padding: t.padding, groups: t.groups, rng: &rng)
            try check(t.name, c, params: ["weight": c.weight, "bias": c.bias!])
        }
        Conv2d.alwaysDirect = false
        var rng = SeededRandom(seed: 1)
        let t = ConvTranspose2d(4, 3, kernel: (3, 3), stride: (2, 2), padding: (1, 1), outputPadding: (1, 1), rng: &rng)
        try check("convt", t, params: ["weight": t.weight, "bias": t.bias!])
    }

    func testLinearAndNormalisation() throws {
        var rng = SeededRandom(seed: 1)
        let l = Linear(12, 7, rng: &rng)
        try check("linear", l, params: ["weight": l.weight, "bias": l.bias!])
        let bn = BatchNorm2d(5)
        try check("bn_train", bn, params: ["weight": bn.gamma, "bias": bn.beta])
        XCTAssertLessThan(maxRelativeError(bn.runningMean, try f.tensor("bn_train.running_mean")), tolerance)
        XCTAssertLessThan(maxRelativeError(bn.runningVar, try f.tensor("bn_train.running_var")), tolerance)
        try check("l2norm", L2Normalize())
    }

    func testActivationsPoolingUpsampling() throws {
        try check("relu", ReLU())
        try check("leaky", LeakyReLU(slope: 0.2))
        let p = PReLU(channels: 3)
        try check("prelu", p, params: ["weight": p.alpha])
        try check("sigmoid", Sigmoid())
        try check("tanh", Tanh())
        try check("maxpool", MaxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)))
        try check("avgpool", AvgPool2d(kernel: (2, 2)))
        try check("upsample", Upsample(scale: 2))
    }

    func testLossesAndCosine() throws {
        let z = try f.tensor("bcelogits.z"), t = try f.tensor("bcelogits.t").values
        let g = Tensor(shape: [1])
        let l = Loss.bceWithLogits(z, target: t, grad: g)
        XCTAssertEqual(l, try f.tensor("bcelogits.loss")[0], accuracy: 1e-5)
        XCTAssertLessThan(maxRelativeError(g, try f.tensor("bcelogits.dz")), tolerance)
        let p = try f.tensor("bce.p")
        let l2 = Loss.bce(p, target: t, grad: g)
        XCTAssertEqual(l2, try f.tensor("bce.loss")[0], accuracy: 1e-5)
        XCTAssertLessThan(maxRelativeError(g, try f.tensor("bce.dp")), tolerance)
        let a = try f.tensor("cos.a"), b = try f.tensor("cos.b")
        let cos = CosineSimilarity()
        let y = cos.forward(a, b)
        XCTAssertLessThan(maxRelativeError(Tensor(shape: [5], values: y), try f.tensor("cos.y")), tolerance)
        let ga = Tensor(shape: [1]), gb = Tensor(shape: [1])
        cos.backward(a, b, gradCos: try f.tensor("cos.dy").values, gradA: ga, gradB: gb)
        XCTAssertLessThan(maxRelativeError(ga, try f.tensor("cos.da")), tolerance)
        XCTAssertLessThan(maxRelativeError(gb, try f.tensor("cos.db")), tolerance)
    }

    /// The small residual network of the reference script: forward, loss, every gradient, one Adam step.
    func testSmallNetworkAndAdamStep() throws {
        var rng = SeededRandom(seed: 3)
        let c1 = Conv2d(3, 8, kernel: (3, 3), padding: (1, 1), name: "c1", rng: &rng), b1 = BatchNorm2d(8, name: "b1")
        let c2 = Conv2d(8, 8, kernel: (3, 3), padding: (1, 1), name: "c2", rng: &rng), b2 = BatchNorm2d(8, name: "b2")
        let fc = Linear(128, 6, name: "fc", rng: &rng)
        let relu1 = ReLU(), relu2 = ReLU(), pool = MaxPool2d(kernel: (2, 2)), flat = Flatten()
        let params = [c1.weight, c1.bias!, b1.gamma, b1.beta, c2.weight, c2.bias!, b2.gamma, b2.beta, fc.weight, fc.bias!]
        for p in params { try f.load("net.\(p.name)", into: p.value); p.decays = true }

        let x = try f.tensor("net.x")
        let h1 = relu1.forward(b1.forward(c1.forward(x)))
        let sum = Tensor(shape: h1.shape)
        TensorOps.add(b2.forward(c2.forward(h1)), h1, into: sum)
        let y = fc.forward(flat.forward(pool.forward(relu2.forward(sum))))
        XCTAssertLessThan(maxRelativeError(y, try f.tensor("net.y")), tolerance)
        let dy = Tensor(shape: [1])
        let loss = Loss.bceWithLogits(y, target: try f.tensor("net.target").values, grad: dy)
        XCTAssertEqual(loss, try f.tensor("net.loss")[0], accuracy: 1e-5)

        let ds = relu2.backward(pool.backward(flat.backward(fc.backward(dy)))).clone()
        let dh1 = Tensor(shape: ds.shape)
        TensorOps.add(c2.backward(b2.backward(ds)), ds, into: dh1)
        _ = c1.backward(b1.backward(relu1.backward(dh1)))
        for p in params {
            XCTAssertLessThan(maxRelativeError(p.grad, try f.tensor("net.d\(p.name)")), tolerance, "d\(p.name)")
        }
        let adam = Adam(parameters: params, learningRate: 1e-2, weightDecay: 1e-3)
        adam.update()
        for p in params {
            XCTAssertLessThan(maxRelativeError(p.value, try f.tensor("net.after_adam.\(p.name)")), tolerance, "adam \(p.name)")
        }
    }
}
