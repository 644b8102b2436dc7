/// Transposed convolution (groups 1), PyTorch semantics: weight [Cin, Cout, kh, kw],
/// output size (H - 1) * stride - 2 * padding + kernel + outputPadding. Its forward is a
/// convolution's backward-data (col2im of W^T x) and its backward-data is a convolution's forward.
public final class ConvTranspose2d: Layer {
    public let inChannels, outChannels: Int
    public let kernel: (h: Int, w: Int), stride: (h: Int, w: Int), padding: (h: Int, w: Int), outputPadding: (h: Int, w: Int)
    public let weight: Parameter
    public let bias: Parameter?
    private weak var input: Tensor?
    /// The shape the last forward saw (benchmarks replay a network's layers one by one).
    public var lastInputShape: [Int]? { input?.shape }
    private var out: Tensor?, gradIn: Tensor?
    private var scratch: [Scratch] = []
    final class Scratch { var col: Tensor?, gathered: Tensor?, dweight: Tensor? }

    public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0), bias: Bool = true,
                name: String = "convt", rng: inout SeededRandom) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = (kernel.0, kernel.1)
        self.stride = (stride.0, stride.1)
        self.padding = (padding.0, padding.1)
        self.outputPadding = (outputPadding.0, outputPadding.1)
        Compute.configure()
        weight = Parameter("\(name).weight", shape: [inChannels, outChannels, kernel.0, kernel.1])
        self.bias = bias ? Parameter("\(name).bias", shape: [outChannels], decays: false) : nil
        // PyTorch computes fan-in from weight dim 1 for transposed convs.
        let fanIn = outChannels * kernel.0 * kernel.1
        Initializer.kaimingUniform.fill(weight.value, fanIn: fanIn, fanOut: inChannels * kernel.0 * kernel.1, rng: &rng)
        if let b = self.bias { Initializer.kaimingUniform.fill(b.value, fanIn: fanIn, fanOut: 0, rng: &rng) }
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    /// The geometry of the equivalent convolution that maps the output back to the input.
    private func geometry(_ x: Tensor) -> ConvGeometry {
        let ho = (x.h - 1) * stride.h - 2 * padding.h + kernel.h + outputPadding.h
        let wo = (x.w - 1) * stride.w - 2 * padding.w + kernel.w + outputPadding.w
        return ConvGeometry(h: ho, w: wo, kh: kernel.h, kw: kernel.w, sh: stride.h, sw: stride.w,
                            ph: padding.h, pw: padding.w, ho: x.h, wo: x.w)
    }

    /// Images are shared out over the workers; each uses its own buffers and, in backward, its
    /// own weight-gradient accumulator.
    private func workers(_ n: Int, _ body: (Scratch, Range<Int>) -> Void) -> [Scratch] {
        let parts = max(1, min(Compute.threads, n))
        while scratch.count < parts { scratch.append(Scratch()) }
        let s = Array(scratch.prefix(parts))
        Compute.partition(n) { w, r in body(s[w], r) }
        return s
    }

    public func forward(_ x: Tensor) -> Tensor {
        input = x
        let g = geometry(x), k = outChannels * g.kernelArea
        let y = reuse(&out, [x.n, outChannels, g.h, g.w])
        y.zero()
        let w = weight.value.data, cin = inChannels, cout = outChannels
        _ = workers(x.n) { s, images in
            let chunk = max(1, min(images.count, maxColumnFloats / max(1, k * g.hwo)))
            for n0 in Swift.stride(from: images.lowerBound, to: images.upperBound, by: chunk) {
                let nb = min(chunk, images.upperBound - n0), cols = nb * g.hwo
                let xg = reuse(&s.gathered, [cin, cols]), colT = reuse(&s.col, [k, cols])
                gather(x, n0, nb, into: xg, hw: g.hwo)
                // col = W^T x : [Cout*kh*kw, cols]
                sgemm(transA: true, m: k, n: cols, k: cin, a: w, lda: k, b: xg.data, ldb: cols, beta: 0, c: colT.data, ldc: cols)
                col2im(colT.data, into: y, first: n0, batch: nb, channelOffset: 0, channels: cout, g)
            }
        }
        if let b = bias {
            let plane = g.h * g.w, yd = y.data, bd = b.value.data
            Compute.partition(x.n * cout) { _, r in
                for p in r {
                    let v = bd[p % cout], row = yd + p * plane
                    for i in 0..<plane { row[i] += v }
                }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("ConvTranspose2d.backward before forward") }
        let g = geometry(x), k = outChannels * g.kernelArea
        let dx = reuse(&gradIn, x.shape)
        if let b = bias {
            let plane = g.h * g.w
            for p in 0..<(dy.n * outChannels) {
                var s: Float = 0
                let row = dy.data + p * plane
                for i in 0..<plane { s += row[i] }
                b.grad.data[p % outChannels] += s
            }
        }
        let w = weight.value.data, cin = inChannels, cout = outChannels, wCount = weight.value.count
        let used = workers(x.n) { s, images in
            let dW = reuse(&s.dweight, [wCount])
            dW.zero()
            let chunk = max(1, min(images.count, maxColumnFloats / max(1, k * g.hwo)))
            for n0 in Swift.stride(from: images.lowerBound, to: images.upperBound, by: chunk) {
                let nb = min(chunk, images.upperBound - n0), cols = nb * g.hwo
                let xg = reuse(&s.gathered, [cin, cols]), colT = reuse(&s.col, [k, cols])
                im2col(dy, first: n0, batch: nb, channelOffset: 0, channels: cout, g, into: colT.data)
                gather(x, n0, nb, into: xg, hw: g.hwo)
                // dW [Cin, k] += x col^T ; dx = W col
                sgemm(transB: true, m: cin, n: k, k: cols, a: xg.data, lda: cols, b: colT.data, ldb: cols,
                      beta: 1, c: dW.data, ldc: k)
                sgemm(m: cin, n: cols, k: k, a: w, lda: k, b: colT.data, ldb: cols, beta: 0, c: xg.data, ldc: cols)
                for b in 0..<nb {
                    for c in 0..<cin {
                        let dst: Int = ((n0 + b) * cin + c) * g.hwo
                        (dx.data + dst).update(from: xg.data + c * cols + b * g.hwo, count: g.hwo)
                    }
                }
            }
        }
        let grad = weight.grad.data
        for s in used {
            let d = s.dweight!.data
            for i in 0..<wCount { grad[i] += d[i] }
        }
        return dx
    }

    /// x[n0..<n0+nb] as [Cin, nb*HW].
    private func gather(_ x: Tensor, _ n0: Int, _ nb: Int, into xg: Tensor, hw: Int) {
        let cols = nb * hw
        for b in 0..<nb {
            for c in 0..<inChannels {
                let src: Int = ((n0 + b) * inChannels + c) * hw
                (xg.data + c * cols + b * hw).update(from: x.data + src, count: hw)
            }
        }
    }
}
