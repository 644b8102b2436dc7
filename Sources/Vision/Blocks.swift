import NN

/// Loads a model's tensors by name from a safetensors file into layers' parameters.
struct WeightLoader {
    let file: SafetensorsFile
    func conv(_ c: Conv2d, _ name: String) throws {
        try file.load("\(name).weight", into: c.weight.value)
        if let b = c.bias { try file.load("\(name).bias", into: b.value) }
    }
    func prelu(_ p: PReLU, _ name: String) throws { try file.load("\(name).weight", into: p.alpha.value) }
}

/// The MobileNet-style residual block of BlazeFace and FaceMesh: depthwise 3x3 (TFLite SAME padding,
/// asymmetric at stride 2), pointwise 1x1, plus a skip path (2x2 max-pool at stride 2, zero channels
/// when widening), then ReLU or PReLU.
final class BlazeBlock: Layer {
    let pad: ZeroPad2d?
    let depthwise: Conv2d, pointwise: Conv2d
    let pool: MaxPool2d?, widen: ChannelPad?
    let activation: Layer
    private var sum: Tensor?

    init(_ cin: Int, _ cout: Int, stride: Int, prelu: Bool, rng: inout SeededRandom) {
        pad = stride == 2 ? ZeroPad2d(top: 0, bottom: 1, left: 0, right: 1) : nil
        depthwise = Conv2d(cin, cin, kernel: (3, 3), stride: (stride, stride), padding: stride == 2 ? (0, 0) : (1, 1),
                           groups: cin, rng: &rng)
        pointwise = Conv2d(cin, cout, kernel: (1, 1), rng: &rng)
        pool = stride == 2 ? MaxPool2d(kernel: (2, 2)) : nil
        widen = cout > cin ? ChannelPad(extra: cout - cin) : nil
        activation = prelu ? PReLU(channels: cout) : ReLU()
    }

    func load(_ w: WeightLoader, depthwise dw: String, pointwise pw: String, prelu p: String?) throws {
        try w.conv(depthwise, dw)
        try w.conv(pointwise, pw)
        if let p = p, let a = activation as? PReLU { try w.prelu(a, p) }
    }

    var parameters: [Parameter] { depthwise.parameters + pointwise.parameters + activation.parameters }
    private var training = true
    private var fusedOut: Tensor?
    func setMode(_ mode: ModelMode) { pool?.setMode(mode); training = mode != .inference }

    func forward(_ x: Tensor) -> Tensor {
        if !training { return fusedForward(x) }
        let main = pointwise.forward(depthwise.forward(pad?.forward(x) ?? x))
        var skip = x
        if let p = pool { skip = p.forward(skip) }
        if let c = widen { skip = c.forward(skip) }
        let s = sum ?? Tensor(shape: main.shape)
        sum = s
        TensorOps.add(main, skip, into: s)
        return activation.forward(s)
    }

    /// Inference: skip add, zero channels and activation in one pass over the output.
    private func fusedForward(_ x: Tensor) -> Tensor {
        let main = pointwise.forward(depthwise.forward(pad?.forward(x) ?? x))
        let skip = pool?.forward(x) ?? x
        let out = fusedOut ?? Tensor(shape: main.shape)
        fusedOut = out
        out.reshape(main.shape)
        let hw = main.h * main.w, cout = main.c, cin = skip.c
        let md = main.data, sd = skip.data, od = out.data
        let alpha = (activation as? PReLU)?.alpha.value.data
        for n in 0..<main.n {
            for c in 0..<cout {
                let m = md + (n * cout + c) * hw, o = od + (n * cout + c) * hw
                let a: Float = alpha?[c] ?? 0
                if c < cin {
                    let k = sd + (n * cin + c) * hw
                    for i in 0..<hw { let v = m[i] + k[i]; o[i] = v > 0 ? v : a * v }
                } else {
                    for i in 0..<hw { let v = m[i]; o[i] = v > 0 ? v : a * v }
                }
            }
        }
        return out
    }

    func backward(_ dy: Tensor) -> Tensor {
        precondition(training, "BlazeBlock.backward in inference mode")
        let ds = activation.backward(dy)
        var dx = depthwise.backward(pointwise.backward(ds))
        if let p = pad { dx = p.backward(dx) }
        var dskip = ds
        if let c = widen { dskip = c.backward(dskip) }
        if let p = pool { dskip = p.backward(dskip) }
        let out = dx.clone()
        for i in 0..<out.count { out.data[i] += dskip.data[i] }
        return out
    }
}
