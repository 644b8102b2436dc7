import Foundation

/// Elementwise activations. Each keeps what its backward needs (input or output).
public final class ReLU: Layer {
    private var out: Tensor?, gradIn: Tensor?
    public init() {}
    public func forward(_ x: Tensor) -> Tensor {
        let y = reuse(&out, x.shape), xd = x.data, yd = y.data
        Compute.forEachBlock(x.count) { r in for i in r { yd[i] = max(0, xd[i]) } }
        return y
    }
    public func backward(_ dy: Tensor) -> Tensor {
        let yd = out!.data, dx = reuse(&gradIn, dy.shape), dxd = dx.data, dyd = dy.data
        Compute.forEachBlock(dy.count) { r in Self.mask(dyd, by: yd, into: dxd, r) }
        return dx
    }

    /// dx = dy where y > 0, else 0. Sixteen lanes at a time: written as a scalar select, the compiler
    /// kept a branch per element, and the signs of activations are a coin toss to the predictor (the
    /// scalar loop was 10 % of a sync-model train step on Zen 5, its forward 0.5 %).
    @inline(__always)
    static func mask(_ dy: UnsafeMutablePointer<Float>, by y: UnsafeMutablePointer<Float>, into dx: UnsafeMutablePointer<Float>, _ r: Range<Int>) {
        typealias V = SIMD16<Float>
        var i = r.lowerBound
        while i + V.scalarCount <= r.upperBound {
            let g = UnsafeRawPointer(dy + i).loadUnaligned(as: V.self), v = UnsafeRawPointer(y + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(dx + i).storeBytes(of: g.replacing(with: 0, where: .!(v .> 0)), as: V.self)
            i += V.scalarCount
        }
        while i < r.upperBound { dx[i] = y[i] > 0 ? dy[i] : 0; i += 1 }
    }
}

public final class LeakyReLU: Layer {
    public let slope: Float
    private weak var input: Tensor?
    private var out: Tensor?, gradIn: Tensor?
    public init(slope: Float = 0.01) { self.slope = slope }
    public func forward(_ x: Tensor) -> Tensor {
        input = x
        let y = reuse(&out, x.shape)
        for i in 0..<x.count { let v = x.data[i]; y.data[i] = v > 0 ? v : slope * v }
        return y
    }
    public func backward(_ dy: Tensor) -> Tensor {
        let x = input!, dx = reuse(&gradIn, dy.shape)
        for i in 0..<dy.count { dx.data[i] = x.data[i] > 0 ? dy.data[i] : slope * dy.data[i] }
        return dx
    }
}

/// PReLU with one learnable slope per channel (NCHW).
public final class PReLU: Layer {
    public let alpha: Parameter
    private weak var input: Tensor?
    private var out: Tensor?, gradIn: Tensor?
    public init(channels: Int, initial: Float = 0.25, name: String = "prelu") {
        alpha = Parameter("\(name).weight", shape: [channels], decays: false)
        alpha.value.fill(initial)
    }
    public var parameters: [Parameter] { [alpha] }
    public func forward(_ x: Tensor) -> Tensor {
        input = x
        let y = reuse(&out, x.shape), C = x.c, hw = x.h * x.w
        let xd = x.data, yd = y.data, ad = alpha.value.data
        Compute.forEachBlock(x.n * C, minimum: max(1, (1 << 14) / max(1, hw))) { planes in
            for p in planes {
                let a = ad[p % C], src = xd + p * hw, dst = yd + p * hw
                for i in 0..<hw { let v = src[i]; dst[i] = v > 0 ? v : a * v }
            }
        }
        return y
    }
    public func backward(_ dy: Tensor) -> Tensor {
        let x = input!, dx = reuse(&gradIn, dy.shape), C = x.c, hw = x.h * x.w
        for p in 0..<(x.n * C) {
            let c = p % C, a = alpha.value.data[c], o = p * hw
            var ga: Float = 0
            for i in 0..<hw {
                let v = x.data[o + i], d = dy.data[o + i]
                if v > 0 { dx.data[o + i] = d } else { dx.data[o + i] = a * d; ga += d * v }
            }
            alpha.grad.data[c] += ga
        }
        return dx
    }
}

public final class Sigmoid: Layer {
    private var out: Tensor?, gradIn: Tensor?
    public init() {}
    public func forward(_ x: Tensor) -> Tensor {
        let y = reuse(&out, x.shape)
        for i in 0..<x.count { y.data[i] = 1 / (1 + expf(-x.data[i])) }
        return y
    }
    public func backward(_ dy: Tensor) -> Tensor {
        let y = out!, dx = reuse(&gradIn, dy.shape)
        for i in 0..<dy.count { let s = y.data[i]; dx.data[i] = dy.data[i] * s * (1 - s) }
        return dx
    }
}

public final class Tanh: Layer {
    private var out: Tensor?, gradIn: Tensor?
    public init() {}
    public func forward(_ x: Tensor) -> Tensor {
        let y = reuse(&out, x.shape)
        for i in 0..<x.count { y.data[i] = tanhf(x.data[i]) }
        return y
    }
    public func backward(_ dy: Tensor) -> Tensor {
        let y = out!, dx = reuse(&gradIn, dy.shape)
        for i in 0..<dy.count { let t = y.data[i]; dx.data[i] = dy.data[i] * (1 - t * t) }
        return dx
    }
}
