/// Wav2Lip's building block: convolution (or transposed convolution), BatchNorm, an optional
/// residual connection from the block's input, then ReLU.
public final class ConvBlock: Layer {
    public let conv: Layer
    public let bn: BatchNorm2d
    public let residual: Bool
    private let relu = ReLU()

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
    /// The convolution with BatchNorm folded in, in inference mode (nil otherwise).
    public var inferenceConvolution: Conv2d? { folded }

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

    public func forward(_ x: Tensor) -> Tensor {
        let y = folded?.forward(x) ?? bn.forward(conv.forward(x))
        // BatchNorm's backward does not read its output, so the skip is added in place.
        if residual {
            let yd = y.data, xd = x.data
            Compute.forEachBlock(y.count) { r in for i in r { yd[i] += xd[i] } }
        }
        return relu.forward(y)
    }

    public func backward(_ dy: Tensor) -> Tensor {
        precondition(folded == nil, "ConvBlock.backward in inference mode (use .frozen for a network that serves as a loss)")
        let ds = relu.backward(dy)
        let dx = conv.backward(bn.backward(ds))
        if residual {
            let dxd = dx.data, dsd = ds.data
            Compute.forEachBlock(dx.count) { r in for i in r { dxd[i] += dsd[i] } }
        }
        return dx
    }
}
