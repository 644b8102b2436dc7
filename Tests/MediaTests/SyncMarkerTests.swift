import XCTest
@testable import Media

/// The white frame and the beep start together (or 200 ms apart): audio sample 0 and video time 0
/// must line up as ffmpeg lines them up, across containers, codecs and start offsets.
final class SyncMarkerTests: XCTestCase {
    // Tolerance: 1 ms where the codec adds no frame-sized uncertainty, one codec frame otherwise.
    static let cases: [(file: String, tolerance: Double)] = [
        ("sync_h264_pcm.mkv", 0.001),
        ("sync_mpeg1_mp2.mpg", 0.001),
        ("sync_h264_aac.mp4", 1024.0 / 48_000),
        ("sync_vp9_opus.webm", 960.0 / 48_000),
        ("sync_mpeg4_mp3.avi", 1152.0 / 44_100),
        ("sync_flv_mp3.flv", 1152.0 / 44_100),
    ]

    func testFlashAndBeepCoincide() throws {
        for c in Self.cases {
            let flash = try XCTUnwrap(try flashTime(Fixture.media(c.file)), c.file)
            let beep = try XCTUnwrap(try beepTime(Fixture.media(c.file)), c.file)
            XCTAssertEqual(beep, flash, accuracy: c.tolerance, "\(c.file): flash \(flash) s, beep \(beep) s")
            // Both markers sit near 1 s on the file's own timeline.
            XCTAssertEqual(flash, 1.0, accuracy: 0.05, c.file)
        }
    }

    func testDelayedAudioIsMeasuredAs200ms() throws {
        let cases: [(String, Double)] = [
            ("delay200_h264_pcm.mkv", 0.001),
            ("delay200_mpeg1_mp2.mpg", 0.001),
            ("delay200_h264_aac.mp4", 1024.0 / 48_000),
        ]
        for (file, tolerance) in cases {
            let flash = try XCTUnwrap(try flashTime(Fixture.media(file)), file)
            let beep = try XCTUnwrap(try beepTime(Fixture.media(file)), file)
            XCTAssertEqual(beep - flash, 0.200, accuracy: tolerance, "\(file): flash \(flash) s, beep \(beep) s")
        }
    }

    func testFlashFrameTimeIsExactForConstantRate() throws {
        let flash = try XCTUnwrap(try flashTime(Fixture.media("sync_h264_pcm.mkv")))
        XCTAssertEqual(flash, 1.0, accuracy: 1e-6)
    }
}
