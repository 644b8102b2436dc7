import Audio
import Foundation
import NN
import Training

/// One batch of sync pairs: mouth windows, their lip geometry, audio windows and labels (1: aligned).
/// The tensors belong to the objective and are refilled by each `nextBatch`.
public struct SyncBatch {
    public let crops: Tensor, geometry: Tensor, mel: Tensor
    /// FaceMesh's lip features [N, 1280] (read only by a model with `usesMesh`).
    public let mesh: Tensor
    public var labels: [Float]
}

/// Training the sync discriminator, as an objective for `Trainer`: half of each batch are aligned
/// (mouth window, audio window) pairs, half are negatives (the same clip's audio shifted by 1-12
/// frames, or another clip's audio), scored by BCE on scale * cos + bias. Augmentation is applied
/// per window (docs/sync.md).
public final class SyncObjective: Objective {
    public struct Options: Sendable {
        public var batch = 64
        public var learningRate: Float = 1e-3
        public var weightDecay: Float = 1e-4
        public var clipNorm: Float = 5
        public var seed: UInt64 = 1
        /// Share of negatives taken from another clip (the rest are same-clip shifts).
        public var otherClipNegatives = 0.35
        /// Take those other-clip negatives from the same speaker (the clip's directory) when it has
        /// several clips. Across speakers a mismatch can be told by voice and face alone, a shortcut
        /// that says nothing about timing and does not exist on the faces `detect` meets.
        public var sameSpeakerNegatives = true
        public var augment = true
        public var audioAugmentation = AudioAugmentation.acoustic
        public init() {}
    }

    /// One batch's loss, its accuracy, and the loss in Double (finite-difference checks need it).
    public struct Evaluation: Sendable {
        public var loss: Float
        public var accuracy: Float
        public var exactLoss: Double
    }

    public let model: SyncNet
    public let optimizer: Adam
    public let options: Options
    public var rng: SeededRandom
    let train: [ClipFeatures]
    let heldOut: [ClipFeatures]
    /// (clip, first frame) of every training window with its audio inside the clip.
    let windows: [WindowRef]
    /// Indices into `windows` of each clip's speaker's windows from its other clips (empty: none).
    let sameSpeakerWindows: [[Int]]
    var batch: SyncBatch
    let gradVisual = Tensor(shape: [1]), gradAudio = Tensor(shape: [1]), logits = Tensor(shape: [1]), gradLogits = Tensor(shape: [1])

    struct WindowRef { var clip: Int; var start: Int }

    public init(model: SyncNet, train: [ClipFeatures], heldOut: [ClipFeatures], options: Options) {
        self.model = model
        self.train = train
        self.heldOut = heldOut
        self.options = options
        rng = SeededRandom(seed: options.seed)
        optimizer = Adam.adamW(parameters: model.parameters, learningRate: options.learningRate, weightDecay: options.weightDecay)
        windows = Self.windows(of: train)
        sameSpeakerWindows = Self.sameSpeakerWindows(clips: train, windows: windows)
        let b = options.batch
        batch = SyncBatch(crops: Tensor(shape: [b, SyncNet.frames, MouthFeatures.height, MouthFeatures.width]),
                          geometry: Tensor(shape: [b, SyncNet.geometryFeatures]), mel: Tensor(shape: [b, 1, 80, 16]),
                          mesh: Tensor(shape: [b, SyncNet.meshFeatures]),
                          labels: [Float](repeating: 0, count: b))
    }

    static func windows(of clips: [ClipFeatures]) -> [WindowRef] {
        clips.enumerated().flatMap { (k, c) in c.windowStarts.filter { c.hasAudioWindow($0) }.map { WindowRef(clip: k, start: $0) } }
    }

    /// For each clip, the windows of the other clips in its directory (one directory, one speaker
    /// in GRID's and CREMA-D's layout).
    static func sameSpeakerWindows(clips: [ClipFeatures], windows: [WindowRef]) -> [[Int]] {
        let speaker = clips.map { ($0.path as NSString).deletingLastPathComponent }
        var bySpeaker: [String: [Int]] = [:]
        for (i, w) in windows.enumerated() { bySpeaker[speaker[w.clip], default: []].append(i) }
        return clips.indices.map { c in (bySpeaker[speaker[c]] ?? []).filter { windows[$0].clip != c } }
    }

    public var trainingWindows: Int { windows.count }

    // MARK: Objective

    public var models: [any Model] { [model] }
    public var optimizers: [NamedOptimizer] {
        [NamedOptimizer(name: "sync", optimizer: optimizer, peakLearningRate: options.learningRate, clipNorm: options.clipNorm)]
    }
    public var samplesPerStep: Int { options.batch }

    public func nextBatch() -> SyncBatch {
        fillBatch(clips: train, windows: windows, sameSpeaker: options.sameSpeakerNegatives ? sameSpeakerWindows : nil,
                  augment: options.augment, rng: &rng)
        return batch
    }

    public func step(_ batch: SyncBatch, phase: String) -> [String: Float] {
        let r = backward(batch)
        return ["loss": r.loss, "accuracy": r.accuracy]
    }

    public var state: [String: String] { ["rng": String(rng.state)] }
    public func restore(state: [String: String]) {
        if let s = state["rng"], let v = UInt64(s) { rng.state = v }
    }

    public func evaluate() -> [String: Double] {
        let h = evaluateHeldOut()
        return ["heldout_pair_loss": h.pairLoss, "heldout_pair_accuracy": h.pairAccuracy,
                "heldout_offset_exact": h.offsetExact, "heldout_offset_within_one": h.offsetWithinOne]
    }

    // MARK: forward and backward

    /// The batch's loss with every parameter's gradient accumulated (the caller zeroes them).
    func backward(_ batch: SyncBatch) -> Evaluation {
        model.setMode(.training)
        let f = forward(batch)
        CosineSimilarity().backward(f.visual, f.audio, gradCos: f.gradCosine, gradA: gradVisual, gradB: gradAudio)
        _ = model.backwardVisual(gradVisual)
        model.backwardAudio(gradAudio)
        model.head.grad[0] += f.gradScale
        model.head.grad[1] += f.gradBias
        return f.result
    }

    /// Zeroes the gradients, then `backward` (tests probe the gradients this leaves).
    func computeGradients() -> Evaluation {
        optimizer.zeroGrad()
        return backward(batch)
    }

    struct Forward {
        var result: Evaluation
        var visual: Tensor, audio: Tensor
        var gradCosine: [Float]
        var gradScale: Float, gradBias: Float
    }

    /// Embeddings, logits s * cos + b, BCE and its gradients towards the cosines and the head.
    func forward(_ batch: SyncBatch) -> Forward {
        let v = model.embedVisual(crops: batch.crops, geometry: batch.geometry, mesh: model.usesMesh ? batch.mesh : nil)
        let a = model.embedAudio(mel: batch.mel)
        let cos = CosineSimilarity().forward(v, a)
        let s = model.logitScale, b = model.logitBias
        logits.reshape([cos.count])
        for i in 0..<cos.count { logits[i] = s * cos[i] + b }
        let exact = Loss.bceWithLogitsExact(logits, target: batch.labels, grad: gradLogits)
        var dCos = [Float](repeating: 0, count: cos.count)
        var dScale: Float = 0, dBias: Float = 0, correct = 0
        for i in 0..<cos.count {
            let dz = gradLogits[i]
            dCos[i] = s * dz
            dScale += dz * cos[i]
            dBias += dz
            if (logits[i] > 0) == (batch.labels[i] > 0.5) { correct += 1 }
        }
        return Forward(result: Evaluation(loss: Float(exact), accuracy: Float(correct) / Float(cos.count), exactLoss: exact),
                       visual: v, audio: a, gradCosine: dCos, gradScale: dScale, gradBias: dBias)
    }

    // MARK: batches

    func fillBatch(clips: [ClipFeatures], windows: [WindowRef], sameSpeaker: [[Int]]? = nil, augment: Bool, rng: inout SeededRandom) {
        for i in 0..<options.batch {
            let w = windows[Int(rng.next() % UInt64(windows.count))]
            let ci = w.clip, start = w.start
            let clip = clips[ci]
            var audioClip = ci, audioFrame = start
            if i % 2 == 0 {
                batch.labels[i] = 1
            } else {
                batch.labels[i] = 0
                if clips.count > 1 && Double(rng.uniform()) < options.otherClipNegatives {
                    let pool = sameSpeaker?[ci] ?? []
                    let other = pool.isEmpty ? windows[Int(rng.next() % UInt64(windows.count))]
                                             : windows[pool[Int(rng.next() % UInt64(pool.count))]]
                    audioClip = other.clip == ci ? (ci + 1) % clips.count : other.clip
                    audioFrame = clips[audioClip].hasAudioWindow(other.start) ? other.start : 0
                } else if let s = sameClipShift(clip, start: start, rng: &rng) {
                    audioFrame = start + s
                } else {
                    audioClip = (ci + 1) % clips.count
                }
            }
            writeVisual(clip, start: start, slot: i, augment: augment, rng: &rng)
            writeAudio(clips[audioClip], frame: audioFrame, slot: i, augment: augment, rng: &rng)
        }
    }

    public struct HeldOutResult: Codable, Sendable {
        public var pairLoss: Double
        public var pairAccuracy: Double
        /// Offset search over the held-out clips, audio moved by -10...10 frames, searched over +-10.
        public var offsetExact: Double
        public var offsetWithinOne: Double
    }

    /// A negative's shift within the same clip: 1 frame in 30 % of cases, 2-3 in 30 %, 4-12 in 40 %.
    /// Without 1-frame negatives nothing ranks the true alignment above its neighbours, and offset
    /// search drifts by a frame (measured: exact-frame accuracy fell from 84 % to 60 % while
    /// within-1 stayed at 100 %).
    func sameClipShift(_ clip: ClipFeatures, start: Int, rng: inout SeededRandom) -> Int? {
        let u = rng.uniform()
        let band: ClosedRange<Int> = u < 0.3 ? 1...1 : (u < 0.6 ? 2...3 : 4...12)
        let candidates = (-12...12).filter { band.contains(abs($0)) && clip.hasAudioWindow(start + $0) }
        if !candidates.isEmpty { return candidates[Int(rng.next() % UInt64(candidates.count))] }
        let any = (-12...12).filter { $0 != 0 && clip.hasAudioWindow(start + $0) }
        return any.isEmpty ? nil : any[Int(rng.next() % UInt64(any.count))]
    }

    func writeVisual(_ clip: ClipFeatures, start: Int, slot: Int, augment: Bool, rng: inout SeededRandom) {
        let plane = MouthFeatures.width * MouthFeatures.height
        let out = batch.crops.data + slot * SyncNet.frames * plane
        let g = batch.geometry.data + slot * SyncNet.geometryFeatures
        clip.crops.withUnsafeBufferPointer { c in
            let frames = (0..<SyncNet.frames).map { c.baseAddress! + (start + $0) * ClipFeatures.cropSize }
            if augment {
                var jitter = Augmentation.VisualJitter(rng: &rng)
                for (f, p) in frames.enumerated() { Augmentation.crop(p, into: out + f * plane, jitter, rng: &rng) }
                MouthFeatures.normalize(out, count: SyncNet.frames * plane)
                jitter.flipGeometry = jitter.flip
                let src = Array(clip.geometry[(start * MouthFeatures.geometryCount)..<((start + SyncNet.frames) * MouthFeatures.geometryCount)])
                Augmentation.geometry(src, into: g, jitter, rng: &rng)
            } else {
                MouthFeatures.windowInput(frames, into: out)
                for k in 0..<SyncNet.geometryFeatures { g[k] = clip.geometry[start * MouthFeatures.geometryCount + k] }
            }
        }
        guard model.usesMesh else { return }
        // The descriptor comes from the untouched frame, so the crop's jitter cannot reach it; a
        // window-wide gain and per-value noise keep the branch from leaning on exact values of the
        // two training faces.
        let m = batch.mesh.data + slot * SyncNet.meshFeatures, base = start * ClipFeatures.meshCount
        let gain: Float = augment ? 0.85 + 0.3 * rng.uniform() : 1
        let noise: Float = augment ? 0.1 : 0
        for k in 0..<SyncNet.meshFeatures { m[k] = clip.mesh[base + k] * gain + (noise > 0 ? noise * rng.normal() : 0) }
    }

    func writeAudio(_ clip: ClipFeatures, frame: Int, slot: Int, augment: Bool, rng: inout SeededRandom) {
        let w = clip.mel.window(start: MelFrames.windowStart(frame: frame, fps: clip.fps))
        let out = batch.mel.data + slot * w.count
        if augment { Augmentation.audio(w, into: out, kind: options.audioAugmentation, rng: &rng) } else { for k in 0..<w.count { out[k] = w[k] } }
    }

    // MARK: held-out measurement

    /// Pair loss and accuracy on a fixed set of held-out batches (no augmentation), and offset search
    /// on every held-out clip for audio moved -10...10 frames (on the cached mel, by window index).
    public func evaluateHeldOut(pairBatches: Int = 8) -> HeldOutResult {
        let heldWindows = Self.windows(of: heldOut)
        model.setMode(.inference)
        defer { model.setMode(.training) }
        var loss = 0.0, acc = 0.0
        if !heldWindows.isEmpty {
            var r = SeededRandom(seed: 12345)
            for _ in 0..<pairBatches {
                fillBatch(clips: heldOut, windows: heldWindows, augment: false, rng: &r)
                let r = forward(batch).result
                loss += Double(r.loss) / Double(pairBatches)
                acc += Double(r.accuracy) / Double(pairBatches)
            }
        }
        var exact = 0, withinOne = 0, total = 0
        for clip in heldOut {
            let e = LearnedSync.embeddings(of: clip, model: model)
            guard !e.visual.isEmpty else { continue }
            for k in -10...10 {
                let curve = LearnedSync.curve(visual: e.visual, audio: e.audio, audioShift: k, vshift: 10)
                let best = curve.indices.min { curve[$0] < curve[$1] }! - 10
                total += 1
                if best == k { exact += 1 }
                if abs(best - k) <= 1 { withinOne += 1 }
            }
        }
        return HeldOutResult(pairLoss: loss, pairAccuracy: acc, offsetExact: Double(exact) / Double(max(1, total)),
                             offsetWithinOne: Double(withinOne) / Double(max(1, total)))
    }

}

/// Training-time augmentation. The crop and the lip points of one window share one draw (the face
/// moves as a whole); every window draws afresh.
enum Augmentation {
    struct VisualJitter {
        var scale: Double, angle: Double, dx: Double, dy: Double
        var flip: Bool, flipGeometry = false
        var downscale: Double?
        var blur: Bool
        var gamma: Float, noise: Float
        var stretch: (x: Float, y: Float)

        init(rng: inout SeededRandom) {
            func u(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * Double(rng.uniform()) }
            scale = u(0.88, 1.14)
            angle = u(-0.09, 0.09)
            dx = u(-4, 4)
            dy = u(-3, 3)
            flip = rng.uniform() < 0.5
            downscale = rng.uniform() < 0.4 ? u(1.5, 4) : nil
            blur = rng.uniform() < 0.2
            gamma = Float(u(0.7, 1.4))
            noise = rng.uniform() < 0.5 ? Float(u(1, 8)) : 0
            stretch = (Float(u(0.9, 1.1)), Float(u(0.85, 1.15)))
        }
    }

    static func crop(_ src: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ j: VisualJitter, rng: inout SeededRandom) {
        let w = MouthFeatures.width, h = MouthFeatures.height, sw = MouthFeatures.storedWidth, sh = MouthFeatures.storedHeight
        let c = cos(j.angle) / j.scale, s = sin(j.angle) / j.scale
        // Per-frame tracking jitter on top of the window's transform.
        let fx = Double(rng.normal()) * 0.3, fy = Double(rng.normal()) * 0.3
        func at(_ x: Double, _ y: Double) -> Float { Bilinear.sample(src, width: sw, height: sh, x: x, y: y) }
        for y in 0..<h {
            for x in 0..<w {
                let u = Double(j.flip ? w - 1 - x : x) + 0.5 - Double(w) / 2, v = Double(y) + 0.5 - Double(h) / 2
                out[y * w + x] = at(c * u - s * v + Double(sw) / 2 + j.dx + fx - 0.5, s * u + c * v + Double(sh) / 2 + j.dy + fy - 0.5)
            }
        }
        if let f = j.downscale {
            // Box-average to a coarse grid and interpolate back up: small, soft faces.
            let lw = max(8, Int(Double(w) / f)), lh = max(4, Int(Double(h) / f))
            var low = [Float](repeating: 0, count: lw * lh), cnt = [Float](repeating: 0, count: lw * lh)
            for y in 0..<h { for x in 0..<w { let k = (y * lh / h) * lw + x * lw / w; low[k] += out[y * w + x]; cnt[k] += 1 } }
            for k in 0..<low.count { low[k] /= max(1, cnt[k]) }
            low.withUnsafeBufferPointer { l in
                for y in 0..<h {
                    for x in 0..<w {
                        out[y * w + x] = Bilinear.sample(l.baseAddress!, width: lw, height: lh, x: (Double(x) + 0.5) * Double(lw) / Double(w) - 0.5,
                                                         y: (Double(y) + 0.5) * Double(lh) / Double(h) - 0.5)
                    }
                }
            }
        }
        if j.blur {
            let copy = Array(UnsafeBufferPointer(start: out, count: w * h))
            for y in 0..<h {
                for x in 0..<w {
                    var sum: Float = 0, n: Float = 0
                    for yy in max(0, y - 1)...min(h - 1, y + 1) { for xx in max(0, x - 1)...min(w - 1, x + 1) { sum += copy[yy * w + xx]; n += 1 } }
                    out[y * w + x] = sum / n
                }
            }
        }
        for k in 0..<(w * h) {
            var v = 255 * powf(max(out[k], 0) / 255, j.gamma)
            if j.noise > 0 { v += j.noise * rng.normal() }
            out[k] = v
        }
    }

    static func geometry(_ src: [Float], into out: UnsafeMutablePointer<Float>, _ j: VisualJitter, rng: inout SeededRandom) {
        let per = MouthFeatures.geometryCount, points = per / 2
        let c = Float(cos(-j.angle) * j.scale), s = Float(sin(-j.angle) * j.scale)
        let dx = Float(-j.dx / 32), dy = Float(-j.dy / 32)
        for f in 0..<(src.count / per) {
            for p in 0..<points {
                let q = j.flipGeometry ? MouthFeatures.mirroredLipOrder[p] : p
                var x = src[f * per + 2 * q] * j.stretch.x, y = src[f * per + 2 * q + 1] * j.stretch.y
                if j.flipGeometry { x = -x }
                let rx = c * x - s * y + dx, ry = s * x + c * y + dy
                out[f * per + 2 * p] = rx + 0.01 * rng.normal()
                out[f * per + 2 * p + 1] = ry + 0.01 * rng.normal()
            }
        }
    }

    /// Voice and channel changes on a band-major 80 x 16 window: a stretch of the mel axis (vocal tract
    /// length), gain, and a noise floor.
    static func mel(_ w: [Float], into out: UnsafeMutablePointer<Float>, rng: inout SeededRandom) {
        let bands = 80, cols = w.count / 80
        let ratio = rng.uniform() < 0.5 ? 0.9 + 0.2 * rng.uniform() : 1
        let gain = (rng.uniform() - 0.5) * 1.0
        let floorLevel: Float? = rng.uniform() < 0.3 ? -4 + 2 * rng.uniform() : nil
        for m in 0..<bands {
            let src = min(Float(bands - 1), Float(m) * ratio)
            let m0 = Int(src), m1 = min(m0 + 1, bands - 1), a = src - Float(m0)
            for t in 0..<cols {
                var v = w[m0 * cols + t] * (1 - a) + w[m1 * cols + t] * a + gain
                if let fl = floorLevel { v = max(v, fl + 0.15 * rng.normal()) }
                out[m * cols + t] = min(4, max(-4, v))
            }
        }
    }
}
