import CKernels

/// The one bilinear sampler: every resampling in LipSync (model inputs, aligned crops, masks,
/// paste-back, augmentation, upsampling layers) finds its four taps and weights here.
///
/// Two combine orders exist because each is part of a model's input definition and changing the
/// rounding would change what a shipped model sees: `mix` is the separable lerp (rows, then
/// columns) of the sync model's crops and the NN upsampling; `blend` is the four-weight sum of
/// MediaPipe's warpAffine, which BlazeFace and FaceMesh were matched against.
public struct Bilinear: Sendable {
    public var x0: Int, y0: Int, x1: Int, y1: Int
    /// Weight of the second column and of the second row.
    public var fx: Float, fy: Float

    @inlinable
    public init(x0: Int, y0: Int, x1: Int, y1: Int, fx: Float, fy: Float) {
        (self.x0, self.y0, self.x1, self.y1, self.fx, self.fy) = (x0, y0, x1, y1, fx, fy)
    }

    /// Taps around (x, y) in a width x height grid, the point clamped into the grid first, so the
    /// edge pixels repeat outside it. Pixel centres sit at integers.
    @inlinable @inline(__always)
    public init(clamping x: Double, _ y: Double, width: Int, height: Int) {
        let cx = min(max(x, 0), Double(width - 1)), cy = min(max(y, 0), Double(height - 1))
        x0 = Int(cx); y0 = Int(cy)
        x1 = min(x0 + 1, width - 1); y1 = min(y0 + 1, height - 1)
        fx = Float(cx - Double(x0)); fy = Float(cy - Double(y0))
    }

    /// Taps around (x, y) without clamping: x0 = floor(x), x1 = x0 + 1, which may fall outside the
    /// grid (`contains` tells; the caller chooses a zero or a repeated border).
    @inlinable @inline(__always)
    public init(flooring x: Double, _ y: Double) {
        x0 = Self.floor(x); y0 = Self.floor(y)
        x1 = x0 + 1; y1 = y0 + 1
        fx = Float(x - Double(x0)); fy = Float(y - Double(y0))
    }

    /// floor(v) as an integer by truncation: the package is built for baseline x86-64, which has
    /// no rounding instruction, and `rounded(.down)` became a call to libm's floor per sample
    /// (3.5 % of the face tracker's time, `perf record`).
    @inlinable @inline(__always)
    public static func floor(_ v: Double) -> Int {
        let t = Int(v)
        return Double(t) > v ? t - 1 : t
    }

    /// Whether all four taps lie inside a width x height grid.
    @inlinable @inline(__always)
    public func contains(width: Int, height: Int) -> Bool { x0 >= 0 && y0 >= 0 && x1 < width && y1 < height }

    /// Separable lerp of the values at (x0, y0), (x1, y0), (x0, y1), (x1, y1).
    @inlinable @inline(__always)
    public func mix(_ v00: Float, _ v10: Float, _ v01: Float, _ v11: Float) -> Float {
        (v00 * (1 - fx) + v10 * fx) * (1 - fy) + (v01 * (1 - fx) + v11 * fx) * fy
    }

    /// The four weights, in the order (x0, y0), (x1, y0), (x0, y1), (x1, y1).
    @inlinable @inline(__always)
    public var weights: (Float, Float, Float, Float) { ((1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy) }

    /// Four-weight sum of the same values (MediaPipe's order of rounding).
    @inlinable @inline(__always)
    public func blend(_ v00: Float, _ v10: Float, _ v01: Float, _ v11: Float) -> Float {
        let w = weights
        return w.0 * v00 + w.1 * v10 + w.2 * v01 + w.3 * v11
    }

    /// A value of a row-major float plane, edges repeated.
    @inlinable @inline(__always)
    public static func sample(_ plane: UnsafePointer<Float>, width: Int, height: Int, x: Double, y: Double) -> Float {
        let t = Bilinear(clamping: x, y, width: width, height: height)
        return t.mix(plane[t.y0 * width + t.x0], plane[t.y0 * width + t.x1], plane[t.y1 * width + t.x0], plane[t.y1 * width + t.x1])
    }

    /// The gradient of `sample` at (x, y) spread back onto the plane's four taps (adds `g` times each
    /// tap's weight): the backward of a resampling, so losses reach the pixels it read.
    @inlinable @inline(__always)
    public static func accumulate(_ g: Float, into plane: UnsafeMutablePointer<Float>, width: Int, height: Int, x: Double, y: Double) {
        let t = Bilinear(clamping: x, y, width: width, height: height)
        let w = t.weights
        plane[t.y0 * width + t.x0] += g * w.0
        plane[t.y0 * width + t.x1] += g * w.1
        plane[t.y1 * width + t.x0] += g * w.2
        plane[t.y1 * width + t.x1] += g * w.3
    }

    /// Bilinear samples of an RGB byte image on the affine grid (x, y) = (corner + i · a) + j · b,
    /// i, j < size, into three size × size planes (value · scale + offset; zeros outside with
    /// `zeroBorder`, else the edge repeated), by the AVX-512 kernel in `CKernels/Sampling.c`, which
    /// is bit-identical to `RegionOfInterest.sample`'s loop. False, with nothing written, where that
    /// kernel does not run (no AVX-512): the caller keeps its own loop.
    public static func sampleRGB(_ pixels: UnsafePointer<UInt8>, width: Int, height: Int, corner: (x: Double, y: Double),
                                 a: (x: Double, y: Double), b: (x: Double, y: Double), size: Int, zeroBorder: Bool,
                                 scale: Float, offset: Float, into out: UnsafeMutablePointer<Float>) -> Bool {
        lsk_sample_rgb(pixels, Int32(width), Int32(height), corner.x, corner.y, a.x, a.y, b.x, b.y, Int32(size),
                       zeroBorder ? 1 : 0, scale, offset, out) == 1
    }
}
