import XCTest
@testable import NN

/// Upsample shares its planes out over the workers once a batch is large enough; each plane must
/// come out as it does alone (a single plane always runs on one worker), forward and backward.
/// The PyTorch parity and finite-difference tests cover the arithmetic on small tensors.
final class UpsampleTests: XCTestCase {
    func testSharedPlanesMatchPlanesAlone() {
        var rng = SeededRandom(seed: 7)
        let (n, c, h, w) = (3, 11, 16, 20)
        let x = randomTensor([n, c, h, w], rng: &rng), dy = randomTensor([n, c, 2 * h, 2 * w], rng: &rng)
        let whole = Upsample(scale: 2)
        let y = whole.forward(x), dx = whole.backward(dy)
        let plane = h * w, outPlane = 4 * plane
        for p in 0..<(n * c) {
            let one = Upsample(scale: 2)
            let xp = Tensor(shape: [1, 1, h, w], values: Array(UnsafeBufferPointer(start: x.data + p * plane, count: plane)))
            let yp = one.forward(xp)
            let dyp = Tensor(shape: [1, 1, 2 * h, 2 * w], values: Array(UnsafeBufferPointer(start: dy.data + p * outPlane, count: outPlane)))
            let dxp = one.backward(dyp)
            for i in 0..<outPlane { XCTAssertEqual(y.data[p * outPlane + i], yp.data[i], "plane \(p) output \(i)") }
            for i in 0..<plane { XCTAssertEqual(dx.data[p * plane + i], dxp.data[i], "plane \(p) gradient \(i)") }
        }
    }
}
