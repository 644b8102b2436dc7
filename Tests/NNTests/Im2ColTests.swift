import XCTest
@testable import NN

/// im2col and its adjoint col2im against the definition, written as plainly as it reads:
/// col[(c*kh + ky)*kw + kx][b*HWo + oy*Wo + ox] = x[b, c, oy*sh - ph + ky, ox*sw - pw + kx] (0 outside).
/// The row loops are hand-vectorised (eight lanes for stride 1, the even lanes of sixteen for stride
/// 2) with scalar tails, so the shapes give rows shorter than, equal to and longer than a vector,
/// strides 1 to 3, padding 0 to 2, and a channel offset into a wider tensor; col2im is checked as the
/// transpose (<im2col(x), c> = <x, col2im(c)>) and against its own definition.
final class Im2ColTests: XCTestCase {
    struct Case { var c, h, w, kh, kw, sh, sw, ph, pw: Int }

    func geometry(_ t: Case) -> ConvGeometry {
        let ho = (t.h + 2 * t.ph - t.kh) / t.sh + 1, wo = (t.w + 2 * t.pw - t.kw) / t.sw + 1
        return ConvGeometry(h: t.h, w: t.w, kh: t.kh, kw: t.kw, sh: t.sh, sw: t.sw, ph: t.ph, pw: t.pw, ho: ho, wo: wo)
    }

    let cases = [Case(c: 2, h: 5, w: 7, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1),
                 Case(c: 3, h: 9, w: 33, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1),
                 Case(c: 2, h: 6, w: 18, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1),
                 Case(c: 2, h: 8, w: 17, kh: 4, kw: 4, sh: 2, sw: 2, ph: 1, pw: 1),
                 Case(c: 1, h: 7, w: 40, kh: 5, kw: 5, sh: 1, sw: 2, ph: 2, pw: 2),
                 Case(c: 2, h: 10, w: 29, kh: 3, kw: 3, sh: 3, sw: 3, ph: 0, pw: 0),
                 Case(c: 1, h: 4, w: 64, kh: 3, kw: 3, sh: 2, sw: 1, ph: 1, pw: 1)]

    func testIm2colMatchesTheDefinition() {
        var rng = SeededRandom(seed: 41)
        for t in cases {
            let g = geometry(t), batch = 2, offset = 1, C = t.c + 2
            let x = randomTensor([batch + 1, C, t.h, t.w], rng: &rng)
            let rows = t.c * g.kernelArea, cols = batch * g.hwo
            var col = [Float](repeating: .nan, count: rows * cols)
            col.withUnsafeMutableBufferPointer { im2col(x, first: 1, batch: batch, channelOffset: offset, channels: t.c, g, into: $0.baseAddress!) }
            for c in 0..<t.c { for ky in 0..<t.kh { for kx in 0..<t.kw { for b in 0..<batch { for oy in 0..<g.ho { for ox in 0..<g.wo {
                let iy = oy * t.sh - t.ph + ky, ix = ox * t.sw - t.pw + kx
                let inside = iy >= 0 && iy < t.h && ix >= 0 && ix < t.w
                let expected: Float = inside ? x.data[(((1 + b) * C + offset + c) * t.h + iy) * t.w + ix] : 0
                let got = col[((c * t.kh + ky) * t.kw + kx) * cols + b * g.hwo + oy * g.wo + ox]
                XCTAssertEqual(got, expected, "\(t) c \(c) tap \(ky),\(kx) image \(b) at \(oy),\(ox)")
            } } } } } }
        }
    }

    func testCol2imIsTheTransposeOfIm2col() {
        var rng = SeededRandom(seed: 42)
        for t in cases {
            let g = geometry(t), batch = 2, C = t.c + 1
            let rows = t.c * g.kernelArea, cols = batch * g.hwo
            let x = randomTensor([batch, C, t.h, t.w], rng: &rng)
            let c = randomTensor([rows, cols], rng: &rng)
            // col2im adds into dx: start from a known value and subtract it again.
            let dx = randomTensor([batch, C, t.h, t.w], rng: &rng)
            let before = Array(UnsafeBufferPointer(start: dx.data, count: dx.count))
            col2im(c.data, into: dx, first: 0, batch: batch, channelOffset: 1, channels: t.c, g)
            var col = [Float](repeating: 0, count: rows * cols)
            col.withUnsafeMutableBufferPointer { im2col(x, first: 0, batch: batch, channelOffset: 1, channels: t.c, g, into: $0.baseAddress!) }
            var lhs = 0.0, rhs = 0.0
            for i in 0..<(rows * cols) { lhs += Double(col[i]) * Double(c.data[i]) }
            for i in 0..<x.count { rhs += Double(x.data[i]) * Double(dx.data[i] - before[i]) }
            XCTAssertEqual(lhs, rhs, accuracy: 1e-3 * max(1, abs(lhs)), "\(t)")
            // Channel 0 is outside the range: untouched.
            for b in 0..<batch { for i in 0..<(t.h * t.w) {
                let k = b * C * t.h * t.w + i
                XCTAssertEqual(dx.data[k], before[k], "\(t) wrote outside its channels")
            } }
        }
    }

    /// A training backward multiplies the forward's columns instead of making them again
    /// (`Conv2d.Scratch.columns`). Its gradients must be the definition's, written out here as plain
    /// loops: batched planes (stride 2, and stride 1 over a 4-pixel row), a whole-image plane, batches
    /// 1, 5 and 64 over every worker, and a second and third forward before the backward, the last of
    /// whose columns are the ones to use.
    func testKeptColumnsGiveTheDefinitionsGradients() {
        var rng = SeededRandom(seed: 43)
        struct Shape { var n, cin, h, w, cout, stride: Int }
        let shapes = [Shape(n: 5, cin: 6, h: 10, w: 4, cout: 7, stride: 1), Shape(n: 64, cin: 3, h: 9, w: 17, cout: 4, stride: 2),
                      Shape(n: 1, cin: 2, h: 6, w: 5, cout: 3, stride: 2), Shape(n: 3, cin: 2, h: 20, w: 30, cout: 5, stride: 1)]
        for t in shapes {
            var r = SeededRandom(seed: 7)
            let conv = Conv2d(t.cin, t.cout, kernel: (3, 3), stride: (t.stride, t.stride), padding: (1, 1), rng: &r)
            let x1 = randomTensor([t.n, t.cin, t.h, t.w], rng: &rng), x2 = randomTensor(x1.shape, rng: &rng)
            let x3 = randomTensor(x1.shape, rng: &rng)
            let dy1 = randomTensor(conv.forward(x1).shape, rng: &rng)
            _ = conv.backward(dy1)
            conv.weight.grad.zero(); conv.bias!.grad.zero()
            _ = conv.forward(x2)
            _ = conv.forward(x3)
            let dy = randomTensor(dy1.shape, rng: &rng)
            let dx = conv.backward(dy)
            let ho = dy.h, wo = dy.w, w = conv.weight.value
            var dW = [Double](repeating: 0, count: w.count), dX = [Double](repeating: 0, count: x3.count)
            for n in 0..<t.n { for o in 0..<t.cout { for oy in 0..<ho { for ox in 0..<wo {
                let g = Double(dy.data[((n * t.cout + o) * ho + oy) * wo + ox])
                for c in 0..<t.cin { for ky in 0..<3 { for kx in 0..<3 {
                    let iy = oy * t.stride + ky - 1, ix = ox * t.stride + kx - 1
                    guard iy >= 0, iy < t.h, ix >= 0, ix < t.w else { continue }
                    let xi = ((n * t.cin + c) * t.h + iy) * t.w + ix, wi = ((o * t.cin + c) * 3 + ky) * 3 + kx
                    dW[wi] += g * Double(x3.data[xi])
                    dX[xi] += g * Double(w.data[wi])
                } } }
            } } } }
            for i in 0..<dW.count { XCTAssertEqual(Double(conv.weight.grad.data[i]), dW[i], accuracy: 1e-3 * max(1, abs(dW[i])), "dW \(t)") }
            for i in 0..<dX.count { XCTAssertEqual(Double(dx.data[i]), dX[i], accuracy: 1e-4 * max(1, abs(dX[i])), "dx \(t)") }
        }
    }
}
