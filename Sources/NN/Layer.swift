/// A differentiable operation with one input and one output.
///
/// `forward` returns a tensor the layer owns and reuses; it stays valid until the next `forward`.
/// `backward` takes dL/dy for the last forward's output, accumulates parameter gradients into
/// `Parameter.grad`, and returns dL/dx (also layer-owned).
public protocol Layer: AnyObject {
    func forward(_ x: Tensor) -> Tensor
    func backward(_ dy: Tensor) -> Tensor
    var parameters: [Parameter] { get }
    /// Training (batch statistics), frozen (running statistics, backward still works) or inference
    /// (running statistics, fused kernels, no backward). See `ModelMode`.
    func setMode(_ mode: ModelMode)
}

extension Layer {
    public var parameters: [Parameter] { [] }
    public func setMode(_ mode: ModelMode) {}
    /// Training or inference mode.
    public func setTraining(_ training: Bool) { setMode(training ? .training : .inference) }
}

/// Layers applied one after another.
public final class Sequential: Layer {
    public var layers: [Layer]
    public init(_ layers: [Layer]) { self.layers = layers }
    public func forward(_ x: Tensor) -> Tensor { layers.reduce(x) { $1.forward($0) } }
    public func backward(_ dy: Tensor) -> Tensor { layers.reversed().reduce(dy) { $1.backward($0) } }
    public var parameters: [Parameter] { layers.flatMap(\.parameters) }
    public func setMode(_ mode: ModelMode) { layers.forEach { $0.setMode(mode) } }
}
