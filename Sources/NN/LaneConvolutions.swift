import CKernels

/// A run of `ConvBlock`s (3x3, padding 1, one group, any stride; BatchNorm folded, residual, ReLU)
/// evaluated at inference with sixteen images side by side in the vector lanes
/// (`CKernels/Lanes.c`). The sync model's towers run planes of 40x16 down to 2x4 pixels at window
/// batches of 32 and 64: there a row strip is mostly masked off and im2col + GEMM pays for its
/// columns twice. Built from the blocks' current folded weights, so a model that trains again
/// must build it afresh. Nil where a block does not fit or the CPU lacks AVX2.
public final class LaneConvolutions {
    struct Step {
        var cin, cout, h, w, ho, wo, sh, sw: Int
        var residual: Bool
        var packed: UnsafeMutablePointer<Float>
        var bias: UnsafeMutablePointer<Float>
    }
    private let steps: [Step]
    public let input: (c: Int, h: Int, w: Int)
    public var output: (c: Int, h: Int, w: Int) { (steps.last!.cout, steps.last!.ho, steps.last!.wo) }
    /// Per worker: the input's and every step's output lanes (borders zero).
    private var buffers: [[UnsafeMutablePointer<Float>]] = []

    /// The lanes are worth it from this many images on (fewer leave most lanes empty).
    public static let minimumBatch = 12

    public init?(blocks: [ConvBlock], input: (c: Int, h: Int, w: Int)) {
        guard Conv2d.directLevel >= 1, !blocks.isEmpty else { return nil }
        var steps: [Step] = []
        var (c, h, w) = input
        for b in blocks {
            guard let f = b.inferenceConvolution, f.groups == 1, f.kernel == (3, 3), f.padding == (1, 1), f.inChannels == c,
                  let bias = f.bias else { steps.forEach { $0.packed.deallocate(); $0.bias.deallocate() }; return nil }
            let ho = (h - 1) / f.stride.h + 1, wo = (w - 1) / f.stride.w + 1
            let packed = UnsafeMutablePointer<Float>.allocate(capacity: lsk_lanes_packed_floats(Int32(f.outChannels), Int32(c)))
            lsk_lanes_pack3x3(f.weight.value.data, Int32(f.outChannels), Int32(c), packed)
            let bs = UnsafeMutablePointer<Float>.allocate(capacity: f.outChannels)
            bs.update(from: bias.value.data, count: f.outChannels)
            steps.append(Step(cin: c, cout: f.outChannels, h: h, w: w, ho: ho, wo: wo, sh: f.stride.h, sw: f.stride.w,
                              residual: b.residual, packed: packed, bias: bs))
            (c, h, w) = (f.outChannels, ho, wo)
        }
        self.steps = steps
        self.input = input
    }

    deinit {
        steps.forEach { $0.packed.deallocate(); $0.bias.deallocate() }
        buffers.joined().forEach { $0.deallocate() }
    }

    private func workerBuffers(_ k: Int) -> [UnsafeMutablePointer<Float>] {
        func lanes(_ c: Int, _ h: Int, _ w: Int) -> UnsafeMutablePointer<Float> {
            let n = lsk_lanes_floats(Int32(c), Int32(h), Int32(w))
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            p.initialize(repeating: 0, count: n)
            return p
        }
        while buffers.count <= k {
            buffers.append([lanes(input.c, input.h, input.w)] + steps.map { lanes($0.cout, $0.ho, $0.wo) })
        }
        return buffers[k]
    }

    /// The blocks' output [N, C', H', W'] of x [N, C, H, W], into `y`.
    public func forward(_ x: Tensor, into y: Tensor) {
        precondition(x.c == input.c && x.h == input.h && x.w == input.w, "LaneConvolutions: input shape \(x.shape)")
        let out = output, n = x.n, groups = (n + 15) / 16
        y.reshape([n, out.c, out.h, out.w])
        let inImage = input.c * input.h * input.w, outImage = out.c * out.h * out.w
        // Buffers are made before the workers start: `buffers` is not shared-safe to grow.
        let parts = max(1, min(Compute.threads, groups))
        for k in 0..<parts { _ = workerBuffers(k) }
        Compute.partition(groups) { k, range in
            let b = self.buffers[k]
            for g in range {
                let count = min(16, n - 16 * g)
                let filled = lsk_lanes_from_nchw(x.data + 16 * g * inImage, Int32(count), Int32(input.c), Int32(input.h), Int32(input.w), b[0])
                precondition(filled == 1, "LaneConvolutions: the kernel refused an image of \(input)")
                for (i, s) in steps.enumerated() {
                    lsk_lanes_conv3x3(b[i], Int32(s.cin), Int32(s.h), Int32(s.w), Int32(s.sh), Int32(s.sw), s.packed, s.bias,
                                      Int32(s.cout), s.residual ? UnsafePointer(b[i]) : nil, 1, b[i + 1], Int32(s.ho), Int32(s.wo))
                }
                lsk_lanes_to_nchw(b[steps.count], Int32(count), Int32(out.c), Int32(out.h), Int32(out.w), y.data + 16 * g * outImage)
            }
        }
    }
}
