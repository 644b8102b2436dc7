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
        XCTAssertEqual(r.audioDelayMs, 120, accuracy: 20, "the refined delay stays within half a frame of the integer one")
        XCTAssertEqual(r.audioDelayFramesRefined, 3, accuracy: 0.2)
        XCTAssertEqual(r.distCurve.count, 21)
        XCTAssertLessThan(r.minDist, 0.01)
        XCTAssertGreaterThan(r.confidence, 0.5)
        XCTAssertEqual(r.framewiseConfidence.count, 100)
    }

    /// A delay between frames is read between frames: the parabola through the curve's minimum
    /// and its neighbours recovers 2.4 frames where the integer search can only say 2.
    func testSubFrameDelayIsRefinedByTheParabola() {
        func f(_ t: Double) -> Double { sin(t * 0.37) + 0.5 * sin(t * 0.11) + 0.3 * sin(t * 0.23 + 1) }
        let mouth = (0..<200).map { f(Double($0)) }
        for delay in [2.4, -1.7, 4.5] {
            let audio = (0..<200).map { f(Double($0) - delay) }
            let r = CorrelationOffset.estimate(track: 0, frames: 0..<200, mouth: mouth, audio: audio, fps: 25, vshift: 10)
            XCTAssertEqual(r.audioDelayFrames, Int(delay.rounded()), accuracy: 1)
            XCTAssertEqual(r.audioDelayFramesRefined, delay, accuracy: 0.15, "delay \(delay)")
            XCTAssertEqual(r.audioDelayMs, r.audioDelayFramesRefined * 40, accuracy: 1e-9)
        }
        XCTAssertEqual(CurveStatistics.parabolicOffset([1, 0, 1], at: 1), 0)
        XCTAssertEqual(CurveStatistics.parabolicOffset([2, 0, 1], at: 1), 1.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(CurveStatistics.parabolicOffset([0, 1], at: 0), 0, "no neighbour on one side: no refinement")
    }

    /// The scale-free readings do not change when the curve is scaled or shifted (that is their point).
    func testCurveStatisticsAreScaleFree() {
        let c: [Double] = [0.9, 0.85, 0.88, 0.7, 0.5, 0.72, 0.86, 0.9, 0.87, 0.91, 0.89]
        let scaled = c.map { 0.2 * $0 + 0.3 }
        XCTAssertEqual(CurveStatistics.robustDepth(c, at: 4), CurveStatistics.robustDepth(scaled, at: 4), accuracy: 1e-9)
        XCTAssertEqual(CurveStatistics.sharpness(c, at: 4), CurveStatistics.sharpness(scaled, at: 4), accuracy: 1e-9)
        XCTAssertGreaterThan(CurveStatistics.robustDepth(c, at: 4), 5)
        XCTAssertEqual(CurveStatistics.agreement([[1, 0, 1, 1, 1], [1, 1, 0, 1, 1], [0, 1, 1, 1, 1], [1, 1, 1, 0, .nan]], best: 1), 0.75)
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
