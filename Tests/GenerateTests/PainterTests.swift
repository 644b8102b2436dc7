import Audio
import Foundation
import Media
import NN
import Training
import Vision
import XCTest
@testable import Generate
@testable import Sync

final class PainterTests: XCTestCase {
    static let media = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/media")

    /// Shapes: the painter maps [N, 6, 128, 128] and [N, 1, 80, 16] to [N, 3, 64, 128] in 0...1.
    func testPainterShapes() {
        let g = MouthPainter(seed: 3)
        var rng = SeededRandom(seed: 1)
        let face = Tensor(shape: [2, 6, 128, 128]), mel = Tensor(shape: [2, 1, 80, 16])
        for i in 0..<face.count { face[i] = rng.uniform() }
        for i in 0..<mel.count { mel[i] = rng.normal() }
        let y = g.forward(face: face, mel: mel)
        XCTAssertEqual(y.shape, [2, 3, 64, 128])
        XCTAssertTrue(y.values.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    /// The U-Net's backward (skips cut to the lower half, the tiled audio, the bottleneck) against
    /// central differences of a squared loss, on parameters of every part (not the first block: every
    /// ReLU of the network sits downstream of it, so differences cross kinks at any usable step).
    func testPainterGradientsMatchFiniteDifferences() {
        let g = MouthPainter(seed: 4)
        g.setMode(.frozen)   // running statistics: the loss is a smooth function of one batch
        var rng = SeededRandom(seed: 2)
        let face = Tensor(shape: [1, 6, 128, 128]), mel = Tensor(shape: [1, 1, 80, 16]), target = Tensor(shape: [1, 3, 64, 128])
        for i in 0..<face.count { face[i] = rng.uniform() }
        for i in 0..<mel.count { mel[i] = rng.normal() }
        for i in 0..<target.count { target[i] = rng.uniform() }
        let grad = Tensor(shape: [1])
        func loss() -> Double {
            let y = g.forward(face: face, mel: mel)
            var s = 0.0
            for i in 0..<y.count { let d = Double(y[i] - target[i]); s += d * d }
            return s / Double(y.count)
        }
        let params = Dictionary(uniqueKeysWithValues: g.parameters.map { ($0.name, $0) })
        g.parameters.forEach { $0.grad.zero() }
        let y = g.forward(face: face, mel: mel)
        grad.reshape(y.shape)
        for i in 0..<y.count { grad[i] = 2 * (y[i] - target[i]) / Float(y.count) }
        g.backward(grad)
        for name in ["out.weight", "dec.17.conv.weight", "dec.15.conv.weight", "dec.13.conv.weight", "enc.6.conv.weight", "enc.4.conv.weight",
                     "enc.2.conv.weight", "audio.fc.weight", "audio.9.conv.weight"] {
            guard let p = params[name] else { return XCTFail("no parameter \(name): \(params.keys.sorted())") }
            let i = p.value.count / 3, original = p.value[i], h: Float = 1e-2
            p.value[i] = original + h
            let up = loss()
            p.value[i] = original - h
            let down = loss()
            p.value[i] = original
            let numeric = Float((up - down) / Double(2 * h))
            XCTAssertEqual(p.grad[i], numeric, accuracy: max(2e-6, 0.1 * abs(numeric)), name)
        }
    }

    /// The expert's view of a painted half: sampling, grey, window normalisation, and their backward.
    func testExpertMouthBackwardMatchesFiniteDifferences() {
        var rng = SeededRandom(seed: 5)
        let painted = Tensor(shape: [5, 3, 64, 128])
        for i in 0..<painted.count { painted[i] = rng.uniform() }
        let mouth = ExpertMouth()
        let weights = (0..<(5 * 32 * 64)).map { _ in rng.normal() }
        func loss() -> Double {
            let c = mouth.forward(painted, windows: 1)
            return (0..<c.count).reduce(0.0) { $0 + Double(c[$1] * weights[$1]) }
        }
        _ = loss()
        let dy = Tensor(shape: [1, 5, 32, 64], values: weights), grad = Tensor(shape: painted.shape)
        mouth.backward(dy, into: grad)
        var checked = 0
        for _ in 0..<200 where checked < 8 {
            let i = Int(rng.next() % UInt64(painted.count))
            guard abs(grad[i]) > 1e-3 else { continue }
            let original = painted[i], h: Float = 1e-2
            painted[i] = original + h
            let up = loss()
            painted[i] = original - h
            let down = loss()
            painted[i] = original
            XCTAssertEqual(grad[i], Float((up - down) / Double(2 * h)), accuracy: max(1e-2, 0.05 * abs(grad[i])), "pixel \(i)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 3)
    }

    /// Synthetic clips whose lower face brightness follows the audio level: something to learn.
    func syntheticClip(frames: Int, seed: UInt64) -> FaceClip {
        var rng = SeededRandom(seed: seed)
        let level = (0..<frames).map { _ in rng.uniform() }
        var crops = [UInt8](repeating: 0, count: frames * FaceClip.cropBytes)
        for f in 0..<frames {
            for y in 0..<128 {
                for x in 0..<128 {
                    let v: Float = y < 64 ? 0.6 : 0.2 + 0.6 * level[f]
                    for c in 0..<3 { crops[f * FaceClip.cropBytes + (y * 128 + x) * 3 + c] = UInt8(255 * v * (0.9 + 0.1 * rng.uniform())) }
                }
            }
        }
        let columns = MelFrames.windowStart(frame: frames, fps: 25) + 16
        var mel = [Float]()
        for t in 0..<columns { let f = min(frames - 1, Int(Double(t) * 25 / 80) + 1); for _ in 0..<80 { mel.append(8 * level[f] - 4) } }
        return FaceClip(path: "synthetic\(seed)", fps: 25, frames: frames, crops: crops, valid: [Bool](repeating: true, count: frames),
                        mel: MelFrames(nMels: 80, values: mel))
    }

    /// A tiny run of the generator objective (critic and generator alternating) lowers the held-out L1,
    /// and its checkpoint with two optimisers resumes bit for bit.
    func testTinyTrainingLowersHeldOutL1AndResumes() throws {
        func make() -> Trainer<GeneratorObjective> {
            var o = GeneratorObjective.Options()
            o.windows = 1
            o.augmentation = .none
            o.generatorLearningRate = 3e-3
            o.criticLearningRate = 1e-3
            // Reconstruction alone: the critic's losses are tested by the resume below and the CLI run.
            o.adversarialWeight = 0
            o.perceptualWeight = 0
            let objective = GeneratorObjective(generator: MouthPainter(seed: 1), critic: QualityCritic(seed: 2), expert: nil,
                                               train: [syntheticClip(frames: 12, seed: 1)], heldOut: [syntheticClip(frames: 12, seed: 3)], options: o)
            var loop = Trainer<GeneratorObjective>.Options()
            loop.steps = 40
            loop.warmup = 1
            loop.printsProgress = false
            return Trainer(objective: objective, options: loop)
        }
        let t = make()
        let before = t.objective.evaluate()["heldout_l1"]!
        for _ in 0..<30 { t.trainStep() }
        let after = t.objective.evaluate()["heldout_l1"]!
        XCTAssertLessThan(after, before * 0.8, "held-out L1 \(before) -> \(after)")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gen-ckpt-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try t.saveCheckpoint(to: path)
        let next = (0..<2).map { _ in t.trainStep() }
        let resumed = make()
        XCTAssertEqual(try resumed.resume(from: path), 30)
        XCTAssertEqual((0..<2).map { _ in resumed.trainStep() }, next)
    }

    /// A mouth shows its detail; a flat patch over it (a hand, a phone) does not, and the painting
    /// fades out with what is left of it.
    func testHiddenMouthIsNotPainted() throws {
        let reader = try VideoReader(path: Self.media.appendingPathComponent("grid_face.mp4").path)
        var image = RGBImage.empty
        _ = try reader.readFrame(into: &image)
        let tracker = try FaceTracker()
        guard let face = (tracker.push(image, frame: 0, time: 0) + tracker.finish()).first?.faces.first else { return XCTFail("no face") }
        let (crop, t) = Compositor.crop(image, landmarks: face.landmarks)
        let mask = Compositor.mask(landmarks: face.landmarks, transform: t)
        XCTAssertEqual(Compositor.mouthVisibility(crop: crop, reference: crop, mask: mask), 1)
        var covered = crop
        for y in 56..<128 { for x in 16..<112 { for c in 0..<3 { covered.pixels[(y * 128 + x) * 3 + c] = [196, 150, 130][c] } } }
        XCTAssertEqual(Compositor.mouthVisibility(crop: covered, reference: crop, mask: mask), 0)
        // A softened frame (a small blur, as out of focus) still counts as a mouth.
        var soft = crop
        for y in 1..<127 {
            for x in 1..<127 {
                for c in 0..<3 {
                    let at = { (dx: Int, dy: Int) in Int(crop.pixels[((y + dy) * 128 + x + dx) * 3 + c]) }
                    soft.pixels[(y * 128 + x) * 3 + c] = UInt8((4 * at(0, 0) + at(-1, 0) + at(1, 0) + at(0, -1) + at(0, 1)) / 8)
                }
            }
        }
        XCTAssertEqual(Compositor.mouthVisibility(crop: soft, reference: crop, mask: mask), 1)
        let compositor = Compositor(painter: MouthPainter(seed: 9))
        var frame = image
        FaceCrop.paste(covered, mask: mask, into: &frame, t, original: crop)
        let occludedFrame = frame
        XCTAssertNil(compositor.apply(to: &frame, landmarks: face.landmarks, reference: crop, mel: [Float](repeating: 0, count: 80 * 16)))
        XCTAssertEqual(frame, occludedFrame, "a hidden mouth is left as it came")
    }

    /// Paste-back changes only pixels under the mask; a frame without the chosen face comes back untouched.
    func testOnlyMaskedPixelsChangeAndFacelessFramesPassThrough() throws {
        let reader = try VideoReader(path: Self.media.appendingPathComponent("grid_face.mp4").path)
        var image = RGBImage.empty
        _ = try reader.readFrame(into: &image)
        let tracker = try FaceTracker()
        let faces = tracker.push(image, frame: 0, time: 0) + tracker.finish()
        guard let face = faces.first?.faces.first else { return XCTFail("no face in the fixture") }
        let compositor = Compositor(painter: MouthPainter(seed: 9))
        let (crop, t) = Compositor.crop(image, landmarks: face.landmarks)
        var painted = image
        compositor.apply(to: &painted, landmarks: face.landmarks, reference: crop, mel: [Float](repeating: 0, count: 80 * 16))
        let mask = Compositor.mask(landmarks: face.landmarks, transform: t)
        var changed = 0
        for y in 0..<image.height {
            for x in 0..<image.width {
                let o = (y * image.width + x) * 3
                guard painted.pixels[o..<(o + 3)] != image.pixels[o..<(o + 3)] else { continue }
                changed += 1
                let c = t.apply(SIMD2(Double(x), Double(y)))
                XCTAssertTrue(c.x >= 0 && c.y >= 0 && c.x <= 127 && c.y <= 127, "pixel \(x),\(y) changed outside the crop")
                if c.x >= 0 && c.y >= 0 && c.x <= 127 && c.y <= 127 {
                    XCTAssertGreaterThan(mask.withUnsafeBufferPointer { Bilinear.sample($0.baseAddress!, width: 128, height: 128, x: c.x, y: c.y) }, 0, "pixel \(x),\(y) changed outside the mask")
                }
            }
        }
        XCTAssertGreaterThan(changed, 100)
        // No face (or another track's): the frame is returned as it came.
        let audio = Self.media.appendingPathComponent("grid_face.mp4").path
        let dubber = MouthDubber(compositor: compositor, track: 7, mel: try StreamingMel(path: audio, fps: 25))
        let frame = FrameFaces(frame: 0, time: 0, sceneCut: false, faces: faces.first!.faces, image: image)
        XCTAssertEqual(try dubber.render(frame)?.image, image)
        XCTAssertNil(try dubber.render(frame)?.face)
        XCTAssertEqual(dubber.untouched, 2)
        // The baselines run through the same decisions: copied returns the frame as it came (with the
        // face it would have painted), reference pastes the static mouth under the same mask only.
        for rendering in [MouthDubber.Rendering.copied, .reference] {
            let baseline = MouthDubber(compositor: compositor, track: nil, mel: try StreamingMel(path: audio, fps: 25), rendering: rendering)
            guard let r = try baseline.render(frame) else { return XCTFail("no picture") }
            XCTAssertEqual(r.face?.track, face.track)
            XCTAssertEqual(baseline.painted, 1)
            var outside = 0, inside = 0
            for y in 0..<image.height {
                for x in 0..<image.width {
                    let o = (y * image.width + x) * 3
                    guard r.image.pixels[o..<(o + 3)] != image.pixels[o..<(o + 3)] else { continue }
                    let c = t.apply(SIMD2(Double(x), Double(y)))
                    let inCrop = c.x >= 0 && c.y >= 0 && c.x <= 127 && c.y <= 127
                    let m: Float = inCrop ? mask.withUnsafeBufferPointer { Bilinear.sample($0.baseAddress!, width: 128, height: 128, x: c.x, y: c.y) } : 0
                    if m > 0 { inside += 1 } else { outside += 1 }
                }
            }
            XCTAssertEqual(outside, 0, "\(rendering): pixels changed outside the mask")
            // The reference is the frame's own crop here, so only rounding of the round trip moves pixels.
            if rendering == .copied { XCTAssertEqual(inside, 0) }
        }
    }

    /// Ping-pong playback: forward, then back without repeating the end frame, for as long as asked.
    /// Every interior pixel of `img` through the detail matches' unsharp mask at one amount: the most
    /// a match capped at that amount can do.
    static func unsharpEverywhere(_ img: RGBImage, amount: Float) -> RGBImage {
        var out = img
        img.pixels.withUnsafeBufferPointer { src in
            for y in 1..<(img.height - 1) { for x in 1..<(img.width - 1) { for c in 0..<3 {
                out.pixels[(y * img.width + x) * 3 + c] = Compositor.unsharp(src, width: img.width, x: x, y: y, channel: c, amount: amount)
            } } }
        }
        return out
    }

    /// Detail restoration sharpens a soft painting towards the original's detail, never past its cap
    /// (`Compositor.maxDetailAmount`), touches nothing outside the mask, and leaves a painting as
    /// detailed as the original alone.
    func testDetailRestorationSharpensTowardsTheOriginal() {
        let s = 128
        var rng = SeededRandom(seed: 5)
        var original = RGBImage(width: s, height: s)
        for i in 0..<original.pixels.count { original.pixels[i] = UInt8(80 + Int(rng.next() % 96)) }
        // The soft painting: the original through a 3 x 3 box blur.
        var soft = original
        for y in 1..<(s - 1) {
            for x in 1..<(s - 1) {
                for c in 0..<3 {
                    var sum = 0
                    for dy in -1...1 { for dx in -1...1 { sum += Int(original.pixels[((y + dy) * s + x + dx) * 3 + c]) } }
                    soft.pixels[(y * s + x) * 3 + c] = UInt8(sum / 9)
                }
            }
        }
        let mask = (0..<(s * s)).map { $0 / s >= 64 ? Float(1) : 0 }
        func laplacianVariance(_ img: RGBImage) -> Double {
            GenerationEvaluation.laplacianVariance(GenerationEvaluation.grey(img), mask: mask, size: s)
        }
        var restored = soft
        Compositor.matchDetail(&restored, to: original, mask: mask)
        XCTAssertGreaterThan(laplacianVariance(restored), 1.5 * laplacianVariance(soft))
        let capped = Self.unsharpEverywhere(soft, amount: Compositor.maxDetailAmount)
        XCTAssertLessThanOrEqual(laplacianVariance(restored), 1.01 * laplacianVariance(capped), "never past the cap")
        XCTAssertEqual(Array(restored.pixels[0..<(64 * s * 3)]), Array(soft.pixels[0..<(64 * s * 3)]), "outside the mask")
        var same = original
        Compositor.matchDetail(&same, to: original, mask: mask)
        XCTAssertEqual(same.pixels, original.pixels)
    }

    /// Painted lips on black-and-white film come out grey: the painted chroma is scaled to the
    /// original crop's under the mask, never up, and nothing outside the mask changes.
    func testSaturationFollowsTheFramesOwn() {
        let s = 32
        var rng = SeededRandom(seed: 3)
        var grey = RGBImage(width: s, height: s), pink = RGBImage(width: s, height: s)
        for i in 0..<(s * s) {
            let v = UInt8(60 + Int(rng.next() % 120))
            for c in 0..<3 { grey.pixels[i * 3 + c] = v }
            pink.pixels[i * 3] = UInt8(min(255, Int(v) + 40)); pink.pixels[i * 3 + 1] = v; pink.pixels[i * 3 + 2] = UInt8(min(255, Int(v) + 10))
        }
        let mask = (0..<(s * s)).map { $0 / s >= 16 ? Float(1) : 0 }
        var painted = pink
        Compositor.matchSaturation(&painted, to: grey, mask: mask)
        for i in (16 * s)..<(s * s) {
            let p = painted.pixels[(i * 3)..<(i * 3 + 3)]
            XCTAssertLessThanOrEqual(Int(p.max()!) - Int(p.min()!), 1, "grey under the mask at \(i)")
        }
        XCTAssertEqual(Array(painted.pixels[0..<(16 * s * 3)]), Array(pink.pixels[0..<(16 * s * 3)]), "outside the mask")
        // A frame at least as colourful leaves the painting as it is.
        var again = pink
        Compositor.matchSaturation(&again, to: pink, mask: mask)
        XCTAssertEqual(again.pixels, pink.pixels)
    }

    /// The detail matches solve for the unsharp amount: a target made from the same picture by an
    /// unsharp mask of a known amount gives that amount back, a target no sharper gives 0, and one
    /// far sharper gives the cap.
    func testUnsharpAmountIsSolvedFromTheTarget() {
        let w = 60, h = 40
        var rng = SeededRandom(seed: 12)
        // A soft texture: noise through a 3 x 3 box blur.
        let noise = (0..<(w * h)).map { _ in Float(80 + Int(rng.next() % 96)) }
        var v = noise
        for y in 1..<(h - 1) { for x in 1..<(w - 1) {
            var sum: Float = 0
            for dy in -1...1 { for dx in -1...1 { sum += noise[(y + dy) * w + x + dx] } }
            v[y * w + x] = sum / 9
        } }
        let weight = (0..<(w * h)).map { k in k % w > 0 && k % w < w - 1 && k / w > 0 && k / w < h - 1 ? Float(1) : 0 }
        // Only pixels whose neighbours all got the mask, so that L(target) = L(v) + a L(v − blur v) holds exactly.
        let measured = (0..<(w * h)).map { k in k % w > 1 && k % w < w - 2 && k / w > 1 && k / w < h - 2 }
        func sharpened(_ a: Float) -> [Float] {
            var out = v
            for y in 1..<(h - 1) { for x in 1..<(w - 1) {
                let k = y * w + x
                let blurred = (4 * v[k] + 2 * (v[k - 1] + v[k + 1] + v[k - w] + v[k + w]) + v[k - w - 1] + v[k - w + 1] + v[k + w - 1] + v[k + w + 1]) / 16
                out[k] = v[k] + a * (v[k] - blurred)
            } }
            return out
        }
        for a0: Float in [0.3, 0.8, 1.7] {
            let a = Compositor.solvedUnsharpAmount(v, target: sharpened(a0), weight: weight, measured: measured, width: w, height: h, maxAmount: 2)
            XCTAssertEqual(a, a0, accuracy: 1e-3, "amount \(a0)")
        }
        XCTAssertEqual(Compositor.solvedUnsharpAmount(v, target: v, weight: weight, measured: measured, width: w, height: h, maxAmount: 2), 0)
        XCTAssertEqual(Compositor.solvedUnsharpAmount(v, target: noise, weight: weight, measured: measured, width: w, height: h, maxAmount: 1), 1)
    }

    /// The detail match in the frame: a pasted mouth softer than the frame's own is sharpened
    /// towards it (never past the cap), nothing outside the paste's box changes, and a
    /// frame that is as sharp as before is left alone.
    func testFrameDetailMatchSharpensOnlyThePastedRegion() {
        let w = 200, h = 160, s = MouthPainter.size
        var rng = SeededRandom(seed: 9)
        var before = RGBImage(width: w, height: h)
        for i in 0..<before.pixels.count { before.pixels[i] = UInt8(70 + Int(rng.next() % 110)) }
        // The crop maps frame pixels 20...148 (x) and 10...138 (y) to 0...128, scale 1.
        let t = SimilarityTransform(a: 1, b: 0, tx: -20, ty: -10)
        let mask = (0..<(s * s)).map { ($0 / s >= 64 && $0 % s > 8 && $0 % s < 120) ? Float(1) : 0 }
        var soft = before
        for y in 75..<147 {
            for x in 30..<138 {
                for c in 0..<3 {
                    var sum = 0
                    for dy in -1...1 { for dx in -1...1 { sum += Int(before.pixels[((y + dy) * w + x + dx) * 3 + c]) } }
                    soft.pixels[(y * w + x) * 3 + c] = UInt8(sum / 9)
                }
            }
        }
        func variance(_ img: RGBImage) -> Double {
            var v: [Double] = []
            for y in 80..<140 { for x in 35..<130 {
                func g(_ xx: Int, _ yy: Int) -> Double { Double(img.pixels[(yy * w + xx) * 3 + 1]) }
                v.append(4 * g(x, y) - g(x - 1, y) - g(x + 1, y) - g(x, y - 1) - g(x, y + 1))
            } }
            let m = v.reduce(0, +) / Double(v.count)
            return v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)
        }
        var sharpened = soft
        Compositor.matchFrameDetail(&sharpened, before: before, mask: mask, transform: t)
        XCTAssertGreaterThan(variance(sharpened), 1.5 * variance(soft))
        XCTAssertLessThanOrEqual(variance(sharpened), 1.01 * variance(Self.unsharpEverywhere(soft, amount: Compositor.maxDetailAmount)))
        for y in 0..<h { for x in 0..<w where y < 70 || x < 25 || x > 150 {
            XCTAssertEqual(sharpened[x, y].g, soft[x, y].g, "outside the mask at \(x), \(y)")
        } }
        var same = before
        Compositor.matchFrameDetail(&same, before: before, mask: mask, transform: t)
        XCTAssertEqual(same.pixels, before.pixels)
    }

    /// `generate --track auto` follows the speaker across cuts: in each frame the preferred face in
    /// view, listeners never, unjudged faces after judged ones and the largest first.
    func testFaceChoicePicksThePreferredFaceInView() {
        func face(_ track: Int, size: Double) -> FaceObservation {
            FaceObservation(track: track, box: [0, 0, size, size], landmarks: [], rawLandmarks: [], mouthOpening: 0, mouthWidth: 0,
                            presence: 1, interpolated: false)
        }
        let faces = [face(0, size: 40), face(1, size: 90), face(2, size: 60)]
        XCTAssertEqual(FaceChoice.largestFace.pick(faces)?.track, 1)
        XCTAssertEqual(FaceChoice.track(2).pick(faces)?.track, 2)
        XCTAssertNil(FaceChoice.track(5).pick(faces))
        let choice = FaceChoice(excluded: [1], rank: [0: 2.4, 2: 0.7])
        XCTAssertEqual(choice.pick(faces)?.track, 0, "the speaking face, though smaller")
        XCTAssertEqual(choice.pick([faces[1], faces[2]])?.track, 2, "a listener is never painted")
        XCTAssertNil(choice.pick([faces[1]]))
        XCTAssertEqual(choice.pick([face(7, size: 200), faces[2]])?.track, 2, "a judged face before an unjudged one")
        XCTAssertEqual(choice.pick([face(7, size: 20), face(8, size: 30)])?.track, 8, "a new track after a cut is painted")
        XCTAssertNil(choice.pick([]))
    }

    func testPingPongPlaysForwardAndBack() throws {
        let path = Self.media.appendingPathComponent("grid_face.mp4").path
        let p = try PingPongFrames(path: path, count: 120, bufferBytes: 20 * 360 * 288 * 3)
        var image = RGBImage.empty
        var times: [Double] = []
        while let t = try p.readFrame(into: &image) { times.append(t.sourceTime) }
        XCTAssertEqual(times.count, 120)
        XCTAssertEqual(p.sourceFrames, 50)
        let frames = times.map { Int(($0 * 25).rounded()) }
        XCTAssertEqual(Array(frames[0..<50]), Array(0..<50))
        XCTAssertEqual(Array(frames[50..<99]), Array((0...48).reversed()))
        XCTAssertEqual(Array(frames[99..<120]), Array(1...21))
    }
}
