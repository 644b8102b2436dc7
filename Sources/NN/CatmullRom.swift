/// The one cubic sampler: Catmull-Rom (Keys' cubic, a = −0.5) on a 4 × 4 neighbourhood, edges
/// repeated. Used where a picture goes back to the viewer (the paste of a painted crop into the
/// frame), because a bilinear resampling is a low-pass filter: a crop taken and pasted back
/// bilinearly keeps about half the variance of its Laplacian (docs/generate.md, "Sharpness"). Model
/// inputs keep `Bilinear`: what the shipped models were trained on.
///
/// Weights for the fraction t of the way from tap 0 to tap 1:
///   w₋₁ = (−t³ + 2t² − t) / 2,  w₀ = (3t³ − 5t² + 2) / 2,  w₁ = (−3t³ + 4t² + t) / 2,  w₂ = (t³ − t²) / 2
/// (they sum to 1, interpolate the taps exactly at t = 0, and reproduce linear ramps).
public struct CatmullRom: Sendable {
    /// Column and row indices of the four taps, clamped into the grid.
    public var xs: (Int, Int, Int, Int), ys: (Int, Int, Int, Int)
    public var wx: (Float, Float, Float, Float), wy: (Float, Float, Float, Float)

    @inline(__always)
    static func weights(_ t: Float) -> (Float, Float, Float, Float) {
        let t2 = t * t, t3 = t2 * t
        return ((-t3 + 2 * t2 - t) / 2, (3 * t3 - 5 * t2 + 2) / 2, (-3 * t3 + 4 * t2 + t) / 2, (t3 - t2) / 2)
    }

    /// Taps around (x, y) in a width × height grid; the point is clamped into the grid first, as
    /// `Bilinear(clamping:)` does. Pixel centres sit at integers.
    @inline(__always)
    public init(clamping x: Double, _ y: Double, width: Int, height: Int) {
        let cx = min(max(x, 0), Double(width - 1)), cy = min(max(y, 0), Double(height - 1))
        let x0 = Int(cx), y0 = Int(cy)
        func c(_ v: Int, _ n: Int) -> Int { min(max(v, 0), n - 1) }
        xs = (c(x0 - 1, width), x0, c(x0 + 1, width), c(x0 + 2, width))
        ys = (c(y0 - 1, height), y0, c(y0 + 1, height), c(y0 + 2, height))
        wx = Self.weights(Float(cx - Double(x0)))
        wy = Self.weights(Float(cy - Double(y0)))
    }

    /// The weighted sums of an interleaved RGB byte image's three channels (`pixels` row-major,
    /// `width` pixels per row): one pass over the 16 taps for all three.
    @inline(__always)
    public func rgb(_ pixels: UnsafeBufferPointer<UInt8>, width: Int) -> (Float, Float, Float) {
        @inline(__always) func row(_ y: Int) -> (Float, Float, Float) {
            let base = y * width
            @inline(__always) func tap(_ x: Int, _ w: Float) -> (Float, Float, Float) {
                let o = (base + x) * 3
                return (w * Float(pixels[o]), w * Float(pixels[o + 1]), w * Float(pixels[o + 2]))
            }
            let a = tap(xs.0, wx.0), b = tap(xs.1, wx.1), c = tap(xs.2, wx.2), d = tap(xs.3, wx.3)
            return (a.0 + b.0 + c.0 + d.0, a.1 + b.1 + c.1 + d.1, a.2 + b.2 + c.2 + d.2)
        }
        let a = row(ys.0), b = row(ys.1), c = row(ys.2), d = row(ys.3)
        return (wy.0 * a.0 + wy.1 * b.0 + wy.2 * c.0 + wy.3 * d.0,
                wy.0 * a.1 + wy.1 * b.1 + wy.2 * c.1 + wy.3 * d.1,
                wy.0 * a.2 + wy.1 * b.2 + wy.2 * c.2 + wy.3 * d.2)
    }
}
