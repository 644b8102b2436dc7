import Foundation
import Media
import NN

/// x' = a x - b y + tx, y' = b x + a y + ty: rotation, uniform scale and translation.
public struct SimilarityTransform: Equatable, Sendable {
    public var a, b, tx, ty: Double

    public init(a: Double, b: Double, tx: Double, ty: Double) { (self.a, self.b, self.tx, self.ty) = (a, b, tx, ty) }

    public func apply(_ p: SIMD2<Double>) -> SIMD2<Double> { SIMD2(a * p.x - b * p.y + tx, b * p.x + a * p.y + ty) }

    public var inverse: SimilarityTransform {
        let d = a * a + b * b
        let ia = a / d, ib = -b / d
        return SimilarityTransform(a: ia, b: ib, tx: -(ia * tx - ib * ty), ty: -(ib * tx + ia * ty))
    }

    public var scale: Double { (a * a + b * b).squareRoot() }

    /// Least-squares fit mapping `from` onto `to` (no reflection).
    public static func fit(from src: [SIMD2<Double>], to dst: [SIMD2<Double>]) -> SimilarityTransform {
        let n = Double(src.count)
        let ms = src.reduce(SIMD2<Double>.zero, +) / n, md = dst.reduce(SIMD2<Double>.zero, +) / n
        var sxx = 0.0, sab = 0.0, sba = 0.0
        for (p, q) in zip(src, dst) {
            let u = p - ms, v = q - md
            sxx += u.x * u.x + u.y * u.y
            sab += u.x * v.x + u.y * v.y
            sba += u.x * v.y - u.y * v.x
        }
        let a = sab / max(1e-12, sxx), b = sba / max(1e-12, sxx)
        return SimilarityTransform(a: a, b: b, tx: md.x - (a * ms.x - b * ms.y), ty: md.y - (b * ms.x + a * ms.y))
    }
}

/// Aligned face crops, the sync model's mouth crop, and a soft mask for pasting mouths back.
public enum FaceCrop {
    /// Where the stable points land in a unit crop: right-eye centre, left-eye centre, nose tip.
    /// The mouth sits near y = 0.75 and the chin near 0.9, so the whole lower face fits.
    public static let template: [SIMD2<Double>] = [SIMD2(0.35, 0.40), SIMD2(0.65, 0.40), SIMD2(0.50, 0.57)]

    static func stablePoints(_ p: [SIMD3<Float>]) -> [SIMD2<Double>] {
        func pt(_ i: Int) -> SIMD2<Double> { SIMD2(Double(p[i].x), Double(p[i].y)) }
        return [(pt(FaceMeshIndex.rightEye.0) + pt(FaceMeshIndex.rightEye.1)) / 2,
                (pt(FaceMeshIndex.leftEye.0) + pt(FaceMeshIndex.leftEye.1)) / 2, pt(FaceMeshIndex.noseTip)]
    }

    /// The transform from image pixels to a `size` x `size` aligned crop.
    public static func alignment(_ landmarks: [SIMD3<Float>], size: Int) -> SimilarityTransform {
        SimilarityTransform.fit(from: stablePoints(landmarks), to: template.map { $0 * Double(size) })
    }

    /// Samples the crop (bilinear; edge pixels repeat outside the image).
    public static func crop(_ image: RGBImage, _ t: SimilarityTransform, size: Int) -> RGBImage {
        var out = RGBImage(width: size, height: size)
        let inv = t.inverse
        for y in 0..<size {
            for x in 0..<size {
                let s = inv.apply(SIMD2(Double(x), Double(y)))
                let c = sample(image, s.x, s.y)
                let o = (y * size + x) * 3
                out.pixels[o] = c.0; out.pixels[o + 1] = c.1; out.pixels[o + 2] = c.2
            }
        }
        return out
    }

    /// The lower half of an aligned crop: Wav2Lip's mouth input (height size/2, width size).
    public static func mouthCrop(_ image: RGBImage, _ t: SimilarityTransform, size: Int) -> RGBImage {
        let full = crop(image, t, size: size)
        return RGBImage(width: size, height: size / 2, pixels: Array(full.pixels[(size / 2 * size * 3)...]))
    }

    /// Mouth-and-jaw region in crop coordinates: the jaw line closed under the nose.
    public static func mouthPolygon(_ landmarks: [SIMD3<Float>], _ t: SimilarityTransform) -> [SIMD2<Double>] {
        let idx = FaceMeshIndex.jaw + [327, 2, 98]
        return idx.map { t.apply(SIMD2(Double(landmarks[$0].x), Double(landmarks[$0].y))) }
    }

    /// A soft mask over the polygon (1 inside, 0 outside) with edges feathered over `feather` pixels.
    public static func mask(polygon: [SIMD2<Double>], size: Int, feather: Int) -> [Float] {
        var m = [Float](repeating: 0, count: size * size)
        for y in 0..<size {
            let py = Double(y) + 0.5
            var xs: [Double] = []
            for i in 0..<polygon.count {
                let p = polygon[i], q = polygon[(i + 1) % polygon.count]
                if (p.y <= py) != (q.y <= py) { xs.append(p.x + (py - p.y) / (q.y - p.y) * (q.x - p.x)) }
            }
            xs.sort()
            var k = 0
            while k + 1 < xs.count {
                let lo = max(0, Int((xs[k] - 0.5).rounded(.up))), hi = min(size - 1, Int((xs[k + 1] - 0.5).rounded(.down)))
                if lo <= hi { for x in lo...hi { m[y * size + x] = 1 } }
                k += 2
            }
        }
        guard feather > 0 else { return m }
        // Three box blurs approximate a Gaussian; the mask is eroded first so it stays inside the polygon.
        m = erode(m, size: size, radius: feather / 2)
        for _ in 0..<3 { m = boxBlur(m, size: size, radius: max(1, feather / 3)) }
        return m
    }

    /// Blends `crop` (aligned by `t`) into `image` through `mask`: the inverse of `crop`.
    ///
    /// With `original` (the crop `image` gave before it was painted), the paste keeps the frame's
    /// own fine detail wherever the painted crop agrees with the original: resampling to the crop and
    /// back costs about half the detail (the variance of the Laplacian) even for an unchanged crop,
    /// which shows as a soft patch, worst where the face is larger than the crop. Each pixel gets the
    /// painted value plus k times the detail the round trip loses (frame − original resampled), with
    /// k = 1 / (1 + (d / tolerance)²) for the painted-minus-original luma difference d: 1 where
    /// nothing changed (the frame comes back exactly), near 0 where the mouth was repainted (no
    /// ghost of the old lips' edges).
    public static func paste(_ crop: RGBImage, mask: [Float], into image: inout RGBImage, _ t: SimilarityTransform,
                             original: RGBImage? = nil, detailTolerance: Float = 16) {
        let size = crop.width
        guard let (x0, y0, x1, y1) = frameBounds(of: mask, size: size, t, width: image.width, height: image.height) else { return }
        let width = image.width
        // One sampler position per pixel serves the painted crop and the original alike.
        crop.pixels.withUnsafeBufferPointer { painted in
            (original ?? crop).pixels.withUnsafeBufferPointer { before in
                mask.withUnsafeBufferPointer { m in
                    image.pixels.withUnsafeMutableBufferPointer { frame in
                        for y in y0...y1 {
                            for x in x0...x1 {
                                let c = t.apply(SIMD2(Double(x), Double(y)))
                                guard c.x >= 0, c.y >= 0, c.x <= Double(size - 1), c.y <= Double(size - 1) else { continue }
                                let alpha = Bilinear.sample(m.baseAddress!, width: size, height: size, x: c.x, y: c.y)
                                if alpha <= 0 { continue }
                                let o = (y * width + x) * 3
                                let sampler = CatmullRom(clamping: c.x, c.y, width: size, height: size)
                                var v = sampler.rgb(painted, width: size)
                                if original != nil {
                                    let r = sampler.rgb(before, width: size)
                                    let d = 0.299 * (v.0 - r.0) + 0.587 * (v.1 - r.1) + 0.114 * (v.2 - r.2)
                                    let k = 1 / (1 + (d / detailTolerance) * (d / detailTolerance))
                                    v.0 += k * (Float(frame[o]) - r.0)
                                    v.1 += k * (Float(frame[o + 1]) - r.1)
                                    v.2 += k * (Float(frame[o + 2]) - r.2)
                                }
                                func blend(_ i: Int, _ p: Float) -> UInt8 { UInt8(max(0, min(255, (Float(frame[i]) * (1 - alpha) + p * alpha).rounded()))) }
                                frame[o] = blend(o, v.0)
                                frame[o + 1] = blend(o + 1, v.1)
                                frame[o + 2] = blend(o + 2, v.2)
                            }
                        }
                    }
                }
            }
        }
    }

    /// The frame pixels a paste through `mask` can touch: the mask's nonzero box in the crop (one
    /// pixel wider, for the sampler's reach), through the inverse transform, clamped to the frame
    /// (shrunk by `inset` on every side); nil when nothing is left. The mouth mask covers a third of
    /// the crop, so this is a third of the work of the crop's whole box.
    public static func frameBounds(of mask: [Float], size: Int, _ t: SimilarityTransform, width: Int, height: Int,
                                   inset: Int = 0) -> (x0: Int, y0: Int, x1: Int, y1: Int)? {
        var cx0 = size, cy0 = size, cx1 = -1, cy1 = -1
        for y in 0..<size {
            for x in 0..<size where mask[y * size + x] > 0 {
                cx0 = min(cx0, x); cx1 = max(cx1, x); cy0 = min(cy0, y); cy1 = max(cy1, y)
            }
        }
        guard cx1 >= 0 else { return nil }
        let lo = SIMD2(Double(cx0 - 1), Double(cy0 - 1)), hi = SIMD2(Double(cx1 + 1), Double(cy1 + 1))
        let corners = [lo, SIMD2(hi.x, lo.y), SIMD2(lo.x, hi.y), hi].map(t.inverse.apply)
        let x0 = max(inset, Int(corners.map(\.x).min()!.rounded(.down))), x1 = min(width - 1 - inset, Int(corners.map(\.x).max()!.rounded(.up)))
        let y0 = max(inset, Int(corners.map(\.y).min()!.rounded(.down))), y1 = min(height - 1 - inset, Int(corners.map(\.y).max()!.rounded(.up)))
        return x0 <= x1 && y0 <= y1 ? (x0, y0, x1, y1) : nil
    }

    /// Bilinear sample, unrounded.
    static func sampleFloat(_ img: RGBImage, _ x: Double, _ y: Double) -> (Float, Float, Float) {
        let t = Bilinear(clamping: x, y, width: img.width, height: img.height)
        let a = (t.y0 * img.width + t.x0) * 3, b = (t.y0 * img.width + t.x1) * 3, c = (t.y1 * img.width + t.x0) * 3, d = (t.y1 * img.width + t.x1) * 3
        func mix(_ ch: Int) -> Float { t.mix(Float(img.pixels[a + ch]), Float(img.pixels[b + ch]), Float(img.pixels[c + ch]), Float(img.pixels[d + ch])) }
        return (mix(0), mix(1), mix(2))
    }

    static func sample(_ img: RGBImage, _ x: Double, _ y: Double) -> (UInt8, UInt8, UInt8) {
        let v = sampleFloat(img, x, y)
        return (UInt8(v.0.rounded()), UInt8(v.1.rounded()), UInt8(v.2.rounded()))
    }

    static func boxBlur(_ m: [Float], size: Int, radius r: Int) -> [Float] {
        var tmp = m, out = m
        for y in 0..<size {
            for x in 0..<size {
                var s: Float = 0
                for k in max(0, x - r)...min(size - 1, x + r) { s += m[y * size + k] }
                tmp[y * size + x] = s / Float(2 * r + 1)
            }
        }
        for y in 0..<size {
            for x in 0..<size {
                var s: Float = 0
                for k in max(0, y - r)...min(size - 1, y + r) { s += tmp[k * size + x] }
                out[y * size + x] = s / Float(2 * r + 1)
            }
        }
        return out
    }

    static func erode(_ m: [Float], size: Int, radius r: Int) -> [Float] {
        guard r > 0 else { return m }
        var out = m
        for y in 0..<size {
            for x in 0..<size where m[y * size + x] > 0 {
                outer: for dy in -r...r {
                    for dx in -r...r {
                        let yy = y + dy, xx = x + dx
                        if yy < 0 || xx < 0 || yy >= size || xx >= size || m[yy * size + xx] == 0 { out[y * size + x] = 0; break outer }
                    }
                }
            }
        }
        return out
    }
}
