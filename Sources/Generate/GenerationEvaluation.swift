import Foundation
import Media
import NN
import Sync
import Vision

/// Measures of a dubbed clip against the real one, in the aligned crop of the real face (so every
/// measure looks at the same mouth-and-jaw region, whatever the frame size). Clips are short (an
/// evaluation set): frames are held in memory here, unlike `lipsync generate`.
public enum GenerationEvaluation {
    /// What one rendering of one clip scores. Ratios are output over real (1 is the real video's).
    public struct Measures: Codable, Sendable {
        public var clip: String
        public var dataset: String
        public var speech: String
        public var method: String
        public var frames: Int
        /// Own-audio reconstruction, mouth-and-jaw region.
        public var psnr: Double?
        public var ssim: Double?
        /// Mean distance of the 40 FaceMesh lip points, % of the inter-ocular distance.
        public var lmd: Double?
        /// Mean absolute frame-to-frame change inside the region, output / real.
        public var flickerRatio: Double?
        /// Mean |second difference| of the lip points, output / real.
        public var jitterRatio: Double?
        /// Variance of the Laplacian inside the region, output / real.
        public var sharpnessRatio: Double?
        /// Gradient energy along the mask's band, output / real.
        public var seamRatio: Double?
    }

    /// One clip rendered in memory: the output frames, the real ones, and the face the dubber
    /// followed in each (nil where it painted nothing).
    public struct RenderedClip {
        public var frames: [RGBImage]
        public var real: [RGBImage]
        public var faces: [FaceObservation?]
        /// The unsmoothed landmarks, where the measures are taken.
        public var landmarks: [[SIMD3<Float>]?] { faces.map { $0?.rawLandmarks } }

        /// The lower halves of the aligned crops (at the real face) of the output, or of the real frames.
        public func mouthCrops(real useReal: Bool = false) -> [DetectionResistance.Crop] {
            zip(useReal ? real : frames, landmarks).compactMap { image, lm in
                lm.map { DetectionResistance.lowerHalf(of: FaceCrop.crop(image, FaceCrop.alignment($0, size: MouthPainter.size), size: MouthPainter.size)) }
            }
        }

        /// Mouth windows of the output (or of the real frames) and the face followed, for the sync model's visual tower.
        public func mouthWindows(real useReal: Bool = false) -> [(image: RGBImage, face: FaceObservation)?] {
            zip(useReal ? real : frames, faces).map { image, face in face.map { (image, $0) } }
        }
    }

    /// Renders `video` with `speech` (its own audio for reconstruction) as `lipsync generate` does
    /// (the same per-frame decisions: `MouthDubber`), by `rendering`, in memory.
    public static func render(video: String, speech: String, painter: MouthPainter, rendering: MouthDubber.Rendering, frames count: Int) throws -> RenderedClip {
        var options = FaceTracker.Options()
        options.keepImages = true
        let playback = try PingPongFrames(path: video, count: count)
        let tracked = try TrackedVideo(source: playback, tracker: options)
        let dubber = MouthDubber(compositor: Compositor(painter: painter), track: nil,
                                 mel: try StreamingMel(path: speech, fps: playback.frameRate), rendering: rendering)
        var clip = RenderedClip(frames: [], real: [], faces: [])
        try tracked.forEachBatch { batch in
            for f in batch {
                guard let real = f.image, let r = try dubber.render(f) else { continue }
                clip.real.append(real)
                clip.frames.append(r.image)
                clip.faces.append(r.face)
            }
        }
        return clip
    }

    /// Lip landmarks of rendered frames, tracked afresh (what a viewer's face tracker would see).
    static func lips(of frames: [RGBImage]) throws -> [[SIMD3<Float>]?] {
        let tracker = try FaceTracker()
        var out: [[SIMD3<Float>]?] = []
        for (i, f) in frames.enumerated() {
            for r in tracker.push(f, frame: i, time: Double(i) / 25) { out.append(r.faces.first?.rawLandmarks) }
        }
        for r in tracker.finish() { out.append(r.faces.first?.rawLandmarks) }
        return out
    }

    /// All measures of one rendering.
    public static func measure(clip: String, speech: String, rendering: MouthDubber.Rendering, output: [RGBImage], real: [RGBImage],
                               landmarks: [[SIMD3<Float>]?], ownAudio: Bool) throws -> Measures {
        var m = Measures(clip: clip, dataset: SyncEvaluation.dataset(of: clip), speech: speech, method: rendering.rawValue, frames: output.count)
        let s = MouthPainter.size
        var se = 0.0, seCount = 0, ssimSum = 0.0, ssimCount = 0
        var flickerOut = 0.0, flickerReal = 0.0, flickerCount = 0
        var lapOut = 0.0, lapReal = 0.0, seamOut = 0.0, seamReal = 0.0
        var previous: (out: [Float], real: [Float], mask: [Float])?
        for i in 0..<min(output.count, real.count) {
            guard let lm = landmarks[i] else { previous = nil; continue }
            let t = FaceCrop.alignment(lm, size: s)
            let mask = Compositor.mask(landmarks: lm, transform: t)
            let co = grey(FaceCrop.crop(output[i], t, size: s)), cr = grey(FaceCrop.crop(real[i], t, size: s))
            if ownAudio {
                for k in 0..<mask.count where mask[k] > 0.5 { let d = Double(co[k] - cr[k]); se += d * d; seCount += 1 }
                if let v = ssim(co, cr, mask: mask, size: s) { ssimSum += v; ssimCount += 1 }
            }
            if let p = previous {
                for k in 0..<mask.count where mask[k] > 0.5 {
                    flickerOut += Double(abs(co[k] - p.out[k])); flickerReal += Double(abs(cr[k] - p.real[k])); flickerCount += 1
                }
            }
            lapOut += laplacianVariance(co, mask: mask, size: s)
            lapReal += laplacianVariance(cr, mask: mask, size: s)
            seamOut += seamEnergy(co, mask: mask, size: s)
            seamReal += seamEnergy(cr, mask: mask, size: s)
            previous = (co, cr, mask)
        }
        if ownAudio && seCount > 0 {
            let mse = se / Double(seCount)
            m.psnr = mse == 0 ? 100 : min(100, 10 * log10(255 * 255 / mse))
            m.ssim = ssimCount > 0 ? ssimSum / Double(ssimCount) : nil
        }
        if flickerCount > 0 && flickerReal > 0 { m.flickerRatio = flickerOut / flickerReal }
        if lapReal > 0 { m.sharpnessRatio = lapOut / lapReal }
        if seamReal > 0 { m.seamRatio = seamOut / seamReal }
        // Lip points of the output, tracked afresh, against the real frames' own.
        let outLips = try lips(of: output)
        var lmd = 0.0, lmdCount = 0, jitterOut = 0.0, jitterReal = 0.0
        for i in 0..<min(outLips.count, landmarks.count) {
            guard let a = outLips[i], let b = landmarks[i] else { continue }
            let iod = dist(b[33], b[263])
            guard iod > 0 else { continue }
            if ownAudio {
                var d = 0.0
                for p in MouthFeatures.lipIndices { d += dist(a[p], b[p]) }
                lmd += 100 * d / Double(MouthFeatures.lipIndices.count) / iod
                lmdCount += 1
            }
            if i >= 2, let a1 = outLips[i - 1], let a2 = outLips[i - 2], let b1 = landmarks[i - 1], let b2 = landmarks[i - 2] {
                for p in MouthFeatures.lipIndices {
                    jitterOut += secondDifference(a[p], a1[p], a2[p]) / iod
                    jitterReal += secondDifference(b[p], b1[p], b2[p]) / iod
                }
            }
        }
        if ownAudio && lmdCount > 0 { m.lmd = lmd / Double(lmdCount) }
        if jitterReal > 0 { m.jitterRatio = jitterOut / jitterReal }
        return m
    }

    static func dist(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> Double {
        let dx = Double(a.x - b.x), dy = Double(a.y - b.y)
        return (dx * dx + dy * dy).squareRoot()
    }

    static func secondDifference(_ a: SIMD3<Float>, _ b: SIMD3<Float>, _ c: SIMD3<Float>) -> Double {
        let dx = Double(a.x) - 2 * Double(b.x) + Double(c.x), dy = Double(a.y) - 2 * Double(b.y) + Double(c.y)
        return (dx * dx + dy * dy).squareRoot()
    }

    static func grey(_ img: RGBImage) -> [Float] {
        (0..<(img.width * img.height)).map { i in
            0.299 * Float(img.pixels[3 * i]) + 0.587 * Float(img.pixels[3 * i + 1]) + 0.114 * Float(img.pixels[3 * i + 2])
        }
    }

    /// Mean SSIM (8 x 8 windows, stride 4, the standard constants) over windows mostly inside the mask.
    static func ssim(_ a: [Float], _ b: [Float], mask: [Float], size: Int) -> Double? {
        let c1 = pow(0.01 * 255, 2.0), c2 = pow(0.03 * 255, 2.0)
        var total = 0.0, n = 0
        for y in stride(from: 0, through: size - 8, by: 4) {
            for x in stride(from: 0, through: size - 8, by: 4) {
                var inside = 0
                var ma = 0.0, mb = 0.0
                for yy in y..<(y + 8) { for xx in x..<(x + 8) { let k = yy * size + xx; if mask[k] > 0.5 { inside += 1 }; ma += Double(a[k]); mb += Double(b[k]) } }
                guard inside >= 48 else { continue }
                ma /= 64; mb /= 64
                var va = 0.0, vb = 0.0, cov = 0.0
                for yy in y..<(y + 8) { for xx in x..<(x + 8) { let k = yy * size + xx; let da = Double(a[k]) - ma, db = Double(b[k]) - mb; va += da * da; vb += db * db; cov += da * db } }
                va /= 63; vb /= 63; cov /= 63
                total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
                n += 1
            }
        }
        return n == 0 ? nil : total / Double(n)
    }

    static func laplacianVariance(_ g: [Float], mask: [Float], size: Int) -> Double {
        var values: [Double] = []
        for y in 1..<(size - 1) {
            for x in 1..<(size - 1) where mask[y * size + x] > 0.5 {
                let k = y * size + x
                values.append(Double(g[k - 1] + g[k + 1] + g[k - size] + g[k + size] - 4 * g[k]))
            }
        }
        guard values.count > 1 else { return 0 }
        let mean = values.reduce(0, +) / Double(values.count)
        return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
    }

    /// Mean squared gradient where the mask fades (0.2 < m < 0.8): a pasted box shows as an edge there.
    static func seamEnergy(_ g: [Float], mask: [Float], size: Int) -> Double {
        var e = 0.0, n = 0
        for y in 1..<(size - 1) {
            for x in 1..<(size - 1) where mask[y * size + x] > 0.2 && mask[y * size + x] < 0.8 {
                let k = y * size + x
                let gx = Double(g[k + 1] - g[k - 1]) / 2, gy = Double(g[k + size] - g[k - size]) / 2
                e += gx * gx + gy * gy; n += 1
            }
        }
        return n == 0 ? 0 : e / Double(n)
    }
}
