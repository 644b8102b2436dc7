import XCTest
@testable import Audio

final class StreamingTests: XCTestCase {
    func signal(_ n: Int, seed: UInt64 = 7) -> [Float] {
        var state = seed
        return (0..<n).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let noise = Float(Int64(bitPattern: state >> 11) % 1000) / 5000
            return 0.5 * sin(Float(i) * 0.05) * sin(Float(i) * 0.0007) + noise
        }
    }

    func testChunkedEqualsWholeForAnyChunking() {
        for mode in PaddingMode.allCases {
            let mel = MelSpectrogram(MelConfiguration(padding: mode))
            let x = signal(40_123)
            let whole = mel.compute(x)
            XCTAssertEqual(whole.count, 1 + 40_123 / 200)
            for chunk in [1, 37, 200, 401, 999, 16_000] {
                let stream = MelStream(mel)
                var values: [Float] = []
                var i = 0
                while i < x.count {
                    values += stream.push(Array(x[i..<min(x.count, i + chunk)])).values
                    i += chunk
                }
                values += stream.finish().values
                XCTAssertEqual(values, whole.values, "\(mode) chunk \(chunk)")
            }
        }
    }

    func testStreamEmitsColumnsAsSoonAsTheirSamplesArrive() {
        let mel = MelSpectrogram()
        let stream = MelStream(mel)
        // Column t needs samples up to t*200 + 399.
        XCTAssertEqual(stream.push(signal(400)).count, 0)
        XCTAssertEqual(stream.push(signal(1)).count, 1)     // 401 samples: column 0 ready (mirror needs x[1...400])
        XCTAssertEqual(stream.push(signal(599)).count, 3)   // 1000 samples: columns 1, 2, 3
        XCTAssertEqual(stream.finish().count, 2)            // 1 + 1000/200 = 6 in all
    }

    func testStreamMemoryStaysBounded() {
        let mel = MelSpectrogram()
        let stream = MelStream(mel)
        let chunk = signal(16_000)
        var columns = 0
        for _ in 0..<60 { columns += stream.push(chunk).count }
        columns += stream.finish().count
        XCTAssertEqual(columns, 1 + 60 * 16_000 / 200)
    }

    func testWindowConvention() {
        XCTAssertEqual(MelFrames.windowStart(frame: 0, fps: 25), 0)
        XCTAssertEqual(MelFrames.windowStart(frame: 1, fps: 25), 3)
        XCTAssertEqual(MelFrames.windowStart(frame: 10, fps: 25), 32)
        // 29.97 fps: frame 1000 is 33.367 s in, column 2669, with no accumulated drift.
        XCTAssertEqual(MelFrames.windowStart(frame: 1000, fps: 30_000.0 / 1001), 2669)
        XCTAssertEqual(MelFrames.windowStart(frame: 100_000, fps: 30_000.0 / 1001), 266_933)
        let frames = MelFrames(nMels: 2, values: (0..<40).map(Float.init))   // 20 columns
        let w = frames.window(start: 2, length: 16)
        XCTAssertEqual(w[0], 4)      // band 0, column 2
        XCTAssertEqual(w[16], 5)     // band 1, column 2
        // Past the end: the last 16 columns.
        XCTAssertEqual(frames.window(start: 10, length: 16), frames.window(start: 4, length: 16))
    }

    func testNumpyRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("x.npy").path
        let w = try NumpyStreamWriter(path: path)
        try w.append([1, 2, 3])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        try w.append([4, 5, 6])
        try w.finish(shape: [3, 2], fortranOrder: true)
        let r = try NumpyFile.read(path)
        XCTAssertEqual(r.shape, [3, 2])
        XCTAssertTrue(r.fortranOrder)
        XCTAssertEqual(r.values, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["x.npy"])
    }
}

final class MFCCStreamingTests: XCTestCase {
    func testChunkedMFCCEqualsWhole() {
        let x: [Float] = (0..<23_457).map { 0.4 * sin(Float($0) * 0.013) * sin(Float($0) * 0.0009) }
        let mfcc = MFCC()
        let whole = mfcc.compute(x)
        XCTAssertEqual(whole.count, mfcc.frameCount(samples: x.count))
        for chunk in [1, 150, 400, 4001] {
            let s = MFCCStream(mfcc)
            var values: [Float] = []
            var i = 0
            while i < x.count { values += s.push(Array(x[i..<min(x.count, i + chunk)])).values; i += chunk }
            values += s.finish().values
            XCTAssertEqual(values, whole.values, "chunk \(chunk)")
        }
    }
}
