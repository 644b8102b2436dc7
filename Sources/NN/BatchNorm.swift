
/// BatchNorm2d, PyTorch semantics: batch statistics (biased variance) in training, running
/// statistics (momentum 0.1, unbiased variance) in inference.
public final class BatchNorm2d: Layer {
    public let channels: Int
    public let eps: Float, momentum: Float
    public let gamma: Parameter, beta: Parameter
    public let runningMean: Tensor, runningVar: Tensor
    public private(set) var training = true
    private var out: Tensor?, gradIn: Tensor?
    private var xhat: Tensor?
    private var invStd: [Float]

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1, name: String = "bn") {
        self.channels = channels
        self.eps = eps
        self.momentum = momentum
        gamma = Parameter("\(name).weight", shape: [channels], decays: false)
        beta = Parameter("\(name).bias", shape: [channels], decays: false)
        gamma.value.fill(1)
        runningMean = Tensor(shape: [channels])
        runningVar = Tensor(shape: [channels])
        runningVar.fill(1)
        invStd = [Float](repeating: 1, count: channels)
    }

    public var parameters: [Parameter] { [gamma, beta] }
    /// Batch statistics only in training; frozen and inference both use the running statistics.
    public func setMode(_ mode: ModelMode) { training = mode == .training }

    public func forward(_ x: Tensor) -> Tensor {
        let y = reuse(&out, x.shape), xh = reuse(&xhat, x.shape)
        let N = x.n, C = channels, hw = x.h * x.w, m = Float(N * hw)
        let xd = x.data, yd = y.data, xhd = xh.data
        let g = gamma.value.data, b = beta.value.data, rm = runningMean.data, rv = runningVar.data
        let train = training, eps = eps, mom = momentum
        invStd.withUnsafeMutableBufferPointer { inv in
            let invp = inv.baseAddress!
            Compute.partition(C) { _, chans in
                for c in chans {
                    var mean: Float, istd: Float
                    if train {
                        var s: Double = 0, s2: Double = 0
                        for n in 0..<N {
                            let (ps, ps2) = Self.sums(xd + (n * C + c) * hw, hw)
                            s += ps; s2 += ps2
                        }
                        let mu = s / Double(m)
                        let variance = max(0, s2 / Double(m) - mu * mu)
                        mean = Float(mu)
                        istd = 1 / (Float(variance) + eps).squareRoot()
                        rm[c] = (1 - mom) * rm[c] + mom * mean
                        rv[c] = (1 - mom) * rv[c] + mom * Float(variance) * m / max(1, m - 1)
                    } else {
                        mean = rm[c]
                        istd = 1 / (rv[c] + eps).squareRoot()
                    }
                    invp[c] = istd
                    for n in 0..<N {
                        let o = (n * C + c) * hw
                        for i in 0..<hw {
                            let h = (xd[o + i] - mean) * istd
                            xhd[o + i] = h
                            yd[o + i] = g[c] * h + b[c]
                        }
                    }
                }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let xh = xhat else { preconditionFailure("BatchNorm2d.backward before forward") }
        let dx = reuse(&gradIn, dy.shape)
        let N = dy.n, C = channels, hw = dy.h * dy.w, m = Float(N * hw)
        let dyd = dy.data, dxd = dx.data, xhd = xh.data, g = gamma.value.data
        let gg = gamma.grad.data, gb = beta.grad.data, train = training
        invStd.withUnsafeBufferPointer { inv in
            let invp = inv.baseAddress!
            Compute.partition(C) { _, chans in
                for c in chans {
                    var sdy: Float = 0, sdyx: Float = 0
                    for n in 0..<N {
                        let o = (n * C + c) * hw
                        let (a, b) = Self.dotSums(dyd + o, xhd + o, hw)
                        sdy += a; sdyx += b
                    }
                    gg[c] += sdyx
                    gb[c] += sdy
                    let k = g[c] * invp[c]
                    for n in 0..<N {
                        let o = (n * C + c) * hw
                        for i in 0..<hw {
                            dxd[o + i] = train ? k * (dyd[o + i] - sdy / m - xhd[o + i] * sdyx / m) : k * dyd[o + i]
                        }
                    }
                }
            }
        }
        return dx
    }

    // The per-channel sums, eight or sixteen lanes wide. Written as one running scalar, they were
    // a chain of dependent adds the compiler may not reorder (4.5 % of a painter train step each
    // way on Zen 5, most of BatchNorm's time); lanes change the order of the additions only.

    /// Σx and Σx² of n floats, accumulated in Double (the variance is Σx²/m − mean², which
    /// cancels badly in Float when the mean is large against the spread).
    @inline(__always)
    static func sums(_ x: UnsafeMutablePointer<Float>, _ n: Int) -> (Double, Double) {
        var s = SIMD8<Double>(), s2 = SIMD8<Double>(), i = 0
        while i + 8 <= n {
            let v = SIMD8<Double>(load8(x + i))
            s += v; s2 += v * v
            i += 8
        }
        var ts = s.sum(), ts2 = s2.sum()
        while i < n { let v = Double(x[i]); ts += v; ts2 += v * v; i += 1 }
        return (ts, ts2)
    }

    /// Σa and Σa·b of n floats.
    @inline(__always)
    static func dotSums(_ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ n: Int) -> (Float, Float) {
        var s = SIMD16<Float>(), sp = SIMD16<Float>(), i = 0
        while i + 16 <= n {
            let va = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self), vb = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
            s += va; sp += va * vb
            i += 16
        }
        var ts = s.sum(), tp = sp.sum()
        while i < n { ts += a[i]; tp += a[i] * b[i]; i += 1 }
        return (ts, tp)
    }
}

extension Conv2d {
    /// Folds a following inference-mode BatchNorm into this convolution's weight and bias:
    /// w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta.
    public func folding(_ bn: BatchNorm2d, rng: inout SeededRandom) -> Conv2d {
        let f = Conv2d(inChannels, outChannels, kernel: kernel, stride: stride, padding: padding, groups: groups,
                       bias: true, name: weight.name.replacingOccurrences(of: ".weight", with: ""), rng: &rng)
        let per = weight.value.count / outChannels
        for o in 0..<outChannels {
            let s = bn.gamma.value[o] / (bn.runningVar[o] + bn.eps).squareRoot()
            for i in 0..<per { f.weight.value[o * per + i] = weight.value[o * per + i] * s }
            f.bias!.value[o] = ((bias?.value[o] ?? 0) - bn.runningMean[o]) * s + bn.beta.value[o]
        }
        return f
    }
}
