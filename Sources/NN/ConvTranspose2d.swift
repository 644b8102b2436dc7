/// Transposed convolution (groups 1), PyTorch semantics: weight [Cin, Cout, kh, kw],
/// output size (H - 1) * stride - 2 * padding + kernel + outputPadding. Its forward is a
/// convolution's backward-data (col2im of W^T x) and its backward-data is a convolution's forward.
public final class ConvTranspose2d: Layer {
    public let inChannels, outChannels: Int
    public let kernel: (h: Int, w: Int), stride: (h: Int, w: Int), padding: (h: Int, w: Int), outputPadding: (h: Int, w: Int)
    public let weight: Parameter
    public let bias: Parameter?
    private weak var input: Tensor?
    private var out: Tensor?, gradIn: Tensor?, col: Tensor?, gathered: Tensor?

    public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0), bias: Bool = true,
                name: String = "convt", rng: inout SeededRandom) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = (kernel.0, kernel.1)
        self.stride = (stride.0, stride.1)
        self.padding = (padding.0, padding.1)
        self.outputPadding = (outputPadding.0, outputPadding.1)
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

    private func chunkSize(_ n: Int, _ g: ConvGeometry) -> Int {
        max(1, min(n, maxColumnFloats / max(1, outChannels * g.kernelArea * g.hwo)))
    }

    public func forward(_ x: Tensor) -> Tensor {
        input = x
        let g = geometry(x), k = outChannels * g.kernelArea
        let y = reuse(&out, [x.n, outChannels, g.h, g.w])
        y.zero()
        let chunk = chunkSize(x.n, g)
        for n0 in Swift.stride(from: 0, to: x.n, by: chunk) {
            let nb = min(chunk, x.n - n0), cols = nb * g.hwo
            let xg = reuse(&gathered, [inChannels, cols]), colT = reuse(&col, [k, cols])
            gather(x, n0, nb, into: xg, hw: g.hwo)
            // col = W^T x : [Cout*kh*kw, cols]
            sgemm(transA: true, m: k, n: cols, k: inChannels, a: weight.value.data, lda: k, b: xg.data, ldb: cols,
                  beta: 0, c: colT.data, ldc: cols)
            col2im(colT.data, into: y, first: n0, batch: nb, channelOffset: 0, channels: outChannels, g)
        }
        if let b = bias {
            let plane = g.h * g.w
            for p in 0..<(x.n * outChannels) {
                let v = b.value.data[p % outChannels], row = y.data + p * plane
                for i in 0..<plane { row[i] += v }
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
        let chunk = chunkSize(x.n, g)
        for n0 in Swift.stride(from: 0, to: x.n, by: chunk) {
            let nb = min(chunk, x.n - n0), cols = nb * g.hwo
            let xg = reuse(&gathered, [inChannels, cols]), colT = reuse(&col, [k, cols])
            im2col(dy, first: n0, batch: nb, channelOffset: 0, channels: outChannels, g, into: colT.data)
            gather(x, n0, nb, into: xg, hw: g.hwo)
            // dW [Cin, k] += x col^T ; dx = W col
            sgemm(transB: true, m: inChannels, n: k, k: cols, a: xg.data, lda: cols, b: colT.data, ldb: cols,
                  beta: 1, c: weight.grad.data, ldc: k)
            sgemm(m: inChannels, n: cols, k: k, a: weight.value.data, lda: k, b: colT.data, ldb: cols,
                  beta: 0, c: xg.data, ldc: cols)
            for b in 0..<nb {
                for c in 0..<inChannels {
                    let dst: Int = ((n0 + b) * inChannels + c) * g.hwo
                    (dx.data + dst).update(from: xg.data + c * cols + b * g.hwo, count: g.hwo)
                }
            }
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
