/// A packed 8-bit RGB picture (RGB24, row stride = width * 3).
public struct RGBImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: pixel count does not match size")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int, fill: UInt8 = 0) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: fill, count: width * height * 3))
    }

    /// An empty image, to be filled by `VideoReader.readFrame(into:)`.
    public static var empty: RGBImage { RGBImage(width: 0, height: 0, pixels: []) }

    public subscript(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// Mean luma (BT.601) over the picture, 0...255.
    public var meanLuma: Double {
        var sum = 0.0
        pixels.withUnsafeBufferPointer { p in
            var i = 0
            while i < p.count {
                sum += 0.299 * Double(p[i]) + 0.587 * Double(p[i + 1]) + 0.114 * Double(p[i + 2])
                i += 3
            }
        }
        return width * height == 0 ? 0 : sum / Double(width * height)
    }

    /// Rotated clockwise by a multiple of 90 degrees.
    public func rotated(clockwiseDegrees degrees: Int) -> RGBImage {
        let d = ((degrees % 360) + 360) % 360
        if d == 0 { return self }
        let (w, h) = (width, height)
        let (ow, oh) = d == 180 ? (w, h) : (h, w)
        var out = [UInt8](repeating: 0, count: w * h * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for r in 0..<oh {
                    for c in 0..<ow {
                        let (sr, sc): (Int, Int)
                        switch d {
                        case 90: (sr, sc) = (h - 1 - c, r)
                        case 270: (sr, sc) = (c, w - 1 - r)
                        default: (sr, sc) = (h - 1 - r, w - 1 - c)
                        }
                        let s = (sr * w + sc) * 3, o = (r * ow + c) * 3
                        dst[o] = src[s]; dst[o + 1] = src[s + 1]; dst[o + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }
}
