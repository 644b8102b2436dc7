/// Max pooling over kh x kw windows (padding counts as -infinity, as in PyTorch).
public final class MaxPool2d: Layer {
    public let kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)
    private weak var input: Tensor?
    private var out: Tensor?, gradIn: Tensor?
    private var argmax: [Int32] = []
    /// Inference skips recording where each maximum came from (only backward needs it).
    private var training = true
    public func setMode(_ mode: ModelMode) { training = mode != .inference }

    public init(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
    }

    public func forward(_ x: Tensor) -> Tensor {
        input = x
        let ho = (x.h + 2 * padding.0 - kernel.0) / stride.0 + 1, wo = (x.w + 2 * padding.1 - kernel.1) / stride.1 + 1
        let y = reuse(&out, [x.n, x.c, ho, wo])
        if argmax.count < y.count { argmax = [Int32](repeating: 0, count: y.count) }
        if kernel == (2, 2) && stride == (2, 2) && padding == (0, 0) && x.h % 2 == 0 && x.w % 2 == 0 {
            if training { pool2x2(x, y, ho: ho, wo: wo) } else { max2x2(x, y, ho: ho, wo: wo) }
            return y
        }
        for p in 0..<(x.n * x.c) {
            let src = x.data + p * x.h * x.w
            for oy in 0..<ho {
                for ox in 0..<wo {
                    var best = -Float.infinity, at = -1
                    for ky in 0..<kernel.0 {
                        let iy = oy * stride.0 - padding.0 + ky
                        if iy < 0 || iy >= x.h { continue }
                        for kx in 0..<kernel.1 {
                            let ix = ox * stride.1 - padding.1 + kx
                            if ix < 0 || ix >= x.w { continue }
                            let v = src[iy * x.w + ix]
                            if v > best || at < 0 { best = v; at = iy * x.w + ix }
                        }
                    }
                    let o = p * ho * wo + oy * wo + ox
                    y.data[o] = best
                    argmax[o] = Int32(at)
                }
            }
        }
        return y
    }

    /// Inference 2x2 / stride-2: maxima only, eight at a time.
    private func max2x2(_ x: Tensor, _ y: Tensor, ho: Int, wo: Int) {
        let w = x.w, xd = x.data, yd = y.data
        for p in 0..<(x.n * x.c) {
            let src = xd + p * x.h * w, dst = yd + p * ho * wo
            for oy in 0..<ho {
                let r0 = src + 2 * oy * w, r1 = r0 + w, out = dst + oy * wo
                for ox in 0..<wo { out[ox] = max(max(r0[2 * ox], r0[2 * ox + 1]), max(r1[2 * ox], r1[2 * ox + 1])) }
            }
        }
    }

    /// The common 2x2 / stride-2 case without window bounds checks.
    private func pool2x2(_ x: Tensor, _ y: Tensor, ho: Int, wo: Int) {
        let w = x.w, xd = x.data, yd = y.data
        argmax.withUnsafeMutableBufferPointer { am in
            let amp = am.baseAddress!
            Compute.forEachBlock(x.n * x.c, minimum: 8) { planes in
                for p in planes {
                    let src = xd + p * x.h * w, dst = yd + p * ho * wo, arg = amp + p * ho * wo
                    for oy in 0..<ho {
                        let r0 = src + 2 * oy * w, r1 = r0 + w
                        for ox in 0..<wo {
                            var best = r0[2 * ox], at = 2 * oy * w + 2 * ox
                            if r0[2 * ox + 1] > best { best = r0[2 * ox + 1]; at += 1 }
                            if r1[2 * ox] > best { best = r1[2 * ox]; at = (2 * oy + 1) * w + 2 * ox }
                            if r1[2 * ox + 1] > best { best = r1[2 * ox + 1]; at = (2 * oy + 1) * w + 2 * ox + 1 }
                            dst[oy * wo + ox] = best
                            arg[oy * wo + ox] = Int32(at)
                        }
                    }
                }
            }
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let x = input!, dx = reuse(&gradIn, x.shape)
        dx.zero()
        let per = dy.h * dy.w, plane = x.h * x.w
        for o in 0..<dy.count where argmax[o] >= 0 {
            dx.data[(o / per) * plane + Int(argmax[o])] += dy.data[o]
        }
        return dx
    }
}

/// Average pooling (padding excluded from nothing: zeros count, PyTorch's count_include_pad=True).
/// `AvgPool2d.global` averages each whole plane to 1x1.
public final class AvgPool2d: Layer {
    public let kernel: (Int, Int)?, stride: (Int, Int)?
    private var inShape: [Int] = []
    private var out: Tensor?, gradIn: Tensor?

    public init(kernel: (Int, Int), stride: (Int, Int)? = nil) {
        self.kernel = kernel
        self.stride = stride ?? kernel
    }
    private init() { kernel = nil; stride = nil }
    public static var global: AvgPool2d { AvgPool2d() }

    public func forward(_ x: Tensor) -> Tensor {
        inShape = x.shape
        let (kh, kw) = kernel ?? (x.h, x.w), (sh, sw) = stride ?? (x.h, x.w)
        let ho = (x.h - kh) / sh + 1, wo = (x.w - kw) / sw + 1
        let y = reuse(&out, [x.n, x.c, ho, wo])
        let scale = 1 / Float(kh * kw)
        for p in 0..<(x.n * x.c) {
            let src = x.data + p * x.h * x.w
            for oy in 0..<ho {
                for ox in 0..<wo {
                    var s: Float = 0
                    for ky in 0..<kh { for kx in 0..<kw { s += src[(oy * sh + ky) * x.w + ox * sw + kx] } }
                    y.data[p * ho * wo + oy * wo + ox] = s * scale
                }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let dx = reuse(&gradIn, inShape)
        dx.zero()
        let h = inShape[2], w = inShape[3]
        let (kh, kw) = kernel ?? (h, w), (sh, sw) = stride ?? (h, w)
        let scale = 1 / Float(kh * kw)
        for p in 0..<(dy.n * dy.c) {
            let dst = dx.data + p * h * w
            for oy in 0..<dy.h {
                for ox in 0..<dy.w {
                    let g = dy.data[p * dy.h * dy.w + oy * dy.w + ox] * scale
                    for ky in 0..<kh { for kx in 0..<kw { dst[(oy * sh + ky) * w + ox * sw + kx] += g } }
                }
            }
        }
        return dx
    }
}
