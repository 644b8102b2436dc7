import XCTest
import Media
@testable import Vision

/// FaceMesh's lip features (`FaceLandmarks.mouthDescriptor`): present, of unit RMS, and moved by the
/// mouth rather than by the picture's exposure.
final class MouthDescriptorTests: XCTestCase {
    func testDescriptorIsUnitRMSAndExposureFree() throws {
        let image = try FaceParityTests.image("grid_s1.jpg")
        let det = try XCTUnwrap(try FaceDetector().detect(image).first)
        let landmarker = try FaceLandmarker()
        let region = FaceLandmarker.region(for: det)
        XCTAssert(landmarker.landmarks(in: image, region: region).mouthDescriptor.isEmpty, "computed only when asked for")
        let d = landmarker.landmarks(in: image, region: region, withMouthDescriptor: true).mouthDescriptor
        XCTAssertEqual(d.count, FaceLandmarker.descriptorCount)
        XCTAssert(d.allSatisfy(\.isFinite))
        XCTAssertEqual((d.reduce(0) { $0 + $1 * $1 } / Float(d.count)).squareRoot(), 1, accuracy: 1e-4)
        // The same face 25 % darker: the features barely move (cosine near 1).
        var darker = image
        for i in darker.pixels.indices { darker.pixels[i] = UInt8(Float(darker.pixels[i]) * 0.75) }
        let e = landmarker.landmarks(in: darker, region: region, withMouthDescriptor: true).mouthDescriptor
        let cos = zip(d, e).reduce(0) { $0 + $1.0 * $1.1 } / Float(d.count)
        XCTAssertGreaterThan(cos, 0.97)
    }
}
