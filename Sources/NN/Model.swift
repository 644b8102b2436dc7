import Foundation

/// How a network runs.
///
/// - `training`: BatchNorm uses batch statistics (and updates its running ones); an optimiser owns
///   the parameters.
/// - `frozen`: running statistics and no optimiser, but backward still works and every layer
///   returns its input gradient, so the network can serve as a loss (the generator's sync expert).
/// - `inference`: running statistics with BatchNorm folded into the convolutions; no backward.
public enum ModelMode: Sendable, Equatable {
    case training, frozen, inference
}

/// A network with named parameters and buffers, saved as one file tagged with its format.
///
/// Names inside a model are local (`visual.0.conv.weight`); `scope` prefixes them where several
/// models share one file (a checkpoint: `sync.visual.0.conv.weight`, `generator.…`, `critic.…`).
/// A weights file holds one model and keeps the local names, with the format tag in its metadata.
public protocol Model: AnyObject {
    /// The format tag written to and demanded of a weights file (`lipsync-syncnet-1`).
    static var format: String { get }
    /// The prefix of this model's tensors in a file shared with other models.
    var scope: String { get }
    var parameters: [Parameter] { get }
    /// State saved with the weights but not trained by an optimiser (BatchNorm running statistics).
    var buffers: [(name: String, tensor: Tensor)] { get }
    var mode: ModelMode { get }
    func setMode(_ mode: ModelMode)
}

extension Model {
    /// Parameters and buffers with local names.
    public var namedTensors: [(name: String, tensor: Tensor)] {
        parameters.map { (name: $0.name, tensor: $0.value) } + buffers
    }

    /// Parameters and buffers named under `scope`.
    public var scopedTensors: [(name: String, tensor: Tensor)] {
        namedTensors.map { (name: scope + "." + $0.name, tensor: $0.tensor) }
    }

    /// Writes the weights (local names) with the format tag, atomically.
    public func saveWeights(to path: String, metadata: [String: String] = [:]) throws {
        var meta = metadata
        meta["format"] = Self.format
        try SafetensorsFile.write(namedTensors, metadata: meta, to: path)
    }

    /// Loads weights written by `saveWeights`; a file of another format is refused by name.
    @discardableResult
    public func loadWeights(from path: String) throws -> [String: String] {
        let f = try SafetensorsFile(path: path)
        guard f.metadata["format"] == Self.format else {
            throw SafetensorsFile.Error.malformed(path: path, reason: "not a \(Self.format) model (format \(f.metadata["format"] ?? "missing"))")
        }
        for (name, t) in namedTensors { try f.load(name, into: t) }
        return f.metadata
    }
}
