import Parallel

/// 2-D convolution, PyTorch semantics: weight [Cout, Cin/groups, kh, kw], symmetric zero padding.
/// Paths: grouped im2col + sgemm over a whole batch chunk; 1x1 stride-1 as a plain sgemm per image;
/// depthwise (groups == Cin == Cout) as direct loops.
public final class Conv2d: Layer {
    public let inChannels, outChannels, groups: Int
    public let kernel: (h: Int, w: Int), stride: (h: Int, w: Int), padding: (h: Int, w: Int)
    public let weight: Parameter
    public let bias: Parameter?

    private weak var input: Tensor?
    private var inputCopy: Tensor?
    private var out: Tensor?, gradIn: Tensor?, col: Tensor?, dcol: Tensor?, gemm: Tensor?

    public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), groups: Int = 1, bias: Bool = true, name: String = "conv",
                rng: inout SeededRandom) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "Conv2d: channels not divisible by groups")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.groups = groups
        self.kernel = (kernel.0, kernel.1)
        self.stride = (stride.0, stride.1)
        self.padding = (padding.0, padding.1)
        weight = Parameter("\(name).weight", shape: [outChannels, inChannels / groups, kernel.0, kernel.1])
        self.bias = bias ? Parameter("\(name).bias", shape: [outChannels], decays: false) : nil
        let fanIn = inChannels / groups * kernel.0 * kernel.1
        Initializer.kaimingUniform.fill(weight.value, fanIn: fanIn, fanOut: outChannels * kernel.0 * kernel.1, rng: &rng)
        if let b = self.bias { Initializer.kaimingUniform.fill(b.value, fanIn: fanIn, fanOut: 0, rng: &rng) }
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    func geometry(_ x: Tensor) -> ConvGeometry {
        let ho = (x.h + 2 * padding.h - kernel.h) / stride.h + 1
        let wo = (x.w + 2 * padding.w - kernel.w) / stride.w + 1
        return ConvGeometry(h: x.h, w: x.w, kh: kernel.h, kw: kernel.w, sh: stride.h, sw: stride.w,
                            ph: padding.h, pw: padding.w, ho: ho, wo: wo)
    }

    var isDepthwise: Bool { groups == inChannels && groups == outChannels && groups > 1 }
    func isPointwise(_ g: ConvGeometry) -> Bool {
        kernel == (1, 1) && stride == (1, 1) && padding == (0, 0) && groups == 1 && g.hwo >= 64
    }

    // MARK: forward

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.c == inChannels, "Conv2d: input has \(x.c) channels, expected \(inChannels)")
        input = x
        let g = geometry(x)
        let y = reuse(&out, [x.n, outChannels, g.ho, g.wo])
        if isDepthwise {
            depthwiseForward(x, y, g)
        } else if isPointwise(g) {
            for n in 0..<x.n {
                sgemm(m: outChannels, n: g.hwo, k: inChannels, a: weight.value.data, lda: inChannels,
                      b: x.data + n * inChannels * g.hwo, ldb: g.hwo, beta: 0, c: y.data + n * outChannels * g.hwo, ldc: g.hwo)
            }
            addBias(y, g)
        } else {
            gemmForward(x, y, g)
        }
        return y
    }

    private func chunkSize(_ n: Int, _ g: ConvGeometry) -> Int {
        let k = inChannels / groups * g.kernelArea
        return max(1, min(n, maxColumnFloats / max(1, k * g.hwo)))
    }

    private func gemmForward(_ x: Tensor, _ y: Tensor, _ g: ConvGeometry) {
        let cg = inChannels / groups, og = outChannels / groups, k = cg * g.kernelArea
        let chunk = chunkSize(x.n, g)
        for n0 in Swift.stride(from: 0, to: x.n, by: chunk) {
            let nb = min(chunk, x.n - n0), cols = nb * g.hwo
            let colT = reuse(&col, [k, cols]), tmp = reuse(&gemm, [og, cols])
            for gi in 0..<groups {
                im2col(x, first: n0, batch: nb, channelOffset: gi * cg, channels: cg, g, into: colT.data)
                sgemm(m: og, n: cols, k: k, a: weight.value.data + gi * og * k, lda: k, b: colT.data, ldb: cols,
                      beta: 0, c: tmp.data, ldc: cols)
                // [og, nb*HWo] -> y[n0+b, gi*og+o, :]
                for b in 0..<nb {
                    for o in 0..<og {
                        let dstOffset: Int = ((n0 + b) * outChannels + gi * og + o) * g.hwo
                        let srcOffset: Int = o * cols + b * g.hwo
                        (y.data + dstOffset).update(from: tmp.data + srcOffset, count: g.hwo)
                    }
                }
            }
        }
        addBias(y, g)
    }

    private func addBias(_ y: Tensor, _ g: ConvGeometry) {
        guard let b = bias?.value.data else { return }
        let yd = y.data, oc = outChannels, hw = g.hwo
        parallelBlocks(count: y.n * oc, minimumBlock: 16) { planes in
            for p in planes {
                let v = b[p % oc], row = yd + p * hw
                for i in 0..<hw { row[i] += v }
            }
        }
    }

    private func depthwiseForward(_ x: Tensor, _ y: Tensor, _ g: ConvGeometry) {
        let wd = weight.value.data, bd = bias?.value.data, C = inChannels, N = x.n
        let xd = x.data, yd = y.data
        parallelBlocks(count: C, minimumBlock: 1) { chans in
            for c in chans {
                let wc = wd + c * g.kernelArea
                for n in 0..<N {
                    let src = xd + (n * C + c) * g.h * g.w, dst = yd + (n * C + c) * g.hwo
                    let b0 = bd?[c] ?? 0
                    for oy in 0..<g.ho {
                        for ox in 0..<g.wo {
                            var s = b0
                            for ky in 0..<g.kh {
                                let iy = oy * g.sh - g.ph + ky
                                if iy < 0 || iy >= g.h { continue }
                                for kx in 0..<g.kw {
                                    let ix = ox * g.sw - g.pw + kx
                                    if ix < 0 || ix >= g.w { continue }
                                    s += wc[ky * g.kw + kx] * src[iy * g.w + ix]
                                }
                            }
                            dst[oy * g.wo + ox] = s
                        }
                    }
                }
            }
        }
    }

    // MARK: backward

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Conv2d.backward before forward") }
        let g = geometry(x)
        let dx = reuse(&gradIn, x.shape)
        dx.zero()
        if let b = bias {
            let hw = g.hwo, oc = outChannels
            for n in 0..<dy.n {
                for o in 0..<oc {
                    let row = dy.data + (n * oc + o) * hw
                    var s: Float = 0
                    for i in 0..<hw { s += row[i] }
                    b.grad.data[o] += s
                }
            }
        }
        if isDepthwise {
            depthwiseBackward(x, dy, dx, g)
        } else if isPointwise(g) {
            for n in 0..<x.n {
                let xn = x.data + n * inChannels * g.hwo, dyn = dy.data + n * outChannels * g.hwo
                sgemm(transB: true, m: outChannels, n: inChannels, k: g.hwo, a: dyn, lda: g.hwo, b: xn, ldb: g.hwo,
                      beta: 1, c: weight.grad.data, ldc: inChannels)
                sgemm(transA: true, m: inChannels, n: g.hwo, k: outChannels, a: weight.value.data, lda: inChannels,
                      b: dyn, ldb: g.hwo, beta: 0, c: dx.data + n * inChannels * g.hwo, ldc: g.hwo)
            }
        } else {
            gemmBackward(x, dy, dx, g)
        }
        return dx
    }

    private func gemmBackward(_ x: Tensor, _ dy: Tensor, _ dx: Tensor, _ g: ConvGeometry) {
        let cg = inChannels / groups, og = outChannels / groups, k = cg * g.kernelArea
        let chunk = chunkSize(x.n, g)
        for n0 in Swift.stride(from: 0, to: x.n, by: chunk) {
            let nb = min(chunk, x.n - n0), cols = nb * g.hwo
            let colT = reuse(&col, [k, cols]), dcolT = reuse(&dcol, [k, cols]), dyg = reuse(&gemm, [og, cols])
            for gi in 0..<groups {
                im2col(x, first: n0, batch: nb, channelOffset: gi * cg, channels: cg, g, into: colT.data)
                for b in 0..<nb {
                    for o in 0..<og {
                        let dstOffset: Int = o * cols + b * g.hwo
                        let srcOffset: Int = ((n0 + b) * outChannels + gi * og + o) * g.hwo
                        (dyg.data + dstOffset).update(from: dy.data + srcOffset, count: g.hwo)
                    }
                }
                // dW_g += dY_g col^T ; dcol = W_g^T dY_g
                sgemm(transB: true, m: og, n: k, k: cols, a: dyg.data, lda: cols, b: colT.data, ldb: cols,
                      beta: 1, c: weight.grad.data + gi * og * k, ldc: k)
                sgemm(transA: true, m: k, n: cols, k: og, a: weight.value.data + gi * og * k, lda: k, b: dyg.data, ldb: cols,
                      beta: 0, c: dcolT.data, ldc: cols)
                col2im(dcolT.data, into: dx, first: n0, batch: nb, channelOffset: gi * cg, channels: cg, g)
            }
        }
    }

    private func depthwiseBackward(_ x: Tensor, _ dy: Tensor, _ dx: Tensor, _ g: ConvGeometry) {
        let wd = weight.value.data, gw = weight.grad.data, C = inChannels, N = x.n
        let xd = x.data, dyd = dy.data, dxd = dx.data
        parallelBlocks(count: C, minimumBlock: 1) { chans in
            for c in chans {
                let wc = wd + c * g.kernelArea, gwc = gw + c * g.kernelArea
                for n in 0..<N {
                    let src = xd + (n * C + c) * g.h * g.w, dsrc = dxd + (n * C + c) * g.h * g.w
                    let d = dyd + (n * C + c) * g.hwo
                    for oy in 0..<g.ho {
                        for ox in 0..<g.wo {
                            let v = d[oy * g.wo + ox]
                            if v == 0 { continue }
                            for ky in 0..<g.kh {
                                let iy = oy * g.sh - g.ph + ky
                                if iy < 0 || iy >= g.h { continue }
                                for kx in 0..<g.kw {
                                    let ix = ox * g.sw - g.pw + kx
                                    if ix < 0 || ix >= g.w { continue }
                                    gwc[ky * g.kw + kx] += v * src[iy * g.w + ix]
                                    dsrc[iy * g.w + ix] += v * wc[ky * g.kw + kx]
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
