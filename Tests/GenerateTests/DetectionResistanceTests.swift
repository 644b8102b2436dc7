import XCTest
@testable import Generate
import NN

final class DetectionResistanceTests: XCTestCase {
    /// Gaussian sets with known moments: the distance is |Δμ|² + Σ(σa − σb)² for diagonal covariances.
    func testFrechetDistanceOfKnownGaussians() throws {
        var rng = SeededRandom(seed: 3)
        let n = 20_000
        let a = (0..<n).map { _ in [rng.normal(), rng.normal(), rng.normal()] }
        let b = (0..<n).map { _ in [2 * rng.normal() + 1, rng.normal(), 0.5 * rng.normal() - 2] }
        let expected = 1.0 + 4.0 + 1.0 + 0.25  // Δμ² = 1 + 4; (1−2)² + 0 + (1−0.5)²
        let d = try XCTUnwrap(FrechetDistance.between(a, b))
        XCTAssertEqual(d, expected, accuracy: 0.1)
        XCTAssertEqual(try XCTUnwrap(FrechetDistance.between(a, a)), 0, accuracy: 1e-6)
        // Rotating both sets by the same orthogonal map leaves it unchanged (the trace term is not
        // only the diagonal's).
        func rotate(_ v: [Float]) -> [Float] { let c: Float = 0.6, s: Float = 0.8; return [c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]] }
        XCTAssertEqual(try XCTUnwrap(FrechetDistance.between(a.map(rotate), b.map(rotate))), d, accuracy: 1e-6)
        XCTAssertNil(FrechetDistance.between([[1]], [[1], [2]]))
    }

    func testJacobiSquareRootSquaresBack() {
        let m = SymmetricMatrix([4, 1, 0.5, 1, 3, 0.2, 0.5, 0.2, 2], 3)
        let r = m.squareRoot()
        let back = FrechetDistance.multiply(r.values, r.values, 3)
        for i in 0..<9 { XCTAssertEqual(back[i], m.values[i], accuracy: 1e-9) }
        XCTAssertEqual(m.eigenvalues().reduce(0, +), 9, accuracy: 1e-9)
    }

    func crops(_ count: Int, level: ClosedRange<UInt8>, seed: UInt64) -> [DetectionResistance.Crop] {
        var rng = SeededRandom(seed: seed)
        let size = DetectionResistance.cropHeight * DetectionResistance.cropWidth * 3
        return (0..<count).map { _ in (0..<size).map { _ in UInt8(level.lowerBound) &+ UInt8(rng.next() % UInt64(level.upperBound - level.lowerBound + 1)) } }
    }

    /// A real difference is found; no difference cannot be: with the same crops on both sides of the
    /// test, every verdict is right once and wrong once.
    func testClassifierFindsADifferenceAndCannotInventOne() throws {
        let dark = crops(24, level: 40...120, seed: 1), bright = crops(24, level: 100...200, seed: 2)
        let s = try XCTUnwrap(DetectionResistance.score(trainReal: Array(dark[0..<16]), trainGenerated: Array(bright[0..<16]),
                                                        testReal: Array(dark[16...]), testGenerated: Array(bright[16...]), steps: 60, batch: 8))
        XCTAssertGreaterThan(s.accuracy, 0.9)
        XCTAssertGreaterThan(s.f1, 0.9)
        let same = try XCTUnwrap(DetectionResistance.score(trainReal: Array(dark[0..<16]), trainGenerated: Array(dark[0..<16]),
                                                           testReal: Array(bright[16...]), testGenerated: Array(bright[16...]), steps: 20, batch: 8))
        XCTAssertEqual(same.accuracy, 0.5)
        XCTAssertEqual(same.testCrops, 16)
    }
}
