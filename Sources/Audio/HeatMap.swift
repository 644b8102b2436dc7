import Media

/// Renders a spectrogram as a picture: time left to right, low frequencies at the bottom,
/// values -4...4 through a viridis-like colour ramp.
public enum HeatMap {
    static let stops: [(Float, Float, Float)] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]

    public static func colour(_ v: Float, range: ClosedRange<Float> = -4...4) -> (UInt8, UInt8, UInt8) {
        let x = min(1, max(0, (v - range.lowerBound) / (range.upperBound - range.lowerBound))) * Float(stops.count - 1)
        let i = min(stops.count - 2, Int(x)), f = x - Float(i)
        let a = stops[i], b = stops[i + 1]
        return (UInt8(a.0 + (b.0 - a.0) * f), UInt8(a.1 + (b.1 - a.1) * f), UInt8(a.2 + (b.2 - a.2) * f))
    }

    /// `rowScale` pixels per band; columns are widened so that short clips are at least `minWidth` wide.
    public static func render(_ frames: MelFrames, rowScale: Int = 3, minWidth: Int = 720) -> RGBImage {
        let colScale = max(1, minWidth / max(1, frames.count))
        let w = max(1, frames.count * colScale), h = frames.nMels * rowScale
        var image = RGBImage(width: w, height: h)
        for t in 0..<frames.count {
            for m in 0..<frames.nMels {
                let (r, g, b) = colour(frames[column: t, band: m])
                for k in 0..<rowScale {
                    let y = h - 1 - (m * rowScale + k)
                    for c in 0..<colScale {
                        let i = (y * w + t * colScale + c) * 3
                        image.pixels[i] = r; image.pixels[i + 1] = g; image.pixels[i + 2] = b
                    }
                }
            }
        }
        return image
    }
}
