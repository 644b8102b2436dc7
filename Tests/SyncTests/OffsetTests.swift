import XCTest
import Media
@testable import Sync

final class OffsetTests: XCTestCase {
    static let media = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/media")

    func testShiftSearchFindsAKnownDelay() {
        // A synthetic mouth signal and the same signal 3 frames later in the audio.
        let mouth = (0..<100).map { sin(Double($0) * 0.37) + 0.5 * sin(Double($0) * 0.11) }
        let audio = [Double](repeating: 0, count: 3) + mouth.dropLast(3)
        let r = CorrelationOffset.estimate(track: 0, frames: 0..<100, mouth: mouth, audio: audio, fps: 25, vshift: 10)
        XCTAssertEqual(r.audioDelayFrames, 3)
        XCTAssertEqual(r.audioDelayMs, 120, accuracy: 1e-9)
        XCTAssertEqual(r.distCurve.count, 21)
        XCTAssertLessThan(r.minDist, 0.01)
        XCTAssertGreaterThan(r.confidence, 0.5)
        XCTAssertEqual(r.framewiseConfidence.count, 100)
    }

    /// Sign convention on real speech: delaying the audio by 200 ms (5 frames) moves the estimate by +5.
    func testDelayedAudioReadsAsLate() throws {
        let inSync = try SyncSignals.gather(video: Self.media.appendingPathComponent("grid_talk.mp4").path).offsets(vshift: 15)
        let late = try SyncSignals.gather(video: Self.media.appendingPathComponent("grid_talk_audio_late200.mp4").path).offsets(vshift: 15)
        XCTAssertEqual(inSync.count, 1)
        XCTAssertEqual(late.count, 1)
        print("in sync: \(inSync[0].audioDelayFrames) frames, conf \(inSync[0].confidence); late: \(late[0].audioDelayFrames) frames, conf \(late[0].confidence)")
        XCTAssertEqual(late[0].audioDelayFrames - inSync[0].audioDelayFrames, 5, accuracy: 1)
        XCTAssertGreaterThan(late[0].audioDelayMs, 120)
        XCTAssertEqual(late[0].startFrame, 0)
        XCTAssertEqual(late[0].endFrame, 74)
    }

    func testNoFaceGivesNoTracks() throws {
        let s = try SyncSignals.gather(video: Self.media.appendingPathComponent("sync_h264_aac.mp4").path)
        XCTAssertTrue(s.mouth.isEmpty)
        XCTAssertEqual(s.audio.count, 50)
        XCTAssertTrue(s.offsets(vshift: 15).isEmpty)
    }
}
