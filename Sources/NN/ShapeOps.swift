/// Appends zero channels (BlazeFace's channel padding before a residual add).
public final class ChannelPad: Layer {
    public let extra: Int
    private var inShape: [Int] = []
    private var out: Tensor?, gradIn: Tensor?
    public init(extra: Int) { self.extra = extra }
    public func forward(_ x: Tensor) -> Tensor {
        inShape = x.shape
        let c2 = x.c + extra, plane = x.h * x.w
        let y = reuse(&out, [x.n, c2, x.h, x.w])
        y.zero()
        for n in 0..<x.n { (y.data + n * c2 * plane).update(from: x.data + n * x.c * plane, count: x.c * plane) }
        return y
    }
    public func backward(_ dy: Tensor) -> Tensor {
        let dx = reuse(&gradIn, inShape), c = inShape[1], plane = inShape[2] * inShape[3]
        for n in 0..<dx.n { (dx.data + n * c * plane).update(from: dy.data + n * dy.c * plane, count: c * plane) }
        return dx
    }
}

/// Zero spatial padding with separate sides (TFLite "SAME" padding for stride 2 is asymmetric).
public final class ZeroPad2d: Layer {
    public let top, bottom, left, right: Int
    private var inShape: [Int] = []
    private var out: Tensor?, gradIn: Tensor?
    public init(top: Int, bottom: Int, left: Int, right: Int) {
        (self.top, self.bottom, self.left, self.right) = (top, bottom, left, right)
    }
    public func forward(_ x: Tensor) -> Tensor {
        inShape = x.shape
        let h2 = x.h + top + bottom, w2 = x.w + left + right
        let y = reuse(&out, [x.n, x.c, h2, w2])
        y.zero()
        for p in 0..<(x.n * x.c) {
            for r in 0..<x.h {
                (y.data + p * h2 * w2 + (r + top) * w2 + left).update(from: x.data + p * x.h * x.w + r * x.w, count: x.w)
            }
        }
        return y
    }
    public func backward(_ dy: Tensor) -> Tensor {
        let dx = reuse(&gradIn, inShape), h = inShape[2], w = inShape[3]
        for p in 0..<(dx.n * dx.c) {
            for r in 0..<h {
                (dx.data + p * h * w + r * w).update(from: dy.data + p * dy.h * dy.w + (r + top) * dy.w + left, count: w)
            }
        }
        return dx
    }
}

/// [N, C, H, W] -> [N, C*H*W]; the data are untouched.
public final class Flatten: Layer {
    private var inShape: [Int] = []
    private var out: Tensor?, gradIn: Tensor?
    public init() {}
    public func forward(_ x: Tensor) -> Tensor {
        inShape = x.shape
        let y = reuse(&out, [x.n, x.count / max(1, x.n)])
        y.data.update(from: x.data, count: x.count)
        return y
    }
    public func backward(_ dy: Tensor) -> Tensor {
        let dx = reuse(&gradIn, inShape)
        dx.data.update(from: dy.data, count: dy.count)
        return dx
    }
}

/// Bilinear upsampling by an integer factor, align_corners=False (PyTorch's default).
public final class Upsample: Layer {
    public let scale: Int
    private var inShape: [Int] = []
    private var out: Tensor?, gradIn: Tensor?
    public init(scale: Int = 2) { self.scale = scale }

    /// Source coordinate taps for output index o: (i0, i1, weight of i1).
    private func taps(_ o: Int, _ size: Int) -> (Int, Int, Float) {
        let src = max(0, (Float(o) + 0.5) / Float(scale) - 0.5)
        let i0 = min(Int(src), size - 1), i1 = min(i0 + 1, size - 1)
        return (i0, i1, src - Float(i0))
    }

    public func forward(_ x: Tensor) -> Tensor {
        inShape = x.shape
        let ho = x.h * scale, wo = x.w * scale
        let y = reuse(&out, [x.n, x.c, ho, wo])
        let ys = (0..<ho).map { taps($0, x.h) }, xs = (0..<wo).map { taps($0, x.w) }
        // Planes are independent: shared out over the workers once there is a plane's worth of
        // work each (an upsampling ran on one core while the other waited, ~6 % of a painter step).
        let (xd, yd, h, w) = (x.data, y.data, x.h, x.w)
        Compute.forEachBlock(x.n * x.c, minimum: max(1, 4096 / (ho * wo))) { planes in for p in planes {
            let src = xd + p * h * w, dst = yd + p * ho * wo
            for oy in 0..<ho {
                let (y0, y1, fy) = ys[oy]
                for ox in 0..<wo {
                    let (x0, x1, fx) = xs[ox]
                    let t = Bilinear(x0: x0, y0: y0, x1: x1, y1: y1, fx: fx, fy: fy)
                    dst[oy * wo + ox] = t.mix(src[y0 * w + x0], src[y0 * w + x1], src[y1 * w + x0], src[y1 * w + x1])
                }
            }
        } }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let dx = reuse(&gradIn, inShape), h = inShape[2], w = inShape[3]
        dx.zero()
        let ys = (0..<dy.h).map { taps($0, h) }, xs = (0..<dy.w).map { taps($0, w) }
        let (dyd, dxd, dh, dw) = (dy.data, dx.data, dy.h, dy.w)
        Compute.forEachBlock(dy.n * dy.c, minimum: max(1, 4096 / (dh * dw))) { planes in for p in planes {
            let src = dyd + p * dh * dw, dst = dxd + p * h * w
            for oy in 0..<dh {
                let (y0, y1, fy) = ys[oy]
                for ox in 0..<dw {
                    let (x0, x1, fx) = xs[ox], g = src[oy * dw + ox]
                    let t = Bilinear(x0: x0, y0: y0, x1: x1, y1: y1, fx: fx, fy: fy).weights
                    dst[y0 * w + x0] += g * t.0
                    dst[y0 * w + x1] += g * t.1
                    dst[y1 * w + x0] += g * t.2
                    dst[y1 * w + x1] += g * t.3
                }
            }
        } }
        return dx
    }
}

/// Two-input operations. Their backward is trivial and written inline by the models that use them.
public enum TensorOps {
    /// out = a + b (same shape).
    public static func add(_ a: Tensor, _ b: Tensor, into out: Tensor) {
        precondition(a.shape == b.shape, "add: shapes \(a.shape) and \(b.shape) differ")
        out.reshape(a.shape)
        let ad = a.data, bd = b.data, od = out.data
        Compute.forEachBlock(a.count) { r in for i in r { od[i] = ad[i] + bd[i] } }
    }

    /// Concatenates NCHW tensors along channels.
    public static func concatChannels(_ parts: [Tensor], into out: Tensor) {
        let n = parts[0].n, h = parts[0].h, w = parts[0].w, plane = h * w
        let c = parts.reduce(0) { $0 + $1.c }
        out.reshape([n, c, h, w])
        for i in 0..<n {
            var off = 0
            for p in parts {
                (out.data + (i * c + off) * plane).update(from: p.data + i * p.c * plane, count: p.c * plane)
                off += p.c
            }
        }
    }

    /// Splits a channel-concatenated gradient back into the parts' shapes.
    public static func splitChannels(_ g: Tensor, into parts: [Tensor]) {
        let n = g.n, plane = g.h * g.w
        for i in 0..<n {
            var off = 0
            for p in parts {
                (p.data + i * p.c * plane).update(from: g.data + (i * g.c + off) * plane, count: p.c * plane)
                off += p.c
            }
        }
    }
}
