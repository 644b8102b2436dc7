import Audio
import Foundation
import NN

/// The generator: paints the lower half of an aligned 128 x 128 face crop so the mouth says the
/// audio window it is given.
///
/// Inputs: the crop with its lower half masked (the picture keeps eyes, nose, pose and lighting),
/// a reference crop of the same face from another moment (identity, teeth, lips' colour), both
/// RGB in 0...1, and the frame's 80 x 16 mel window. Output: the lower half (rows 64-127), RGB in
/// 0...1. A U-Net: the encoder sees the whole face, the audio vector is tiled onto its 8 x 8
/// bottleneck, and the decoder runs on the lower half only (the half that is painted), with the
/// encoder's lower-half features as skips. Sized for 2 CPU cores: ~0.7 GFLOP and ~2.96 M
/// parameters per frame (Wav2Lip's generator: 7.9 GFLOP, 36 M, at 96 x 96).
///
///   face [N,6,128,128] -> e0 16@128 -> e1 32@64 -> e2 64@32 -> e3 128@16 -> e4 192@8 ─┐
///   mel [N,1,80,16] -> audio tower -> 192, tiled 8 x 8 ──────────────────────────────┴ concat 384
///   -> d4 192@8 -> lower 4 x 8 -> (up x2, concat lower skip, conv) x 4 -> 16@64x128 -> 3, sigmoid
public final class MouthPainter: Model {
    public static let format = "lipsync-generator-1"
    public static let size = 128
    /// First painted row of the crop; the input mask covers rows paintTop..<size.
    public static let paintTop = 64
    public let scope = "generator"

    /// First mel column of the window the painter hears for frame `frame`: 0.2 s centred on it
    /// (Wav2Lip's), on the video's own frame grid. Training and generation both read it here.
    public static func melStart(frame: Int, fps: Double) -> Int {
        MelFrames.windowStart(frame: max(0, frame - 2), fps: fps)
    }
    public private(set) var mode = ModelMode.training

    let encoders: [Sequential]
    let audio: Sequential
    let bottleneck: Sequential
    let ups: [Upsample]
    let decoders: [ConvBlock]
    let output: Conv2d
    let sigmoid = Sigmoid()
    static let audioChannels = 192

    // Reused buffers: the tiled audio, the bottleneck's input, the decoders' inputs and the
    // lower halves of the skips, with their gradients.
    private let tiled = Tensor(shape: [1]), joined = Tensor(shape: [1])
    private var decoderInputs: [Tensor] = [], lowerSkips: [Tensor] = []
    private let lowerBottleneck = Tensor(shape: [1])
    private var featureShapes: [[Int]] = []
    private let dTiled = Tensor(shape: [1]), dEncoded = Tensor(shape: [1]), dBottleneck = Tensor(shape: [1])
    private var dUp: [Tensor] = [], dSkip: [Tensor] = [], dFeature: [Tensor] = []
    private let dAudio = Tensor(shape: [1])

    public init(seed: UInt64 = 1) {
        var rng = SeededRandom(seed: seed)
        var k = 0
        func b(_ cin: Int, _ cout: Int, _ prefix: String, stride: (Int, Int) = (1, 1), residual: Bool = false) -> ConvBlock {
            k += 1
            return ConvBlock(cin, cout, kernel: 3, stride: stride, padding: 1, residual: residual, name: "\(prefix).\(k)", rng: &rng)
        }
        let first = b(6, 16, "enc")
        first.computesInputGradient = false
        encoders = [Sequential([first]), Sequential([b(16, 32, "enc", stride: (2, 2))]), Sequential([b(32, 64, "enc", stride: (2, 2))]),
                    Sequential([b(64, 128, "enc", stride: (2, 2))]),
                    Sequential([b(128, 192, "enc", stride: (2, 2)), b(192, 192, "enc", residual: true)])]
        let a0 = b(1, 32, "audio", stride: (2, 1))
        a0.computesInputGradient = false
        audio = Sequential([a0, b(32, 64, "audio", stride: (2, 2)), b(64, 128, "audio", stride: (2, 2)), b(128, 128, "audio", residual: true),
                            b(128, 192, "audio", stride: (2, 2)), Flatten(), Linear(192 * 5 * 2, Self.audioChannels, name: "audio.fc", rng: &rng), ReLU()])
        bottleneck = Sequential([b(192 + Self.audioChannels, 192, "dec"), b(192, 192, "dec", residual: true)])
        ups = (0..<4).map { _ in Upsample(scale: 2) }
        decoders = [b(192 + 128, 128, "dec"), b(128 + 64, 48, "dec"), b(48 + 32, 24, "dec"), b(24 + 16, 16, "dec")]
        output = Conv2d(16, 3, kernel: (3, 3), padding: (1, 1), name: "out", rng: &rng)
        decoderInputs = (0..<4).map { _ in Tensor(shape: [1]) }
        lowerSkips = (0..<4).map { _ in Tensor(shape: [1]) }
        dUp = (0..<4).map { _ in Tensor(shape: [1]) }
        dSkip = (0..<4).map { _ in Tensor(shape: [1]) }
        dFeature = (0..<5).map { _ in Tensor(shape: [1]) }
    }

    public var parameters: [Parameter] {
        encoders.flatMap(\.parameters) + audio.parameters + bottleneck.parameters + decoders.flatMap(\.parameters) + output.parameters
    }

    public var buffers: [(name: String, tensor: Tensor)] {
        let blocks = (encoders + [audio, bottleneck]).flatMap { $0.layers.compactMap { $0 as? ConvBlock } } + decoders
        return blocks.flatMap { b -> [(name: String, tensor: Tensor)] in
            let n = b.bn.gamma.name.replacingOccurrences(of: ".weight", with: "")
            return [(name: n + ".running_mean", tensor: b.bn.runningMean), (name: n + ".running_var", tensor: b.bn.runningVar)]
        }
    }

    public func setMode(_ mode: ModelMode) {
        self.mode = mode
        (encoders + [audio, bottleneck]).forEach { $0.setMode(mode) }
        decoders.forEach { $0.setMode(mode) }
    }

    /// Painted lower halves [N, 3, 64, 128] (0...1) of `face` [N, 6, 128, 128] (masked crop,
    /// reference) for the mel windows `mel` [N, 1, 80, 16].
    public func forward(face: Tensor, mel: Tensor) -> Tensor {
        var features: [Tensor] = []
        var x = face
        for e in encoders { x = e.forward(x); features.append(x) }
        featureShapes = features.map(\.shape)
        let a = audio.forward(mel)
        let n = face.n, c = Self.audioChannels, hw = x.h * x.w
        tiled.reshape([n, c, x.h, x.w])
        for i in 0..<n { for ch in 0..<c { (tiled.data + (i * c + ch) * hw).update(repeating: a.data[i * c + ch], count: hw) } }
        TensorOps.concatChannels([x, tiled], into: joined)
        let d = bottleneck.forward(joined)
        Self.lowerHalf(d, into: lowerBottleneck)
        var y = lowerBottleneck
        for level in 0..<4 {
            let skip = features[3 - level]
            Self.lowerHalf(skip, into: lowerSkips[level])
            TensorOps.concatChannels([ups[level].forward(y), lowerSkips[level]], into: decoderInputs[level])
            y = decoders[level].forward(decoderInputs[level])
        }
        return sigmoid.forward(output.forward(y))
    }

    /// Accumulates parameter gradients from dL/d(painted lower half).
    public func backward(_ dy: Tensor) {
        var g = output.backward(sigmoid.backward(dy))
        for k in 0..<5 { dFeature[k].reshape(featureShapes[k]); dFeature[k].zero() }
        for level in (0..<4).reversed() {
            let dIn = decoders[level].backward(g)
            let skip = lowerSkips[level]
            dUp[level].reshape([dIn.n, dIn.c - skip.c, dIn.h, dIn.w])
            dSkip[level].reshape(skip.shape)
            TensorOps.splitChannels(dIn, into: [dUp[level], dSkip[level]])
            Self.addLowerHalf(dSkip[level], into: dFeature[3 - level])
            g = ups[level].backward(dUp[level])
        }
        let shape = featureShapes[4]
        dBottleneck.reshape([shape[0], shape[1], shape[2], shape[3]])
        dBottleneck.zero()
        Self.addLowerHalf(g, into: dBottleneck)
        let dJoined = bottleneck.backward(dBottleneck)
        dEncoded.reshape(shape)
        dTiled.reshape([shape[0], Self.audioChannels, shape[2], shape[3]])
        TensorOps.splitChannels(dJoined, into: [dEncoded, dTiled])
        let n = shape[0], c = Self.audioChannels, hw = shape[2] * shape[3]
        dAudio.reshape([n, c])
        for i in 0..<(n * c) {
            var s: Float = 0
            let p = dTiled.data + i * hw
            for j in 0..<hw { s += p[j] }
            dAudio.data[i] = s
        }
        _ = audio.backward(dAudio)
        for i in 0..<dEncoded.count { dFeature[4].data[i] += dEncoded.data[i] }
        var up: Tensor? = nil
        for k in (0..<5).reversed() {
            let total = dFeature[k]
            if let u = up { for i in 0..<total.count { total.data[i] += u.data[i] } }
            up = encoders[k].backward(total)
        }
    }

    /// Rows h/2..<h of every channel.
    static func lowerHalf(_ x: Tensor, into out: Tensor) {
        let h = x.h, w = x.w, top = h / 2
        out.reshape([x.n, x.c, h - top, w])
        for p in 0..<(x.n * x.c) {
            (out.data + p * (h - top) * w).update(from: x.data + p * h * w + top * w, count: (h - top) * w)
        }
    }

    /// Adds a lower-half gradient into the full-height gradient's rows h/2..<h.
    static func addLowerHalf(_ g: Tensor, into full: Tensor) {
        let h = full.h, w = full.w, top = h / 2
        for p in 0..<(full.n * full.c) {
            let dst = full.data + p * h * w + top * w, src = g.data + p * (h - top) * w
            for i in 0..<((h - top) * w) { dst[i] += src[i] }
        }
    }

    public func save(to path: String, metadata: [String: String] = [:]) throws { try saveWeights(to: path, metadata: metadata) }

    public convenience init(contentsOf path: String, mode: ModelMode = .inference) throws {
        self.init()
        try loadWeights(from: path)
        setMode(mode)
    }
}

/// The quality discriminator: is this painted lower half a real one? A small LeakyReLU
/// convolution stack (no normalisation, as Wav2Lip's) whose intermediate features also serve the
/// perceptual loss (feature matching): there are no ImageNet weights here, and these features are
/// learned on faces.
public final class QualityCritic: Model {
    public static let format = "lipsync-critic-1"
    public let scope = "critic"
    public private(set) var mode = ModelMode.training
    let convs: [Conv2d]
    let acts: [LeakyReLU]
    let head: Conv2d
    private var dFeatures: [Tensor] = []

    public init(seed: UInt64 = 2) {
        var rng = SeededRandom(seed: seed)
        let widths = [3, 16, 32, 64, 128]
        convs = (0..<4).map { Conv2d(widths[$0], widths[$0 + 1], kernel: (3, 3), stride: (2, 2), padding: (1, 1), name: "critic.\($0)", rng: &rng) }
        acts = (0..<4).map { _ in LeakyReLU(slope: 0.2) }
        head = Conv2d(128, 1, kernel: (4, 8), name: "critic.head", rng: &rng)
        dFeatures = (0..<4).map { _ in Tensor(shape: [1]) }
    }

    public var parameters: [Parameter] { convs.flatMap(\.parameters) + head.parameters }
    public var buffers: [(name: String, tensor: Tensor)] { [] }
    public func setMode(_ mode: ModelMode) { self.mode = mode }

    /// Logits [N] and the four feature maps of `x` [N, 3, 64, 128]; both stay valid until the next forward.
    public func forward(_ x: Tensor) -> (logits: Tensor, features: [Tensor]) {
        var y = x
        var features: [Tensor] = []
        for (c, a) in zip(convs, acts) { y = a.forward(c.forward(y)); features.append(y) }
        return (head.forward(y), features)
    }

    /// dL/dx from dL/d(logits) and optional dL/d(feature k), for the last forward.
    @discardableResult
    public func backward(logits dz: Tensor, features extra: [Tensor?] = []) -> Tensor {
        var g = head.backward(dz)
        for k in (0..<4).reversed() {
            if k < extra.count, let e = extra[k] {
                dFeatures[k].copy(from: g)
                for i in 0..<g.count { dFeatures[k].data[i] += e.data[i] }
                g = dFeatures[k]
            }
            g = convs[k].backward(acts[k].backward(g))
        }
        return g
    }
}
