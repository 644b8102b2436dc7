import XCTest
@testable import Media

final class VideoWriterTests: XCTestCase {
    /// Writes a black clip with a white frame at 1 s and a beep from 1 s, then reads both back.
    func testRoundTripKeepsSyncWithEncodedAudio() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("round.mp4").path
        let w = try VideoWriter(path: out, width: 64, height: 48, fps: 25, options: .init(crf: 23, audio: .samples(sampleRate: 16_000)))
        XCTAssertEqual(w.encoderName, "libx264")
        var audio = [Float](repeating: 0, count: 32_000)
        for i in 16_000..<24_000 { audio[i] = 0.5 * Float(sin(2 * Double.pi * 1000 * Double(i) / 16_000 + 0.3)) }
        for i in 0..<50 {
            try w.append(RGBImage(width: 64, height: 48, fill: i == 25 ? 255 : 0))
            try w.append(audio: Array(audio[(i * 640)..<((i + 1) * 640)]))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "output appears only on finish")
        try w.finish()
        let info = try MediaInfo(probing: out)
        XCTAssertEqual(info.video?.codec, "h264")
        XCTAssertEqual(info.audio?.codec, "aac")
        let flash = try XCTUnwrap(try flashTime(out))
        let beep = try XCTUnwrap(try beepTime(out))
        XCTAssertEqual(flash, 1.0, accuracy: 1e-3)
        XCTAssertEqual(beep, flash, accuracy: 1024.0 / 16_000)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(leftovers, ["round.mp4"])
    }

    func testCopiedAudioStaysInSync() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for source in ["sync_h264_aac.mp4", "sync_mpeg1_mp2.mpg", "sync_h264_pcm.mkv"] {
            let out = dir.appendingPathComponent("copy-\(source).mp4").path
            let reader = try VideoReader(path: Fixture.media(source))
            let w = try VideoWriter(path: out, width: reader.width, height: reader.height, fps: 25,
                                    options: .init(audio: .copy(fromFile: Fixture.media(source))))
            while let f = try reader.nextFrame() { try w.append(f.image) }
            try w.finish()
            let flash = try XCTUnwrap(try flashTime(out))
            let beep = try XCTUnwrap(try beepTime(out))
            XCTAssertEqual(beep, flash, accuracy: 1024.0 / 44_100 + 0.001, source)
        }
    }

    func testAbandonedWriterLeavesNothingBehind() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("abandoned.mp4").path
        do {
            let w = try VideoWriter(path: out, width: 64, height: 48, fps: 25)
            for _ in 0..<10 { try w.append(RGBImage(width: 64, height: 48, fill: 80)) }
            XCTAssertThrowsError(try w.append(RGBImage(width: 32, height: 32)))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }
}
