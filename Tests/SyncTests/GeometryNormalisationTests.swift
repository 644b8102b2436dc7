import Foundation
import NN
import XCTest
@testable import Sync

/// `train sync --geometry window-normalised`: a mouth moved and scaled as a whole reads the same, its
/// opening does not, and the choice travels with the weights.
final class GeometryNormalisationTests: XCTestCase {
    let per = MouthFeatures.geometryCount

    func window(opening: [Float], rng: inout SeededRandom) -> [Float] {
        var g = [Float]()
        for f in 0..<SyncNet.frames {
            for k in 0..<(per / 2) {
                // A lip outline: x along the mouth (corners at k = 0 and 10), y up or down by half the opening.
                let t = Float(k % 20) / 10, inner: Float = k < 20 ? 1 : 0.6
                let x = cosf(Float.pi * t) * -0.6 * inner
                let y = sinf(Float.pi * t) * -(0.1 + opening[f]) * inner
                g += [x + 0.002 * rng.normal(), y + 0.002 * rng.normal()]
            }
        }
        return g
    }

    func normalised(_ g: [Float]) -> [Float] {
        var out = [Float](repeating: .nan, count: g.count)
        g.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { MouthFeatures.normaliseGeometry(src.baseAddress!, into: $0.baseAddress!, frames: SyncNet.frames) } }
        return out
    }

    func testPositionAndSizeDropOutShapeStays() {
        var rng = SeededRandom(seed: 2)
        let g = window(opening: [0, 0.1, 0.3, 0.2, 0.05], rng: &rng)
        let a = normalised(g)
        // The same mouth 30 % larger and lower in the face (another person's proportions).
        let moved = g.enumerated().map { i, v in v * 1.3 + (i % 2 == 0 ? 0.05 : 0.2) }
        let b = normalised(moved)
        for i in a.indices { XCTAssertEqual(a[i], b[i], accuracy: 1e-5) }
        // Mouth width is 1.2 raw units here, so the corners sit near -0.5 and +0.5.
        XCTAssertEqual(a[20] - a[0], 1, accuracy: 0.01)
        // A different opening is a different input.
        let c = normalised(window(opening: [0.3, 0.3, 0.3, 0.3, 0.3], rng: &rng))
        XCTAssertGreaterThan(zip(a, c).map { abs($0 - $1) }.max()!, 0.05)
    }

    func testTheChoiceIsSavedWithTheWeights() throws {
        let model = SyncNet(seed: 3)
        model.normalisesGeometry = true
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sync-norm-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.save(to: path)
        XCTAssertTrue(try SyncNet(contentsOf: path).normalisesGeometry)
        model.normalisesGeometry = false
        try model.save(to: path)
        XCTAssertFalse(try SyncNet(contentsOf: path).normalisesGeometry)
    }
}

/// `train sync --mesh-features`: a mesh model that adopts a trained model starts as exactly that model,
/// and the choice travels with the weights.
final class MeshBranchTests: XCTestCase {
    func testAdoptedMeshModelStartsAsItsSourceAndRoundTrips() throws {
        let plain = SyncNet(seed: 4), mesh = SyncNet(seed: 9, usesMesh: true)
        mesh.adopt(plain)
        plain.setMode(.inference); mesh.setMode(.inference)
        var rng = SeededRandom(seed: 5)
        func random(_ shape: [Int]) -> Tensor { let t = Tensor(shape: shape); for i in 0..<t.count { t[i] = rng.normal() }; return t }
        let crops = random([3, SyncNet.frames, MouthFeatures.height, MouthFeatures.width]), g = random([3, SyncNet.geometryFeatures])
        let a = plain.embedVisual(crops: crops, geometry: g).clone()
        let b = mesh.embedVisual(crops: crops, geometry: g, mesh: random([3, SyncNet.meshFeatures]))
        for i in 0..<a.count { XCTAssertEqual(a[i], b[i], accuracy: 1e-5) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sync-mesh-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try mesh.save(to: path)
        XCTAssertTrue(try SyncNet(contentsOf: path).usesMesh)
        XCTAssertFalse(try SyncNet(contentsOf: path).normalisesGeometry)
    }
}
