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
        XCTAssertEqual([SyncVerdict.inSync, .offset, .mismatched, .noFace, .noSpeech, .uncertain, .notSpeaking].map(\.exitCode),
                       [0, 10, 11, 12, 13, 14, 15])
    }

    func reading(track: Int = 0, frames: ClosedRange<Int> = 0...74, delay: Int = 0, probability: Double?, activity: Double? = 0.15,
                 confidence: Double = 0.3) -> TrackOffset {
        var o = TrackOffset(track: track, startFrame: frames.lowerBound, endFrame: frames.upperBound, audioDelayFrames: delay,
                            audioDelayMs: Double(delay) * 40, minDist: 0.5, confidence: confidence, framewiseConfidence: [],
                            distCurve: [], method: probability == nil ? .correlation : .learned)
        o.syncProbability = probability
        o.mouthActivity = activity
        o.unreliable = SyncDetector().unreliability(of: o)
        return o
    }

    /// A weak reading is neither an offset nor a mismatch; a still mouth is not speaking.
    func testUncertainAndNotSpeakingVerdicts() {
        let d = SyncDetector()
        XCTAssertEqual(d.verdict(of: reading(probability: 0.7)), .inSync)
        XCTAssertEqual(d.verdict(of: reading(delay: 5, probability: 0.7)), .offset)
        XCTAssertEqual(d.verdict(of: reading(delay: 5, probability: 0.45)), .uncertain, "an offset read from a weak reading is not stated")
        XCTAssertEqual(d.verdict(of: reading(probability: 0.1)), .mismatched)
        XCTAssertEqual(d.verdict(of: reading(probability: 0.9, activity: 0.002)), .notSpeaking)
        // Lips that move but show little (a small, compressed mouth) cannot carry a mismatch.
        XCTAssertEqual(d.verdict(of: reading(probability: 0.1, activity: 0.018)), .uncertain)
        XCTAssertTrue(reading(probability: 0.1, activity: 0.018).unreliable?.contains("too little to judge") ?? false)
        XCTAssertEqual(d.verdict(of: reading(probability: 0.7, activity: 0.018)), .inSync)
        XCTAssertEqual(d.verdict(of: reading(probability: 0.1, activity: 0.035)), .mismatched)
        XCTAssertNil(reading(probability: 0.7).unreliable)
        XCTAssertTrue(reading(probability: 0.45).unreliable?.contains("below") ?? false)
        // Without a calibration (correlation) there is no uncertain band: the confidence threshold decides.
        XCTAssertEqual(d.verdict(of: reading(probability: nil, confidence: 0.1)), .mismatched)
        XCTAssertEqual(d.verdict(of: reading(probability: nil, confidence: 0.3)), .inSync)
    }

    /// Two faces at once: the one that follows the speech is the speaker, the other a listener, not a mismatch.
    func testTheSpeakerIsNamedAndTheListenerIsNotSpeaking() {
        let d = SyncDetector()
        let judged = [reading(track: 0, probability: 0.3), reading(track: 1, probability: 0.65)].map {
            SyncDetector.TrackVerdict(track: $0.track, verdict: d.verdict(of: $0), offset: $0)
        }
        let (tracks, speaker) = SyncDetector.speaker(among: judged)
        XCTAssertEqual(speaker?.track, 1)
        XCTAssertEqual(tracks.map(\.verdict), [.notSpeaking, .inSync])
        // On screen at different times, a failing face is judged on its own.
        let apart = [reading(track: 0, frames: 0...40, probability: 0.1), reading(track: 1, frames: 50...120, probability: 0.65)].map {
            SyncDetector.TrackVerdict(track: $0.track, verdict: d.verdict(of: $0), offset: $0)
        }
        XCTAssertEqual(SyncDetector.speaker(among: apart).tracks.map(\.verdict), [.mismatched, .inSync])
        // Nobody's mouth moves: no speaker.
        let still = [reading(track: 0, probability: 0.8, activity: 0.001)].map {
            SyncDetector.TrackVerdict(track: $0.track, verdict: d.verdict(of: $0), offset: $0)
        }
        XCTAssertNil(SyncDetector.speaker(among: still).speaker)
    }

    /// The two-person footage fixture: s5 speaking beside s22 listening in silence.
    func testTwoPeopleOnScreenNameTheSpeaker() throws {
        let r = try judge("footage/two_people_one_speaking.mp4")
        XCTAssertEqual(r.tracks.count, 2)
        XCTAssertEqual(r.verdict, .inSync)
        let speaker = try XCTUnwrap(r.tracks.first { $0.track == r.speakingTrack })
        let listener = try XCTUnwrap(r.tracks.first { $0.track != r.speakingTrack })
        XCTAssertEqual(listener.verdict, .notSpeaking)
        XCTAssertGreaterThan(speaker.offset.mouthActivity ?? 0, 3 * (listener.offset.mouthActivity ?? 1), "the speaker is the face that moves")
    }

    func testVoiceActivityOnLevelsAlone() {
        XCTAssertEqual(SyncDetector.speechFraction([Double](repeating: -4, count: 100)), 0)
        // Talk without a pause: syllables between -1.6 and 0, never a quiet frame. Against its own 10th
        // percentile only its loudest frames would count; it is speech throughout.
        let talk = (0..<200).map { -0.8 + 0.8 * sin(Double($0) * 0.9) }
        XCTAssertGreaterThan(SyncDetector.speechFraction(talk), 0.75)
        // A steady level is not speech, however loud: a hum at -2.8, a roar at -1.
        XCTAssertEqual(SyncDetector.speechFraction([Double](repeating: -2.8, count: 100)), 0)
        XCTAssertEqual(SyncDetector.speechFraction([Double](repeating: -1, count: 100)), 0)
        // Half silence, half syllables: the syllables are the speech.
        let half = [Double](repeating: -4, count: 100) + talk.prefix(100)
        XCTAssertEqual(SyncDetector.speechFraction(half), 0.5, accuracy: 0.1)
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
