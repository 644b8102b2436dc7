import XCTest
@testable import Sync

final class DetectionTests: XCTestCase {
    func judge(_ name: String) throws -> SyncDetector.Report {
        try SyncDetector().judge(SyncSignals.gather(video: OffsetTests.media.appendingPathComponent(name).path), vshift: 15)
    }

    func testVerdictsAndExitCodes() throws {
        XCTAssertEqual(try judge("grid_talk.mp4").verdict, .inSync)
        let late = try judge("grid_talk_audio_late200.mp4")
        XCTAssertEqual(late.verdict, .offset)
        XCTAssertGreaterThan(late.tracks[0].offset.audioDelayMs, 0, "late audio has a positive delay")
        XCTAssertEqual(try judge("grid_face_silent.mp4").verdict, .noSpeech)
        XCTAssertEqual(try judge("sync_h264_aac.mp4").verdict, .noFace)
        XCTAssertEqual([SyncVerdict.inSync, .offset, .mismatched, .noFace, .noSpeech].map(\.exitCode), [0, 10, 11, 12, 13])
    }

    func testVoiceActivity() {
        XCTAssertEqual(SyncDetector.speechFraction([Double](repeating: -4, count: 100)), 0)
        let speech = [Double](repeating: -4, count: 50) + [Double](repeating: -1, count: 50)
        XCTAssertEqual(SyncDetector.speechFraction(speech), 0.5)
        // Talk without a pause: syllables between -1.6 and 0, never a quiet frame. Against its own 10th
        // percentile only its loudest frames would count; it is speech throughout.
        let talk = (0..<200).map { -0.8 + 0.8 * sin(Double($0) * 0.9) }
        XCTAssertGreaterThan(SyncDetector.speechFraction(talk), 0.75)
        // A steady hum at -2.8 is not speech.
        XCTAssertEqual(SyncDetector.speechFraction([Double](repeating: -2.8, count: 100)), 0)
    }

    func testJSONContract() throws {
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        let data = try enc.encode(try judge("grid_talk.mp4"))
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(obj["verdict"] as? String, "in-sync")
        let track = try XCTUnwrap((obj["tracks"] as? [[String: Any]])?.first?["offset"] as? [String: Any])
        for key in ["track", "start_frame", "end_frame", "audio_delay_frames", "audio_delay_ms", "min_dist", "confidence",
                    "framewise_confidence", "dist_curve"] {
            XCTAssertNotNil(track[key], key)
        }
    }
}
