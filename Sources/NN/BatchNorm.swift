
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

    public func forward(_ x: Tensor) -> Tensor { forward(x, adding: nil, rectifying: false) }

    /// y = gamma * (x - mean) / sqrt(var + eps) + beta, then optionally + skip and max(0, ·), in one
    /// pass over each channel (ConvBlock's BN, residual add and ReLU: one write of the output instead
    /// of three). The arithmetic is that of the separate passes, so the results are bit-identical.
    public func forward(_ x: Tensor, adding skip: Tensor?, rectifying: Bool) -> Tensor {
        let y = reuse(&out, x.shape), xh = reuse(&xhat, x.shape)
        let N = x.n, C = channels, hw = x.h * x.w, m = Float(N * hw)
        let xd = x.data, yd = y.data, xhd = xh.data, sd = skip?.data
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
                            let p = xd + (n * C + c) * hw
                            for i in 0..<hw { let v = Double(p[i]); s += v; s2 += v * v }
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
                        switch (sd, rectifying) {
                        case (nil, false):
                            for i in 0..<hw { let h = (xd[o + i] - mean) * istd; xhd[o + i] = h; yd[o + i] = g[c] * h + b[c] }
                        case (nil, true):
                            for i in 0..<hw { let h = (xd[o + i] - mean) * istd; xhd[o + i] = h; yd[o + i] = max(0, g[c] * h + b[c]) }
                        case let (sp?, r):
                            for i in 0..<hw {
                                let h = (xd[o + i] - mean) * istd
                                xhd[o + i] = h
                                var v = g[c] * h + b[c]
                                v += sp[o + i]
                                yd[o + i] = r ? max(0, v) : v
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor { backward(dy, rectified: false) }

    /// dx = gamma / sqrt(var + eps) * (dy - mean(dy) - xhat * mean(dy * xhat)) (training; frozen:
    /// gamma / sqrt(var + eps) * dy), accumulating dgamma = sum(dy * xhat) and dbeta = sum(dy).
    /// `rectified`: the forward applied ReLU, so dy is first masked by output > 0, on the fly, in the
    /// same order as ReLU's own backward would have (bit-identical, one buffer less).
    public func backward(_ dy: Tensor, rectified: Bool) -> Tensor {
        guard let xh = xhat, let y = out else { preconditionFailure("BatchNorm2d.backward before forward") }
        let dx = reuse(&gradIn, dy.shape)
        let N = dy.n, C = channels, hw = dy.h * dy.w, m = Float(N * hw)
        let dyd = dy.data, dxd = dx.data, xhd = xh.data, g = gamma.value.data, yd = y.data
        let gg = gamma.grad.data, gb = beta.grad.data, train = training
        invStd.withUnsafeBufferPointer { inv in
            let invp = inv.baseAddress!
            Compute.partition(C) { _, chans in
                for c in chans {
                    @inline(__always) func grad(_ i: Int) -> Float { rectified ? (yd[i] > 0 ? dyd[i] : 0) : dyd[i] }
                    var sdy: Float = 0, sdyx: Float = 0
                    for n in 0..<N {
                        let o = (n * C + c) * hw
                        for i in o..<(o + hw) { let d = grad(i); sdy += d; sdyx += d * xhd[i] }
                    }
                    gg[c] += sdyx
                    gb[c] += sdy
                    let k = g[c] * invp[c]
                    for n in 0..<N {
                        let o = (n * C + c) * hw
                        for i in o..<(o + hw) {
                            let d = grad(i)
                            dxd[i] = train ? k * (d - sdy / m - xhd[i] * sdyx / m) : k * d
                        }
                    }
                }
            }
        }
        return dx
    }

    /// Where the last forward's output is positive: what its ReLU passed (ConvBlock's skip gradient).
    func rectifiedMask(_ dy: Tensor, adding into: Tensor) {
        guard let y = out else { preconditionFailure("BatchNorm2d: no forward output") }
        let yd = y.data, dyd = dy.data, d = into.data
        Compute.forEachBlock(dy.count) { r in for i in r { d[i] += yd[i] > 0 ? dyd[i] : 0 } }
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
