import Audio
import Foundation
import NN
import Sync
import Training

/// One batch: `windows` runs of 5 consecutive frames (the sync expert judges 5-frame windows),
/// each frame with its masked crop + reference, its mel window, and the real lower half.
public struct PaintBatch {
    /// [W*5, 6, 128, 128]: masked crop, reference.
    public let face: Tensor
    /// [W*5, 1, 80, 16].
    public let mel: Tensor
    /// [W*5, 3, 64, 128]: the true lower halves.
    public let target: Tensor
    /// [W, 1, 80, 16]: each window's sync-expert audio (the 0.2 s starting at its first frame).
    public let expertMel: Tensor
}

/// The generator's training, as an objective with two phases: the critic learns real from painted
/// lower halves, then the generator learns to paint against it. Generator losses (all measured
/// on the painted lower half):
/// - reconstruction: L1 to the true lower half;
/// - perceptual: L1 between the critic's features of the painted and the true halves (feature
///   matching; the critic is the only face-trained feature network we have beside FaceMesh);
/// - adversarial: BCE of the critic towards "real";
/// - sync: BCE towards "in sync" of the frozen pixel-only sync expert on the painted mouth window
///   and its audio, switched on from `syncFrom` steps (Wav2Lip adds it once reconstruction is
///   reasonable).
public final class GeneratorObjective: Objective {
    public struct Options: Sendable {
        public var windows = 2
        public var generatorLearningRate: Float = 4e-4
        public var criticLearningRate: Float = 2e-4
        public var perceptualWeight: Float = 0.3
        public var adversarialWeight: Float = 0.05
        public var syncWeight: Float = 0.03
        /// Optimiser steps before the sync loss joins.
        public var syncFrom = 500
        public var seed: UInt64 = 1
        public var augmentation = CropAugmentation.light
        /// BatchNorm on its running statistics while the weights train. Fine-tuning on one person
        /// with a few windows per step needs it: batch statistics of 10 near-identical frames are far
        /// from the ones the painter meets at inference, and the weights learn to lean on them.
        public var frozenNormalisation = false
        public init() {}
    }

    public let generator: MouthPainter
    public let critic: QualityCritic
    public let expert: SyncNet?
    public let options: Options
    let generatorOptimizer: Adam, criticOptimizer: Adam
    public var rng: SeededRandom
    let train: [FaceClip], heldOut: [FaceClip]
    let windows: [(clip: Int, start: Int)]
    let batch: PaintBatch
    private(set) var steps = 0
    let mouth = ExpertMouth()
    // Scratch for losses.
    let gradPaint = Tensor(shape: [1]), gradLogit = Tensor(shape: [1]), logit = Tensor(shape: [1])
    var realFeatures: [Tensor] = []

    public init(generator: MouthPainter, critic: QualityCritic, expert: SyncNet?, train: [FaceClip], heldOut: [FaceClip], options: Options) {
        (self.generator, self.critic, self.expert, self.train, self.heldOut, self.options) = (generator, critic, expert, train, heldOut, options)
        rng = SeededRandom(seed: options.seed)
        generatorOptimizer = Adam(parameters: generator.parameters, learningRate: options.generatorLearningRate, betas: (0.5, 0.999))
        criticOptimizer = Adam(parameters: critic.parameters, learningRate: options.criticLearningRate, betas: (0.5, 0.999))
        windows = train.enumerated().flatMap { k, c in c.windowStarts.map { (k, $0) } }
        let n = options.windows * 5, s = MouthPainter.size
        batch = PaintBatch(face: Tensor(shape: [n, 6, s, s]), mel: Tensor(shape: [n, 1, 80, 16]),
                           target: Tensor(shape: [n, 3, s - MouthPainter.paintTop, s]), expertMel: Tensor(shape: [options.windows, 1, 80, 16]))
        expert?.setMode(.frozen)
    }

    public var trainingWindows: Int { windows.count }
    public var models: [any Model] { [generator, critic] }
    public var optimizers: [NamedOptimizer] {
        [NamedOptimizer(name: "critic", optimizer: criticOptimizer, peakLearningRate: options.criticLearningRate, clipNorm: 5),
         NamedOptimizer(name: "generator", optimizer: generatorOptimizer, peakLearningRate: options.generatorLearningRate, clipNorm: 5)]
    }
    public var samplesPerStep: Int { options.windows * 5 }
    public var state: [String: String] { ["rng": String(rng.state), "objective_steps": String(steps)] }
    public func restore(state: [String: String]) {
        if let s = state["rng"], let v = UInt64(s) { rng.state = v }
        if let s = state["objective_steps"], let v = Int(s) { steps = v }
    }

    public func nextBatch() -> PaintBatch {
        fill(clips: train, windows: windows, augmentation: options.augmentation, rng: &rng)
        return batch
    }

    public func step(_ b: PaintBatch, phase: String) -> [String: Float] {
        phase == "critic" ? criticStep(b) : generatorStep(b)
    }

    var painted: Tensor?

    func criticStep(_ b: PaintBatch) -> [String: Float] {
        generator.setMode(trainingMode)
        let fake = generator.forward(face: b.face, mel: b.mel)
        painted = fake
        guard options.adversarialWeight > 0 || options.perceptualWeight > 0 else { return [:] }
        let n = fake.n
        let real = critic.forward(b.target).logits
        let lr = Loss.bceWithLogits(real, target: [Float](repeating: 1, count: n), grad: gradLogit)
        critic.backward(logits: gradLogit)
        let f = critic.forward(fake).logits
        let lf = Loss.bceWithLogits(f, target: [Float](repeating: 0, count: n), grad: gradLogit)
        critic.backward(logits: gradLogit)
        return ["critic": (lr + lf) / 2]
    }

    func generatorStep(_ b: PaintBatch) -> [String: Float] {
        guard let fake = painted else { return [:] }
        let n = fake.n
        var losses: [String: Float] = [:]
        // Reconstruction.
        let l1 = Loss.l1(fake, target: b.target, grad: gradPaint)
        losses["l1"] = l1
        let total = gradPaint.clone()
        let w1 = 1 - options.adversarialWeight - options.syncWeight * (syncActive ? 1 : 0)
        for i in 0..<total.count { total.data[i] *= w1 }
        // Critic: the true halves' features, then the painted half's logit and features.
        if options.adversarialWeight > 0 || options.perceptualWeight > 0 {
            let realOut = critic.forward(b.target)
            realFeatures = realOut.features.map { $0.clone() }
            let out = critic.forward(fake)
            let adv = Loss.bceWithLogits(out.logits, target: [Float](repeating: 1, count: n), grad: gradLogit)
            losses["adversarial"] = adv
            for i in 0..<gradLogit.count { gradLogit.data[i] *= options.adversarialWeight }
            var extra: [Tensor?] = []
            if options.perceptualWeight > 0 {
                var perceptual: Float = 0
                for (k, feat) in out.features.enumerated() {
                    let g = Tensor(shape: feat.shape)
                    perceptual += Loss.l1(feat, target: realFeatures[k], grad: g) / Float(out.features.count)
                    for i in 0..<g.count { g.data[i] *= options.perceptualWeight / Float(out.features.count) }
                    extra.append(g)
                }
                losses["perceptual"] = perceptual
            }
            let dFake = critic.backward(logits: gradLogit, features: extra)
            for i in 0..<total.count { total.data[i] += dFake.data[i] }
        }
        // Sync expert on each painted window.
        if syncActive, let expert {
            let crops = mouth.forward(fake, windows: options.windows)
            let v = expert.embedVisual(crops: crops, geometry: mouth.noGeometry(options.windows))
            let a = expert.embedAudio(mel: b.expertMel)
            let cos = CosineSimilarity().forward(v, a)
            logit.reshape([cos.count])
            for i in 0..<cos.count { logit[i] = expert.logitScale * cos[i] + expert.logitBias }
            let ls = Loss.bceWithLogits(logit, target: [Float](repeating: 1, count: cos.count), grad: gradLogit)
            losses["sync"] = ls
            let dv = Tensor(shape: [1]), da = Tensor(shape: [1])
            CosineSimilarity().backward(v, a, gradCos: (0..<cos.count).map { expert.logitScale * gradLogit[$0] * options.syncWeight },
                                        gradA: dv, gradB: da)
            let g = expert.backwardVisual(dv)
            mouth.backward(g.crops, into: total)
        }
        generator.backward(total)
        steps += 1
        return losses
    }

    /// `.frozen` keeps every BatchNorm on its running statistics; gradients and updates are unchanged.
    var trainingMode: ModelMode { options.frozenNormalisation ? .frozen : .training }

    var syncActive: Bool { expert != nil && options.syncWeight > 0 && steps >= options.syncFrom }

    // MARK: batches

    /// Fills the batch: random windows, each frame's reference a random other frame of its clip
    /// (at least 5 frames away), each window with one draw of `augmentation`.
    func fill(clips: [FaceClip], windows: [(clip: Int, start: Int)], augmentation: CropAugmentation, rng: inout SeededRandom) {
        let s = MouthPainter.size, plane = s * s, top = MouthPainter.paintTop
        for w in 0..<options.windows {
            let (ci, start) = windows[Int(rng.next() % UInt64(windows.count))]
            let clip = clips[ci]
            let look = CropLook(augmentation, rng: &rng)
            // The frame and its target share one placement; the reference, from another moment,
            // draws its own, as the tracker's alignment of two moments differs on a new face.
            let flip = augmentation != .none && rng.uniform() < 0.5
            let frameAt = CropPlacement(augmentation, flip: flip, rng: &rng), referenceAt = CropPlacement(augmentation, flip: flip, rng: &rng)
            let candidates = (0..<clip.frames).filter { clip.valid[$0] && abs($0 - start - 2) > 4 }
            let reference = candidates.isEmpty ? start : candidates[Int(rng.next() % UInt64(candidates.count))]
            for f in 0..<5 {
                let slot = w * 5 + f, frame = start + f
                let face = batch.face.data + slot * 6 * plane
                Self.render(clip.crop(frame), rows: 0..<s, into: face, look, frameAt, maskFrom: top)
                Self.render(clip.crop(reference), rows: 0..<s, into: face + 3 * plane, look, referenceAt, maskFrom: s)
                Self.render(clip.crop(frame), rows: top..<s, into: batch.target.data + slot * 3 * (s - top) * s, look, frameAt, maskFrom: s)
                let m = clip.generatorMel(frame: frame)
                (batch.mel.data + slot * m.count).update(from: m, count: m.count)
            }
            let em = clip.mel.window(start: MelFrames.windowStart(frame: start, fps: clip.fps))
            (batch.expertMel.data + w * em.count).update(from: em, count: em.count)
        }
    }

    /// Rows `rows` of an 8-bit RGB crop, placed and coloured, into planes of 0...1 (plane height:
    /// the row count; rows from `maskFrom` on set to 0: the masked half).
    static func render(_ crop: ArraySlice<UInt8>, rows: Range<Int>, into out: UnsafeMutablePointer<Float>,
                       _ look: CropLook, _ at: CropPlacement, maskFrom: Int) {
        let s = MouthPainter.size, plane = rows.count * s
        let c = Double(s - 1) / 2
        crop.withUnsafeBufferPointer { px in
            @inline(__always) func value(_ x: Int, _ y: Int, _ ch: Int) -> Float { Float(px[(y * s + x) * 3 + ch]) }
            for y in rows {
                let o = (y - rows.lowerBound) * s
                for x in 0..<s {
                    guard y < maskFrom else {
                        for ch in 0..<3 { out[ch * plane + o + x] = 0 }
                        continue
                    }
                    let mx = Double(at.flip ? s - 1 - x : x)
                    var rgb: (Float, Float, Float)
                    if at.isIdentity {
                        let i = Int(mx)
                        rgb = (value(i, y, 0), value(i, y, 1), value(i, y, 2))
                    } else {
                        let t = Bilinear(clamping: c + (mx - c) / at.scale - at.dx, c + (Double(y) - c) / at.scale - at.dy, width: s, height: s)
                        func tap(_ ch: Int) -> Float { t.mix(value(t.x0, t.y0, ch), value(t.x1, t.y0, ch), value(t.x0, t.y1, ch), value(t.x1, t.y1, ch)) }
                        rgb = (tap(0), tap(1), tap(2))
                    }
                    let v = look.apply(rgb.0 / 255, rgb.1 / 255, rgb.2 / 255)
                    out[o + x] = v.0; out[plane + o + x] = v.1; out[2 * plane + o + x] = v.2
                }
            }
        }
    }

    // MARK: held-out

    /// Held-out L1 and PSNR of the painted lower half with the clip's own audio, on fixed windows
    /// (no augmentation), in inference mode.
    public func evaluate() -> [String: Double] {
        let held = heldOut.enumerated().flatMap { k, c in c.windowStarts.map { (k, $0) } }
        guard !held.isEmpty else { return [:] }
        generator.setMode(.inference)
        defer { generator.setMode(trainingMode) }
        var r = SeededRandom(seed: 777)
        var l1 = 0.0, mse = 0.0, count = 0
        let target = Tensor(shape: [1])
        for _ in 0..<6 {
            fill(clips: heldOut, windows: held, augmentation: .none, rng: &r)
            target.copy(from: batch.target)
            let out = generator.forward(face: batch.face, mel: batch.mel)
            for i in 0..<out.count {
                let d = Double(out.data[i] - target.data[i])
                l1 += abs(d); mse += d * d
            }
            count += out.count
        }
        return ["heldout_l1": l1 / Double(count), "heldout_psnr_lower": 10 * log10(1 / max(mse / Double(count), 1e-10))]
    }
}

/// The sync expert's view of painted lower halves: each frame's 32 x 64 grey mouth crop in the
/// template frame (the same geometry as `MouthFeatures`), normalised over its 5-frame window; with
/// the backward of each step, so the expert's judgement reaches the painted pixels.
final class ExpertMouth {
    let crops = Tensor(shape: [1])
    private var stats: [(mean: Float, inv: Float, clamped: Bool)] = []
    private let empty = Tensor(shape: [1])

    /// Where mouth pixel (u, v) samples the painted half: template (0.5 + (u - 31.5) s, 0.76 + (v - 15.5) s),
    /// s = 0.6 / 64, times 128, minus the painted half's first row.
    @inline(__always)
    static func position(_ u: Int, _ v: Int) -> (x: Double, y: Double) {
        let step = 0.6 / 64 * Double(MouthPainter.size)
        return (0.5 * Double(MouthPainter.size) + (Double(u) - 31.5) * step,
                0.76 * Double(MouthPainter.size) + (Double(v) - 15.5) * step - Double(MouthPainter.paintTop))
    }

    func noGeometry(_ windows: Int) -> Tensor { empty.reshape([windows, SyncNet.geometryFeatures]); return empty }

    func forward(_ painted: Tensor, windows: Int) -> Tensor {
        let w = MouthFeatures.width, h = MouthFeatures.height, pw = painted.w, ph = painted.h, plane = pw * ph
        crops.reshape([windows, 5, h, w])
        stats.removeAll()
        for win in 0..<windows {
            let out = crops.data + win * 5 * w * h
            for f in 0..<5 {
                let src = painted.data + (win * 5 + f) * 3 * plane
                for v in 0..<h {
                    for u in 0..<w {
                        let p = Self.position(u, v)
                        let r = Bilinear.sample(src, width: pw, height: ph, x: p.x, y: p.y)
                        let g = Bilinear.sample(src + plane, width: pw, height: ph, x: p.x, y: p.y)
                        let b = Bilinear.sample(src + 2 * plane, width: pw, height: ph, x: p.x, y: p.y)
                        out[f * w * h + v * w + u] = 255 * (0.299 * r + 0.587 * g + 0.114 * b)
                    }
                }
            }
            // MouthFeatures.normalize, remembering what its backward needs.
            let n = 5 * w * h
            var mean: Float = 0
            for i in 0..<n { mean += out[i] }
            mean /= Float(n)
            var v: Float = 0
            for i in 0..<n { v += (out[i] - mean) * (out[i] - mean) }
            let sd = (v / Float(n)).squareRoot(), clamped = sd < 2
            let inv = 1 / max(sd, 2)
            for i in 0..<n { out[i] = (out[i] - mean) * inv }
            stats.append((mean, inv, clamped))
        }
        return crops
    }

    /// Adds dL/d(painted) to `grad` from dL/d(normalised crops).
    func backward(_ dy: Tensor, into grad: Tensor) {
        let w = MouthFeatures.width, h = MouthFeatures.height, pw = grad.w, ph = grad.h, plane = pw * ph
        let n = 5 * w * h
        for (win, s) in stats.enumerated() {
            let y = crops.data + win * n, g = dy.data + win * n
            var mg: Float = 0, mgy: Float = 0
            for i in 0..<n { mg += g[i]; mgy += g[i] * y[i] }
            mg /= Float(n); mgy /= Float(n)
            for f in 0..<5 {
                let dst = grad.data + (win * 5 + f) * 3 * plane
                for v in 0..<h {
                    for u in 0..<w {
                        let i = f * w * h + v * w + u
                        // y = (x - mean) / sd: dx = (g - mean(g) - y mean(g y)) / sd; clamped sd is a constant.
                        let dx = s.clamped ? (g[i] - mg) * s.inv : (g[i] - mg - y[i] * mgy) * s.inv
                        let p = Self.position(u, v)
                        Bilinear.accumulate(255 * 0.299 * dx, into: dst, width: pw, height: ph, x: p.x, y: p.y)
                        Bilinear.accumulate(255 * 0.587 * dx, into: dst + plane, width: pw, height: ph, x: p.x, y: p.y)
                        Bilinear.accumulate(255 * 0.114 * dx, into: dst + 2 * plane, width: pw, height: ph, x: p.x, y: p.y)
                    }
                }
            }
        }
    }
}

/// How training crops are varied. One identity is all the painter trains on, so `full` imitates what
/// differs on a new face: its lighting and camera (colour casts, saturation down to black and white)
/// and where the tracker's alignment puts its mouth (scale and shift).
public enum CropAugmentation: String, Sendable, CaseIterable {
    /// Crops as cached.
    case none
    /// Brightness, contrast and a horizontal flip, shared by a window (runs 1 to 3; the default).
    case light
    /// `light`, plus per-channel gains of ±8 % and saturation 0.5–1.3 (black and white one window in
    /// ten): other light and other cameras, with the crop where the tracker put it.
    case colour
    /// `colour`, plus a scale of ±6 % with a shift of ±3 pixels. Run 4 (Models/generator.md): better on
    /// CREMA-D, worse on GRID's new faces; not the default.
    case full
}

/// One window's colour: out = clamp(gain_c · (luma + saturation · (v − luma)) + offset).
struct CropLook {
    var gains: (Float, Float, Float) = (1, 1, 1)
    var saturation: Float = 1
    var offset: Float = 0

    init(_ a: CropAugmentation, rng: inout SeededRandom) {
        guard a != .none else { return }
        let gain = 0.8 + 0.4 * rng.uniform()
        offset = (rng.uniform() - 0.5) * 0.16
        gains = (gain, gain, gain)
        guard a == .full || a == .colour else { return }
        func cast() -> Float { gain * (1 + 0.16 * (rng.uniform() - 0.5)) }
        gains = (cast(), cast(), cast())
        saturation = rng.uniform() < 0.1 ? 0 : 0.5 + 0.8 * rng.uniform()
    }

    @inline(__always)
    func apply(_ r: Float, _ g: Float, _ b: Float) -> (Float, Float, Float) {
        let l = 0.299 * r + 0.587 * g + 0.114 * b
        @inline(__always) func one(_ v: Float, _ k: Float) -> Float { min(1, max(0, k * (l + saturation * (v - l)) + offset)) }
        return (one(r, gains.0), one(g, gains.1), one(b, gains.2))
    }
}

/// Where a crop lands: output pixel p samples the cached crop at centre + (p − centre) / scale − shift,
/// after an optional mirror (shared by a window's frames and reference, so the reference's own
/// asymmetries stay usable).
struct CropPlacement {
    var flip = false
    var scale = 1.0, dx = 0.0, dy = 0.0

    init(_ a: CropAugmentation, flip: Bool, rng: inout SeededRandom) {
        self.flip = flip
        guard a == .full else { return }
        scale = 0.94 + 0.12 * Double(rng.uniform())
        dx = 6 * Double(rng.uniform()) - 3
        dy = 6 * Double(rng.uniform()) - 3
    }

    var isIdentity: Bool { scale == 1 && dx == 0 && dy == 0 }
}
