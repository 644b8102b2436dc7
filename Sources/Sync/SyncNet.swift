import Foundation
import NN
import Vision

/// The learned sync discriminator: one definition for training and inference.
///
/// Two towers embed a 5-frame mouth window and the matching 0.2 s of audio; their cosine similarity
/// scores sync (logit = scale * cos + bias, trained with BCE). Sized for 2 CPU cores: about 32 MFLOP
/// for the visual tower and 27 MFLOP for the audio tower per window (Wav2Lip's expert: ~2.4 GFLOP).
///
///   visual  crops [N, 5, 32, 64] -> 6 conv blocks -> [N, 1024] ┐
///           lips  [N, 400]       -> 2 linear       -> [N, 128]  ┤ concat -> 256 -> 64
///           mesh  [N, 1280]      -> 2 linear       -> [N, 128]  ┘ (optional: FaceMesh's features at the lips)
///   audio   mel   [N, 1, 80, 16] -> 5 conv blocks -> [N, 1280] -> 256 -> 64
public final class SyncNet: Model {
    public static let format = "lipsync-syncnet-1"
    public let scope = "sync"
    public private(set) var mode = ModelMode.training
    public static let frames = 5
    public static let embedding = 64
    public static let geometryFeatures = frames * MouthFeatures.geometryCount
    public static let meshFeatures = frames * FaceLandmarker.descriptorCount
    static let windowNormalisedTag = "window-normalised"
    static let meshInputsTag = "pixels+lips+mesh"

    let crop: Sequential
    let cropFlatten = Flatten()
    /// Absent in the pixel-only variant.
    let lips: Sequential?
    /// FaceMesh's backbone features at the lips (`FaceLandmarks.mouthDescriptor`) for 5 frames: absent
    /// unless the model was built with `usesMesh`.
    let meshBranch: Sequential?
    public var usesMesh: Bool { meshBranch != nil }
    /// Whether the visual tower reads the lip landmarks. The pixel-only variant (`usesGeometry`
    /// false) sees only the mouth crops: it can judge painted pixels, which have no landmarks, so
    /// it is the generator's sync expert.
    public let usesGeometry: Bool
    /// Whether the lip geometry is re-expressed per window before the lips branch reads it: centred on
    /// the window's lip centroid and in units of its mouth width (`MouthFeatures.normaliseGeometry`).
    /// Where a person's mouth sits under the nose, and how wide it is, then drop out; its opening
    /// relative to its width, and its motion, stay. Saved with the weights (`geometry` tag).
    public var normalisesGeometry = false
    private let normalisedGeometry = Tensor(shape: [1])
    let fuse: Sequential
    let audio: Sequential
    /// The logit's scale and bias on the cosine similarity.
    let head: Parameter
    private let joined = Tensor(shape: [1])
    private let cropGrad = Tensor(shape: [1]), lipsGrad = Tensor(shape: [1]), meshGrad = Tensor(shape: [1])
    /// The towers' first blocks: they skip the input gradient except when frozen (a loss needs it).
    private let firstVisual: ConvBlock, firstAudio: ConvBlock
    /// In inference, the towers' convolution blocks with the window index in the vector lanes
    /// (`LaneConvolutions`; nil without AVX2): the batches `offset` scores.
    private var visualLanes: LaneConvolutions?, audioLanes: LaneConvolutions?
    private let visualConvolved = Tensor(shape: [1]), audioConvolved = Tensor(shape: [1])
    /// LIPSYNC_LANES=0 keeps the towers on the layer-by-layer path (comparisons and tests).
    static let lanesAllowed = ProcessInfo.processInfo.environment["LIPSYNC_LANES"] != "0"

    public init(seed: UInt64 = 1, usesGeometry: Bool = true, usesMesh: Bool = false) {
        precondition(usesGeometry || !usesMesh, "SyncNet: the mesh branch sits beside the lips branch")
        self.usesGeometry = usesGeometry
        var rng = SeededRandom(seed: seed)
        func block(_ cin: Int, _ cout: Int, _ stride: (Int, Int), residual: Bool = false, _ name: String) -> ConvBlock {
            ConvBlock(cin, cout, kernel: 3, stride: stride, padding: 1, residual: residual, name: name, rng: &rng)
        }
        let c0 = block(Self.frames, 32, (2, 2), "visual.0")
        c0.computesInputGradient = false
        firstVisual = c0
        crop = Sequential([c0, block(32, 64, (2, 2), "visual.1"), block(64, 64, (1, 1), residual: true, "visual.2"),
                           block(64, 128, (2, 2), "visual.3"), block(128, 128, (1, 1), residual: true, "visual.4"),
                           block(128, 128, (2, 2), "visual.5")])
        lips = usesGeometry ? Sequential([Linear(Self.geometryFeatures, 256, name: "lips.0", rng: &rng), ReLU(),
                                          Linear(256, 128, name: "lips.1", rng: &rng), ReLU()]) : nil
        meshBranch = usesMesh ? Sequential([Linear(Self.meshFeatures, 256, name: "mesh.0", rng: &rng), ReLU(),
                                            Linear(256, 128, name: "mesh.1", rng: &rng), ReLU()]) : nil
        fuse = Sequential([Linear(1024 + (usesGeometry ? 128 : 0) + (usesMesh ? 128 : 0), 256, name: "fuse.0", rng: &rng), ReLU(),
                           Linear(256, Self.embedding, name: "fuse.1", rng: &rng)])
        let a0 = block(1, 32, (2, 1), "audio.0")
        a0.computesInputGradient = false
        firstAudio = a0
        audio = Sequential([a0, block(32, 64, (2, 2), "audio.1"), block(64, 128, (2, 2), "audio.2"),
                            block(128, 128, (1, 1), residual: true, "audio.3"), block(128, 128, (2, 2), "audio.4"),
                            Flatten(), Linear(1280, 256, name: "audio.5", rng: &rng), ReLU(),
                            Linear(256, Self.embedding, name: "audio.6", rng: &rng)])
        head = Parameter("head", shape: [2], decays: false)
        head.value[0] = 5
        head.value[1] = -2
    }

    public var parameters: [Parameter] {
        crop.parameters + (lips?.parameters ?? []) + (meshBranch?.parameters ?? []) + fuse.parameters + audio.parameters + [head]
    }

    /// BatchNorm running statistics: not trained by the optimiser, but saved with the weights.
    public var buffers: [(name: String, tensor: Tensor)] {
        func stats(_ s: Sequential) -> [(name: String, tensor: Tensor)] {
            s.layers.compactMap { $0 as? ConvBlock }.flatMap { b in
                [(name: b.bn.gamma.name.replacingOccurrences(of: ".weight", with: "") + ".running_mean", tensor: b.bn.runningMean),
                 (name: b.bn.gamma.name.replacingOccurrences(of: ".weight", with: "") + ".running_var", tensor: b.bn.runningVar)]
            }
        }
        return stats(crop) + stats(audio)
    }

    public func setMode(_ mode: ModelMode) {
        self.mode = mode
        ([crop, fuse, audio] + [lips, meshBranch].compactMap { $0 }).forEach { $0.setMode(mode) }
        firstVisual.computesInputGradient = mode == .frozen
        firstAudio.computesInputGradient = mode == .frozen
        visualLanes = nil
        audioLanes = nil
        if mode == .inference && Self.lanesAllowed {
            visualLanes = LaneConvolutions(blocks: crop.layers.compactMap { $0 as? ConvBlock },
                                           input: (Self.frames, MouthFeatures.height, MouthFeatures.width))
            audioLanes = LaneConvolutions(blocks: audio.layers.compactMap { $0 as? ConvBlock }, input: (1, 80, 16))
        }
    }

    /// A tower's output: its convolution blocks in the lanes where the batch fills them, then the
    /// layers after the blocks.
    private func tower(_ s: Sequential, lanes: LaneConvolutions?, _ x: Tensor, into convolved: Tensor) -> Tensor {
        guard let lanes, x.n >= LaneConvolutions.minimumBatch else { return s.forward(x) }
        lanes.forward(x, into: convolved)
        return s.layers.drop { $0 is ConvBlock }.reduce(convolved) { $1.forward($0) }
    }

    /// Training or inference mode.
    public func setTraining(_ training: Bool) { setMode(training ? .training : .inference) }

    /// Visual embeddings [N, 64] (not normalised) of crops [N, 5, 32, 64], lip geometry [N, 400] and,
    /// for a model that reads them, FaceMesh's lip features [N, 1280].
    public func embedVisual(crops: Tensor, geometry: Tensor, mesh: Tensor? = nil) -> Tensor {
        let a = cropFlatten.forward(tower(crop, lanes: visualLanes, crops, into: visualConvolved))
        guard let lips else { return fuse.forward(a) }
        var g = geometry
        if normalisesGeometry {
            normalisedGeometry.reshape([geometry.n, Self.geometryFeatures])
            for i in 0..<geometry.n {
                MouthFeatures.normaliseGeometry(geometry.data + i * Self.geometryFeatures, into: normalisedGeometry.data + i * Self.geometryFeatures,
                                                frames: Self.frames)
            }
            g = normalisedGeometry
        }
        let b = lips.forward(g)
        if let meshBranch {
            guard let mesh else { preconditionFailure("SyncNet: this model reads FaceMesh's lip features") }
            TensorOps.concatChannels([a, b, meshBranch.forward(mesh)], into: joined)
        } else {
            TensorOps.concatChannels([a, b], into: joined)
        }
        return fuse.forward(joined)
    }

    /// What reaches the visual inputs from dL/d(embedding): gradients towards the (normalised) crops
    /// and the lip geometry (the normalised geometry, where the model normalises it). Only meaningful
    /// when frozen: in training the first block skips it.
    public struct VisualGradient {
        public var crops: Tensor
        public var geometry: Tensor
    }

    @discardableResult
    public func backwardVisual(_ dy: Tensor) -> VisualGradient {
        let g = fuse.backward(dy)
        guard let lips else {
            return VisualGradient(crops: crop.backward(cropFlatten.backward(g)), geometry: lipsGrad)
        }
        cropGrad.reshape([g.n, 1024, 1, 1])
        lipsGrad.reshape([g.n, 128, 1, 1])
        meshGrad.reshape([g.n, 128, 1, 1])
        TensorOps.splitChannels(g, into: meshBranch == nil ? [cropGrad, lipsGrad] : [cropGrad, lipsGrad, meshGrad])
        cropGrad.reshape([g.n, 1024])
        lipsGrad.reshape([g.n, 128])
        meshGrad.reshape([g.n, 128])
        let dCrops = crop.backward(cropFlatten.backward(cropGrad))
        let dGeometry = lips.backward(lipsGrad)
        _ = meshBranch?.backward(meshGrad)
        return VisualGradient(crops: dCrops, geometry: dGeometry)
    }

    /// Audio embeddings [N, 64] (not normalised) of mel windows [N, 1, 80, 16].
    public func embedAudio(mel: Tensor) -> Tensor { tower(audio, lanes: audioLanes, mel, into: audioConvolved) }

    /// dL/d(mel) from dL/d(embedding) (meaningful when frozen).
    @discardableResult
    public func backwardAudio(_ dy: Tensor) -> Tensor { audio.backward(dy) }

    public var logitScale: Float { head.value[0] }
    public var logitBias: Float { head.value[1] }

    // MARK: weights

    /// Takes over a trained model without the mesh branch (fine-tuning run 3 into a mesh model): every
    /// tensor of equal name and shape is copied, and the fusion layer's new input columns (the mesh
    /// branch's) start at zero, so the model begins as exactly the one it came from and the new
    /// branch's weight grows only as far as the loss asks.
    public func adopt(_ other: SyncNet) {
        let theirs = Dictionary(other.namedTensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        for (name, t) in namedTensors {
            guard let o = theirs[name] else { continue }
            if o.shape == t.shape {
                t.copy(from: o)
            } else if name == "fuse.0.weight", o.shape.count == 2, t.shape.count == 2, o.shape[0] == t.shape[0], o.shape[1] < t.shape[1] {
                let rows = t.shape[0], wide = t.shape[1], narrow = o.shape[1]
                t.fill(0)
                for r in 0..<rows { (t.data + r * wide).update(from: o.data + r * narrow, count: narrow) }
            }
        }
        normalisesGeometry = other.normalisesGeometry
    }

    public func save(to path: String, metadata: [String: String] = [:]) throws {
        var meta = metadata
        meta["inputs"] = usesMesh ? Self.meshInputsTag : (usesGeometry ? "pixels+lips" : "pixels")
        meta["geometry"] = normalisesGeometry ? Self.windowNormalisedTag : "raw"
        try saveWeights(to: path, metadata: meta)
    }

    /// Loads weights written by `save` (either variant, from the file's `inputs` tag), in `mode`
    /// (default inference).
    public convenience init(contentsOf path: String, mode: ModelMode = .inference) throws {
        let f = try SafetensorsFile(path: path)
        self.init(usesGeometry: f.metadata["inputs"] != "pixels", usesMesh: f.metadata["inputs"] == Self.meshInputsTag)
        normalisesGeometry = f.metadata["geometry"] == Self.windowNormalisedTag
        try loadWeights(from: path)
        setMode(mode)
    }
}

/// Row-wise L2 normalisation in place, so cosine similarity becomes a dot product.
func normalizeRows(_ t: Tensor) {
    let d = t.count / t.n
    for i in 0..<t.n {
        let row = t.data + i * d
        var s: Float = 0
        for j in 0..<d { s += row[j] * row[j] }
        let inv = 1 / max(s.squareRoot(), 1e-8)
        for j in 0..<d { row[j] *= inv }
    }
}
