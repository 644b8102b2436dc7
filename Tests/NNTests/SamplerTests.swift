import XCTest
@testable import NN

final class SamplerTests: XCTestCase {
    /// Catmull-Rom passes through the pixels, reproduces a linear ramp between them (so a smooth
    /// gradient is not bent), and its weights sum to one (flat regions stay flat).
    func testCatmullRomInterpolatesAndKeepsRamps() {
        let w = 7, h = 5
        var ramp = [UInt8](repeating: 0, count: w * h * 3), noise = ramp
        var rng = SeededRandom(seed: 2)
        for y in 0..<h {
            for x in 0..<w {
                for c in 0..<3 {
                    ramp[(y * w + x) * 3 + c] = UInt8(10 + 20 * x + 7 * y + c)
                    noise[(y * w + x) * 3 + c] = UInt8(rng.next() % 256)
                }
            }
        }
        noise.withUnsafeBufferPointer { p in
            for y in 0..<h { for x in 0..<w {
                let v = CatmullRom(clamping: Double(x), Double(y), width: w, height: h).rgb(p, width: w)
                XCTAssertEqual(v.0, Float(p[(y * w + x) * 3]), accuracy: 1e-4)
                XCTAssertEqual(v.2, Float(p[(y * w + x) * 3 + 2]), accuracy: 1e-4)
            } }
        }
        ramp.withUnsafeBufferPointer { p in
            for (x, y) in [(1.25, 1.5), (2.5, 2.75), (4.1, 1.9)] {
                let v = CatmullRom(clamping: x, y, width: w, height: h).rgb(p, width: w)
                XCTAssertEqual(v.0, Float(10 + 20 * x + 7 * y), accuracy: 1e-3)
                XCTAssertEqual(v.1, Float(11 + 20 * x + 7 * y), accuracy: 1e-3)
            }
        }
        for t in stride(from: Float(0), to: 1, by: 0.1) {
            let k = CatmullRom.weights(t)
            XCTAssertEqual(k.0 + k.1 + k.2 + k.3, 1, accuracy: 1e-6)
        }
    }
}
