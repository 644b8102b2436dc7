import XCTest
@testable import Media

final class ErrorTests: XCTestCase {
    func assertThrows(_ expected: MediaError, _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual(error as? MediaError, expected, file: file, line: line)
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), "error must be one line: \(text)", file: file, line: line)
        }
    }

    func testMissingFile() {
        let path = "/definitely/not/here.mp4"
        assertThrows(.fileNotFound(path: path)) { _ = try VideoReader(path: path) }
        assertThrows(.fileNotFound(path: path)) { _ = try AudioReader(path: path) }
        assertThrows(.fileNotFound(path: path)) { _ = try MediaInfo(probing: path) }
        XCTAssertEqual(MediaError.fileNotFound(path: path).description, "/definitely/not/here.mp4: no such file")
    }

    func testNotMedia() {
        let path = Fixture.media("not_media.mp4")
        XCTAssertThrowsError(try VideoReader(path: path)) { error in
            guard case .notMedia(let p, _) = error as? MediaError else { return XCTFail("\(error)") }
            XCTAssertEqual(p, path)
            XCTAssertTrue("\(error)".hasPrefix(path))
        }
    }

    func testNoVideoStream() {
        let path = Fixture.media("audio_only.wav")
        assertThrows(.noVideoStream(path: path)) { _ = try VideoReader(path: path) }
    }

    func testNoAudioStream() {
        let path = Fixture.media("video_only.mp4")
        assertThrows(.noAudioStream(path: path)) { _ = try AudioReader(path: path) }
    }

    func testTruncatedFileKeepsDecodedFramesAndSaysWhereItBroke() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixture.media("sync_h264_pcm.mkv")))
        // Cut a copy of the faststart MP4 (index first, then interleaved data) at 55 %.
        let mp4 = try Data(contentsOf: URL(fileURLWithPath: Fixture.media("sync_h264_aac.mp4")))
        let cut = dir.appendingPathComponent("cut.mp4")
        try mp4.prefix(mp4.count * 55 / 100).write(to: cut)
        let reader = try VideoReader(path: cut.path)
        var frames = 0
        XCTAssertThrowsError(try { while try reader.nextFrame() != nil { frames += 1 } }()) { error in
            guard case .truncated(let p, let got, let want)? = error as? MediaError else { return XCTFail("\(error)") }
            XCTAssertEqual(p, cut.path)
            XCTAssertEqual(want, 2.0, accuracy: 0.05)
            XCTAssertEqual(got, Double(frames) / 25, accuracy: 0.05)
        }
        XCTAssertGreaterThan(frames, 5)
        XCTAssertLessThan(frames, 50)
        XCTAssertFalse(data.isEmpty)
    }

    func testUnwritableOutput() {
        let path = "/no/such/dir/out.mp4"
        XCTAssertThrowsError(try VideoWriter(path: path, width: 64, height: 48, fps: 25)) { error in
            guard case .unwritableOutput(let p, _)? = error as? MediaError else { return XCTFail("\(error)") }
            XCTAssertEqual(p, path)
            XCTAssertEqual((error as? MediaError)?.exitCode, 73)
        }
    }

    func testExitCodesAreDistinctPerKind() {
        XCTAssertEqual(MediaError.fileNotFound(path: "x").exitCode, 66)
        XCTAssertEqual(MediaError.notMedia(path: "x", reason: "r").exitCode, 65)
        XCTAssertEqual(MediaError.noVideoStream(path: "x").exitCode, 67)
        XCTAssertEqual(MediaError.noAudioStream(path: "x").exitCode, 67)
    }
}
