import XCTest
@testable import Media

final class VideoReaderTests: XCTestCase {
    func testFramesComeOutInOrderWithTimes() throws {
        let reader = try VideoReader(path: Fixture.media("sync_h264_aac.mp4"))
        XCTAssertEqual(reader.width, 160)
        XCTAssertEqual(reader.height, 120)
        XCTAssertEqual(reader.frameRate, 25, accuracy: 1e-9)
        var times: [Double] = []
        while let f = try reader.nextFrame() {
            XCTAssertEqual(f.index, times.count)
            XCTAssertEqual(f.image.pixels.count, 160 * 120 * 3)
            times.append(f.time)
        }
        XCTAssertEqual(times.count, 50)
        for (i, t) in times.enumerated() { XCTAssertEqual(t, Double(i) / 25, accuracy: 1e-6) }
    }

    func testVariableFrameRatePassthroughKeepsSourceTimes() throws {
        let reader = try VideoReader(path: Fixture.media("vfr.mp4"))
        var times: [Double] = []
        while let f = try reader.nextFrame() { times.append(f.time) }
        XCTAssertEqual(times.count, 30 + 15)
        XCTAssertEqual(times[1] - times[0], 1.0 / 30, accuracy: 1e-3)
        XCTAssertEqual(times[40] - times[39], 1.0 / 15, accuracy: 1e-3)
    }

    func testConstantFrameRateConversionByTimestamp() throws {
        for fps in [30.0, 25.0, 50.0] {
            let reader = try VideoReader(path: Fixture.media("vfr.mp4"), options: .init(constantFrameRate: fps))
            var count = 0, flashIndex: Int?
            while let f = try reader.nextFrame() {
                XCTAssertEqual(f.index, count)
                XCTAssertEqual(f.time, Double(count) / fps, accuracy: 1e-9)
                XCTAssertLessThanOrEqual(abs(f.sourceTime - f.time), 1 / 15 + 1e-6, "fps \(fps) frame \(count)")
                if flashIndex == nil && f.image.meanLuma > 128 { flashIndex = count }
                count += 1
            }
            XCTAssertEqual(count, Int((2.0 * fps).rounded()), "fps \(fps)")
            // The white source frame sits at 1.400 s.
            XCTAssertEqual(try XCTUnwrap(flashIndex), Int((1.4 * fps).rounded()), "fps \(fps)")
        }
    }

    func testConstantFrameRateDefaultsToSourceRateAndMatchesPassthrough() throws {
        let path = Fixture.media("sync_h264_aac.mp4")
        let a = try VideoReader(path: path)
        let b = try VideoReader(path: path, options: .constantFrameRateAtSource)
        XCTAssertEqual(b.frameRate, 25, accuracy: 1e-9)
        // The VFR fixture averages 23.68 fps: converted at that rate, frames land on an even grid.
        let vfr = try VideoReader(path: Fixture.media("vfr.mp4"), options: .constantFrameRateAtSource)
        var n = 0
        while let f = try vfr.nextFrame() { XCTAssertEqual(f.time, Double(n) / vfr.frameRate, accuracy: 1e-9); n += 1 }
        XCTAssertEqual(Double(n), 2.0 * vfr.frameRate, accuracy: 1.5)
        while let fa = try a.nextFrame() {
            let fb = try XCTUnwrap(try b.nextFrame())
            XCTAssertEqual(fa.time, fb.time, accuracy: 1e-9)
            XCTAssertEqual(fa.image, fb.image)
        }
        XCTAssertNil(try b.nextFrame())
    }

    func testRotationIsAppliedLikeFFmpeg() throws {
        // ffmpeg -i rotated90.mp4 shows a 90x160 picture with the red square at the bottom-left.
        let reader = try VideoReader(path: Fixture.media("rotated90.mp4"))
        XCTAssertEqual(reader.rotation, 270)
        let f = try XCTUnwrap(try reader.nextFrame())
        XCTAssertEqual(f.image.width, 90)
        XCTAssertEqual(f.image.height, 160)
        let bottomLeft = f.image[5, 154], topLeft = f.image[5, 5], topRight = f.image[84, 5]
        XCTAssertGreaterThan(Int(bottomLeft.r), 200)
        XCTAssertLessThan(Int(bottomLeft.g), 60)
        XCTAssertLessThan(Int(topLeft.r), 180)
        XCTAssertLessThan(Int(topRight.r), 180)
        let raw = try VideoReader(path: Fixture.media("rotated90.mp4"), options: .init(autorotate: false))
        XCTAssertEqual(try XCTUnwrap(try raw.nextFrame()).image.width, 160)
    }

    func testStillImagesAreOneFrameVideos() throws {
        for name in ["still.png", "still.jpg"] {
            let reader = try VideoReader(path: Fixture.media(name))
            let f = try XCTUnwrap(try reader.nextFrame(), name)
            XCTAssertEqual(f.image.width, 64)
            XCTAssertEqual(f.image.height, 48)
            XCTAssertEqual(f.time, 0, accuracy: 1e-9)
            XCTAssertNil(try reader.nextFrame(), name)
        }
    }

    func testEveryContainerDecodes() throws {
        for name in ["sync_h264_aac.mp4", "sync_h264_pcm.mkv", "sync_mpeg1_mp2.mpg", "sync_vp9_opus.webm",
                     "sync_mpeg4_mp3.avi", "sync_flv_mp3.flv"] {
            let reader = try VideoReader(path: Fixture.media(name))
            var n = 0
            while try reader.nextFrame() != nil { n += 1 }
            XCTAssertEqual(n, 50, accuracy: 2, name)
        }
    }

    func testSharedDataDecodesIfPresent() throws {
        let shared = Fixture.root.deletingLastPathComponent().appendingPathComponent("shared/data")
        let files = ["grid/s1/bbaf2n.mpg", "crema-d/1001/1001_DFA_ANG_XX.flv"].map { shared.appendingPathComponent($0).path }
        try XCTSkipUnless(FileManager.default.fileExists(atPath: files[0]), "../shared/data not present")
        for path in files {
            let reader = try VideoReader(path: path)
            var n = 0
            while try reader.nextFrame() != nil { n += 1 }
            XCTAssertGreaterThan(n, 60, path)
            XCTAssertGreaterThan(try AudioReader.decodeAll(path: path).count, 16_000 * 19 / 10, path)
        }
    }
}
