import Audio
import Foundation
import Media
import NN
import Vision

/// Paints one face in one frame and puts it back so the seam does not show: the aligned crop
/// goes through the painter, the painted lower half is colour-matched to the original across the
/// mask's band, and is blended back through the inverse similarity transform with a feathered
/// mouth-and-jaw mask, keeping the frame's own fine detail wherever the painting agrees with the
/// original (`FaceCrop.paste(_:mask:into:_:original:)`, Catmull-Rom), and the painted mouth's
/// detail is matched to the frame's own twice: in the crop, and in the frame after the paste. Only
/// pixels under the mask change.
public final class Compositor {
    public let painter: MouthPainter
    public static let feather = 8
    private let face = Tensor(shape: [1, 6, MouthPainter.size, MouthPainter.size])
    private let mel = Tensor(shape: [1, 1, 80, 16])

    /// Seconds spent in the painter's forward pass so far.
    public private(set) var paintSeconds = 0.0

    public init(painter: MouthPainter) {
        self.painter = painter
        painter.setMode(.inference)
    }

    /// The largest unsharp amount either detail match uses: at most tripling the detail. With the
    /// amount solved, a cap of 1 left CREMA-D's mouths at 0.78 of the real video's sharpness; 2
    /// brought them to 0.86, and the model card's 22 clips from 0.89 to 0.91, for 0.02–0.05 dB
    /// (`docs/generate.md`).
    public static let maxDetailAmount: Float = 2

    /// An L1-trained painter averages what it is unsure of, so its mouth is softer than the face it
    /// goes into. This restores the frame's own level of detail: an unsharp mask (3 x 3 binomial blur)
    /// on the painted pixels under the mask, with the amount solved so that the variance of the
    /// Laplacian there matches the original crop's (the real mouth of this very frame, so this
    /// video's sharpness, not a fixed one), at most tripling the detail (`maxDetailAmount`).
    public static func matchDetail(_ painted: inout RGBImage, to original: RGBImage, mask: [Float]) {
        let s = painted.width
        var weight = [Float](repeating: 0, count: s * s)
        for y in 1..<(s - 1) { for x in 1..<(s - 1) where mask[y * s + x] > 0 { weight[y * s + x] = 1 } }
        let amount = solvedUnsharpAmount(GenerationEvaluation.grey(painted), target: GenerationEvaluation.grey(original), weight: weight,
                                         measured: mask.map { $0 > 0.5 }, width: s, height: s, maxAmount: maxDetailAmount)
        guard amount > 0 else { return }
        let source = painted.pixels
        source.withUnsafeBufferPointer { src in
            for y in 1..<(s - 1) {
                for x in 1..<(s - 1) where mask[y * s + x] > 0 {
                    for c in 0..<3 { painted.pixels[(y * s + x) * 3 + c] = unsharp(src, width: s, x: x, y: y, channel: c, amount: amount) }
                }
            }
        }
    }

    /// One channel of the detail matches' unsharp mask at (x, y) of an interleaved RGB buffer `width`
    /// pixels wide: v + amount · (v − 3 × 3 binomial blur of v), rounded and clamped.
    @inline(__always)
    static func unsharp(_ src: UnsafeBufferPointer<UInt8>, width: Int, x: Int, y: Int, channel c: Int, amount: Float) -> UInt8 {
        func at(_ xx: Int, _ yy: Int) -> Float { Float(src[(yy * width + xx) * 3 + c]) }
        let blurred = (4 * at(x, y) + 2 * (at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1))
                       + at(x - 1, y - 1) + at(x + 1, y - 1) + at(x - 1, y + 1) + at(x + 1, y + 1)) / 16
        let v = at(x, y) + amount * (at(x, y) - blurred)
        return UInt8(max(0, min(255, v.rounded())))
    }

    /// The aligned crop a frame's face gives (also the reference crop's source).
    public static func crop(_ image: RGBImage, landmarks: [SIMD3<Float>]) -> (crop: RGBImage, transform: SimilarityTransform) {
        let t = FaceCrop.alignment(landmarks, size: MouthPainter.size)
        return (FaceCrop.crop(image, t, size: MouthPainter.size), t)
    }

    /// The painted 128 x 128 crop: the original upper half, the painted lower half.
    public func paint(crop: RGBImage, reference: RGBImage, mel window: [Float]) -> RGBImage {
        let s = MouthPainter.size, plane = s * s, top = MouthPainter.paintTop
        for y in 0..<s {
            for x in 0..<s {
                for c in 0..<3 {
                    face.data[c * plane + y * s + x] = y >= top ? 0 : Float(crop.pixels[(y * s + x) * 3 + c]) / 255
                    face.data[(3 + c) * plane + y * s + x] = Float(reference.pixels[(y * s + x) * 3 + c]) / 255
                }
            }
        }
        mel.data.update(from: window, count: window.count)
        let started = DispatchTime.now().uptimeNanoseconds
        let out = painter.forward(face: face, mel: mel)
        paintSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        var result = crop
        let hp = s - top
        for y in top..<s {
            for x in 0..<s {
                for c in 0..<3 {
                    let v = out.data[c * hp * s + (y - top) * s + x]
                    result.pixels[(y * s + x) * 3 + c] = UInt8(max(0, min(255, (v * 255).rounded())))
                }
            }
        }
        return result
    }

    /// The paste mask in crop coordinates: the mouth-and-jaw polygon, feathered, and zero above
    /// the painted half (so only painted pixels are used).
    public static func mask(landmarks: [SIMD3<Float>], transform t: SimilarityTransform) -> [Float] {
        let s = MouthPainter.size
        var m = FaceCrop.mask(polygon: FaceCrop.mouthPolygon(landmarks, t), size: s, feather: feather)
        let top = MouthPainter.paintTop
        // Fade in over `feather` rows below the painted half's edge.
        for y in 0..<s {
            let f: Float = y < top ? 0 : min(1, Float(y - top) / Float(feather))
            for x in 0..<s { m[y * s + x] *= f }
        }
        return m
    }

    /// Shifts the painted pixels' colour so that, across the band where the mask fades (0 < m < 1),
    /// their per-channel mean and spread match the original's: skin tone and exposure the painter
    /// got slightly wrong would otherwise show as a patch.
    public static func matchColour(_ painted: inout RGBImage, to original: RGBImage, mask: [Float]) {
        let n = mask.count
        for c in 0..<3 {
            var sw = 0.0, sp = 0.0, so = 0.0, spp = 0.0, soo = 0.0
            for i in 0..<n where mask[i] > 0.05 && mask[i] < 0.95 {
                let w = Double(1 - abs(2 * mask[i] - 1))
                let p = Double(painted.pixels[i * 3 + c]), o = Double(original.pixels[i * 3 + c])
                sw += w; sp += w * p; so += w * o; spp += w * p * p; soo += w * o * o
            }
            guard sw > 10 else { continue }
            let mp = sp / sw, mo = so / sw
            let dp = max(1, (spp / sw - mp * mp).squareRoot()), dO = max(1, (soo / sw - mo * mo).squareRoot())
            let gain = min(1.25, max(0.8, dO / dp))
            for i in 0..<n where mask[i] > 0 {
                let v = (Double(painted.pixels[i * 3 + c]) - mp) * gain + mo
                painted.pixels[i * 3 + c] = UInt8(max(0, min(255, v.rounded())))
            }
        }
    }

    /// The painted mouth's colourfulness brought down to the frame's own: the painter learnt the
    /// lips' colour from colour video, so on black-and-white film or a washed-out picture it would
    /// paint pink lips into a grey face (matchColour moves each channel's level and spread across
    /// the mask's band, not the chroma of the lips inside it). Chroma here is each pixel's distance
    /// from its own grey; its root-mean-square under the mask (m > ½) in the original crop over that
    /// in the painted one scales the painted pixels' chroma, never up.
    public static func matchSaturation(_ painted: inout RGBImage, to original: RGBImage, mask: [Float]) {
        let paintedGrey = GenerationEvaluation.grey(painted)
        func chroma(_ img: RGBImage, _ grey: [Float]) -> Double {
            var sum = 0.0, n = 0.0
            for i in 0..<mask.count where mask[i] > 0.5 {
                for c in 0..<3 { let d = Double(img.pixels[i * 3 + c]) - Double(grey[i]); sum += d * d }
                n += 1
            }
            return n > 0 ? (sum / n).squareRoot() : 0
        }
        let cp = chroma(painted, paintedGrey)
        guard cp > 1e-6 else { return }
        let k = Float(min(1, chroma(original, GenerationEvaluation.grey(original)) / cp))
        guard k < 0.99 else { return }
        for i in 0..<mask.count where mask[i] > 0 {
            let y = paintedGrey[i]
            for c in 0..<3 {
                let v = Float(painted.pixels[i * 3 + c])
                painted.pixels[i * 3 + c] = UInt8(max(0, min(255, (y + k * (v - y)).rounded())))
            }
        }
    }

    /// Pastes `source`'s lower half (an aligned crop) over `landmarks`' face with the same mask and
    /// colour match as painting: the static-mouth baseline.
    public func pasteLowerHalf(of source: RGBImage, onto image: inout RGBImage, landmarks: [SIMD3<Float>]) {
        var (pasted, t) = Self.crop(image, landmarks: landmarks)
        let original = pasted
        let s = MouthPainter.size, row = s * 3
        pasted.pixels.replaceSubrange((MouthPainter.paintTop * row)..<(s * row), with: source.pixels[(MouthPainter.paintTop * row)..<(s * row)])
        let m = Self.mask(landmarks: landmarks, transform: t)
        Self.matchColour(&pasted, to: original, mask: m)
        FaceCrop.paste(pasted, mask: m, into: &image, t, original: original)
    }

    /// How much of the mouth this frame shows, 0...1, from its detail against the reference's: the
    /// variance of the Laplacian under the mask, crop over reference. A mouth always has edges (the
    /// lips' outline, teeth); a hand, a phone or a microphone held over it has far fewer. Measured
    /// (`docs/generate.md`, "Occluded mouths"): unoccluded frames of GRID, CREMA-D and the footage
    /// fixtures read 0.48 to 4, a flat occluder 0.02 to 0.05. From `visibilityBand.upperBound` down
    /// to its lower bound the painting fades out, so a hand coming in does not make the mouth pop.
    public static let visibilityBand: ClosedRange<Double> = 0.15...0.35

    public static func mouthVisibility(crop: RGBImage, reference: RGBImage, mask: [Float]) -> Double {
        let s = crop.width
        let seen = GenerationEvaluation.laplacianVariance(GenerationEvaluation.grey(crop), mask: mask, size: s)
        let expected = GenerationEvaluation.laplacianVariance(GenerationEvaluation.grey(reference), mask: mask, size: s)
        guard expected > 1e-6 else { return 1 }
        let ratio = seen / expected, band = visibilityBand
        return min(1, max(0, (ratio - band.lowerBound) / (band.upperBound - band.lowerBound)))
    }

    /// Paints `landmarks`' face in `image` in place; returns the painted crop for inspection, or nil
    /// when the mouth is hidden (`mouthVisibility` 0: the frame is left as it is).
    @discardableResult
    public func apply(to image: inout RGBImage, landmarks: [SIMD3<Float>], reference: RGBImage, mel window: [Float]) -> RGBImage? {
        let (crop, t) = Self.crop(image, landmarks: landmarks)
        let m = Self.mask(landmarks: landmarks, transform: t)
        let visible = Float(Self.mouthVisibility(crop: crop, reference: reference, mask: m))
        guard visible > 0 else { return nil }
        var painted = paint(crop: crop, reference: reference, mel: window)
        Self.matchDetail(&painted, to: crop, mask: m)
        Self.matchColour(&painted, to: crop, mask: m)
        Self.matchSaturation(&painted, to: crop, mask: m)
        // The fade is the paste's weight only: detail and colour are matched over the whole mask.
        let pasteMask = visible < 1 ? m.map { $0 * visible } : m
        // Only the pasted box of the frame is kept for the detail match, not the whole frame (a
        // 1080p frame copied twice per frame was a second of a 20-s run).
        let bounds = FaceCrop.frameBounds(of: m, size: MouthPainter.size, t, width: image.width, height: image.height, inset: 1)
        let before = bounds.map { Self.region(of: image, around: $0) }
        FaceCrop.paste(painted, mask: pasteMask, into: &image, t, original: crop)
        if let bounds, let before { Self.matchFrameDetail(&image, before: before, bounds: bounds, mask: pasteMask, transform: t) }
        return painted
    }

    /// The pixels of `b` and a one-pixel ring around it (the Laplacian's and the blur's reach).
    static func region(of image: RGBImage, around b: (x0: Int, y0: Int, x1: Int, y1: Int)) -> RGBImage {
        let w = b.x1 - b.x0 + 3, h = b.y1 - b.y0 + 3
        var out = RGBImage(width: w, height: h)
        for y in 0..<h {
            let src = ((b.y0 - 1 + y) * image.width + b.x0 - 1) * 3
            out.pixels.replaceSubrange((y * w * 3)..<((y + 1) * w * 3), with: image.pixels[src..<(src + w * 3)])
        }
        return out
    }

    /// The same detail match in the frame's own pixels, after the paste: the crop is smaller than
    /// the face in most frames (a 360p GRID face is about 170 pixels wide against the crop's 128),
    /// so the trip to the crop and back loses detail that matching inside the crop cannot see.
    /// The target is the variance of the Laplacian of the frame's own mouth region before painting;
    /// the unsharp mask is weighted by the mask, so the edge of the region fades as the paste does.
    public static func matchFrameDetail(_ image: inout RGBImage, before: RGBImage, mask: [Float], transform t: SimilarityTransform,
                                        maxAmount: Float = maxDetailAmount) {
        guard let bounds = FaceCrop.frameBounds(of: mask, size: MouthPainter.size, t, width: image.width, height: image.height, inset: 1)
        else { return }
        matchFrameDetail(&image, before: region(of: before, around: bounds), bounds: bounds, mask: mask, transform: t, maxAmount: maxAmount)
    }

    /// `before` is `region(of:around: bounds)` of the frame before the paste.
    static func matchFrameDetail(_ image: inout RGBImage, before: RGBImage, bounds: (x0: Int, y0: Int, x1: Int, y1: Int), mask: [Float],
                                 transform t: SimilarityTransform, maxAmount: Float = maxDetailAmount) {
        let s = MouthPainter.size
        let (x0, y0, x1, y1) = bounds
        guard x0 < x1, y0 < y1 else { return }
        let w = x1 - x0 + 1, h = y1 - y0 + 1, rw = w + 2
        var alpha = [Float](repeating: 0, count: w * h)
        mask.withUnsafeBufferPointer { mp in
            for y in 0..<h {
                for x in 0..<w {
                    let c = t.apply(SIMD2(Double(x + x0), Double(y + y0)))
                    guard c.x >= 0, c.y >= 0, c.x <= Double(s - 1), c.y <= Double(s - 1) else { continue }
                    alpha[y * w + x] = Bilinear.sample(mp.baseAddress!, width: s, height: s, x: c.x, y: c.y)
                }
            }
        }
        let after = region(of: image, around: bounds)
        // Region coordinates: pixel (x, y) of the box is (x + 1, y + 1) of a region.
        var weight = [Float](repeating: 0, count: rw * (h + 2)), measured = [Bool](repeating: false, count: rw * (h + 2))
        for y in 0..<h {
            for x in 0..<w {
                weight[(y + 1) * rw + x + 1] = alpha[y * w + x]
                measured[(y + 1) * rw + x + 1] = alpha[y * w + x] > 0.5 && x > 0 && y > 0 && x < w - 1 && y < h - 1
            }
        }
        let amount = Self.solvedUnsharpAmount(GenerationEvaluation.grey(after), target: GenerationEvaluation.grey(before), weight: weight,
                                              measured: measured, width: rw, height: h + 2, maxAmount: maxAmount)
        guard amount > 0.01 else { return }
        let iw = image.width
        after.pixels.withUnsafeBufferPointer { src in
            image.pixels.withUnsafeMutableBufferPointer { frame in
                for y in 0..<h {
                    for x in 0..<w where alpha[y * w + x] > 0 {
                        let k = amount * alpha[y * w + x]
                        for c in 0..<3 { frame[((y + y0) * iw + x + x0) * 3 + c] = unsharp(src, width: rw, x: x + 1, y: y + 1, channel: c, amount: k) }
                    }
                }
            }
        }
    }

    /// The unsharp amount a that brings the variance of the Laplacian of `v` over the `measured`
    /// pixels to that of `target`, both grey rw x rh grids, solved rather than guessed: the mask
    /// u = v + a·weight·(v − blur v) has Laplacian L(v) + a·L(weight·(v − blur v)), whose variance is
    /// quadratic in a (A + 2aB + a²C). A soft mouth has little of the frequencies the 3 x 3 mask
    /// lifts, so the (1 + a)² rule, true of a sharp one, undershoots it (on the model card's 22 clips
    /// sharpness read 0.69 of the real video's with that rule and 0.79 with this one). 0 when `v` is
    /// as detailed as `target` already; at most `maxAmount`.
    static func solvedUnsharpAmount(_ v: [Float], target: [Float], weight: [Float], measured: [Bool], width rw: Int, height rh: Int,
                                    maxAmount: Float) -> Float {
        guard rw > 2, rh > 2 else { return 0 }
        var d = [Float](repeating: 0, count: rw * rh)
        for y in 1..<(rh - 1) {
            for x in 1..<(rw - 1) where weight[y * rw + x] > 0 {
                let k = y * rw + x
                let blurred = (4 * v[k] + 2 * (v[k - 1] + v[k + 1] + v[k - rw] + v[k + rw])
                               + v[k - rw - 1] + v[k - rw + 1] + v[k + rw - 1] + v[k + rw + 1]) / 16
                d[k] = weight[k] * (v[k] - blurred)
            }
        }
        func laplacian(_ g: [Float], _ k: Int) -> Double { Double(4 * g[k] - g[k - 1] - g[k + 1] - g[k - rw] - g[k + rw]) }
        var n = 0.0, sl = 0.0, sd = 0.0, sll = 0.0, sld = 0.0, sdd = 0.0, st = 0.0, stt = 0.0
        for y in 1..<(rh - 1) {
            for x in 1..<(rw - 1) where measured[y * rw + x] {
                let k = y * rw + x
                let l = laplacian(v, k), ld = laplacian(d, k), lt = laplacian(target, k)
                n += 1; sl += l; sd += ld; sll += l * l; sld += l * ld; sdd += ld * ld; st += lt; stt += lt * lt
            }
        }
        guard n > 16 else { return 0 }
        let a = sll / n - (sl / n) * (sl / n), b = sld / n - (sl / n) * (sd / n), c = sdd / n - (sd / n) * (sd / n)
        let t = stt / n - (st / n) * (st / n)
        guard a > 1e-3, t > a, c > 1e-9 else { return 0 }
        let disc = b * b - c * (a - t)
        guard disc >= 0 else { return 0 }
        return Float(min(Double(maxAmount), max(0, (-b + disc.squareRoot()) / c)))
    }
}

/// How `lipsync generate` encodes by default, and so how `lipsync eval generate` measures renderings
/// "as delivered". x264's medium preset took about 80 % of a 1080p run on 2 cores; veryfast encodes
/// the same frames about 3x faster in a file of about the same size at the same CRF.
public enum Delivery {
    public static let crf = 18
    public static let preset = "veryfast"
}

/// Mel windows for frames on a video's grid, computed as the speech streams in: columns no later
/// window needs are dropped, so memory holds seconds of spectrogram, not the whole speech.
public final class StreamingMel {
    let reader: AudioReader
    let stream = MelStream(MelSpectrogram())
    public let fps: Double
    private var columns = MelFrames(nMels: 80)
    private var first = 0
    private var ended = false
    /// Whole columns of speech (known once the audio has been read to the end).
    public private(set) var totalColumns: Int?

    public init(path: String, fps: Double) throws {
        reader = try AudioReader(path: path)
        self.fps = fps
    }

    /// The generator's window for frame `i` (0.2 s centred on it; past the end, the last columns).
    public func window(frame i: Int) throws -> [Float] {
        let start = MouthPainter.melStart(frame: i, fps: fps)
        while !ended && first + columns.count < start + 16 {
            if let s = try reader.read(maxSamples: 16_000) { columns.values += stream.push(s).values } else {
                columns.values += stream.finish().values
                ended = true
                totalColumns = first + columns.count
            }
        }
        let local = start - first
        let w = columns.window(start: max(0, local))
        // Drop what frame i's successors no longer need (a few frames' margin).
        let keep = MelFrames.windowStart(frame: max(0, i - 4), fps: fps) - first
        if keep > 64 {
            columns.values.removeFirst(min(keep, columns.count) * 80)
            first += keep
        }
        return w
    }
}

/// Which face of a frame `MouthDubber` paints: one track (`generate --track N`), or in each frame
/// the most preferred face in view, so that a speaker is followed across scene cuts and
/// re-detections, which give the same person a new track id.
public struct FaceChoice: Sendable, Equatable {
    /// Only this track.
    public var only: Int?
    /// Tracks never painted: faces `detect` calls not speaking on the video's own audio (a listener,
    /// a mouth that barely moves).
    public var excluded: Set<Int> = []
    /// Preference among the faces in view, higher first; faces of unranked tracks (too short to
    /// judge, or no audio to judge by) come after every ranked one, the largest first.
    public var rank: [Int: Double] = [:]

    public init(only: Int? = nil, excluded: Set<Int> = [], rank: [Int: Double] = [:]) {
        (self.only, self.excluded, self.rank) = (only, excluded, rank)
    }

    /// Whatever face is in view, the largest first.
    public static let largestFace = FaceChoice()

    public static func track(_ id: Int) -> FaceChoice { FaceChoice(only: id) }

    public func pick(_ faces: [FaceObservation]) -> FaceObservation? {
        if let only { return faces.first { $0.track == only } }
        func area(_ f: FaceObservation) -> Double { f.box.count >= 4 ? f.box[2] * f.box[3] : 0 }
        return faces.filter { !excluded.contains($0.track) }.max { a, b in
            let ra = rank[a.track] ?? -.infinity, rb = rank[b.track] ?? -.infinity
            return ra != rb ? ra < rb : area(a) < area(b)
        }
    }
}

/// The per-frame decisions of dubbing one face: which face (`FaceChoice`), its reference crop (taken
/// afresh at the start of every segment: first sight, a gap, a scene cut, another track), its mel
/// window, and whether the frame is painted at all. A frame without that face comes back exactly as
/// it went in. `lipsync generate` paints; `lipsync eval generate` also runs the two baselines through
/// the same decisions, so all three renderings differ only in what is pasted.
public final class MouthDubber {
    public enum Rendering: String, Sendable, CaseIterable {
        /// The generator.
        case generated
        /// Baseline (i): the input copied unchanged.
        case copied
        /// Baseline (ii): the segment's reference lower half pasted: a static mouth.
        case reference
        /// The frame's own lower half through crop, colour match and paste: what the pipeline
        /// costs with a perfect painter, so the ceiling of every measure the painter is scored on.
        case pipeline
    }

    /// A rendered frame and the face that was (or, for `copied`, would have been) painted.
    public struct Rendered {
        public var image: RGBImage
        public var face: FaceObservation?
    }

    public let compositor: Compositor
    public let choice: FaceChoice
    public let rendering: Rendering
    let mel: StreamingMel
    private var reference: RGBImage?
    private var lastPainted = -2, lastTrack: Int?
    public private(set) var painted = 0, untouched = 0
    /// The tracks whose faces were painted (several when a speaker is followed across cuts).
    public private(set) var paintedTracks: Set<Int> = []
    /// Frames of the face whose mouth was hidden (a hand, a microphone): left as they came, and
    /// counted in `painted` too, as the face's frames (`Compositor.mouthVisibility`).
    public private(set) var hidden = 0

    public init(compositor: Compositor, choice: FaceChoice, mel: StreamingMel, rendering: Rendering = .generated) {
        (self.compositor, self.choice, self.mel, self.rendering) = (compositor, choice, mel, rendering)
    }

    /// `track` only, or with nil the largest face in view.
    public convenience init(compositor: Compositor, track: Int?, mel: StreamingMel, rendering: Rendering = .generated) {
        self.init(compositor: compositor, choice: track.map(FaceChoice.track) ?? .largestFace, mel: mel, rendering: rendering)
    }

    /// The frame rendered, or nil when the tracker kept no picture for it.
    public func render(_ f: FrameFaces) throws -> Rendered? {
        guard var image = f.image else { return nil }
        guard let face = choice.pick(f.faces) else {
            untouched += 1
            return Rendered(image: image, face: nil)
        }
        // Another track may be another person: a reference from the face before it would paint
        // that face's teeth and lighting onto this one.
        if reference == nil || f.sceneCut || lastPainted != f.frame - 1 || lastTrack != face.track {
            reference = Compositor.crop(image, landmarks: face.landmarks).crop
        }
        switch rendering {
        case .generated:
            let window = try mel.window(frame: f.frame)
            if compositor.apply(to: &image, landmarks: face.landmarks, reference: reference!, mel: window) == nil {
                hidden += 1
            }
        case .copied:
            break
        case .reference:
            compositor.pasteLowerHalf(of: reference!, onto: &image, landmarks: face.landmarks)
        case .pipeline:
            compositor.pasteLowerHalf(of: Compositor.crop(image, landmarks: face.landmarks).crop, onto: &image, landmarks: face.landmarks)
        }
        lastPainted = f.frame
        lastTrack = face.track
        paintedTracks.insert(face.track)
        painted += 1
        return Rendered(image: image, face: face)
    }
}
