import XCTest
@testable import NN

final class SafetensorsTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func valid() throws -> Data {
        let p = dir.appendingPathComponent("v.safetensors").path
        try SafetensorsFile.write([("a", Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])), ("b", Tensor(shape: [4], values: [0.5, -1, 2, 8]))],
                                  metadata: ["k": "v"], to: p)
        return try Data(contentsOf: URL(fileURLWithPath: p))
    }

    func testRoundTripF32AndF16() throws {
        for dtype in [SafetensorsFile.DType.f32, .f16] {
            let p = dir.appendingPathComponent("\(dtype.rawValue).safetensors").path
            let t = Tensor(shape: [3, 2], values: [0.1, -2.5, 3, 1e-3, 65000, 0])
            try SafetensorsFile.write([("w", t)], metadata: ["note": "x"], dtype: dtype, to: p)
            let f = try SafetensorsFile(path: p)
            XCTAssertEqual(f.metadata["note"], "x")
            XCTAssertEqual(f.entries["w"]?.dtype, dtype)
            let back = try f.tensor("w")
            XCTAssertEqual(back.shape, [3, 2])
            for i in 0..<6 { XCTAssertEqual(back[i], t[i], accuracy: dtype == .f32 ? 0 : abs(t[i]) * 1e-3 + 1e-4) }
        }
    }

    func testReadsPythonWrittenFile() throws {
        XCTAssertEqual(NNFixture.ops.metadata["torch"]?.isEmpty, false)
        XCTAssertGreaterThan(NNFixture.ops.names.count, 100)
    }

    func expectMalformed(_ d: Data, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafetensorsFile(data: d, path: "w.safetensors"), file: file, line: line) { e in
            let text = "\(e)"
            XCTAssertTrue(text.hasPrefix("w.safetensors: malformed"), text, file: file, line: line)
            XCTAssertTrue(text.contains(fragment), "\(text) lacks '\(fragment)'", file: file, line: line)
        }
    }

    func header(_ json: String, data: Int = 0) -> Data {
        var d = Data()
        withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(Data(json.utf8))
        d.append(Data(count: data))
        return d
    }

    func testRejectsMalformedFiles() throws {
        expectMalformed(Data([1, 2, 3]), "shorter")
        var huge = try valid()
        huge.replaceSubrange(0..<8, with: [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])
        expectMalformed(huge, "header length")
        expectMalformed(header("not json"), "JSON")
        expectMalformed(header(#"{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: 8), "dtype")
        expectMalformed(header(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,80]}}"#, data: 8), "outside")
        expectMalformed(header(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: 8), "needs")
        expectMalformed(header(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}"#, data: 8), "shape")
        expectMalformed(header(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8), "overlap")
        let p = dir.appendingPathComponent("w.safetensors").path
        try valid().write(to: URL(fileURLWithPath: p))
        let f = try SafetensorsFile(path: p)
        XCTAssertThrowsError(try f.load("a", into: Tensor(shape: [3, 2]))) { e in
            XCTAssertEqual(e as? SafetensorsFile.Error, .shapeMismatch(path: p, name: "a", expected: [3, 2], found: [2, 3]))
        }
        XCTAssertThrowsError(try f.tensor("zzz"))
        XCTAssertThrowsError(try SafetensorsFile(path: dir.appendingPathComponent("none").path))
    }

    /// Random bytes and random corruptions of a valid file: each parses or throws, never crashes.
    func testFuzzedHeadersNeverCrash() throws {
        var rng = SeededRandom(seed: 5)
        let base = try valid()
        var parsed = 0
        for i in 0..<3000 {
            var d: Data
            if i % 3 == 0 {
                d = Data((0..<Int(rng.next() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            } else {
                d = base
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let at = Int(rng.next() % UInt64(d.count))
                    d[at] = UInt8(truncatingIfNeeded: rng.next())
                }
                if i % 7 == 0 { d = d.prefix(Int(rng.next() % UInt64(d.count))) }
            }
            if let f = try? SafetensorsFile(data: d) {
                parsed += 1
                for n in f.names { _ = try? f.tensor(n) }
            }
        }
        XCTAssertGreaterThan(parsed, 0)
    }
}

/// The OpenBLAS fallback fix: only a generic "Prescott" choice is replaced, by what the flags allow.
final class BLASKernelTests: XCTestCase {
    func testOnlyTheGenericFallbackIsReplaced() {
        let avx512: Set<String> = ["sse3", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]
        XCTAssertEqual(BLASKernel.replacement(chosen: "Prescott", cpuFlags: avx512), "SkylakeX")
        XCTAssertEqual(BLASKernel.replacement(chosen: "Prescott", cpuFlags: ["sse3", "avx", "avx2", "fma"]), "Haswell")
        XCTAssertNil(BLASKernel.replacement(chosen: "Prescott", cpuFlags: ["sse3", "avx"]), "no AVX2: nothing better to pick")
        XCTAssertNil(BLASKernel.replacement(chosen: "Cooperlake", cpuFlags: avx512), "OpenBLAS knew the CPU: its choice stands")
        XCTAssertNil(BLASKernel.replacement(chosen: "Haswell", cpuFlags: avx512))
    }
}
