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
