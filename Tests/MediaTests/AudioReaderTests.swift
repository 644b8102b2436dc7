import XCTest
@testable import Media

final class AudioReaderTests: XCTestCase {
    func testChunkedReadEqualsWholeRead() throws {
        let path = Fixture.media("sync_mpeg1_mp2.mpg")
        let whole = try AudioReader.decodeAll(path: path)
        let reader = try AudioReader(path: path)
        var chunked: [Float] = []
        while let c = try reader.read(maxSamples: 777) {
            XCTAssertLessThanOrEqual(c.count, 777)
            chunked.append(contentsOf: c)
        }
        XCTAssertEqual(chunked, whole)
    }

    func testOutputIs16kMonoOfTheRightLength() throws {
        let reader = try AudioReader(path: Fixture.media("sync_h264_pcm.mkv"))
        XCTAssertEqual(reader.sampleRate, 16_000)
        XCTAssertEqual(reader.sourceSampleRate, 48_000)
        let all = try reader.readAll()
        XCTAssertEqual(all.count, 32_000, accuracy: 16)
    }

    func testLateAudioStartIsPaddedWithSilence() throws {
        let samples = try AudioReader.decodeAll(path: Fixture.media("delay200_h264_pcm.mkv"))
        XCTAssertEqual(samples.count, 16_000 * 22 / 10, accuracy: 16)
        XCTAssertTrue(samples[0..<3000].allSatisfy { $0 == 0 })
    }

    func testOtherSampleRates() throws {
        let samples = try AudioReader.decodeAll(path: Fixture.media("sync_h264_pcm.mkv"), sampleRate: 8000)
        XCTAssertEqual(samples.count, 16_000, accuracy: 8)
        let onset = try XCTUnwrap(samples.firstIndex { abs($0) > 0.1 })
        XCTAssertEqual(Double(onset) / 8000, 1.0, accuracy: 0.001)
    }
}
