import Foundation
import CKernels

/// 2-D convolution, PyTorch semantics: weight [Cout, Cin/groups, kh, kw], symmetric zero padding.
/// Paths: grouped im2col + sgemm over a whole batch chunk; 1x1 stride-1 as a plain sgemm per image;
/// depthwise (groups == Cin == Cout) as direct loops; 3x3 stride-1 padding-1 (groups 1) on planes at
/// least `directMinimumWidth` wide as the direct kernels of `CKernels` (forward and dL/dx on AVX2 or
/// AVX-512 CPUs; the weight gradient of thin layers on AVX-512).
public final class Conv2d: Layer {
    public let inChannels, outChannels, groups: Int
    public let kernel: (h: Int, w: Int), stride: (h: Int, w: Int), padding: (h: Int, w: Int)
    public let weight: Parameter
    public let bias: Parameter?
    /// Off for a network's first layer, whose input is data: backward then skips dL/dx (a GEMM and a
    /// col2im) and returns zeros, as PyTorch skips inputs that do not require grad.
    public var computesInputGradient = true

    private weak var input: Tensor?
    /// The shape the last forward saw (benchmarks replay a network's layers one by one).
    public var lastInputShape: [Int]? { input?.shape }
    private var out: Tensor?, gradIn: Tensor?
    /// Per-worker scratch: column buffer, its gradient, a GEMM output, a partial weight gradient.
    private var scratch: [Scratch] = []
    /// Counts forwards, so a backward can tell that a scratch's columns are those of the last one.
    private var forwards = 0

    final class Scratch {
        var col: Tensor?, dcol: Tensor?, gemm: Tensor?, dweight: Tensor?, padded: Tensor?
        /// The images whose columns `col` holds, and the forward that wrote them: the weight
        /// gradient multiplies the same columns, so a training backward reuses them.
        var columns: (images: Range<Int>, forward: Int)?
    }
    /// The weights packed for the direct kernel: forward, and flipped for dL/dx.
    private var packedForward: Tensor?, packedBackward: Tensor?

    /// Which implementation runs this layer; `ConvolutionBackend.configured` unless set (tests,
    /// benchmarks). Depthwise layers always stay on the engine's own kernels.
    public var backend = ConvolutionBackend.configured
    private var oneDNN: OneDNNConvolution?
    /// Set by the first backward: later primitives are made for training, not for inference only.
    private var trains = false
    /// A geometry oneDNN refused; the engine's kernels serve it from then on.
    private var oneDNNRefused: [Int]?

    public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), groups: Int = 1, bias: Bool = true, name: String = "conv",
                rng: inout SeededRandom) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "Conv2d: channels not divisible by groups")
        Compute.configure()
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.groups = groups
        self.kernel = (kernel.0, kernel.1)
        self.stride = (stride.0, stride.1)
        self.padding = (padding.0, padding.1)
        weight = Parameter("\(name).weight", shape: [outChannels, inChannels / groups, kernel.0, kernel.1])
        self.bias = bias ? Parameter("\(name).bias", shape: [outChannels], decays: false) : nil
        let fanIn = inChannels / groups * kernel.0 * kernel.1
        Initializer.kaimingUniform.fill(weight.value, fanIn: fanIn, fanOut: outChannels * kernel.0 * kernel.1, rng: &rng)
        if let b = self.bias { Initializer.kaimingUniform.fill(b.value, fanIn: fanIn, fanOut: 0, rng: &rng) }
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    func geometry(_ x: Tensor) -> ConvGeometry {
        let ho = (x.h + 2 * padding.h - kernel.h) / stride.h + 1
        let wo = (x.w + 2 * padding.w - kernel.w) / stride.w + 1
        return ConvGeometry(h: x.h, w: x.w, kh: kernel.h, kw: kernel.w, sh: stride.h, sw: stride.w,
                            ph: padding.h, pw: padding.w, ho: ho, wo: wo)
    }

    var isDepthwise: Bool { groups == inChannels && groups == outChannels && groups > 1 }

    /// Narrower planes waste most of a vector strip; they stay on im2col + GEMM.
    static let directMinimumWidth = 8
    /// Whether the direct kernel can run this convolution at all.
    func usesDirectKernel(_ g: ConvGeometry) -> Bool {
        kernel == (3, 3) && stride == (1, 1) && padding == (1, 1) && groups == 1 && g.w >= Self.directMinimumWidth
            && Self.directLevel > 0
    }
    static let directLevel = Int(lsk_direct_conv_level())
    /// Tests set this to run the direct kernel wherever it can run, not only where it is faster.
    nonisolated(unsafe) static var alwaysDirect = false

    /// Whether the direct kernel beats im2col + GEMM for a pass reducing over `reduced` channels into
    /// `produced` ones (forward: Cin into Cout; dL/dx: Cout into Cin). Read per layer from `lipsync-bench
    /// conv-layers` on the four benchmark networks (docs/engine.md). The AVX-512 kernel wins where the
    /// GEMM is thin (few output channels or a short reduction) or the plane is large, and loses on wide
    /// layers over small planes, where OpenBLAS runs near its peak, and on rows that leave most of a
    /// vector strip empty. The AVX2 kernel (one strip by 8 channels, half the registers) wins only on
    /// the thinnest layers.
    func directPays(reducing reduced: Int, producing produced: Int, _ g: ConvGeometry) -> Bool {
        if Self.alwaysDirect { return true }
        guard Self.stripsFilled(g, lanes: Self.directLevel >= 2 ? 16 : 8) else { return false }
        if Self.directLevel >= 2 { return produced <= 64 || reduced <= 96 || g.hwo >= 2048 }
        return produced <= 24 || reduced <= 48
    }
    /// Whether a row's vector strips of `lanes` floats are at least ¾ full: the direct kernels load
    /// and multiply whole strips, so narrower rows waste most of each.
    static func stripsFilled(_ g: ConvGeometry, lanes: Int) -> Bool {
        Double(g.w) / Double(lanes * ((g.w + lanes - 1) / lanes)) >= 0.75
    }
    /// Whether the forward of a 3x3, stride-2, padding-1 layer runs on the direct kernel (AVX-512 only):
    /// where its output rows fill the vector strips and the layer is thin or its plane large, the
    /// rule of the stride-1 kernel, read from `lipsync-bench conv-layers` (docs/engine.md).
    func usesStride2Kernel(_ g: ConvGeometry) -> Bool {
        guard kernel == (3, 3) && stride == (2, 2) && padding == (1, 1) && groups == 1 && Self.directLevel >= 2,
              Self.stride2Enabled else { return false }
        if Self.alwaysDirect { return true }
        let outputs = ConvGeometry(h: g.ho, w: g.wo, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, ho: g.ho, wo: g.wo)
        return Self.stripsFilled(outputs, lanes: 16) && (outChannels <= 64 || inChannels <= 96 || g.hwo >= 2048)
    }
    /// LIPSYNC_DIRECT_STRIDE2=0 keeps strided layers on im2col + GEMM (comparisons).
    static let stride2Enabled = ProcessInfo.processInfo.environment["LIPSYNC_DIRECT_STRIDE2"] != "0"
    func isPointwise(_ g: ConvGeometry) -> Bool {
        kernel == (1, 1) && stride == (1, 1) && padding == (0, 0) && groups == 1 && g.hwo >= 64
    }

    /// The oneDNN primitives for this input shape and backward level, when this layer runs on oneDNN.
    private func oneDNNConvolution(_ x: Tensor, backward: Int) -> OneDNNConvolution? {
        guard backend == .oneDNN, !isDepthwise, oneDNNRefused != x.shape else { return nil }
        if let c = oneDNN, c.inputShape == x.shape, c.backwardLevel >= backward { return c }
        oneDNN = nil
        oneDNN = OneDNNConvolution(self, input: x.shape, backward: backward)
        if oneDNN == nil { oneDNNRefused = x.shape }
        return oneDNN
    }
    private var backwardLevel: Int { computesInputGradient ? 2 : 1 }
    /// The implementations oneDNN chose for the last shape (benchmarks), nil on the engine's kernels.
    public var oneDNNImplementation: String? { oneDNN?.implementation }

    // MARK: forward

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.c == inChannels, "Conv2d: input has \(x.c) channels, expected \(inChannels)")
        input = x
        forwards &+= 1
        let g = geometry(x)
        let y = reuse(&out, [x.n, outChannels, g.ho, g.wo])
        if let d = oneDNNConvolution(x, backward: trains ? backwardLevel : 0) {
            d.forward(x.data, weight: weight.value.data, bias: bias.map { UnsafePointer($0.value.data) }, into: y.data)
        } else if isDepthwise {
            depthwiseForward(x, y, g)
        } else if usesDirectKernel(g) && directPays(reducing: inChannels, producing: outChannels, g) {
            let packed = reuse(&packedForward, [lsk_packed_floats(Int32(outChannels), Int32(inChannels))])
            lsk_pack3x3(weight.value.data, Int32(outChannels), Int32(inChannels), 0, packed.data)
            direct(x.data, images: x.n, channels: inChannels, outChannels: outChannels, g, packed: packed.data,
                   bias: bias.map { UnsafePointer($0.value.data) }, into: y.data)
        } else if usesStride2Kernel(g) {
            let packed = reuse(&packedForward, [lsk_packed_floats(Int32(outChannels), Int32(inChannels))])
            lsk_pack3x3(weight.value.data, Int32(outChannels), Int32(inChannels), 0, packed.data)
            direct(x.data, images: x.n, channels: inChannels, outChannels: outChannels, g, stride2: true, packed: packed.data,
                   bias: bias.map { UnsafePointer($0.value.data) }, into: y.data)
        } else if isPointwise(g) {
            prefillBias(y, g)
            for n in 0..<x.n {
                Compute.gemm(m: outChannels, n: g.hwo, k: inChannels, a: weight.value.data, lda: inChannels,
                             b: x.data + n * inChannels * g.hwo, ldb: g.hwo, beta: bias == nil ? 0 : 1,
                             c: y.data + n * outChannels * g.hwo, ldc: g.hwo)
            }
        } else {
            gemmForward(x, y, g)
        }
        return y
    }

    /// Planes at least this large are convolved one image at a time, straight into the output (no
    /// scatter); smaller ones are batched into one GEMM per chunk of images.
    static let directPlane = 256

    /// The direct kernel over a batch: `images` images of `channels` planes (h x w) into as many of
    /// `outChannels`. Whole images per worker when the batch feeds every worker; otherwise one image
    /// at a time with its blocks of 16 output channels shared out. `stride2` reads the input at
    /// stride 2 from its column-split copy (forward only: dL/dx of a strided layer is not a convolution
    /// of this shape).
    private func direct(_ src: UnsafePointer<Float>, images: Int, channels: Int, outChannels: Int, _ g: ConvGeometry,
                        stride2: Bool = false, packed: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        into dst: UnsafeMutablePointer<Float>) {
        let (c32, h32, w32) = (Int32(channels), Int32(g.h), Int32(g.w))
        let padCount = stride2 ? lsk_split2_floats(c32, h32, w32) : lsk_padded_floats(c32, h32, w32)
        let blocks = (outChannels + Int(LSK_BLOCK) - 1) / Int(LSK_BLOCK), block = Int(LSK_BLOCK)
        let plane = g.h * g.w, outPlane = g.hwo
        func pad(_ image: Int, into padded: UnsafeMutablePointer<Float>) {
            if stride2 { lsk_pad_split2(src + image * channels * plane, c32, h32, w32, padded) }
            else { lsk_pad(src + image * channels * plane, c32, h32, w32, padded) }
        }
        func run(_ padded: UnsafePointer<Float>, image n: Int, blocks range: Range<Int>) {
            for b in range {
                let weights = packed + b * channels * 9 * block, count = Int32(min(block, outChannels - b * block))
                let out = dst + (n * outChannels + b * block) * outPlane, firstBias = bias.map { $0 + b * block }
                if stride2 {
                    let done = lsk_conv3x3s2_block(padded, c32, h32, w32, weights, firstBias, count, out)
                    precondition(done == 1, "Conv2d: the stride-2 direct kernel needs AVX-512")
                } else {
                    lsk_conv3x3_block(padded, c32, h32, w32, weights, firstBias, count, out)
                }
            }
        }
        if images >= Compute.threads {
            let s = (0..<Compute.threads).map { scratchFor($0) }
            Compute.partition(images) { w, range in
                let padded = reuse(&s[w].padded, [padCount])
                for n in range {
                    pad(n, into: padded.data)
                    run(padded.data, image: n, blocks: 0..<blocks)
                }
            }
        } else {
            let padded = reuse(&scratchFor(0).padded, [padCount])
            for n in 0..<images {
                pad(n, into: padded.data)
                Compute.partition(blocks) { _, range in run(padded.data, image: n, blocks: range) }
            }
        }
    }

    private func scratchFor(_ w: Int) -> Scratch {
        while scratch.count <= w { scratch.append(Scratch()) }
        return scratch[w]
    }

    /// Images per batched GEMM: a worker's whole share of the batch when its columns fit in
    /// `keptColumnFloats` (one chunk then leaves them in place for the backward), else chunks whose
    /// column buffer stays near `maxColumnFloats`. The same rule in training and inference, and
    /// whatever ran before: OpenBLAS sums small and large products in different orders, and a
    /// resumed run must repeat the steps of an unbroken one bit for bit.
    private func chunkSize(_ n: Int, _ g: ConvGeometry) -> Int {
        let k = inChannels / groups * g.kernelArea
        if keepsColumns && n * k * g.hwo <= keptColumnFloats { return n }
        return max(1, min(n, maxColumnFloats / max(1, k * g.hwo)))
    }
    /// One group: the forward's columns are what the weight gradient multiplies, so keeping them
    /// saves the backward's im2col.
    private var keepsColumns: Bool { groups == 1 }

    /// Runs body(scratch, images, splitGemm) over the batch: whole images per worker when the batch
    /// can feed every worker, otherwise all images on one scratch with each GEMM split over workers.
    private func forEachImageRange(_ n: Int, _ body: (Scratch, Range<Int>, Bool) -> Void) -> [Scratch] {
        if n >= Compute.threads && Compute.threads > 1 {
            let s = (0..<Compute.threads).map { scratchFor($0) }
            Compute.partition(n) { w, r in body(s[w], r, false) }
            return s
        }
        body(scratchFor(0), 0..<n, true)
        return [scratchFor(0)]
    }

    private func gemm(_ split: Bool, transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
                      c: UnsafeMutablePointer<Float>, ldc: Int) {
        if split && !transB {
            Compute.gemm(transA: transA, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        } else {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    private func gemmForward(_ x: Tensor, _ y: Tensor, _ g: ConvGeometry) {
        let cg = inChannels / groups, og = outChannels / groups, k = cg * g.kernelArea
        let w = weight.value.data, bd = bias?.value.data, outC = outChannels, groups = groups
        let direct = g.hwo >= Self.directPlane, stamp = forwards
        if direct { prefillBias(y, g) }
        _ = forEachImageRange(x.n) { s, images, split in
            let chunk = direct ? 1 : chunkSize(images.count, g)
            for n0 in Swift.stride(from: images.lowerBound, to: images.upperBound, by: chunk) {
                let nb = min(chunk, images.upperBound - n0), cols = nb * g.hwo
                let colT = reuse(&s.col, [k, cols])
                s.columns = nb == images.count && keepsColumns ? (images, stamp) : nil
                for gi in 0..<groups {
                    im2col(x, first: n0, batch: nb, channelOffset: gi * cg, channels: cg, g, into: colT.data)
                    let a = w + gi * og * k
                    if direct {
                        let dst = y.data + (n0 * outC + gi * og) * g.hwo
                        gemm(split, m: og, n: cols, k: k, a: a, lda: k, b: colT.data, ldb: cols,
                             beta: bd == nil ? 0 : 1, c: dst, ldc: cols)
                        continue
                    }
                    let tmp = reuse(&s.gemm, [og, cols])
                    gemm(split, m: og, n: cols, k: k, a: a, lda: k, b: colT.data, ldb: cols, beta: 0, c: tmp.data, ldc: cols)
                    // [og, nb*HWo] -> y[n0+b, gi*og+o, :], adding the bias on the way.
                    for b in 0..<nb {
                        for o in 0..<og {
                            let dst = y.data + ((n0 + b) * outC + gi * og + o) * g.hwo
                            let src = tmp.data + o * cols + b * g.hwo
                            let v = bd?[gi * og + o] ?? 0
                            for i in 0..<g.hwo { dst[i] = src[i] + v }
                        }
                    }
                }
            }
        }
    }

    /// Fills every output plane with its bias, so a GEMM with beta = 1 adds the convolution to it.
    private func prefillBias(_ y: Tensor, _ g: ConvGeometry) {
        guard let b = bias?.value.data else { return }
        let yd = y.data, oc = outChannels, hw = g.hwo
        Compute.forEachBlock(y.n * oc, minimum: 16) { planes in
            for p in planes { (yd + p * hw).update(repeating: b[p % oc], count: hw) }
        }
    }

    /// Depthwise forward as row sweeps: for each kernel tap, out[row] += w * in[shifted row] over the
    /// output columns whose input lies inside the image. No per-tap bounds checks; the inner loop is
    /// contiguous for stride 1 and vectorises.
    private func depthwiseForward(_ x: Tensor, _ y: Tensor, _ g: ConvGeometry) {
        let wd = weight.value.data, bd = bias?.value.data, C = inChannels, N = x.n
        let xd = x.data, yd = y.data
        let fast3x3 = g.kh == 3 && g.kw == 3 && g.pw <= 1 && g.ph <= 1
        // Small layers are not worth a hand-off between threads.
        let work = C * N * g.hwo * g.kernelArea
        let run: ((Int, Range<Int>) -> Void) -> Void = { body in
            if work < 1 << 17 { body(0, 0..<(C * N)) } else { Compute.partition(C * N, body) }
        }
        // The AVX-512 kernel (CKernels/Depthwise.c) takes 3x3 planes at stride 1 or 2 with equal padding of 0 or 1.
        let vectorised = fast3x3 && Self.directLevel >= 2 && g.sh == g.sw && g.sh <= 2 && g.ph == g.pw
        run { _, planes in
            let zeros = UnsafeMutablePointer<Float>.allocate(capacity: g.w + 4)
            zeros.initialize(repeating: 0, count: g.w + 4)
            let scratchCount = vectorised ? lsk_depthwise_scratch_floats(Int32(g.h), Int32(g.w)) : 0
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            defer { zeros.deallocate(); scratch.deallocate() }
            for p in planes {
                let c = p % C
                let wc = wd + c * g.kernelArea
                let src = xd + p * g.h * g.w, dst = yd + p * g.hwo
                if vectorised, lsk_depthwise3x3(src, Int32(g.h), Int32(g.w), Int32(g.sh), Int32(g.ph), wc, bd?[c] ?? 0,
                                                dst, Int32(g.ho), Int32(g.wo), scratch) == 1 { continue }
                if fast3x3 { Self.depthwise3x3(src, dst, wc, bias: bd?[c] ?? 0, g, zeros: zeros); continue }
                dst.update(repeating: bd?[c] ?? 0, count: g.hwo)
                for kx in 0..<g.kw {
                    let valid = g.validColumns(kx: kx), lo = valid.lowerBound, hi = valid.upperBound
                    if lo >= hi { continue }
                    for oy in 0..<g.ho {
                        let row = dst + oy * g.wo
                        for ky in 0..<g.kh {
                            let iy = oy * g.sh - g.ph + ky
                            if iy < 0 || iy >= g.h { continue }
                            let wv = wc[ky * g.kw + kx]
                            let srow = src + iy * g.w - g.pw + kx
                            if g.sw == 1 {
                                for ox in lo..<hi { row[ox] += wv * srow[ox] }
                            } else {
                                for ox in lo..<hi { row[ox] += wv * srow[ox * g.sw] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// 3x3 depthwise plane, all nine taps per output in one pass; zero rows stand in above and below
    /// the image, and the edge columns take the bounds-checked path.
    static func depthwise3x3(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>,
                             bias: Float, _ g: ConvGeometry, zeros: UnsafePointer<Float>) {
        let (w0, w1, w2, w3, w4, w5, w6, w7, w8) = (w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8])
        // Output columns whose three input columns are all inside the image.
        let lo = (g.pw + g.sw - 1) / g.sw
        let hi = max(lo, min(g.wo, (g.w - 3 + g.pw) / g.sw + 1))
        for oy in 0..<g.ho {
            let iy = oy * g.sh - g.ph
            let r0 = iy >= 0 && iy < g.h ? src + iy * g.w : zeros
            let r1 = iy + 1 >= 0 && iy + 1 < g.h ? src + (iy + 1) * g.w : zeros
            let r2 = iy + 2 >= 0 && iy + 2 < g.h ? src + (iy + 2) * g.w : zeros
            let out = dst + oy * g.wo
            func edge(_ ox: Int) -> Float {
                var v = bias
                for kx in 0..<3 {
                    let ix = ox * g.sw - g.pw + kx
                    if ix < 0 || ix >= g.w { continue }
                    v += w[kx] * r0[ix] + w[3 + kx] * r1[ix] + w[6 + kx] * r2[ix]
                }
                return v
            }
            for ox in 0..<min(lo, g.wo) { out[ox] = edge(ox) }
            if g.sw == 1 {
                let a = r0 - g.pw, b = r1 - g.pw, c = r2 - g.pw
                // Eight outputs at a time with explicit vectors (the scalar loop does not vectorise).
                var ox = lo
                while ox + 8 <= hi {
                    var v = SIMD8<Float>(repeating: bias)
                    v += v8(w0) * load8(a + ox) + v8(w1) * load8(a + ox + 1) + v8(w2) * load8(a + ox + 2)
                    v += v8(w3) * load8(b + ox) + v8(w4) * load8(b + ox + 1) + v8(w5) * load8(b + ox + 2)
                    v += v8(w6) * load8(c + ox) + v8(w7) * load8(c + ox + 1) + v8(w8) * load8(c + ox + 2)
                    UnsafeMutableRawPointer(out + ox).storeBytes(of: v, as: SIMD8<Float>.self)
                    ox += 8
                }
                while ox < hi {
                    out[ox] = bias + w0 * a[ox] + w1 * a[ox + 1] + w2 * a[ox + 2] + w3 * b[ox] + w4 * b[ox + 1] + w5 * b[ox + 2]
                        + w6 * c[ox] + w7 * c[ox + 1] + w8 * c[ox + 2]
                    ox += 1
                }
            } else {
                for ox in lo..<hi {
                    let ix = ox * g.sw - g.pw
                    out[ox] = bias + w0 * r0[ix] + w1 * r0[ix + 1] + w2 * r0[ix + 2] + w3 * r1[ix] + w4 * r1[ix + 1] + w5 * r1[ix + 2]
                        + w6 * r2[ix] + w7 * r2[ix + 1] + w8 * r2[ix + 2]
                }
            }
            for ox in hi..<g.wo { out[ox] = edge(ox) }
        }
    }

    // MARK: backward

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Conv2d.backward before forward") }
        let g = geometry(x)
        let dx = reuse(&gradIn, x.shape)
        trains = true
        if let d = oneDNNConvolution(x, backward: backwardLevel) {
            d.backward(x.data, dy.data, weight: weight.value.data, weightGradient: weight.grad.data,
                       biasGradient: bias?.grad.data, inputGradient: computesInputGradient ? dx.data : nil)
            if !computesInputGradient { dx.zero() }
            return dx
        }
        let directDx = usesDirectKernel(g) && computesInputGradient && directPays(reducing: outChannels, producing: inChannels, g)
        // The direct kernel writes every element of dx; the other paths accumulate into it.
        if !directDx { dx.zero() }
        if let b = bias {
            let hw = g.hwo, oc = outChannels
            for n in 0..<dy.n {
                for o in 0..<oc {
                    let row = dy.data + (n * oc + o) * hw
                    var s: Float = 0
                    for i in 0..<hw { s += row[i] }
                    b.grad.data[o] += s
                }
            }
        }
        // dW goes direct only where dL/dx does not need the GEMM path (its columns serve both).
        let directDW = usesDirectKernel(g) && directWeightGradientPays(g) && (directDx || !computesInputGradient)
        if isDepthwise {
            depthwiseBackward(x, dy, dx, g)
        } else if directDx || directDW {
            if directDW {
                directWeightGradient(x, dy, g)
            } else {
                gemmBackward(x, dy, dx, g, inputGradient: false)
            }
            if directDx {
                // dL/dx = conv(dL/dy, flipped W with its channels swapped).
                let packed = reuse(&packedBackward, [lsk_packed_floats(Int32(inChannels), Int32(outChannels))])
                lsk_pack3x3(weight.value.data, Int32(outChannels), Int32(inChannels), 1, packed.data)
                direct(dy.data, images: x.n, channels: outChannels, outChannels: inChannels, g, packed: packed.data, bias: nil, into: dx.data)
            }
        } else if isPointwise(g) && computesInputGradient {
            for n in 0..<x.n {
                let xn = x.data + n * inChannels * g.hwo, dyn = dy.data + n * outChannels * g.hwo
                sgemm(transB: true, m: outChannels, n: inChannels, k: g.hwo, a: dyn, lda: g.hwo, b: xn, ldb: g.hwo,
                      beta: 1, c: weight.grad.data, ldc: inChannels)
                Compute.gemm(transA: true, m: inChannels, n: g.hwo, k: outChannels, a: weight.value.data, lda: inChannels,
                             b: dyn, ldb: g.hwo, beta: 0, c: dx.data + n * inChannels * g.hwo, ldc: g.hwo)
            }
        } else {
            gemmBackward(x, dy, dx, g, inputGradient: computesInputGradient)
        }
        return dx
    }

    /// Whether the direct kernel's weight gradient beats im2col + GEMM. Measured per layer with
    /// `lipsync-bench conv-layers` (docs/engine.md): the GEMM path writes nine columns per input
    /// pixel and multiplies them by a matrix with one row per output channel, which OpenBLAS runs
    /// far from its peak when there are few rows (1.5–4.6× slower than the kernel at 3–32 output
    /// channels), and near it on wide layers (the kernel 0.65–0.8× at 64–384).
    /// AVX-512 only: the AVX2 version (one output channel in 16 registers) was no faster.
    func directWeightGradientPays(_ g: ConvGeometry) -> Bool {
        guard Self.directLevel >= 2 else { return false }
        if Self.alwaysDirect { return true }
        return Self.stripsFilled(g, lanes: 16) && outChannels <= 48
    }

    /// dW += Σ_n Σ_p dL/dy[n][o][p] · x[n][c][p + tap], by the direct kernel: the input channels are
    /// shared out among the workers, so each owns its slice of dW and nothing is summed afterwards.
    /// Images go through in groups whose dL/dy and padded input stay near 1 MB, the cache a
    /// worker's repeated passes over them (one per pair of output channels) read from.
    private func directWeightGradient(_ x: Tensor, _ dy: Tensor, _ g: ConvGeometry) {
        let plane = g.h * g.w, padPlane = lsk_padded_plane_floats(Int32(g.h), Int32(g.w))
        let parts = max(1, min(Compute.threads, inChannels)), per = (inChannels + parts - 1) / parts
        let s = (0..<parts).map { scratchFor($0) }
        let (cin, cout, n) = (inChannels, outChannels, x.n)
        let xd = x.data, dyd = dy.data, grad = weight.grad.data
        let group = max(1, min(n, (1 << 18) / max(1, (cout + per) * plane)))
        Compute.partition(parts) { w, _ in
            let c0 = w * per, c1 = min(cin, c0 + per)
            guard c0 < c1 else { return }
            let channels = c1 - c0
            let padded = reuse(&s[w].padded, [group * channels * padPlane + 32])
            for n0 in Swift.stride(from: 0, to: n, by: group) {
                let images = min(group, n - n0)
                for k in 0..<images {
                    lsk_pad(xd + ((n0 + k) * cin + c0) * plane, Int32(channels), Int32(g.h), Int32(g.w),
                            padded.data + k * channels * padPlane)
                }
                let done = lsk_conv3x3_weight_grad(padded.data, Int32(images), Int32(channels), Int32(g.h), Int32(g.w),
                                                   dyd + n0 * cout * plane, Int32(cout), cout * plane, grad + c0 * 9, cin * 9)
                precondition(done == 1, "Conv2d: the direct weight gradient needs AVX-512")
            }
        }
    }

    private func gemmBackward(_ x: Tensor, _ dy: Tensor, _ dx: Tensor, _ g: ConvGeometry, inputGradient wantsDx: Bool) {
        let cg = inChannels / groups, og = outChannels / groups, k = cg * g.kernelArea
        let w = weight.value.data, outC = outChannels, groups = groups, wCount = weight.value.count
        let direct = g.hwo >= Self.directPlane, stamp = forwards
        let used = forEachImageRange(x.n) { s, images, split in
            // Each worker accumulates its own weight gradient; they are summed afterwards.
            let dW = reuse(&s.dweight, [wCount])
            dW.zero()
            let chunk = direct ? 1 : chunkSize(images.count, g)
            for n0 in Swift.stride(from: images.lowerBound, to: images.upperBound, by: chunk) {
                let nb = min(chunk, images.upperBound - n0), cols = nb * g.hwo
                // The forward's columns, when this worker's scratch still holds exactly them.
                let kept = s.columns.map { $0.images == n0..<(n0 + nb) && $0.forward == stamp } ?? false
                let colT = reuse(&s.col, [k, cols])
                // The column gradient only where dL/dx comes from here (not a first layer, not the direct kernel).
                let dcolT = wantsDx ? reuse(&s.dcol, [k, cols]) : nil
                for gi in 0..<groups {
                    if !kept { im2col(x, first: n0, batch: nb, channelOffset: gi * cg, channels: cg, g, into: colT.data) }
                    let dyg: UnsafeMutablePointer<Float>
                    if direct {
                        dyg = dy.data + (n0 * outC + gi * og) * g.hwo
                    } else {
                        let t = reuse(&s.gemm, [og, cols])
                        for b in 0..<nb {
                            for o in 0..<og {
                                let dstOffset: Int = o * cols + b * g.hwo
                                let srcOffset: Int = ((n0 + b) * outC + gi * og + o) * g.hwo
                                (t.data + dstOffset).update(from: dy.data + srcOffset, count: g.hwo)
                            }
                        }
                        dyg = t.data
                    }
                    // dW_g += dY_g col^T ; dcol = W_g^T dY_g ; dx += col2im(dcol)
                    gemm(false, transB: true, m: og, n: k, k: cols, a: dyg, lda: cols, b: colT.data, ldb: cols,
                         beta: 1, c: dW.data + gi * og * k, ldc: k)
                    guard let dcolT else { continue }
                    gemm(split, transA: true, m: k, n: cols, k: og, a: w + gi * og * k, lda: k, b: dyg, ldb: cols,
                         beta: 0, c: dcolT.data, ldc: cols)
                    col2im(dcolT.data, into: dx, first: n0, batch: nb, channelOffset: gi * cg, channels: cg, g)
                }
            }
        }
        let grad = weight.grad.data
        for s in used {
            let d = s.dweight!.data
            for i in 0..<wCount { grad[i] += d[i] }
        }
    }

    private func depthwiseBackward(_ x: Tensor, _ dy: Tensor, _ dx: Tensor, _ g: ConvGeometry) {
        let wd = weight.value.data, gw = weight.grad.data, C = inChannels, N = x.n
        let xd = x.data, dyd = dy.data, dxd = dx.data
        Compute.partition(C) { _, chans in
            for c in chans {
                let wc = wd + c * g.kernelArea, gwc = gw + c * g.kernelArea
                for n in 0..<N {
                    let src = xd + (n * C + c) * g.h * g.w, dsrc = dxd + (n * C + c) * g.h * g.w
                    let d = dyd + (n * C + c) * g.hwo
                    for oy in 0..<g.ho {
                        for ox in 0..<g.wo {
                            let v = d[oy * g.wo + ox]
                            if v == 0 { continue }
                            for ky in 0..<g.kh {
                                let iy = oy * g.sh - g.ph + ky
                                if iy < 0 || iy >= g.h { continue }
                                for kx in 0..<g.kw {
                                    let ix = ox * g.sw - g.pw + kx
                                    if ix < 0 || ix >= g.w { continue }
                                    gwc[ky * g.kw + kx] += v * src[iy * g.w + ix]
                                    dsrc[iy * g.w + ix] += v * wc[ky * g.kw + kx]
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
@inline(__always) func v8(_ x: Float) -> SIMD8<Float> { SIMD8(repeating: x) }
