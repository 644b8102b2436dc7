import XCTest
import Media
@testable import Vision

final class TrackingTests: XCTestCase {
    static let media = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/media")

    /// Runs the tracker over a clip; `edit` may alter frames before tracking.
    func track(_ name: String, edit: ((Int, inout RGBImage) -> Void)? = nil) throws -> [FrameFaces] {
        let tracker = try FaceTracker()
        let reader = try VideoReader(path: Self.media.appendingPathComponent(name).path)
        var out: [FrameFaces] = []
        var image = RGBImage.empty
        while let t = try reader.readFrame(into: &image) {
            edit?(t.index, &image)
            out += tracker.push(image, frame: t.index, time: t.time)
        }
        return out + tracker.finish()
    }

    func testOneIdentityThroughAClip() throws {
        let frames = try track("grid_face.mp4")
        XCTAssertEqual(frames.count, 50)
        XCTAssertEqual(frames.map(\.frame), Array(0..<50))
        XCTAssertTrue(frames.allSatisfy { $0.faces.count == 1 && $0.faces[0].track == 0 && !$0.sceneCut })
        // The speaker talks: the mouth opens and closes.
        let opening = frames.map { $0.faces[0].mouthOpening }
        XCTAssertGreaterThan(opening.max()! - opening.min()!, 0.03)
    }

    func testSceneCutSplitsTheTrack() throws {
        let frames = try track("scene_cut.mp4")
        XCTAssertEqual(frames.count, 50)
        XCTAssertEqual(frames.filter(\.sceneCut).map(\.frame), [25])
        XCTAssertEqual(Set(frames[0..<25].flatMap { $0.faces.map(\.track) }), [0])
        XCTAssertEqual(Set(frames[25...].flatMap { $0.faces.map(\.track) }), [1])
    }

    func testShortGapKeepsTheIdAndIsInterpolated() throws {
        // Paint the face out of frames 20-22 with the background colour.
        let frames = try track("grid_face.mp4") { i, img in
            guard (20...22).contains(i) else { return }
            let bg = img[10, 10]
            for y in 40..<288 { for x in 80..<280 { let o = (y * img.width + x) * 3; img.pixels[o] = bg.r; img.pixels[o + 1] = bg.g; img.pixels[o + 2] = bg.b } }
        }
        XCTAssertTrue(frames.allSatisfy { $0.faces.count == 1 && $0.faces[0].track == 0 })
        XCTAssertEqual(frames.filter { $0.faces.first?.interpolated == true }.map(\.frame), [20, 21, 22])
    }

    func testNoFaceIsNotAnError() throws {
        let frames = try track("sync_h264_aac.mp4")
        XCTAssertEqual(frames.count, 50)
        XCTAssertTrue(frames.allSatisfy { $0.faces.isEmpty })
    }
}
