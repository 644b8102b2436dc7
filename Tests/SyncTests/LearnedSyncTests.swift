import Audio
import Foundation
import Media
import NN
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

    func trainer(steps: Int, augment: Bool = false, seed: UInt64 = 7) -> SyncTrainer {
        var o = SyncTrainer.Options()
        o.steps = steps
        o.batch = 8
        o.warmup = 1
        o.learningRate = 2e-3
        o.augment = augment
        o.seed = seed
        let clips = [syntheticClip(frames: 40, seed: 1), syntheticClip(frames: 40, seed: 2)]
        return SyncTrainer(model: SyncNet(seed: seed), train: clips, heldOut: [syntheticClip(frames: 30, seed: 3)], options: o)
    }

    /// Every part of the model the towers and the cosine head add (concat/split, the scaled-cosine
    /// logit) against central differences of the loss.
    func testGradientsMatchFiniteDifferences() {
        let t = trainer(steps: 1)
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
        let before = t.evaluate(pairBatches: 4).pairLoss
        for _ in 0..<40 { _ = t.step() }
        let after = t.evaluate(pairBatches: 4).pairLoss
        XCTAssertLessThan(after, before - 0.05, "held-out pair loss \(before) -> \(after)")

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lipsync-train-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ckpt = dir.appendingPathComponent("c.safetensors").path
        try t.saveCheckpoint(to: ckpt)
        let next = (0..<3).map { _ in t.step().loss }
        let resumed = trainer(steps: 60, seed: 7)
        XCTAssertEqual(try resumed.resume(from: ckpt), 40)
        XCTAssertEqual((0..<3).map { _ in resumed.step().loss }, next)

        // The exported model loads in inference mode and embeds like the trainer's model does.
        let out = dir.appendingPathComponent("m.safetensors").path
        try t.model.save(to: out)
        let loaded = try SyncNet(contentsOf: out)
        t.model.setTraining(false)
        let a = LearnedSync.audioEmbeddings(t.heldOut[0].mel, fps: 25, model: t.model)
        let b = LearnedSync.audioEmbeddings(t.heldOut[0].mel, fps: 25, model: loaded)
        XCTAssertEqual(a.count, b.count)
        for k in 0..<a.count { XCTAssertEqual(a[k], b[k], accuracy: 1e-5) }
    }

    func testAugmentedBatchesAreFiniteAndNormalised() {
        let t = trainer(steps: 1, augment: true)
        t.fillBatch(clips: t.train, windows: t.windows, augment: true, rng: &t.rng)
        let plane = SyncNet.frames * MouthFeatures.width * MouthFeatures.height
        for i in 0..<8 {
            let w = UnsafeBufferPointer(start: t.crops.data + i * plane, count: plane)
            XCTAssertTrue(w.allSatisfy(\.isFinite))
            XCTAssertEqual(Double(w.reduce(0, +)) / Double(plane), 0, accuracy: 1e-3)
        }
        XCTAssertTrue(t.mel.values.allSatisfy { $0 >= -4 && $0 <= 4 })
        XCTAssertEqual(t.labels.filter { $0 == 1 }.count, 4)
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
}
