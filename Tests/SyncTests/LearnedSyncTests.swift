import Audio
import Foundation
import Media
import NN
import Training
import XCTest
@testable import Sync

final class LearnedSyncTests: XCTestCase {
    let media = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/media")

    func testMirroredLipOrderSwapsCornersAndKeepsTheMidline() {
        let m = MouthFeatures.mirroredLipOrder, idx = MouthFeatures.lipIndices
        XCTAssertEqual(m.count, 40)
        for p in 0..<40 { XCTAssertEqual(m[m[p]], p) }
        XCTAssertEqual(idx[m[idx.firstIndex(of: 61)!]], 291)   // outer corners
        XCTAssertEqual(idx[m[idx.firstIndex(of: 78)!]], 308)   // inner corners
        for mid in [0, 17, 13, 14] { XCTAssertEqual(idx[m[idx.firstIndex(of: mid)!]], mid) }
    }

    /// A synthetic clip: random crops and lips, and a mel whose content follows the crops' brightness,
    /// so there is something to learn.
    func syntheticClip(frames: Int, seed: UInt64) -> ClipFeatures {
        var rng = SeededRandom(seed: seed)
        let level = (0..<frames).map { _ in rng.uniform() }
        var crops = [Float](), geometry = [Float]()
        for f in 0..<frames {
            for _ in 0..<ClipFeatures.cropSize { crops.append(255 * level[f] * (0.5 + 0.5 * rng.uniform())) }
            for _ in 0..<MouthFeatures.geometryCount { geometry.append(level[f] + 0.1 * rng.normal()) }
        }
        let columns = MelFrames.windowStart(frame: frames, fps: 25) + 16
        var mel = [Float]()
        for t in 0..<columns {
            let f = min(frames - 1, Int(Double(t) * 25 / 80))
            for _ in 0..<80 { mel.append(8 * level[f] - 4 + 0.2 * rng.normal()) }
        }
        return ClipFeatures(path: "synthetic\(seed)", fps: 25, frames: frames, crops: crops, geometry: geometry,
                            valid: [Bool](repeating: true, count: frames), mel: MelFrames(nMels: 80, values: mel))
    }

    func trainer(steps: Int, augment: Bool = false, seed: UInt64 = 7) -> Trainer<SyncObjective> {
        var o = SyncObjective.Options()
        o.batch = 8
        o.learningRate = 2e-3
        o.augment = augment
        o.seed = seed
        let clips = [syntheticClip(frames: 40, seed: 1), syntheticClip(frames: 40, seed: 2)]
        let objective = SyncObjective(model: SyncNet(seed: seed), train: clips, heldOut: [syntheticClip(frames: 30, seed: 3)], options: o)
        var loop = Trainer<SyncObjective>.Options()
        loop.steps = steps
        loop.warmup = 1
        loop.printsProgress = false
        return Trainer(objective: objective, options: loop)
    }

    /// Every part of the model the towers and the cosine head add (concat/split, the scaled-cosine
    /// logit) against central differences of the loss.
    func testGradientsMatchFiniteDifferences() {
        let t = trainer(steps: 1).objective
        t.fillBatch(clips: t.train, windows: t.windows, augment: false, rng: &t.rng)
        let params = Dictionary(uniqueKeysWithValues: t.model.parameters.map { ($0.name, $0) })
        let probes: [(String, Int)] = [("head", 0), ("head", 1), ("fuse.1.weight", 5), ("fuse.0.weight", 1030), ("fuse.0.weight", 3),
                                       ("lips.0.weight", 17), ("audio.6.weight", 9), ("audio.5.bias", 2), ("visual.5.conv.weight", 11),
                                       ("audio.2.conv.weight", 4), ("visual.3.conv.weight", 21), ("visual.2.bn.weight", 3)]
        // Not the towers' first layers: every ReLU and BatchNorm of a tower sits downstream of their
        // weights, so central differences cross kinks at any usable step (measured: visual.0 and
        // audio.0 disagree by 30-50 % in some batches; Conv2d alone is checked in NNTests).
        for (name, i) in probes {
            guard let p = params[name] else { return XCTFail("no parameter \(name)") }
            _ = t.computeGradients()
            let analytic = p.grad[i]
            let original = p.value[i], h: Float = 2e-3
            p.value[i] = original + h
            let up = t.computeGradients().exactLoss
            p.value[i] = original - h
            let down = t.computeGradients().exactLoss
            p.value[i] = original
            let numeric = Float((up - down) / Double(2 * h))
            // 10 %: kinks downstream move the numeric value by a few per cent; a wrong gradient is off by far more.
            XCTAssertEqual(analytic, numeric, accuracy: max(2e-4, 0.1 * abs(numeric)), "\(name)[\(i)]")
        }
    }

    func testSmokeTrainingLowersHeldOutLossAndResumesBitForBit() throws {
        let t = trainer(steps: 60)
        let before = t.objective.evaluateHeldOut(pairBatches: 4).pairLoss
        for _ in 0..<40 { t.trainStep() }
        let after = t.objective.evaluateHeldOut(pairBatches: 4).pairLoss
        XCTAssertLessThan(after, before - 0.05, "held-out pair loss \(before) -> \(after)")

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lipsync-train-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ckpt = dir.appendingPathComponent("c.safetensors").path
        try t.saveCheckpoint(to: ckpt)
        let next = (0..<3).map { _ in t.trainStep()["loss"]! }
        let resumed = trainer(steps: 60, seed: 7)
        XCTAssertEqual(try resumed.resume(from: ckpt), 40)
        XCTAssertEqual((0..<3).map { _ in resumed.trainStep()["loss"]! }, next)

        // The exported model loads in inference mode and embeds like the trainer's model does.
        let out = dir.appendingPathComponent("m.safetensors").path
        let model = t.objective.model
        try model.save(to: out)
        let loaded = try SyncNet(contentsOf: out)
        model.setTraining(false)
        let a = LearnedSync.audioEmbeddings(t.objective.heldOut[0].mel, fps: 25, model: model)
        let b = LearnedSync.audioEmbeddings(t.objective.heldOut[0].mel, fps: 25, model: loaded)
        XCTAssertEqual(a.count, b.count)
        for k in 0..<a.count { XCTAssertEqual(a[k], b[k], accuracy: 1e-5) }
    }

    func testAugmentedBatchesAreFiniteAndNormalised() {
        let t = trainer(steps: 1, augment: true).objective
        let batch = t.nextBatch()
        let plane = SyncNet.frames * MouthFeatures.width * MouthFeatures.height
        for i in 0..<8 {
            let w = UnsafeBufferPointer(start: batch.crops.data + i * plane, count: plane)
            XCTAssertTrue(w.allSatisfy(\.isFinite))
            XCTAssertEqual(Double(w.reduce(0, +)) / Double(plane), 0, accuracy: 1e-3)
        }
        XCTAssertTrue(batch.mel.values.allSatisfy { $0 >= -4 && $0 <= 4 })
        XCTAssertEqual(batch.labels.filter { $0 == 1 }.count, 4)
    }

    /// Each acoustic change does what its name says, on a window of speech-like bands (mid bands loud,
    /// one loud column then quiet): a telephone band takes the low and high bands down and leaves
    /// the middle, a room rings after the loud column, noise at 0 dB SNR lifts the quiet cells, and
    /// the result stays on the mel scale.
    func testAcousticAugmentationsShapeTheWindowAsNamed() {
        let cols = 16
        var w = [Float](repeating: -3.5, count: 80 * cols)
        for m in 0..<80 { w[m * cols + 2] = 0 }   // one loud column, every band
        func apply(_ a: Augmentation.Acoustics) -> [Float] {
            var out = w
            var rng = SeededRandom(seed: 3)
            out.withUnsafeMutableBufferPointer { Augmentation.acoustics($0.baseAddress!, count: w.count, a, rng: &rng) }
            XCTAssertTrue(out.allSatisfy { $0.isFinite && $0 >= -4 && $0 <= 4 })
            return out
        }
        var rng = SeededRandom(seed: 1)
        var none = Augmentation.Acoustics(rng: &rng)
        none.reverb = nil; none.band = nil; none.noise = nil; none.tilt = 0
        let same = apply(none)
        for k in 0..<w.count { XCTAssertEqual(same[k], w[k], accuracy: 1e-4) }

        var phone = none
        phone.band = (300, 3400)
        let p = apply(phone)
        let low = Augmentation.bandCentres.firstIndex { $0 > 100 }!, mid = Augmentation.bandCentres.firstIndex { $0 > 1000 }!
        let high = Augmentation.bandCentres.firstIndex { $0 > 6500 }!
        XCTAssertLessThan(p[low * cols + 2], -0.5)
        XCTAssertLessThan(p[high * cols + 2], -0.5)
        XCTAssertEqual(p[mid * cols + 2], 0, accuracy: 1e-4)

        var room = none
        room.reverb = (decay: powf(10, -6 * 0.0125 / 0.6), level: 1)
        let r = apply(room)
        XCTAssertGreaterThan(r[mid * cols + 4], w[mid * cols + 4] + 0.5)   // the tail after the loud column
        XCTAssertGreaterThan(r[mid * cols + 4], r[mid * cols + 14])          // and it decays

        var noisy = none
        noisy.noise = ([Float](repeating: 1, count: 80), 0, true)
        let n = apply(noisy)
        XCTAssertGreaterThan(n[mid * cols + 10], w[mid * cols + 10] + 1)
    }

    /// With same-speaker negatives, other-clip audio comes from the same directory and never from
    /// the clip itself.
    func testSameSpeakerNegativesStayWithTheSpeaker() {
        var clips = (0..<4).map { syntheticClip(frames: 30, seed: UInt64($0) + 40) }
        for k in 0..<4 { clips[k].path = "/data/\(k < 2 ? "a" : "b")/clip\(k).mp4" }
        let windows = SyncObjective.windows(of: clips)
        let pools = SyncObjective.sameSpeakerWindows(clips: clips, windows: windows)
        XCTAssertEqual(pools.count, 4)
        for c in 0..<4 {
            XCTAssertFalse(pools[c].isEmpty)
            for i in pools[c] { XCTAssertEqual(windows[i].clip, c < 2 ? 1 - c : 5 - c) }
        }
    }

    func testWeightsFromAnotherModelAreRefused() throws {
        let facemesh = media.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Models/facemesh.safetensors").path
        XCTAssertThrowsError(try SyncNet(contentsOf: facemesh))
    }

    /// The streamed audio pass (small chunks, columns dropped as windows pass) embeds exactly what
    /// the whole-clip computation does.
    func testStreamedAudioEmbeddingsMatchTheWholeClip() throws {
        let model = SyncNet(seed: 5)
        model.setTraining(false)
        let path = media.appendingPathComponent("grid_talk.mp4").path
        let streamed = try AudioPass.run(path: path, fps: 25, model: model, chunk: 7000)
        let whole = LearnedSync.audioEmbeddings(SpeechEnergy.mel.compute(try AudioReader.decodeAll(path: path)), fps: 25, model: model)
        XCTAssertEqual(streamed.embeddings.count, whole.count)
        XCTAssertGreaterThan(whole.count, 70 * SyncNet.embedding)
        for k in 0..<whole.count { XCTAssertEqual(streamed.embeddings[k], whole[k], accuracy: 1e-4) }
    }

    /// A frozen SyncNet is a differentiable loss: the gradient of BCE-towards-in-sync reaches the
    /// input pixels (and the mel and the lips), and matches central differences.
    func testFrozenModelPassesGradientsToItsInputPixels() {
        let t = trainer(steps: 1).objective
        let batch = t.nextBatch()
        for _ in 0..<3 { _ = t.backward(batch) }    // some running statistics away from their initial values
        let model = t.model
        model.setMode(.frozen)
        let target = [Float](repeating: 1, count: 8)
        let logits = Tensor(shape: [8]), dz = Tensor(shape: [8])
        let dv = Tensor(shape: [1]), da = Tensor(shape: [1])
        func loss(gradients: Bool) -> (loss: Double, crops: [Float], mel: [Float]) {
            let v = model.embedVisual(crops: batch.crops, geometry: batch.geometry)
            let a = model.embedAudio(mel: batch.mel)
            let cos = CosineSimilarity().forward(v, a)
            for i in 0..<8 { logits[i] = model.logitScale * cos[i] + model.logitBias }
            let l = Loss.bceWithLogitsExact(logits, target: target, grad: dz)
            guard gradients else { return (l, [], []) }
            CosineSimilarity().backward(v, a, gradCos: (0..<8).map { model.logitScale * dz[$0] }, gradA: dv, gradB: da)
            let g = model.backwardVisual(dv)
            let gm = model.backwardAudio(da)
            return (l, g.crops.values, gm.values)
        }
        let analytic = loss(gradients: true)
        XCTAssertEqual(analytic.crops.count, batch.crops.count)
        XCTAssertGreaterThan(analytic.crops.map(abs).max()!, 0, "no gradient reached the pixels")
        XCTAssertGreaterThan(analytic.mel.map(abs).max()!, 0, "no gradient reached the mel")
        // Frozen: the running statistics do not move.
        let mean = model.buffers[0].tensor.values
        _ = loss(gradients: false)
        XCTAssertEqual(model.buffers[0].tensor.values, mean)
        var rng = SeededRandom(seed: 3)
        var checked = 0
        for _ in 0..<12 {
            let i = Int(rng.next() % UInt64(batch.crops.count))
            let original = batch.crops[i], h: Float = 1e-2
            batch.crops[i] = original + h
            let up = loss(gradients: false).loss
            batch.crops[i] = original - h
            let down = loss(gradients: false).loss
            batch.crops[i] = original
            let numeric = Float((up - down) / Double(2 * h))
            XCTAssertEqual(analytic.crops[i], numeric, accuracy: max(2e-5, 0.1 * abs(numeric)), "pixel \(i)")
            checked += 1
        }
        XCTAssertEqual(checked, 12)
    }

    /// Methods are an enum: every method has a threshold, and a misspelt name does not compile.
    func testEveryMethodHasAMismatchThreshold() {
        let d = SyncDetector()
        for m in SyncMethod.allCases { XCTAssertGreaterThan(d.mismatchConfidence(for: m), 0, m.rawValue) }
        XCTAssertEqual(SyncMethod(rawValue: "learnd"), nil)
    }
}
