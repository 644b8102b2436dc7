import Foundation

/// A contiguous Float32 array with a shape (NCHW for images, N x F for vectors).
/// A class on purpose: layers own their output and gradient tensors and reuse them from one step
/// to the next, so steady-state inference allocates nothing.
public final class Tensor {
    public private(set) var shape: [Int]
    public private(set) var count: Int
    public private(set) var capacity: Int
    public private(set) var data: UnsafeMutablePointer<Float>

    public init(shape: [Int]) {
        self.shape = shape
        count = shape.reduce(1, *)
        capacity = max(count, 1)
        data = .allocate(capacity: capacity)
        data.initialize(repeating: 0, count: capacity)
    }

    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "Tensor: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit { data.deallocate() }

    /// Changes the shape, reallocating only when the new size exceeds the capacity. Contents are
    /// unspecified afterwards unless the count is unchanged.
    public func reshape(_ newShape: [Int]) {
        let n = newShape.reduce(1, *)
        if n > capacity {
            data.deallocate()
            data = .allocate(capacity: n)
            data.initialize(repeating: 0, count: n)
            capacity = n
        }
        shape = newShape
        count = n
    }

    public func zero() { data.update(repeating: 0, count: count) }
    public func fill(_ v: Float) { data.update(repeating: v, count: count) }
    public var values: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }
    public func copy(from other: Tensor) {
        reshape(other.shape)
        data.update(from: other.data, count: count)
    }
    public func clone() -> Tensor {
        let t = Tensor(shape: shape)
        t.data.update(from: data, count: count)
        return t
    }

    // NCHW accessors.
    public var n: Int { shape[0] }
    public var c: Int { shape.count > 1 ? shape[1] : 1 }
    public var h: Int { shape.count > 2 ? shape[2] : 1 }
    public var w: Int { shape.count > 3 ? shape[3] : 1 }
}

/// Returns `slot` shaped as `shape`, creating it on first use: the reuse idiom of every layer.
@inline(__always)
func reuse(_ slot: inout Tensor?, _ shape: [Int]) -> Tensor {
    if let t = slot { t.reshape(shape); return t }
    let t = Tensor(shape: shape)
    slot = t
    return t
}

/// A learnable tensor and its gradient (accumulated by backward, cleared by the optimiser's caller).
public final class Parameter {
    public let name: String
    public let value: Tensor
    public let grad: Tensor
    /// Excluded from weight decay (biases, norms).
    public var decays: Bool

    public init(_ name: String, shape: [Int], decays: Bool = true) {
        self.name = name
        value = Tensor(shape: shape)
        grad = Tensor(shape: shape)
        self.decays = decays
    }
}

/// Deterministic generator (SplitMix64) for initialisation, shuffling and augmentation.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    /// The whole generator state: save it to resume a sequence exactly.
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    public mutating func normal() -> Float {
        let u1 = max(uniform(), 1e-7), u2 = uniform()
        return (-2 * logf(u1)).squareRoot() * cosf(2 * .pi * u2)
    }
}

public enum Initializer {
    /// He et al. normal, fan-in, for ReLU: std = sqrt(2 / fanIn).
    case kaimingNormal
    /// PyTorch's default for conv/linear: uniform(-1/sqrt(fanIn), 1/sqrt(fanIn)) (kaiming_uniform, a = sqrt 5).
    case kaimingUniform
    /// Glorot uniform: limit = sqrt(6 / (fanIn + fanOut)).
    case xavierUniform
    case constant(Float)

    public func fill(_ t: Tensor, fanIn: Int, fanOut: Int, rng: inout SeededRandom) {
        switch self {
        case .kaimingNormal:
            let std = (2 / Float(max(1, fanIn))).squareRoot()
            for i in 0..<t.count { t.data[i] = std * rng.normal() }
        case .kaimingUniform:
            let b = 1 / Float(max(1, fanIn)).squareRoot()
            for i in 0..<t.count { t.data[i] = (2 * rng.uniform() - 1) * b }
        case .xavierUniform:
            let b = (6 / Float(max(1, fanIn + fanOut))).squareRoot()
            for i in 0..<t.count { t.data[i] = (2 * rng.uniform() - 1) * b }
        case .constant(let v):
            t.fill(v)
        }
    }
}
