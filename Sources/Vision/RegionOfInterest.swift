import Foundation
import Media
import NN

/// A rotated rectangle in source-image pixels: what a model looks at.
public struct RegionOfInterest: Equatable, Sendable {
    public var centerX: Double, centerY: Double
    public var width: Double, height: Double
    /// Radians, counter-clockwise positive as MediaPipe measures it (image y pointing down).
    public var rotation: Double

    public init(centerX: Double, centerY: Double, width: Double, height: Double, rotation: Double = 0) {
        (self.centerX, self.centerY, self.width, self.height, self.rotation) = (centerX, centerY, width, height, rotation)
    }

    /// The whole image, grown to a square around its centre (letterboxing, as MediaPipe's
    /// keep_aspect_ratio does).
    public static func letterbox(width: Int, height: Int) -> RegionOfInterest {
        let side = Double(max(width, height))
        return RegionOfInterest(centerX: Double(width) / 2, centerY: Double(height) / 2, width: side, height: side)
    }

    /// Source pixel position of a point given in ROI-normalised coordinates (0...1 across the ROI).
    public func project(u: Double, v: Double) -> (x: Double, y: Double) {
        let dx = (u - 0.5) * width, dy = (v - 0.5) * height
        let c = cos(rotation), s = sin(rotation)
        return (centerX + dx * c - dy * s, centerY + dx * s + dy * c)
    }

    /// Samples the ROI into a [1, 3, size, size] tensor with bilinear interpolation. Output pixel
    /// (i, j) reads the source at corner + i/size along the top edge + j/size down the left edge,
    /// the mapping of MediaPipe's CPU ImageToTensor (warpAffine from the rect's corners).
    /// Values are scaled from 0...255 to `range`; outside the image, `zeroBorder` gives zeros
    /// (value `range.lowerBound` mapped from 0), otherwise the nearest edge pixel is repeated.
    /// `vectorised: false` keeps to the Swift loop below (tests compare the two bit for bit).
    public func sample(_ image: RGBImage, size: Int, range: ClosedRange<Float>, zeroBorder: Bool, into t: Tensor,
                       vectorised: Bool = true) {
        t.reshape([1, 3, size, size])
        let tl = project(u: 0, v: 0), tr = project(u: 1, v: 0), bl = project(u: 0, v: 1)
        let ax = (tr.x - tl.x) / Double(size), ay = (tr.y - tl.y) / Double(size)
        let bx = (bl.x - tl.x) / Double(size), by = (bl.y - tl.y) / Double(size)
        let scale = (range.upperBound - range.lowerBound) / 255, offset = range.lowerBound
        let w = image.width, h = image.height, plane = size * size
        image.pixels.withUnsafeBufferPointer { px in
            let out = t.data, src = px.baseAddress!
            if vectorised, Bilinear.sampleRGB(src, width: w, height: h, corner: (tl.x, tl.y), a: (ax, ay), b: (bx, by), size: size,
                                              zeroBorder: zeroBorder, scale: scale, offset: offset, into: out) { return }
            for j in 0..<size {
                for i in 0..<size {
                    let x = tl.x + Double(i) * ax + Double(j) * bx, y = tl.y + Double(i) * ay + Double(j) * by
                    let t = Bilinear(flooring: x, y)
                    let x0 = t.x0, y0 = t.y0
                    var r: Float = 0, gr: Float = 0, b: Float = 0
                    if t.contains(width: w, height: h) {
                        // Inside: four taps, no checks.
                        let o = (y0 * w + x0) * 3, o2 = o + w * 3
                        r = t.blend(Float(src[o]), Float(src[o + 3]), Float(src[o2]), Float(src[o2 + 3]))
                        gr = t.blend(Float(src[o + 1]), Float(src[o + 4]), Float(src[o2 + 1]), Float(src[o2 + 4]))
                        b = t.blend(Float(src[o + 2]), Float(src[o + 5]), Float(src[o2 + 2]), Float(src[o2 + 5]))
                    } else {
                        // At the border: skipped (zero border) or clamped (replicate).
                        // (The four taps through a local function, not a loop over an array literal: no allocation per pixel.)
                        let weights = t.weights
                        func tap(_ xx0: Int, _ yy0: Int, _ wgt: Float) {
                            var xx = xx0, yy = yy0
                            if xx < 0 || yy < 0 || xx >= w || yy >= h {
                                if zeroBorder { return }
                                xx = min(max(xx, 0), w - 1); yy = min(max(yy, 0), h - 1)
                            }
                            let o = (yy * w + xx) * 3
                            r += wgt * Float(src[o]); gr += wgt * Float(src[o + 1]); b += wgt * Float(src[o + 2])
                        }
                        tap(x0, y0, weights.0)
                        tap(x0 + 1, y0, weights.1)
                        tap(x0, y0 + 1, weights.2)
                        tap(x0 + 1, y0 + 1, weights.3)
                    }
                    let o = j * size + i
                    out[o] = r * scale + offset
                    out[plane + o] = gr * scale + offset
                    out[2 * plane + o] = b * scale + offset
                }
            }
        }
    }
}
