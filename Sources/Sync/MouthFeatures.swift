import Foundation
import Media
import NN
import Vision

/// What the sync model sees of one face in one frame: a grey mouth crop in the face's own aligned
/// frame (eyes and nose pinned by `FaceCrop.template`, so jaw drop shows as motion), and the 40 lip
/// landmarks in the same frame. Both are identity-light: the crop is normalised per window, and the
/// landmarks come from FaceMesh, which was trained on many faces.
public enum MouthFeatures {
    /// The model's crop, in pixels.
    public static let width = 64, height = 32
    /// The stored crop keeps a margin around the model's crop, for training-time jitter.
    public static let storedWidth = 80, storedHeight = 40
    static let marginX = (storedWidth - width) / 2, marginY = (storedHeight - height) / 2
    /// Centre of the crop in template units (the mouth sits near y = 0.72, the chin near 0.9) and the
    /// template distance one crop pixel covers (the model's crop spans 0.6 of the template's width).
    static let center = SIMD2<Double>(0.5, 0.76)
    static let step = 0.6 / Double(width)
    public static let lipIndices = FaceMeshIndex.outerLips + FaceMeshIndex.innerLips
    public static let geometryCount = 2 * lipIndices.count

    /// Mirror permutation of `lipIndices` (both contours run corner - upper lip - corner - lower lip).
    static let mirroredLipOrder: [Int] = {
        func one(_ p: Int) -> Int { p <= 10 ? 10 - p : 30 - p }
        return (0..<20).map(one) + (0..<20).map { 20 + one($0) }
    }()

    /// The stored crop (storedHeight x storedWidth grey values, 0-255) and the lip geometry
    /// (x, y per lip point in crop pixels / 32 from the crop's centre) of a face. The crop is aligned
    /// by the smoothed `landmarks` (a steady frame); the lips come from `lips`, the unsmoothed points
    /// (smoothing lags fast lip motion by a frame or two).
    /// One frame of the model's input (`mesh`: FaceMesh's lip features, passed through; empty where
    /// the face has none).
    public typealias Frame = (crop: [Float], geometry: [Float], mesh: [Float])

    public static func extract(_ image: RGBImage, landmarks: [SIMD3<Float>], lips: [SIMD3<Float>]? = nil, mesh: [Float] = []) -> Frame {
        let lips = lips ?? landmarks
        let toTemplate = FaceCrop.alignment(landmarks, size: 1)
        let toImage = toTemplate.inverse
        // Average k x k samples per pixel when the face is large, so 1080p does not alias. (The rule
        // is part of the model's input definition: the training cache was made with it.)
        let imagePixelsPerCropPixel = step / toTemplate.scale
        let k = min(4, max(1, Int(imagePixelsPerCropPixel.rounded(.up))))
        var crop = [Float](repeating: 0, count: storedWidth * storedHeight)
        // Crop pixel (u, v) maps to image point origin + u * du + v * dv (an affine map); sample
        // positions step through it without re-applying the transform.
        let origin = toImage.apply(SIMD2(center.x - Double(storedWidth / 2) * step, center.y - Double(storedHeight / 2) * step))
        let du = toImage.apply(SIMD2(center.x + step, center.y)) - toImage.apply(center)
        let dv = toImage.apply(SIMD2(center.x, center.y + step)) - toImage.apply(center)
        let w = image.width, h = image.height
        let inv = 1 / Float(k * k)
        image.pixels.withUnsafeBufferPointer { px in
            crop.withUnsafeMutableBufferPointer { out in
                for v in 0..<storedHeight {
                    for u in 0..<storedWidth {
                        var s: Float = 0
                        for sy in 0..<k {
                            for sx in 0..<k {
                                let fu = Double(u) + (Double(sx) + 0.5) / Double(k), fv = Double(v) + (Double(sy) + 0.5) / Double(k)
                                let t = Bilinear(clamping: origin.x + fu * du.x + fv * dv.x - 0.5, origin.y + fu * du.y + fv * dv.y - 0.5,
                                                 width: w, height: h)
                                @inline(__always) func g(_ x: Int, _ y: Int) -> Float {
                                    let o = (y * w + x) * 3
                                    return 0.299 * Float(px[o]) + 0.587 * Float(px[o + 1]) + 0.114 * Float(px[o + 2])
                                }
                                s += t.mix(g(t.x0, t.y0), g(t.x1, t.y0), g(t.x0, t.y1), g(t.x1, t.y1))
                            }
                        }
                        out[v * storedWidth + u] = s * inv
                    }
                }
            }
        }
        var geometry = [Float](repeating: 0, count: geometryCount)
        for (j, i) in lipIndices.enumerated() {
            let t = toTemplate.apply(SIMD2(Double(lips[i].x), Double(lips[i].y)))
            geometry[2 * j] = Float((t.x - center.x) / step / 32)
            geometry[2 * j + 1] = Float((t.y - center.y) / step / 32)
        }
        return (crop, geometry, mesh)
    }

    /// One window's lip geometry (`frames` x 40 points, x and y), centred on the lip points' centroid
    /// over the window and divided by the window's mean mouth width (outer-lip corner to corner), so a
    /// face's mouth position and size drop out and its shape and motion stay.
    static func normaliseGeometry(_ g: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, frames: Int) {
        let per = geometryCount, points = per / 2
        var cx: Float = 0, cy: Float = 0, width: Float = 0
        for f in 0..<frames {
            let p = g + f * per
            for k in 0..<points { cx += p[2 * k]; cy += p[2 * k + 1] }
            // Outer-lip indices 0 and 10 are the corners (both contours run corner - upper - corner - lower).
            let dx = p[20] - p[0], dy = p[21] - p[1]
            width += (dx * dx + dy * dy).squareRoot()
        }
        cx /= Float(frames * points); cy /= Float(frames * points)
        let inv = 1 / max(width / Float(frames), 1e-3)
        for f in 0..<frames {
            for k in 0..<points {
                out[f * per + 2 * k] = (g[f * per + 2 * k] - cx) * inv
                out[f * per + 2 * k + 1] = (g[f * per + 2 * k + 1] - cy) * inv
            }
        }
    }

    /// Writes one window's model input: the central width x height of each stored crop, normalised
    /// over the whole window to zero mean and unit deviation (lighting and skin tone drop out).
    static func windowInput(_ crops: [UnsafePointer<Float>], into out: UnsafeMutablePointer<Float>) {
        let plane = width * height
        for (f, c) in crops.enumerated() {
            for y in 0..<height {
                (out + f * plane + y * width).update(from: c + (y + marginY) * storedWidth + marginX, count: width)
            }
        }
        normalize(out, count: crops.count * plane)
    }

    static func normalize(_ p: UnsafeMutablePointer<Float>, count: Int) {
        var mean: Float = 0
        for i in 0..<count { mean += p[i] }
        mean /= Float(count)
        var v: Float = 0
        for i in 0..<count { v += (p[i] - mean) * (p[i] - mean) }
        let inv = 1 / max((v / Float(count)).squareRoot(), 2)
        for i in 0..<count { p[i] = (p[i] - mean) * inv }
    }
}
