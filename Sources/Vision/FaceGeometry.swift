import Foundation

/// FaceMesh landmark indices LipSync uses, and the mouth measures derived from them.
public enum FaceMeshIndex {
    public static let outerLips = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]
    public static let innerLips = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]
    public static let jaw = [234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454]
    public static let rightEye = (33, 133), leftEye = (362, 263)
    public static let noseTip = 1
    public static let upperInnerLip = 13, lowerInnerLip = 14
    public static let mouthCorners = (61, 291)
}

extension FaceLandmarks {
    func point(_ i: Int) -> SIMD2<Double> { SIMD2(Double(points[i].x), Double(points[i].y)) }

    public var rightEyeCenter: SIMD2<Double> { (point(FaceMeshIndex.rightEye.0) + point(FaceMeshIndex.rightEye.1)) / 2 }
    public var leftEyeCenter: SIMD2<Double> { (point(FaceMeshIndex.leftEye.0) + point(FaceMeshIndex.leftEye.1)) / 2 }
    public var interOcularDistance: Double { length(leftEyeCenter - rightEyeCenter) }

    /// Inner-lip gap over the inter-ocular distance: about 0 closed, 0.3-0.6 wide open.
    public var mouthOpening: Double {
        length(point(FaceMeshIndex.upperInnerLip) - point(FaceMeshIndex.lowerInnerLip)) / max(1e-6, interOcularDistance)
    }

    /// Mouth-corner distance over the inter-ocular distance.
    public var mouthWidth: Double {
        length(point(FaceMeshIndex.mouthCorners.0) - point(FaceMeshIndex.mouthCorners.1)) / max(1e-6, interOcularDistance)
    }

    public var outerLipContour: [SIMD2<Double>] { FaceMeshIndex.outerLips.map(point) }
    public var innerLipContour: [SIMD2<Double>] { FaceMeshIndex.innerLips.map(point) }
    public var jawLine: [SIMD2<Double>] { FaceMeshIndex.jaw.map(point) }

    /// Axis-aligned bounds of all points: left, top, width, height.
    public var bounds: (x: Double, y: Double, width: Double, height: Double) {
        var lo = SIMD2<Double>(repeating: .infinity), hi = SIMD2<Double>(repeating: -.infinity)
        for p in points { let q = SIMD2(Double(p.x), Double(p.y)); lo = pointwiseMin(lo, q); hi = pointwiseMax(hi, q) }
        return (lo.x, lo.y, hi.x - lo.x, hi.y - lo.y)
    }

    /// The region for the next frame, as MediaPipe's face_landmark_front derives it from landmarks:
    /// the points' bounds, turned level with the eyes, square on the long side, scaled by 1.5.
    public var nextRegion: RegionOfInterest {
        let r = point(FaceMeshIndex.rightEye.0), l = point(FaceMeshIndex.leftEye.1)
        var angle = -atan2(-(l.y - r.y), l.x - r.x)
        angle -= 2 * Double.pi * floor((angle + Double.pi) / (2 * Double.pi))
        // Bounds measured in the rotated frame, so the square hugs a tilted face.
        let c = cos(-angle), s = sin(-angle)
        var lo = SIMD2<Double>(repeating: .infinity), hi = SIMD2<Double>(repeating: -.infinity)
        for p in points {
            let q = SIMD2(Double(p.x) * c - Double(p.y) * s, Double(p.x) * s + Double(p.y) * c)
            lo = pointwiseMin(lo, q); hi = pointwiseMax(hi, q)
        }
        let mid = (lo + hi) / 2
        let center = SIMD2(mid.x * cos(angle) - mid.y * sin(angle), mid.x * sin(angle) + mid.y * cos(angle))
        let side = max(hi.x - lo.x, hi.y - lo.y) * 1.5
        return RegionOfInterest(centerX: center.x, centerY: center.y, width: side, height: side, rotation: angle)
    }
}

@inline(__always) func length(_ v: SIMD2<Double>) -> Double { (v * v).sum().squareRoot() }

/// One-Euro filter (Casiez et al. 2012): smooths heavily when still, follows quickly when moving.
struct OneEuroFilter {
    var minCutoff: Double, beta: Double, derivativeCutoff: Double
    private var previous: Double?, previousDerivative = 0.0

    init(minCutoff: Double, beta: Double, derivativeCutoff: Double = 1) {
        (self.minCutoff, self.beta, self.derivativeCutoff) = (minCutoff, beta, derivativeCutoff)
    }

    private static func alpha(_ cutoff: Double, _ dt: Double) -> Double {
        let tau = 1 / (2 * Double.pi * cutoff)
        return 1 / (1 + tau / dt)
    }

    /// `scale` converts the value's units to the units `beta` is tuned in (here: face widths).
    mutating func filter(_ x: Double, dt: Double, scale: Double) -> Double {
        guard let p = previous, dt > 0 else { previous = x; return x }
        let dx = (x - p) / dt / scale
        let ad = Self.alpha(derivativeCutoff, dt)
        previousDerivative = ad * dx + (1 - ad) * previousDerivative
        let cutoff = minCutoff + beta * abs(previousDerivative)
        let a = Self.alpha(cutoff, dt)
        let y = a * x + (1 - a) * p
        previous = y
        return y
    }
}
