import XCTest
@testable import NN

enum NNFixture {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/nn")
    static let ops: SafetensorsFile = try! SafetensorsFile(path: dir.appendingPathComponent("ops.safetensors").path)
}

/// Largest |a - b| / max(1, |b|) over elements.
func maxRelativeError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.count == b.count, "sizes \(a.shape) vs \(b.shape)")
    var worst: Float = 0
    for i in 0..<a.count { worst = max(worst, abs(a[i] - b[i]) / max(1, abs(b[i]))) }
    return worst
}

func randomTensor(_ shape: [Int], rng: inout SeededRandom, scale: Float = 1, awayFromZero: Float = 0) -> Tensor {
    let t = Tensor(shape: shape)
    for i in 0..<t.count {
        var v = rng.normal() * scale
        if abs(v) < awayFromZero { v += v < 0 ? -awayFromZero : awayFromZero }
        t[i] = v
    }
    return t
}

/// Checks a layer's backward against central differences of L = sum(y * r), for the input and every
/// parameter, at up to `samples` positions each.
func gradientCheck(_ layer: Layer, input: Tensor, samples: Int = 12, h: Float = 1e-2, tolerance: Float = 2e-2,
                   file: StaticString = #filePath, line: UInt = #line) {
    var rng = SeededRandom(seed: 99)
    let y0 = layer.forward(input)
    let r = randomTensor(y0.shape, rng: &rng)
    func loss() -> Double {
        let y = layer.forward(input)
        var s = 0.0
        for i in 0..<y.count { s += Double(y[i]) * Double(r[i]) }
        return s
    }
    layer.parameters.forEach { $0.grad.zero() }
    _ = layer.forward(input)
    let dx = layer.backward(r).clone()
    let analytic: [(String, Tensor, Tensor)] = [("input", input, dx)] +
        layer.parameters.map { ($0.name, $0.value, $0.grad.clone()) }
    for (name, value, grad) in analytic {
        for s in 0..<min(samples, value.count) {
            let i = (s * 7919) % value.count
            let old = value[i]
            value[i] = old + h; let lp = loss()
            value[i] = old - h; let lm = loss()
            value[i] = old
            let numeric = Float((lp - lm) / Double(2 * h))
            let err = abs(numeric - grad[i]) / max(1, abs(numeric), abs(grad[i]))
            XCTAssertLessThan(err, tolerance, "\(type(of: layer)) \(name)[\(i)]: analytic \(grad[i]), numeric \(numeric)",
                              file: file, line: line)
        }
    }
}

/// Loads "case.<torch name>" from the ops fixture into each parameter, runs forward and backward,
/// and compares the output, dL/dx and every parameter gradient with PyTorch's.
func checkAgainstPyTorch(_ name: String, _ layer: Layer, params: [String: Parameter] = [:], tolerance: Float,
                         file: StaticString = #filePath, line: UInt = #line) throws {
    let f = NNFixture.ops
    for (torchName, p) in params { try f.load("\(name).\(torchName)", into: p.value) }
    let x = try f.tensor("\(name).x")
    let y = layer.forward(x)
    let yRef = try f.tensor("\(name).y")
    XCTAssertEqual(y.shape, yRef.shape, name, file: file, line: line)
    XCTAssertLessThan(maxRelativeError(y, yRef), tolerance, "\(name) forward", file: file, line: line)
    layer.parameters.forEach { $0.grad.zero() }
    let dx = layer.backward(try f.tensor("\(name).dy"))
    XCTAssertLessThan(maxRelativeError(dx, try f.tensor("\(name).dx")), tolerance, "\(name) dx", file: file, line: line)
    for (torchName, p) in params {
        XCTAssertLessThan(maxRelativeError(p.grad, try f.tensor("\(name).d\(torchName)")), tolerance,
                          "\(name) d\(torchName)", file: file, line: line)
    }
}
