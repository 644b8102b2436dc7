import Foundation
import Media
import NN

/// 468 face-mesh points for one face, in source-image pixels (z in the same scale as x).
public struct FaceLandmarks: Sendable {
    public var points: [SIMD3<Float>]
    /// Probability that the region really holds a face.
    public var presence: Float
    public var region: RegionOfInterest
    /// What FaceMesh's own backbone sees of the lips (`FaceLandmarker.descriptorCount` values): its
    /// features sampled at the lip points. Trained on many faces to find lips, they carry lip shape
    /// with little of who the person is.
    public var mouthDescriptor: [Float] = []
}

/// MediaPipe's FaceMesh (face_landmark.tflite, converted to Models/facemesh.safetensors): a rotated
/// square region around the face is sampled to 192x192 in [0, 1]; the network returns 468 points in
/// that frame and a face-presence logit; points are projected back through the region.
public final class FaceLandmarker {
    public static let inputSize = 192
    let stem: Sequential
    let trunk: [BlazeBlock]
    let meshBlocks: [BlazeBlock], meshReduce: Conv2d, meshReduceAct: PReLU, meshTail: BlazeBlock, meshHead: Conv2d
    let flagBlock: BlazeBlock, flagReduce: Conv2d, flagReduceAct: PReLU, flagTail: BlazeBlock, flagHead: Conv2d
    private let input = Tensor(shape: [1, 3, 192, 192])

    public convenience init() throws {
        try self.init(weights: SafetensorsFile(path: ModelLocator.url("facemesh.safetensors").path))
    }

    public init(weights: SafetensorsFile) throws {
        var rng = SeededRandom(seed: 0)
        let w = WeightLoader(file: weights)
        let conv1 = Conv2d(3, 16, kernel: (3, 3), stride: (2, 2), rng: &rng), act1 = PReLU(channels: 16)
        stem = Sequential([ZeroPad2d(top: 0, bottom: 1, left: 0, right: 1), conv1, act1])
        try w.conv(conv1, "conv2d_1")
        try w.prelu(act1, "p_re_lu_1")
        func block(_ cin: Int, _ cout: Int, _ s: Int, dw: Int, pw: Int, act: Int) throws -> BlazeBlock {
            let b = BlazeBlock(cin, cout, stride: s, prelu: true, rng: &rng)
            try b.load(w, depthwise: "depthwise_conv2d_\(dw)", pointwise: "conv2d_\(pw)", prelu: "p_re_lu_\(act)")
            return b
        }
        let plan: [(Int, Int, Int)] = [(16, 16, 1), (16, 16, 1), (16, 32, 2), (32, 32, 1), (32, 32, 1), (32, 64, 2), (64, 64, 1),
                                       (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 128, 1), (128, 128, 2), (128, 128, 1), (128, 128, 1)]
        trunk = try plan.enumerated().map { i, p in try block(p.0, p.1, p.2, dw: i + 1, pw: i + 2, act: i + 2) }
        meshBlocks = try [block(128, 128, 2, dw: 15, pw: 16, act: 16), block(128, 128, 1, dw: 16, pw: 17, act: 17),
                          block(128, 128, 1, dw: 17, pw: 18, act: 18)]
        meshReduce = Conv2d(128, 32, kernel: (1, 1), rng: &rng); meshReduceAct = PReLU(channels: 32)
        try w.conv(meshReduce, "conv2d_19"); try w.prelu(meshReduceAct, "p_re_lu_19")
        meshTail = try block(32, 32, 1, dw: 18, pw: 20, act: 20)
        meshHead = Conv2d(32, 1404, kernel: (3, 3), stride: (3, 3), rng: &rng)
        try w.conv(meshHead, "conv2d_21")
        flagBlock = try block(128, 128, 2, dw: 23, pw: 28, act: 26)
        flagReduce = Conv2d(128, 32, kernel: (1, 1), rng: &rng); flagReduceAct = PReLU(channels: 32)
        try w.conv(flagReduce, "conv2d_29"); try w.prelu(flagReduceAct, "p_re_lu_27")
        flagTail = try block(32, 32, 1, dw: 24, pw: 30, act: 28)
        flagHead = Conv2d(32, 1, kernel: (3, 3), stride: (3, 3), rng: &rng)
        try w.conv(flagHead, "conv2d_31")
        (trunk + meshBlocks + [meshTail, flagBlock, flagTail]).forEach { $0.setTraining(false) }
    }

    /// MediaPipe's region for a detection: centred on the box, square on its longer side, scaled by
    /// 1.5, turned so that the eyes (keypoints 0 and 1) are level.
    public static func region(for d: FaceDetection) -> RegionOfInterest {
        let re = d.keypoints[0], le = d.keypoints[1]
        var angle = -atan2(-(le[1] - re[1]), le[0] - re[0])
        angle -= 2 * Double.pi * floor((angle + Double.pi) / (2 * Double.pi))
        let side = max(d.width, d.height) * 1.5
        return RegionOfInterest(centerX: d.x + d.width / 2, centerY: d.y + d.height / 2, width: side, height: side, rotation: angle)
    }

    /// The mouth descriptor's layout: trunk block 7's 24 x 24 x 64 features averaged over the outer
    /// lip points, then over the inner lip points (the mouth's inside: teeth, tongue, the dark gap),
    /// then block 10's 12 x 12 x 128 features averaged over all 40; scaled to unit RMS (256 values).
    public static let descriptorCount = 64 + 64 + 128
    private let fine = Tensor(shape: [1, 64, 24, 24]), coarse = Tensor(shape: [1, 128, 12, 12])

    /// `withMouthDescriptor`: also fill `mouthDescriptor` (only a sync model with the mesh input reads
    /// it, so offset, detect and generate with the shipped models skip the work).
    public func landmarks(in image: RGBImage, region: RegionOfInterest, withMouthDescriptor: Bool = false) -> FaceLandmarks {
        region.sample(image, size: Self.inputSize, range: 0...1, zeroBorder: false, into: input)
        var h = stem.forward(input)
        for (i, b) in trunk.enumerated() {
            h = b.forward(h)
            guard withMouthDescriptor else { continue }
            if i == 7 { fine.copy(from: h) } else if i == 10 { coarse.copy(from: h) }
        }
        let branch = h
        var m = branch
        for b in meshBlocks { m = b.forward(m) }
        let mesh = meshHead.forward(meshTail.forward(meshReduceAct.forward(meshReduce.forward(m))))
        let flag = flagHead.forward(flagTail.forward(flagReduceAct.forward(flagReduce.forward(flagBlock.forward(branch)))))
        let size = Float(Self.inputSize)
        var points: [SIMD3<Float>] = []
        points.reserveCapacity(468)
        for i in 0..<468 {
            let u = Double(mesh.data[3 * i] / size), v = Double(mesh.data[3 * i + 1] / size)
            let p = region.project(u: u, v: v)
            points.append(SIMD3(Float(p.x), Float(p.y), mesh.data[3 * i + 2] / size * Float(region.width)))
        }
        var result = FaceLandmarks(points: points, presence: 1 / (1 + expf(-flag.data[0])), region: region)
        if withMouthDescriptor { result.mouthDescriptor = mouthDescriptor(mesh: mesh.data) }
        return result
    }

    /// Bilinear samples of the kept feature maps at the lip points (input pixels / cell size - 0.5:
    /// cell centres), averaged per group, scaled to unit RMS so contrast and exposure drop out.
    private func mouthDescriptor(mesh: UnsafeMutablePointer<Float>) -> [Float] {
        var out = [Float](repeating: 0, count: Self.descriptorCount)
        func average(_ map: Tensor, _ lips: [Int], into offset: Int) {
            let c = map.c, side = map.h, cell = Double(Self.inputSize) / Double(side)
            for i in lips {
                let t = Bilinear(clamping: Double(mesh[3 * i]) / cell - 0.5, Double(mesh[3 * i + 1]) / cell - 0.5, width: side, height: side)
                for k in 0..<c {
                    let p = map.data + k * side * side
                    out[offset + k] += t.mix(p[t.y0 * side + t.x0], p[t.y0 * side + t.x1], p[t.y1 * side + t.x0], p[t.y1 * side + t.x1]) / Float(lips.count)
                }
            }
        }
        average(fine, FaceMeshIndex.outerLips, into: 0)
        average(fine, FaceMeshIndex.innerLips, into: 64)
        average(coarse, FaceMeshIndex.outerLips + FaceMeshIndex.innerLips, into: 128)
        let rms = (out.reduce(0) { $0 + $1 * $1 } / Float(out.count)).squareRoot()
        return out.map { $0 / max(rms, 1e-6) }
    }
}
