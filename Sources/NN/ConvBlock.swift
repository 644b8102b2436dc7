/// Wav2Lip's building block: convolution (or transposed convolution), BatchNorm, an optional
/// residual connection from the block's input, then ReLU.
public final class ConvBlock: Layer {
    public let conv: Layer
    public let bn: BatchNorm2d
    public let residual: Bool
    /// Inference only: the folded convolution's output, after the skip and ReLU.
    private var inferenceOut: Tensor?

    public init(_ cin: Int, _ cout: Int, kernel: Int, stride: (Int, Int) = (1, 1), padding: Int, residual: Bool = false,
                name: String, rng: inout SeededRandom) {
        precondition(!residual || (cin == cout && stride == (1, 1)), "ConvBlock: residual needs equal shapes")
        conv = Conv2d(cin, cout, kernel: (kernel, kernel), stride: stride, padding: (padding, padding), name: "\(name).conv", rng: &rng)
        bn = BatchNorm2d(cout, name: "\(name).bn")
        self.residual = residual
    }

    public init(transposed cin: Int, _ cout: Int, kernel: Int, stride: Int, padding: Int, outputPadding: Int = 0,
                name: String, rng: inout SeededRandom) {
        conv = ConvTranspose2d(cin, cout, kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding),
                               outputPadding: (outputPadding, outputPadding), name: "\(name).conv", rng: &rng)
        bn = BatchNorm2d(cout, name: "\(name).bn")
        residual = false
    }

    /// In inference mode a convolution with BatchNorm folded in replaces conv + BN (one pass less);
    /// it is rebuilt from the current weights each time the block leaves training mode.
    private var folded: Conv2d?

    /// See `Conv2d.computesInputGradient`: off for a network's first block.
    public var computesInputGradient: Bool {
        get { (conv as? Conv2d)?.computesInputGradient ?? true }
        set { (conv as? Conv2d)?.computesInputGradient = newValue }
    }

    public var parameters: [Parameter] { conv.parameters + bn.parameters }
    public func setMode(_ mode: ModelMode) {
        bn.setMode(mode)
        folded = nil
        if mode == .inference, let c = conv as? Conv2d {
            var scratch = SeededRandom(seed: 0)
            folded = c.folding(bn, rng: &scratch)
        }
    }

    /// Training and frozen modes run BN, the skip and ReLU as one pass (`BatchNorm2d.forward(_:adding:rectifying:)`).
    public func forward(_ x: Tensor) -> Tensor {
        guard let folded else { return bn.forward(conv.forward(x), adding: residual ? x : nil, rectifying: true) }
        let y = folded.forward(x), out = reuse(&inferenceOut, y.shape)
        let yd = y.data, xd = x.data, od = out.data, skip = residual
        Compute.forEachBlock(y.count) { r in
            if skip { for i in r { var v = yd[i]; v += xd[i]; od[i] = max(0, v) } } else { for i in r { od[i] = max(0, yd[i]) } }
        }
        return out
    }

    /// d(out)/d(x): ReLU's mask and BN's backward in one pass, the convolution's backward, then the
    /// skip's share (the masked gradient) added to it.
    public func backward(_ dy: Tensor) -> Tensor {
        precondition(folded == nil, "ConvBlock.backward in inference mode (use .frozen for a network that serves as a loss)")
        let dx = conv.backward(bn.backward(dy, rectified: true))
        if residual { bn.rectifiedMask(dy, adding: dx) }
        return dx
    }
}
