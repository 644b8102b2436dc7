import XCTest
@testable import NN

/// The lane kernel (CKernels/Lanes.c: sixteen images in the vector lanes) against the same blocks run
/// layer by layer in inference mode (folded BatchNorm through Conv2d's own paths, which the PyTorch
/// parity cases check). Stacks cover strides 2x2, 2x1 and 1x1 with a residual, odd plane sizes,
/// one input channel, output channels not a multiple of the kernel's 8, and batches of 1, 16 and 37
/// (a group of sixteen split, lanes left empty), on the default worker count (LIPSYNC_THREADS=1 runs it on one).
final class LaneConvolutionTests: XCTestCase {
    func makeBlocks(_ specs: [(cin: Int, cout: Int, stride: (Int, Int), residual: Bool)], rng: inout SeededRandom) -> [ConvBlock] {
        specs.enumerated().map { i, s in
            let b = ConvBlock(s.cin, s.cout, kernel: 3, stride: s.stride, padding: 1, residual: s.residual, name: "b\(i)", rng: &rng)
            // Running statistics away from (0, 1), so the fold is exercised.
            for o in 0..<s.cout {
                b.bn.runningMean[o] = rng.normal() * 0.2
                b.bn.runningVar[o] = 0.5 + rng.uniform()
                b.bn.gamma.value[o] = 0.8 + 0.4 * rng.uniform()
                b.bn.beta.value[o] = rng.normal() * 0.1
            }
            b.setMode(.inference)
            return b
        }
    }

    func testLanesMatchTheLayerByLayerPath() throws {
        try XCTSkipIf(Conv2d.directLevel < 1, "no AVX2 on this CPU: the lane kernel is not used")
        var rng = SeededRandom(seed: 21)
        let stacks: [(input: (c: Int, h: Int, w: Int), specs: [(cin: Int, cout: Int, stride: (Int, Int), residual: Bool)])] = [
            // The sync model's audio tower, narrower.
            ((1, 20, 9), [(1, 8, (2, 1), false), (8, 12, (2, 2), false), (12, 12, (1, 1), true), (12, 16, (2, 2), false)]),
            // Its visual tower's first blocks, odd sizes.
            ((5, 13, 7), [(5, 16, (2, 2), false), (16, 16, (1, 1), true), (16, 20, (2, 2), false), (20, 20, (1, 1), true)]),
            // One pixel out.
            ((3, 2, 3), [(3, 9, (2, 2), false)]),
        ]
        for (k, stack) in stacks.enumerated() {
            let blocks = makeBlocks(stack.specs, rng: &rng)
            let lanes = try XCTUnwrap(LaneConvolutions(blocks: blocks, input: stack.input))
            let sequential = Sequential(blocks)
            for n in [1, 16, 37] {
                let x = randomTensor([n, stack.input.c, stack.input.h, stack.input.w], rng: &rng)
                let reference = sequential.forward(x)
                let y = Tensor(shape: [1])
                lanes.forward(x, into: y)
                XCTAssertEqual(y.shape, reference.shape, "stack \(k), batch \(n)")
                XCTAssertLessThan(maxRelativeError(y, reference), 2e-5, "stack \(k), batch \(n)")
            }
        }
    }

    /// A block the kernel does not take (a 1x1 convolution, a transposed one, padding 0) leaves the
    /// stack unbuilt, so the caller keeps the layer-by-layer path.
    func testUnsupportedBlocksAreRefused() throws {
        try XCTSkipIf(Conv2d.directLevel < 1, "no AVX2 on this CPU")
        var rng = SeededRandom(seed: 22)
        let pointwise = ConvBlock(4, 4, kernel: 1, padding: 0, name: "p", rng: &rng)
        pointwise.setMode(.inference)
        XCTAssertNil(LaneConvolutions(blocks: [pointwise], input: (4, 6, 6)))
        let transposed = ConvBlock(transposed: 4, 4, kernel: 3, stride: 2, padding: 1, name: "t", rng: &rng)
        transposed.setMode(.inference)
        XCTAssertNil(LaneConvolutions(blocks: [transposed], input: (4, 6, 6)))
        let training = ConvBlock(4, 4, kernel: 3, padding: 1, name: "c", rng: &rng)
        XCTAssertNil(LaneConvolutions(blocks: [training], input: (4, 6, 6)), "training mode has no folded weights")
    }
}
