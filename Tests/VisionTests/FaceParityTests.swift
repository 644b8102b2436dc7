import XCTest
import Media
@testable import Vision

/// Against mediapipe 0.10.14's own results on the same images (tools/make_face_references.py).
final class FaceParityTests: XCTestCase {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/faces")

    struct Reference: Decodable {
        struct Det: Decodable { var score: Double; var box: [Double]; var keypoints: [[Double]] }
        struct Image: Decodable { var width: Int; var height: Int; var detections: [Det]; var landmarks: [[[Double]]] }
        var mediapipe: String
        var images: [String: Image]
    }

    static func references() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: dir.appendingPathComponent("references.json")))
    }

    static func image(_ name: String) throws -> RGBImage {
        try XCTUnwrap(try VideoReader(path: dir.appendingPathComponent(name).path).nextFrame()).image
    }

    func testDetectionsMatchMediaPipe() throws {
        let refs = try Self.references()
        let detector = try FaceDetector()
        XCTAssertGreaterThanOrEqual(refs.images.count, 10)
        for (name, ref) in refs.images.sorted(by: { $0.key < $1.key }) {
            let img = try Self.image(name)
            let ours = detector.detect(img)
            XCTAssertEqual(ours.count, ref.detections.count, name)
            for r in ref.detections {
                let want = FaceDetection(score: Float(r.score), x: r.box[0] * Double(ref.width), y: r.box[1] * Double(ref.height),
                                         width: r.box[2] * Double(ref.width), height: r.box[3] * Double(ref.height), keypoints: [])
                let best = ours.max { $0.iou(want) < $1.iou(want) }
                let iou = best?.iou(want) ?? 0
                print("detection \(name): IoU \(iou), score \(best?.score ?? 0) vs \(r.score)")
                XCTAssertGreaterThanOrEqual(iou, 0.95, name)
                if let b = best {
                    XCTAssertEqual(Double(b.score), r.score, accuracy: 0.02, name)
                    for (k, kp) in r.keypoints.enumerated() {
                        XCTAssertEqual(b.keypoints[k][0], kp[0] * Double(ref.width), accuracy: 0.02 * b.width, "\(name) kp\(k)")
                        XCTAssertEqual(b.keypoints[k][1], kp[1] * Double(ref.height), accuracy: 0.02 * b.height, "\(name) kp\(k)")
                    }
                }
            }
        }
    }
}

extension FaceParityTests {
    /// Mean landmark distance, measured at the 192x192 scale the network sees, against mediapipe's
    /// FaceMesh (static mode) on the same images.
    func testLandmarksMatchMediaPipe() throws {
        let refs = try Self.references()
        let detector = try FaceDetector(), landmarker = try FaceLandmarker()
        for (name, ref) in refs.images.sorted(by: { $0.key < $1.key }) where !ref.landmarks.isEmpty {
            let img = try Self.image(name)
            let faces = detector.detect(img).map { landmarker.landmarks(in: img, region: FaceLandmarker.region(for: $0)) }
            for refMesh in ref.landmarks {
                let refPoints = refMesh.map { SIMD2(Float($0[0] * Double(ref.width)), Float($0[1] * Double(ref.height))) }
                // The face whose nose tip (point 1) is nearest.
                let face = try XCTUnwrap(faces.min { simd_distance2($0.points[1], refPoints[1]) < simd_distance2($1.points[1], refPoints[1]) }, name)
                let scale = Float(FaceLandmarker.inputSize) / Float(face.region.width)
                let mean = zip(face.points, refPoints).map { simd_distance2($0.0, $0.1).squareRoot() * scale }.reduce(0, +) / 468
                print("landmarks \(name): mean error \(mean) px at 192, presence \(face.presence)")
                XCTAssertLessThanOrEqual(mean, 1.0, name)
                XCTAssertGreaterThan(face.presence, 0.5, name)
            }
        }
    }
}

private func simd_distance2(_ a: SIMD3<Float>, _ b: SIMD2<Float>) -> Float {
    let dx = a.x - b.x, dy = a.y - b.y
    return dx * dx + dy * dy
}
