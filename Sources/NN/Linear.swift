/// y = x W^T + b, x is [N, in] (any trailing shape is flattened), W is [out, in].
public final class Linear: Layer {
    public let inFeatures, outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?
    private weak var input: Tensor?
    private var out: Tensor?, gradIn: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, name: String = "linear", rng: inout SeededRandom) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter("\(name).weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? Parameter("\(name).bias", shape: [outFeatures], decays: false) : nil
        Initializer.kaimingUniform.fill(weight.value, fanIn: inFeatures, fanOut: outFeatures, rng: &rng)
        if let b = self.bias { Initializer.kaimingUniform.fill(b.value, fanIn: inFeatures, fanOut: 0, rng: &rng) }
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.count == x.n * inFeatures, "Linear: input \(x.shape) does not have \(inFeatures) features")
        input = x
        let y = reuse(&out, [x.n, outFeatures])
        if let b = bias {
            for i in 0..<x.n { (y.data + i * outFeatures).update(from: b.value.data, count: outFeatures) }
        }
        // y = x W^T, computed as y^T = W x^T so the split runs over the batch-independent rows of W.
        Compute.configure()
        sgemm(transB: true, m: x.n, n: outFeatures, k: inFeatures, a: x.data, lda: inFeatures,
              b: weight.value.data, ldb: inFeatures, beta: bias == nil ? 0 : 1, c: y.data, ldc: outFeatures)
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Linear.backward before forward") }
        let dx = reuse(&gradIn, x.shape)
        // dW += dy^T x ; db += sum dy ; dx = dy W
        sgemm(transA: true, m: outFeatures, n: inFeatures, k: x.n, a: dy.data, lda: outFeatures, b: x.data, ldb: inFeatures,
              beta: 1, c: weight.grad.data, ldc: inFeatures)
        if let b = bias {
            for i in 0..<x.n { for o in 0..<outFeatures { b.grad.data[o] += dy.data[i * outFeatures + o] } }
        }
        sgemm(m: x.n, n: inFeatures, k: outFeatures, a: dy.data, lda: outFeatures, b: weight.value.data, ldb: inFeatures,
              beta: 0, c: dx.data, ldc: inFeatures)
        return dx
    }
}
