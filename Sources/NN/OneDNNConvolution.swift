import COneDNN
import Foundation

/// Which implementation runs `Conv2d`'s convolutions (docs/engine.md, "oneDNN behind Conv2d").
public enum ConvolutionBackend: String, Sendable, CaseIterable {
    /// The engine's own kernels: im2col + OpenBLAS sgemm, the direct 3×3 kernels, depthwise loops.
    case engine
    /// oneDNN's blocked kernels, the engine's NCHW tensors reordered to and from them on every call.
    case oneDNN = "onednn"

    /// LIPSYNC_CONV_BACKEND=engine|onednn, else the measured default. oneDNN only when it loads.
    public static let configured: ConvolutionBackend = {
        let asked = ProcessInfo.processInfo.environment["LIPSYNC_CONV_BACKEND"].flatMap(ConvolutionBackend.init(rawValue:))
        let wanted = asked ?? .engine
        if wanted == .oneDNN && lsd_available(Int32(Compute.threads)) == 0 { return .engine }
        return wanted
    }()

    /// Why oneDNN did not load, when it did not (tests and `lipsync-bench` say it).
    public static var loadFailure: String? {
        lsd_available(Int32(Compute.threads)) == 1 ? nil : String(cString: lsd_last_error())
    }
}

/// One geometry's oneDNN primitives for a `Conv2d` (COneDNN/ConvBackend.c): created on the first
/// call with a new input shape and kept while the shape stays, as a batch loop keeps it.
final class OneDNNConvolution {
    let inputShape: [Int]
    /// 0: forward only; 1: and the weight gradient; 2: and dL/dx.
    let backwardLevel: Int
    private let handle: OpaquePointer

    init?(_ conv: Conv2d, input shape: [Int], backward: Int) {
        var s = lsd_conv_shape(n: Int32(shape[0]), c: Int32(shape[1]), h: Int32(shape[2]), w: Int32(shape[3]),
                               oc: Int32(conv.outChannels), kh: Int32(conv.kernel.h), kw: Int32(conv.kernel.w),
                               sh: Int32(conv.stride.h), sw: Int32(conv.stride.w), ph: Int32(conv.padding.h),
                               pw: Int32(conv.padding.w), groups: Int32(conv.groups), has_bias: conv.bias == nil ? 0 : 1,
                               backward: Int32(backward))
        guard lsd_available(Int32(Compute.threads)) == 1, let h = lsd_conv_create(&s) else { return nil }
        handle = h
        inputShape = shape
        backwardLevel = backward
    }

    deinit { lsd_conv_destroy(handle) }

    var implementation: String { String(cString: lsd_conv_implementation(handle)) }

    // Failures past creation are oneDNN refusing memory it accepted a moment before: not reachable
    // from input, so they stop the program with oneDNN's message.
    private func check(_ ok: Int32) {
        if ok != 1 { preconditionFailure(String(cString: lsd_last_error())) }
    }

    func forward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                 into y: UnsafeMutablePointer<Float>) {
        check(lsd_conv_forward(handle, x, weight, bias, y))
    }

    /// weight.grad += dL/dw, bias.grad += dL/db, then dL/dx into dx (overwritten) unless dx is nil.
    func backward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                  weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
                  inputGradient dx: UnsafeMutablePointer<Float>?) {
        check(lsd_conv_backward(handle, x, dy, weight, weightGradient, biasGradient, dx))
    }
}
