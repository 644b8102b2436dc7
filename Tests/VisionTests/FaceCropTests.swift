import XCTest
import Media
@testable import Vision

final class FaceCropTests: XCTestCase {
    func testSimilarityFitAndInverse() {
        let t = SimilarityTransform(a: 0.8 * cos(0.3), b: 0.8 * sin(0.3), tx: 12, ty: -7)
        let src = [SIMD2(1.0, 2.0), SIMD2(40.0, 5.0), SIMD2(20.0, 33.0), SIMD2(-3.0, 9.0)]
        let fit = SimilarityTransform.fit(from: src, to: src.map(t.apply))
        XCTAssertEqual(fit.a, t.a, accuracy: 1e-9); XCTAssertEqual(fit.b, t.b, accuracy: 1e-9)
        XCTAssertEqual(fit.tx, t.tx, accuracy: 1e-9); XCTAssertEqual(fit.ty, t.ty, accuracy: 1e-9)
        for p in src {
            let back = t.inverse.apply(t.apply(p))
            XCTAssertEqual(back.x, p.x, accuracy: 1e-9); XCTAssertEqual(back.y, p.y, accuracy: 1e-9)
        }
    }

    func testAlignedCropPutsEyesOnTheTemplateAndPastesBack() throws {
        var image = try FaceParityTests.image("grid_s1.jpg")
        let original = image
        let det = try XCTUnwrap(try FaceDetector().detect(image).first)
        let lm = try FaceLandmarker().landmarks(in: image, region: FaceLandmarker.region(for: det))
        for size in [96, 128, 256] {
            let t = FaceCrop.alignment(lm.points, size: size)
            let stable = FaceCrop.stablePoints(lm.points).map(t.apply)
            for (p, q) in zip(stable, FaceCrop.template) {
                XCTAssertEqual(p.x / Double(size), q.x, accuracy: 0.03); XCTAssertEqual(p.y / Double(size), q.y, accuracy: 0.03)
            }
            let crop = FaceCrop.crop(image, t, size: size)
            XCTAssertEqual(crop.width, size)
            XCTAssertEqual(FaceCrop.mouthCrop(image, t, size: size).height, size / 2)
        }
        // Mask: on at the mouth centre, off on the forehead, soft at the edge.
        let size = 128, t = FaceCrop.alignment(lm.points, size: size)
        let mask = FaceCrop.mask(polygon: FaceCrop.mouthPolygon(lm.points, t), size: size, feather: 8)
        let mouth = t.apply(SIMD2(Double(lm.points[13].x + lm.points[14].x) / 2, Double(lm.points[13].y + lm.points[14].y) / 2))
        XCTAssertGreaterThan(mask[Int(mouth.y) * size + Int(mouth.x)], 0.99)
        XCTAssertEqual(mask[20 * size + 64], 0)
        XCTAssertTrue(mask.contains { $0 > 0.2 && $0 < 0.8 }, "feathered edge")
        // Pasting an unchanged crop back leaves the picture (nearly) as it was.
        let crop = FaceCrop.crop(image, t, size: size)
        FaceCrop.paste(crop, mask: mask, into: &image, t)
        let diff = zip(image.pixels, original.pixels).map { abs(Int($0) - Int($1)) }
        XCTAssertLessThan(Double(diff.reduce(0, +)) / Double(diff.count), 1.0)
        // Pasting a black crop darkens the mouth and nothing above the nose.
        var dark = original
        FaceCrop.paste(RGBImage(width: size, height: size), mask: mask, into: &dark, t)
        let m = t.inverse.apply(mouth)
        XCTAssertLessThan(dark[Int(m.x), Int(m.y)].r, 20)
        let eye = FaceCrop.stablePoints(lm.points)[0]
        XCTAssertEqual(dark[Int(eye.x), Int(eye.y)].r, original[Int(eye.x), Int(eye.y)].r)
        // Detail-preserving paste: an unchanged crop gives the frame back exactly (the round trip's
        // blur is undone), a repainted one still shows the painting, without the old detail.
        var kept = original
        let originalCrop = FaceCrop.crop(original, t, size: size)
        FaceCrop.paste(originalCrop, mask: mask, into: &kept, t, original: originalCrop)
        XCTAssertEqual(kept.pixels, original.pixels)
        var repainted = original
        FaceCrop.paste(RGBImage(width: size, height: size), mask: mask, into: &repainted, t, original: originalCrop)
        XCTAssertLessThan(repainted[Int(m.x), Int(m.y)].r, 20)
        XCTAssertEqual(repainted[Int(eye.x), Int(eye.y)].r, original[Int(eye.x), Int(eye.y)].r)
    }

    /// The paste's resampling keeps the frame's detail: a crop taken and pasted back (no detail
    /// restoration) keeps most of the variance of the Laplacian inside the mouth region. A bilinear
    /// paste kept about half of it, which read as a soft mouth at every face size.
    func testCubicPasteKeepsTheMouthsDetail() throws {
        let image = try FaceParityTests.image("grid_s1.jpg")
        let det = try XCTUnwrap(try FaceDetector().detect(image).first)
        let lm = try FaceLandmarker().landmarks(in: image, region: FaceLandmarker.region(for: det))
        let size = 128, t = FaceCrop.alignment(lm.points, size: size)
        let mask = FaceCrop.mask(polygon: FaceCrop.mouthPolygon(lm.points, t), size: size, feather: 8)
        var pasted = image
        FaceCrop.paste(FaceCrop.crop(image, t, size: size), mask: mask, into: &pasted, t)
        func laplacianVariance(_ img: RGBImage) -> Double {
            var values: [Double] = []
            for y in 1..<(img.height - 1) {
                for x in 1..<(img.width - 1) {
                    let c = t.apply(SIMD2(Double(x), Double(y)))
                    guard c.x >= 0, c.y >= 0, c.x < Double(size), c.y < Double(size), mask[Int(c.y) * size + Int(c.x)] > 0.99 else { continue }
                    func g(_ xx: Int, _ yy: Int) -> Double { let p = img[xx, yy]; return 0.299 * Double(p.r) + 0.587 * Double(p.g) + 0.114 * Double(p.b) }
                    values.append(4 * g(x, y) - g(x - 1, y) - g(x + 1, y) - g(x, y - 1) - g(x, y + 1))
                }
            }
            let mean = values.reduce(0, +) / Double(values.count)
            return values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
        }
        let kept = laplacianVariance(pasted) / laplacianVariance(image)
        // Measured: 0.45 with Catmull-Rom, 0.34 with the bilinear paste (this face is 0.75 crop
        // pixels per frame pixel, so part of the loss is the crop's own resolution).
        XCTAssertGreaterThan(kept, 0.42)
    }
}
