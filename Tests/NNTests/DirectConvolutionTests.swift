import XCTest
@testable import NN

/// The direct 3x3 kernel (CKernels) against the im2col path on the same weights: a padding-1
/// convolution equals zero-padding by one and convolving with padding 0, which never takes the direct
/// path. Shapes cover batch 1 (blocks shared over workers) and batches past the worker count (images
/// shared), output channels of 1, 3, 16, 17 and 40 (partial blocks), rows ending mid-vector, and
/// planes just at the width limit. The PyTorch parity cases `conv3x3_direct_*` check the same
/// kernel against saved PyTorch outputs.
final class DirectConvolutionTests: XCTestCase {
    /// A 3x3 padding-1 layer, the same weights in a padding-0 layer, and the zero padding that makes
    /// the second compute the first on im2col (padding 0 never takes a direct path).
    static func layerAndPaddedTwin(_ cin: Int, _ cout: Int, stride: Int, rng: inout SeededRandom) -> (Conv2d, Conv2d, ZeroPad2d) {
        let layer = Conv2d(cin, cout, kernel: (3, 3), stride: (stride, stride), padding: (1, 1), rng: &rng)
        let twin = Conv2d(cin, cout, kernel: (3, 3), stride: (stride, stride), padding: (0, 0), rng: &rng)
        twin.weight.value.copy(from: layer.weight.value)
        twin.bias!.value.copy(from: layer.bias!.value)
        return (layer, twin, ZeroPad2d(top: 1, bottom: 1, left: 1, right: 1))
    }

    func testDirectKernelMatchesIm2col() throws {
        try XCTSkipIf(Conv2d.directLevel == 0, "no AVX2/AVX-512 on this CPU: the direct kernel is not used")
        // Every case through the kernel, including those where im2col would be chosen as faster.
        Conv2d.alwaysDirect = true
        defer { Conv2d.alwaysDirect = false }
        let cases: [(n: Int, cin: Int, cout: Int, h: Int, w: Int)] = [
            (1, 3, 1, 5, 8), (1, 6, 16, 7, 16), (2, 5, 17, 4, 23), (3, 16, 3, 9, 33), (5, 40, 40, 6, 12), (1, 1, 24, 3, 47),
        ]
        var rng = SeededRandom(seed: 7)
        for c in cases {
            let label = "\(c)"
            let (direct, reference, pad) = Self.layerAndPaddedTwin(c.cin, c.cout, stride: 1, rng: &rng)
            let x = randomTensor([c.n, c.cin, c.h, c.w], rng: &rng)
            XCTAssertTrue(direct.usesDirectKernel(direct.geometry(x)), label)
            XCTAssertTrue(direct.directPays(reducing: c.cin, producing: c.cout, direct.geometry(x)), label)

            let y = direct.forward(x), yRef = reference.forward(pad.forward(x))
            XCTAssertEqual(y.shape, yRef.shape, label)
            XCTAssertLessThan(maxRelativeError(y, yRef), 1e-5, "forward \(label)")

            let dy = randomTensor(y.shape, rng: &rng)
            let dx = direct.backward(dy), dxRef = pad.backward(reference.backward(dy))
            XCTAssertLessThan(maxRelativeError(dx, dxRef), 1e-5, "dx \(label)")
            XCTAssertLessThan(maxRelativeError(direct.weight.grad, reference.weight.grad), 1e-4, "dW \(label)")
            XCTAssertLessThan(maxRelativeError(direct.bias!.grad, reference.bias!.grad), 1e-4, "db \(label)")

            // A second step on the reused buffers (dx is written, not accumulated, on the direct path).
            let dx2 = direct.backward(dy)
            XCTAssertLessThan(maxRelativeError(dx2, dxRef), 1e-5, "dx again \(label)")
        }
    }

    /// The stride-2 forward (the input split into even and odd columns) against the same layer on
    /// im2col (a padding-0 copy of it on the zero-padded input never goes direct): odd and even
    /// heights and widths, output rows shorter than, equal to and longer than a vector, partial
    /// blocks of output channels, batch 1 and batches past the worker count, and a second forward
    /// over the reused buffers. The backward of the same layer still goes through im2col and must
    /// agree too.
    func testStride2KernelMatchesIm2col() throws {
        try XCTSkipIf(Conv2d.directLevel < 2, "no AVX-512 on this CPU: the stride-2 kernel is not used")
        Conv2d.alwaysDirect = true
        defer { Conv2d.alwaysDirect = false }
        let cases: [(n: Int, cin: Int, cout: Int, h: Int, w: Int)] = [
            (1, 3, 5, 7, 9), (2, 16, 17, 8, 32), (3, 5, 16, 11, 33), (1, 2, 3, 4, 64), (4, 6, 33, 5, 2), (1, 1, 8, 1, 1),
        ]
        var rng = SeededRandom(seed: 17)
        for c in cases {
            let label = "\(c)"
            let (direct, reference, pad) = Self.layerAndPaddedTwin(c.cin, c.cout, stride: 2, rng: &rng)
            let x = randomTensor([c.n, c.cin, c.h, c.w], rng: &rng)
            XCTAssertTrue(direct.usesStride2Kernel(direct.geometry(x)), label)
            XCTAssertFalse(reference.usesStride2Kernel(reference.geometry(pad.forward(x))), label)
            for pass in 0..<2 {
                let y = direct.forward(x), yRef = reference.forward(pad.forward(x))
                XCTAssertEqual(y.shape, yRef.shape, label)
                XCTAssertEqual(y.shape, [c.n, c.cout, (c.h + 1) / 2, (c.w + 1) / 2], label)
                XCTAssertLessThan(maxRelativeError(y, yRef), 1e-5, "forward \(pass) \(label)")
            }
            let dy = randomTensor([c.n, c.cout, (c.h + 1) / 2, (c.w + 1) / 2], rng: &rng)
            let dx = direct.backward(dy), dxRef = pad.backward(reference.backward(dy))
            XCTAssertLessThan(maxRelativeError(dx, dxRef), 1e-5, "dx \(label)")
            XCTAssertLessThan(maxRelativeError(direct.weight.grad, reference.weight.grad), 1e-4, "dW \(label)")
        }
        // The rule: the painter's first strided layer goes direct; wide layers over small planes do not.
        Conv2d.alwaysDirect = false
        func uses(_ cin: Int, _ cout: Int, _ h: Int, _ w: Int) -> Bool {
            let conv = Conv2d(cin, cout, kernel: (3, 3), stride: (2, 2), padding: (1, 1), rng: &rng)
            return conv.usesStride2Kernel(conv.geometry(Tensor(shape: [1, cin, h, w])))
        }
        XCTAssertTrue(uses(16, 32, 128, 128))
        XCTAssertFalse(uses(128, 192, 16, 16))   // output rows of 8 leave the strips half empty
    }

    /// The choice between the paths follows the measured rule: thin or large-plane layers go direct,
    /// wide layers over small planes and mostly-empty vector rows stay on im2col.
    func testDirectKernelIsChosenWhereItMeasuredFaster() throws {
        try XCTSkipIf(Conv2d.directLevel == 0, "no AVX2/AVX-512 on this CPU")
        var rng = SeededRandom(seed: 9)
        func pays(_ cin: Int, _ cout: Int, _ h: Int, _ w: Int) -> Bool {
            let c = Conv2d(cin, cout, kernel: (3, 3), padding: (1, 1), rng: &rng)
            return c.directPays(reducing: cin, producing: cout, c.geometry(Tensor(shape: [1, cin, h, w])))
        }
        XCTAssertTrue(pays(40, 16, 64, 128))      // the painter's last decoder level
        // A large plane: the AVX-512 kernel wins there, the AVX2 one does not.
        XCTAssertEqual(pays(128, 128, 48, 48), Conv2d.directLevel >= 2)
        XCTAssertFalse(pays(256, 256, 12, 12))    // wide layer, small plane
        XCTAssertFalse(pays(192, 192, 8, 8))      // wide layer; half-empty 16-lane strips
        // The weight gradient goes direct on thin layers only.
        func weightGradientPays(_ cin: Int, _ cout: Int, _ h: Int, _ w: Int) -> Bool {
            let c = Conv2d(cin, cout, kernel: (3, 3), padding: (1, 1), rng: &rng)
            return c.directWeightGradientPays(c.geometry(Tensor(shape: [1, cin, h, w])))
        }
        XCTAssertEqual(weightGradientPays(40, 16, 64, 128), Conv2d.directLevel >= 2)  // AVX-512 only
        XCTAssertFalse(weightGradientPays(256, 256, 24, 24))
        XCTAssertFalse(weightGradientPays(40, 16, 8, 10))  // rows of 10 leave the vector strips under ¾ full
    }

    /// A network's first layer skips dL/dx: the direct path must then return zeros, as the others do.
    /// With AVX-512 its weight gradient goes through the direct kernel (by the rule, without the
    /// test hook) and must match the reference, twice over the same buffers.
    func testFirstLayerReturnsZeroInputGradient() throws {
        try XCTSkipIf(Conv2d.directLevel == 0, "no AVX2/AVX-512 on this CPU")
        var rng = SeededRandom(seed: 8)
        let conv = Conv2d(4, 8, kernel: (3, 3), padding: (1, 1), rng: &rng)
        let reference = Conv2d(4, 8, kernel: (3, 3), padding: (0, 0), rng: &rng)
        reference.weight.value.copy(from: conv.weight.value)
        conv.computesInputGradient = false
        let x = randomTensor([2, 4, 6, 16], rng: &rng)
        XCTAssertEqual(conv.directWeightGradientPays(conv.geometry(x)), Conv2d.directLevel >= 2)
        let pad = ZeroPad2d(top: 1, bottom: 1, left: 1, right: 1)
        let y = conv.forward(x)
        _ = reference.forward(pad.forward(x))
        let dy = randomTensor(y.shape, rng: &rng)
        for _ in 0..<2 {
            let dx = conv.backward(dy)
            _ = reference.backward(dy)
            XCTAssertEqual((0..<dx.count).map { dx[$0] }.max(), 0)
            XCTAssertEqual((0..<dx.count).map { dx[$0] }.min(), 0)
            XCTAssertLessThan(maxRelativeError(conv.weight.grad, reference.weight.grad), 1e-4, "dW")
        }
    }

    /// The AVX-512 depthwise kernel (CKernels/Depthwise.c) against plain loops: strides 1 and 2,
    /// padding 0 and 1, planes from narrower than one vector to rows ending mid-vector, batch 2.
    func testDepthwiseKernelMatchesLoops() {
        var rng = SeededRandom(seed: 12)
        let cases: [(c: Int, h: Int, w: Int, stride: Int, pad: Int)] = [
            (3, 5, 7, 1, 1), (4, 9, 33, 1, 1), (2, 12, 16, 1, 0), (3, 11, 37, 2, 1), (5, 14, 48, 2, 0), (2, 8, 8, 2, 1),
        ]
        for k in cases {
            let conv = Conv2d(k.c, k.c, kernel: (3, 3), stride: (k.stride, k.stride), padding: (k.pad, k.pad), groups: k.c, rng: &rng)
            let x = randomTensor([2, k.c, k.h, k.w], rng: &rng)
            let y = conv.forward(x)
            let ho = (k.h + 2 * k.pad - 3) / k.stride + 1, wo = (k.w + 2 * k.pad - 3) / k.stride + 1
            XCTAssertEqual(y.shape, [2, k.c, ho, wo], "\(k)")
            var worst: Float = 0
            for n in 0..<2 {
                for c in 0..<k.c {
                    for oy in 0..<ho {
                        for ox in 0..<wo {
                            var v = conv.bias!.value[c]
                            for ky in 0..<3 {
                                for kx in 0..<3 {
                                    let iy = oy * k.stride + ky - k.pad, ix = ox * k.stride + kx - k.pad
                                    guard iy >= 0, iy < k.h, ix >= 0, ix < k.w else { continue }
                                    v += conv.weight.value[c * 9 + ky * 3 + kx] * x[((n * k.c + c) * k.h + iy) * k.w + ix]
                                }
                            }
                            worst = max(worst, abs(y[((n * k.c + c) * ho + oy) * wo + ox] - v))
                        }
                    }
                }
            }
            XCTAssertLessThan(worst, 1e-5, "\(k)")
        }
    }
}
