import XCTest
@testable import NN

/// The oneDNN backend behind `Conv2d` against the same PyTorch references as the engine's kernels,
/// and against the engine itself where a reference would only repeat it (accumulation, batch 1,
/// shape changes, frozen inputs).
final class OneDNNConvolutionTests: XCTestCase {
    let tolerance: Float = 1e-4

    override func setUpWithError() throws {
        // The package links libdnnl, so the backend must load; a fallback here would hide a broken install.
        var rng = SeededRandom(seed: 1)
        let probe = Conv2d(2, 2, kernel: (3, 3), padding: (1, 1), rng: &rng)
        probe.backend = .oneDNN
        _ = probe.forward(Tensor(shape: [1, 2, 4, 4]))
        XCTAssertNotNil(probe.oneDNNImplementation, "oneDNN did not load: \(ConvolutionBackend.loadFailure ?? "?")")
    }

    private func convolution(_ cin: Int, _ cout: Int, _ k: (Int, Int), _ s: (Int, Int) = (1, 1), _ p: (Int, Int) = (0, 0),
                             groups: Int = 1, bias: Bool = true, backend: ConvolutionBackend) -> Conv2d {
        var rng = SeededRandom(seed: 7)
        let c = Conv2d(cin, cout, kernel: k, stride: s, padding: p, groups: groups, bias: bias, rng: &rng)
        c.backend = backend
        return c
    }

    /// Every convolution fixture but the depthwise one, through the same comparison as TorchParityTests.
    func testMatchesPyTorch() throws {
        for t in TorchParityTests.convolutionCases where !(t.groups == t.cin && t.cin > 1) {
            let c = convolution(t.cin, t.cout, t.kernel, t.stride, t.padding, groups: t.groups, backend: .oneDNN)
            try checkAgainstPyTorch(t.name, c, params: ["weight": c.weight, "bias": c.bias!], tolerance: tolerance)
            XCTAssertNotNil(c.oneDNNImplementation, "\(t.name) fell back to the engine")
        }
    }

    /// Two backward passes add their gradients, as the engine's do (gradient accumulation across
    /// micro-batches and the generator's several losses rely on it); dx is overwritten each time.
    func testGradientsAccumulateAndInputGradientIsOverwritten() {
        var rng = SeededRandom(seed: 3)
        let x = randomTensor([2, 6, 9, 11], rng: &rng)
        let dy1 = randomTensor([2, 8, 5, 6], rng: &rng), dy2 = randomTensor([2, 8, 5, 6], rng: &rng)
        var results: [[Tensor]] = []
        for backend in [ConvolutionBackend.engine, .oneDNN] {
            let c = convolution(6, 8, (3, 3), (2, 2), (1, 1), backend: backend)
            _ = c.forward(x)
            c.parameters.forEach { $0.grad.zero() }
            _ = c.backward(dy1)
            let dx = c.backward(dy2).clone()
            results.append([dx, c.weight.grad.clone(), c.bias!.grad.clone()])
        }
        for (i, what) in ["dx", "dweight", "dbias"].enumerated() {
            XCTAssertLessThan(maxRelativeError(results[1][i], results[0][i]), tolerance, what)
        }
    }

    /// Inference at batch 1 (FaceMesh, one sync window), then a new batch size and a new frame size
    /// on the same layer: each shape gets its own primitives.
    func testShapeChangesAndBatchOne() {
        var rng = SeededRandom(seed: 4)
        let engine = convolution(5, 7, (3, 3), (1, 1), (1, 1), backend: .engine)
        let oneDNN = convolution(5, 7, (3, 3), (1, 1), (1, 1), backend: .oneDNN)
        for shape in [[1, 5, 12, 12], [4, 5, 12, 12], [1, 5, 7, 20], [1, 5, 12, 12]] {
            let x = randomTensor(shape, rng: &rng)
            let want = engine.forward(x).clone()
            XCTAssertLessThan(maxRelativeError(oneDNN.forward(x), want), tolerance, "\(shape)")
        }
    }

    /// A layer run for inference first and trained later (the critic's first steps, adaptation from a
    /// loaded model), a layer without bias, and a frozen input whose dL/dx is never asked for.
    func testInferenceThenTrainingWithoutBiasAndFrozenInput() {
        var rng = SeededRandom(seed: 5)
        let x = randomTensor([3, 4, 10, 10], rng: &rng)
        let dy = randomTensor([3, 6, 10, 10], rng: &rng)
        var results: [[Tensor]] = []
        for backend in [ConvolutionBackend.engine, .oneDNN] {
            let c = convolution(4, 6, (5, 5), (1, 1), (2, 2), bias: false, backend: backend)
            c.computesInputGradient = false
            _ = c.forward(x)
            let y = c.forward(x).clone()
            c.parameters.forEach { $0.grad.zero() }
            let dx = c.backward(dy).clone()
            // A second step as the trainer runs it: forward again, now with training primitives.
            _ = c.forward(x)
            _ = c.backward(dy)
            results.append([y, dx, c.weight.grad.clone()])
        }
        XCTAssertLessThan(maxRelativeError(results[1][0], results[0][0]), tolerance, "y")
        XCTAssertEqual(results[1][1].values.map(abs).max(), 0, "a frozen input's dx is zero")
        XCTAssertLessThan(maxRelativeError(results[1][2], results[0][2]), tolerance, "dweight")
    }

    /// Depthwise layers stay on the engine's own depthwise loop whatever the backend says.
    func testDepthwiseStaysOnTheEngine() {
        let c = convolution(6, 6, (5, 5), (2, 2), (2, 2), groups: 6, backend: .oneDNN)
        _ = c.forward(Tensor(shape: [1, 6, 10, 10]))
        XCTAssertNil(c.oneDNNImplementation)
    }
}
