import Foundation
import NN
import XCTest
@testable import Generate

/// The generator's training crops: `none` is the crop itself, a placement moves content where it
/// says, black and white is grey, and the masked rows stay empty.
final class CropAugmentationTests: XCTestCase {
    let s = MouthPainter.size

    /// A crop whose channels differ and whose content has structure in x and y.
    func patterned() -> ArraySlice<UInt8> {
        var c = [UInt8](repeating: 0, count: FaceClip.cropBytes)
        for y in 0..<s { for x in 0..<s {
            let o = (y * s + x) * 3
            c[o] = UInt8((x * 2) % 256); c[o + 1] = UInt8((y * 2) % 256); c[o + 2] = UInt8((x * y) % 256)
        } }
        return c[...]
    }

    func render(_ look: CropLook, _ at: CropPlacement, maskFrom: Int = MouthPainter.size) -> [Float] {
        var out = [Float](repeating: -1, count: 3 * s * s)
        out.withUnsafeMutableBufferPointer { GeneratorObjective.render(patterned(), rows: 0..<s, into: $0.baseAddress!, look, at, maskFrom: maskFrom) }
        return out
    }

    func testNoAugmentationIsTheCropAndMaskedRowsAreZero() {
        var rng = SeededRandom(seed: 1)
        let crop = patterned(), top = MouthPainter.paintTop
        let out = render(CropLook(.none, rng: &rng), CropPlacement(.none, flip: false, rng: &rng), maskFrom: top)
        for y in [0, 17, top - 1] { for x in [0, 50, s - 1] { for c in 0..<3 {
            XCTAssertEqual(out[c * s * s + y * s + x], Float(crop[(y * s + x) * 3 + c]) / 255, accuracy: 1e-6)
        } } }
        for y in [top, s - 1] { for c in 0..<3 { XCTAssertEqual(out[c * s * s + y * s + 9], 0) } }
    }

    func testAShiftMovesContentAndAScaleKeepsTheCentre() {
        var rng = SeededRandom(seed: 1)
        let look = CropLook(.none, rng: &rng)
        var at = CropPlacement(.none, flip: false, rng: &rng)
        let plain = render(look, at)
        at.dx = 2; at.dy = -3
        let shifted = render(look, at)
        for (x, y) in [(40, 40), (70, 90), (10, 100)] { for c in 0..<3 {
            XCTAssertEqual(shifted[c * s * s + y * s + x], plain[c * s * s + (y + 3) * s + x - 2], accuracy: 1e-5, "(\(x), \(y)) channel \(c)")
        } }
        at = CropPlacement(.none, flip: false, rng: &rng)
        at.scale = 1.06
        let scaled = render(look, at)
        // Red is 2x: under a scale about the centre it reads 2 (c + (x - c) / scale).
        let c = Double(s - 1) / 2
        for x in [10, 64, 120] {
            XCTAssertEqual(Double(scaled[40 * s + x]) * 255, 2 * (c + (Double(x) - c) / 1.06), accuracy: 0.02)
        }
    }

    func testFullLooksStayInRangeAndBlackAndWhiteIsGrey() {
        var rng = SeededRandom(seed: 3)
        var sawGrey = false
        for _ in 0..<60 {
            let look = CropLook(.full, rng: &rng), at = CropPlacement(.full, flip: true, rng: &rng)
            XCTAssert((0.94...1.06).contains(at.scale) && abs(at.dx) <= 3 && abs(at.dy) <= 3)
            let out = render(look, at)
            XCTAssert(out.allSatisfy { (0...1).contains($0) })
            if look.saturation == 0 {
                sawGrey = true
                // Channels differ only by their gains: gain x grey + offset, before clamping.
                let i = 60 * s + 60, l = (out[i] - look.offset) / look.gains.0
                XCTAssertEqual((out[s * s + i] - look.offset) / look.gains.1, l, accuracy: 2e-3)
                XCTAssertEqual((out[2 * s * s + i] - look.offset) / look.gains.2, l, accuracy: 2e-3)
            }
        }
        XCTAssert(sawGrey, "one window in ten is black and white")
    }
}

extension CropAugmentationTests {
    /// `colour` varies the look and leaves the crop where the tracker put it.
    func testColourKeepsThePlacement() {
        var rng = SeededRandom(seed: 4)
        var sawCast = false
        for _ in 0..<20 {
            let look = CropLook(.colour, rng: &rng), at = CropPlacement(.colour, flip: false, rng: &rng)
            XCTAssert(at.isIdentity)
            if look.gains.0 != look.gains.1 { sawCast = true }
        }
        XCTAssert(sawCast)
        let light = CropLook(.light, rng: &rng)
        XCTAssert(light.gains.0 == light.gains.1 && light.saturation == 1)
    }
}
