import Foundation

/// Adam (L2 decay added to the gradient) and AdamW (decoupled decay), PyTorch's update rules,
/// with optional clipping of the global gradient norm.
public final class Adam {
    public var learningRate: Float
    public var beta1: Float, beta2: Float, eps: Float
    public var weightDecay: Float
    public var decoupled: Bool
    public var clipNorm: Float?
    public private(set) var step = 0
    public let parameters: [Parameter]
    var m: [Tensor], v: [Tensor]

    public init(parameters: [Parameter], learningRate: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                eps: Float = 1e-8, weightDecay: Float = 0, decoupled: Bool = false, clipNorm: Float? = nil) {
        self.parameters = parameters
        self.learningRate = learningRate
        (beta1, beta2) = betas
        self.eps = eps
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        self.clipNorm = clipNorm
        m = parameters.map { Tensor(shape: $0.value.shape) }
        v = parameters.map { Tensor(shape: $0.value.shape) }
    }

    /// AdamW with PyTorch's default decay of 0.01.
    public static func adamW(parameters: [Parameter], learningRate: Float = 1e-3, weightDecay: Float = 0.01,
                             clipNorm: Float? = nil) -> Adam {
        Adam(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay, decoupled: true, clipNorm: clipNorm)
    }

    public func zeroGrad() { parameters.forEach { $0.grad.zero() } }

    /// Global L2 norm of all gradients.
    public func gradientNorm() -> Float {
        var s: Double = 0
        for p in parameters { for i in 0..<p.grad.count { s += Double(p.grad.data[i] * p.grad.data[i]) } }
        return Float(s.squareRoot())
    }

    public func update() {
        var scale: Float = 1
        if let c = clipNorm {
            let norm = gradientNorm()
            if norm > c { scale = c / (norm + 1e-6) }
        }
        step += 1
        let bc1 = 1 - powf(beta1, Float(step)), bc2 = 1 - powf(beta2, Float(step))
        let lr = learningRate, b1 = beta1, b2 = beta2, e = eps
        for (k, p) in parameters.enumerated() {
            let w = p.value.data, g = p.grad.data, mk = m[k].data, vk = v[k].data
            let wd = p.decays ? weightDecay : 0
            let decoupled = decoupled
            Compute.forEachBlock(p.value.count) { r in
                for i in r {
                    if decoupled && wd != 0 { w[i] *= 1 - lr * wd }
                    var gi = g[i] * scale
                    if !decoupled && wd != 0 { gi += wd * w[i] }
                    mk[i] = b1 * mk[i] + (1 - b1) * gi
                    vk[i] = b2 * vk[i] + (1 - b2) * gi * gi
                    w[i] -= lr * (mk[i] / bc1) / ((vk[i] / bc2).squareRoot() + e)
                }
            }
        }
    }

    /// Sets the step count (a checkpoint restores the moments itself, `Checkpoint`).
    public func restore(step: Int) { self.step = step }
}
