import Foundation

/// Losses return the mean over elements and write dL/d(prediction) into `grad`.
public enum Loss {
    /// Binary cross-entropy on logits, numerically stable: max(z,0) - z*y + log(1 + e^-|z|).
    public static func bceWithLogits(_ z: Tensor, target: [Float], grad: Tensor) -> Float {
        Float(bceWithLogitsExact(z, target: target, grad: grad))
    }

    /// The same loss in Double, accumulated term by term in Double (finite-difference checks need
    /// the digits a Float loss rounds away).
    public static func bceWithLogitsExact(_ z: Tensor, target: [Float], grad: Tensor) -> Double {
        precondition(z.count == target.count)
        grad.reshape(z.shape)
        var sum: Double = 0
        let n = Float(z.count)
        for i in 0..<z.count {
            let v = z.data[i], y = target[i], vd = Double(v)
            sum += max(vd, 0) - vd * Double(y) + log1p(exp(-abs(vd)))
            grad.data[i] = (1 / (1 + expf(-v)) - y) / n
        }
        return sum / Double(z.count)
    }

    /// Binary cross-entropy on probabilities, with PyTorch's clamp of log at -100.
    public static func bce(_ p: Tensor, target: [Float], grad: Tensor) -> Float {
        precondition(p.count == target.count)
        grad.reshape(p.shape)
        var sum: Double = 0
        let inv = 1 / Float(p.count), eps: Float = 1e-12
        for i in 0..<p.count {
            let v = p.data[i], y = target[i]
            sum -= Double(y * max(logf(v), -100) + (1 - y) * max(logf(1 - v), -100))
            grad.data[i] = inv * (v - y) / max(v * (1 - v), eps)
        }
        return Float(sum / Double(p.count))
    }

    public static func l1(_ x: Tensor, target: Tensor, grad: Tensor) -> Float {
        elementwise(x, target, grad) { d in (abs(d), d > 0 ? 1 : (d < 0 ? -1 : 0)) }
    }

    public static func mse(_ x: Tensor, target: Tensor, grad: Tensor) -> Float {
        elementwise(x, target, grad) { d in (d * d, 2 * d) }
    }

    /// Mean of f(x - target).loss, with grad = f(x - target).derivative / count.
    private static func elementwise(_ x: Tensor, _ target: Tensor, _ grad: Tensor, _ f: (Float) -> (loss: Float, derivative: Float)) -> Float {
        precondition(x.count == target.count, "loss: shapes \(x.shape) and \(target.shape) differ")
        grad.reshape(x.shape)
        var sum: Double = 0
        let inv = 1 / Float(x.count)
        for i in 0..<x.count {
            let (l, d) = f(x.data[i] - target.data[i])
            sum += Double(l)
            grad.data[i] = d * inv
        }
        return Float(sum / Double(x.count))
    }
}

/// Row-wise L2 normalisation of [N, D]: y = x / max(||x||, eps) (F.normalize).
public final class L2Normalize: Layer {
    public let eps: Float
    private weak var input: Tensor?
    private var out: Tensor?, gradIn: Tensor?
    private var norms: [Float] = []
    public init(eps: Float = 1e-12) { self.eps = eps }

    public func forward(_ x: Tensor) -> Tensor {
        input = x
        let y = reuse(&out, x.shape), d = x.count / x.n
        norms = (0..<x.n).map { i in
            var s: Float = 0
            for j in 0..<d { s += x.data[i * d + j] * x.data[i * d + j] }
            return max(s.squareRoot(), eps)
        }
        for i in 0..<x.n { for j in 0..<d { y.data[i * d + j] = x.data[i * d + j] / norms[i] } }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let y = out!, dx = reuse(&gradIn, dy.shape), d = dy.count / dy.n
        for i in 0..<dy.n {
            var dot: Float = 0
            for j in 0..<d { dot += dy.data[i * d + j] * y.data[i * d + j] }
            // Below eps the norm is a constant, and the map is a plain scaling.
            let clamped = norms[i] <= eps
            for j in 0..<d {
                dx.data[i * d + j] = (dy.data[i * d + j] - (clamped ? 0 : dot * y.data[i * d + j])) / norms[i]
            }
        }
        return dx
    }
}

/// Row-wise cosine similarity of two [N, D] tensors (F.cosine_similarity, eps 1e-8), with backward.
public struct CosineSimilarity {
    public var eps: Float = 1e-8
    public init() {}

    public func forward(_ a: Tensor, _ b: Tensor) -> [Float] {
        let d = a.count / a.n
        return (0..<a.n).map { i in
            var ab: Float = 0, aa: Float = 0, bb: Float = 0
            for j in 0..<d {
                let x = a.data[i * d + j], y = b.data[i * d + j]
                ab += x * y; aa += x * x; bb += y * y
            }
            return ab / max(aa.squareRoot() * bb.squareRoot(), eps)
        }
    }

    /// Writes dL/da and dL/db given dL/d(cos) per row.
    public func backward(_ a: Tensor, _ b: Tensor, gradCos: [Float], gradA: Tensor, gradB: Tensor) {
        gradA.reshape(a.shape)
        gradB.reshape(b.shape)
        let d = a.count / a.n
        for i in 0..<a.n {
            var ab: Float = 0, aa: Float = 0, bb: Float = 0
            for j in 0..<d {
                let x = a.data[i * d + j], y = b.data[i * d + j]
                ab += x * y; aa += x * x; bb += y * y
            }
            let na = aa.squareRoot(), nb = bb.squareRoot(), denom = max(na * nb, eps), cos = ab / denom
            let g = gradCos[i]
            for j in 0..<d {
                let x = a.data[i * d + j], y = b.data[i * d + j]
                if na * nb > eps {
                    gradA.data[i * d + j] = g * (y / denom - cos * x / max(aa, eps))
                    gradB.data[i * d + j] = g * (x / denom - cos * y / max(bb, eps))
                } else {
                    gradA.data[i * d + j] = g * y / eps
                    gradB.data[i * d + j] = g * x / eps
                }
            }
        }
    }
}
