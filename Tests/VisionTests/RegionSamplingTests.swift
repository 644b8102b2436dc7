import XCTest
import Media
import NN
@testable import Vision

/// The AVX-512 region sampler (CKernels/Sampling.c) against the Swift loop it stands in for, bit
/// for bit: BlazeFace and FaceMesh were matched against MediaPipe through that loop, so their input
/// must not move by a rounding. Regions inside the frame, rotated, straddling each edge and the
/// last pixel, larger than the frame, with both border rules and a size that leaves a strip tail.
final class RegionSamplingTests: XCTestCase {
    func testVectorisedSamplerIsBitIdentical() {
        var rng = SeededRandom(seed: 21)
        let (w, h) = (97, 61)
        let image = RGBImage(width: w, height: h, pixels: (0..<(w * h * 3)).map { _ in UInt8(rng.uniform() * 255.999) })
        let regions = [
            RegionOfInterest(centerX: 48, centerY: 30, width: 40, height: 40),
            RegionOfInterest(centerX: 50, centerY: 28, width: 33, height: 35, rotation: 0.4),
            RegionOfInterest(centerX: 3, centerY: 30, width: 30, height: 30, rotation: -0.2),
            RegionOfInterest(centerX: 90, centerY: 55, width: 25, height: 25),
            RegionOfInterest(centerX: 96.2, centerY: 60.4, width: 6, height: 6),
            RegionOfInterest.letterbox(width: w, height: h),
            RegionOfInterest(centerX: 48, centerY: 30, width: 400, height: 300, rotation: 1.0),
        ]
        for (k, r) in regions.enumerated() {
            for size in [16, 35, 64] {
                for zero in [false, true] {
                    let a = Tensor(shape: [1, 3, size, size]), b = Tensor(shape: [1, 3, size, size])
                    r.sample(image, size: size, range: -1...1, zeroBorder: zero, into: a)
                    r.sample(image, size: size, range: -1...1, zeroBorder: zero, into: b, vectorised: false)
                    let differing = (0..<a.count).filter { a[$0].bitPattern != b[$0].bitPattern }.count
                    XCTAssertEqual(differing, 0, "region \(k), size \(size), zero border \(zero)")
                }
            }
        }
    }
}
