
/// Geometry of a 2-D convolution window over one image plane.
struct ConvGeometry {
    var h, w, kh, kw, sh, sw, ph, pw, ho, wo: Int
    var hwo: Int { ho * wo }
    var kernelArea: Int { kh * kw }

    /// Output columns whose input column (for kernel column kx) lies inside the image.
    func validColumns(kx: Int) -> Range<Int> {
        let lo = max(0, (pw - kx + sw - 1) / sw)
        return lo..<min(wo, max(lo, (w + pw - kx + sw - 1) / sw))
    }
}

/// Runs inside one worker (convolutions parallelise over images). Unfolds `channels` channels (from `channelOffset`) of `batch` images starting at `first` into
/// col[(ci*kh + ky)*kw + kx][b*HWo + oy*Wo + ox]. Zeros where the window hangs over the padding.
func im2col(_ x: Tensor, first: Int, batch: Int, channelOffset: Int, channels: Int, _ g: ConvGeometry,
            into col: UnsafeMutablePointer<Float>) {
    let cols = batch * g.hwo, C = x.c, plane = g.h * g.w
    let xData = x.data
    do {
        for k in 0..<(channels * g.kernelArea) {
            let ci = k / g.kernelArea, ky = (k / g.kw) % g.kh, kx = k % g.kw
            // Output columns whose input column is inside the image: lo..<hi.
            let valid = g.validColumns(kx: kx), lo = valid.lowerBound, hi = valid.upperBound
            for b in 0..<batch {
                let src = xData + ((first + b) * C + channelOffset + ci) * plane
                let dst = col + k * cols + b * g.hwo
                for oy in 0..<g.ho {
                    let iy = oy * g.sh - g.ph + ky
                    let row = dst + oy * g.wo
                    if iy < 0 || iy >= g.h { row.update(repeating: 0, count: g.wo); continue }
                    let srow = src + iy * g.w - g.pw + kx
                    if lo > 0 { row.update(repeating: 0, count: lo) }
                    if g.sw == 1 {
                        if hi > lo { row.advanced(by: lo).update(from: srow + lo, count: hi - lo) }
                    } else if hi > lo {
                        stridedGather(srow + lo &* g.sw, stride: g.sw, into: row + lo, count: hi &- lo)
                    }
                    if hi < g.wo { row.advanced(by: hi).update(repeating: 0, count: g.wo - hi) }
                }
            }
        }
    }
}

/// The adjoint of `im2col`: adds every column entry back to the input position it was read from.
func col2im(_ col: UnsafePointer<Float>, into dx: Tensor, first: Int, batch: Int, channelOffset: Int, channels: Int,
            _ g: ConvGeometry) {
    let cols = batch * g.hwo, C = dx.c, plane = g.h * g.w
    let dxData = dx.data
    do {
        for ci in 0..<channels {
            for r in 0..<g.kernelArea {
                let k = ci * g.kernelArea + r, ky = r / g.kw, kx = r % g.kw
                let valid = g.validColumns(kx: kx), lo = valid.lowerBound, hi = valid.upperBound
                if hi <= lo { continue }
                for b in 0..<batch {
                    let dst = dxData + ((first + b) * C + channelOffset + ci) * plane
                    let src = col + k * cols + b * g.hwo
                    for oy in 0..<g.ho {
                        let iy = oy * g.sh - g.ph + ky
                        if iy < 0 || iy >= g.h { continue }
                        let drow = dst + iy * g.w - g.pw + kx, srow = src + oy * g.wo
                        if g.sw == 1 {
                            addRow(srow + lo, into: drow + lo, count: hi &- lo)
                        } else {
                            stridedScatterAdd(srow + lo, into: drow + lo &* g.sw, stride: g.sw, count: hi &- lo)
                        }
                    }
                }
            }
        }
    }
}

// The rows of im2col and col2im are a few dozen floats long and run millions of times per training
// step. Written as indexed loops with checked arithmetic they stay scalar (a multiply and an overflow
// branch per element; 11 % of a generator training step on AVX-512 in `perf`), so the three row
// operations are spelled out: eight lanes at a time where the row is contiguous, a stepped pointer
// where it is strided.

/// dst[i] += src[i] for i < count.
@inline(__always) func addRow(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i &+ 8 <= count {
        let sum = load8(dst + i) + load8(src + i)
        UnsafeMutableRawPointer(dst + i).storeBytes(of: sum, as: SIMD8<Float>.self)
        i &+= 8
    }
    while i < count { dst[i] += src[i]; i &+= 1 }
}

/// dst[i * stride] += src[i] for i < count.
@inline(__always) func stridedScatterAdd(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, stride: Int, count: Int) {
    var d = dst, s = src
    for _ in 0..<count { d.pointee += s.pointee; d += stride; s += 1 }
}

/// dst[i] = src[i * stride] for i < count. Stride 2 (every downsampling layer) takes the even lanes
/// of sixteen loaded floats; the loop stops while a load still ends inside the row's last element,
/// so it never reads past the image.
@inline(__always) func stridedGather(_ src: UnsafePointer<Float>, stride: Int, into dst: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    if stride == 2 {
        while i &+ 8 < count {
            let v = UnsafeRawPointer(src + 2 &* i).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
            i &+= 8
        }
    }
    var d = dst + i, s = src + i &* stride
    while i < count { d.pointee = s.pointee; d += 1; s += stride; i &+= 1 }
}

/// Largest column buffer a worker keeps for the batched path (floats, 4 MB): small enough to stay
/// in cache, large enough to give the GEMM a wide N.
let maxColumnFloats = 1 << 20
/// Largest column buffer a worker keeps from a forward for the backward's weight gradient (floats,
/// 16 MB): one per layer and worker; at 64 pairs the sync model's take about 40 MB more than the
/// 4 MB chunks did (docs/engine.md).
let keptColumnFloats = 1 << 22
