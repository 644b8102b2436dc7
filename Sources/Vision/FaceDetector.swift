import Foundation
import Media
import NN

/// A detected face in source-image pixels.
public struct FaceDetection: Equatable, Sendable, Codable {
    public var score: Float
    /// Box: left, top, width, height in pixels.
    public var x: Double, y: Double, width: Double, height: Double
    /// Six keypoints in pixels: right eye, left eye, nose tip, mouth centre, right ear, left ear
    /// (the subject's right and left).
    public var keypoints: [[Double]]

    public func iou(_ o: FaceDetection) -> Double {
        let ix = max(0, min(x + width, o.x + o.width) - max(x, o.x))
        let iy = max(0, min(y + height, o.y + o.height) - max(y, o.y))
        let inter = ix * iy
        return inter / max(1e-9, width * height + o.width * o.height - inter)
    }
}

public enum VisionError: Error, CustomStringConvertible {
    case modelMissing(path: String)
    public var description: String {
        switch self { case .modelMissing(let p): return "\(p): model weights not found (reinstall LipSync's Models/)" }
    }
}

/// Where the shipped weights are found, first match wins: `$LIPSYNC_MODELS`; an installed layout,
/// `PREFIX/share/lipsync/models` beside `PREFIX/bin/lipsync` (`make install`); a `Models/` folder in
/// or above the executable's directory (a build inside the checkout); the checkout the binary was
/// compiled from.
public enum ModelLocator {
    /// This process's executable, resolved: argv[0] may be a bare name found through PATH.
    public static var executable: URL {
        if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return URL(fileURLWithPath: p) }
        return URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
    }

    public static var searchPath: [URL] {
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["LIPSYNC_MODELS"] { candidates.append(URL(fileURLWithPath: env)) }
        var dir = executable.deletingLastPathComponent()
        candidates.append(dir.deletingLastPathComponent().appendingPathComponent("share/lipsync/models"))
        for _ in 0..<6 { candidates.append(dir.appendingPathComponent("Models")); dir = dir.deletingLastPathComponent() }
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Models"))
        return candidates
    }

    public static func url(_ name: String) throws -> URL {
        for c in searchPath {
            let u = c.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: u.path) { return u }
        }
        throw VisionError.modelMissing(path: name)
    }
}

/// MediaPipe's short-range BlazeFace (face_detection_short_range.tflite, converted to
/// Models/blazeface_short_range.safetensors), with its graph's pre- and post-processing:
/// letterboxed 128x128 input in [-1, 1], 896 SSD anchors (strides 8, 16, 16, 16; fixed size),
/// box/keypoint decoding (scale 128), sigmoid scores (clipped at +-100, threshold 0.5),
/// and weighted non-maximum suppression (IoU 0.3).
public final class FaceDetector {
    public static let inputSize = 128
    public var minScore: Float = 0.5
    public var suppressionIoU = 0.3

    let stem: Sequential
    let blocks: [BlazeBlock]
    let cls8: Conv2d, reg8: Conv2d, cls16: Conv2d, reg16: Conv2d
    let anchors: [(x: Double, y: Double)]
    private let input = Tensor(shape: [1, 3, 128, 128])

    static let widths = [(24, 24, 1), (24, 28, 1), (28, 32, 2), (32, 36, 1), (36, 42, 1), (42, 48, 2), (48, 56, 1),
                         (56, 64, 1), (64, 72, 1), (72, 80, 1), (80, 88, 1), (88, 96, 2), (96, 96, 1), (96, 96, 1),
                         (96, 96, 1), (96, 96, 1)]

    public convenience init() throws {
        try self.init(weights: SafetensorsFile(path: ModelLocator.url("blazeface_short_range.safetensors").path))
    }

    public init(weights: SafetensorsFile) throws {
        var rng = SeededRandom(seed: 0)
        let conv0 = Conv2d(3, 24, kernel: (5, 5), stride: (2, 2), rng: &rng)
        stem = Sequential([ZeroPad2d(top: 1, bottom: 2, left: 1, right: 2), conv0, ReLU()])
        blocks = Self.widths.map { BlazeBlock($0.0, $0.1, stride: $0.2, prelu: false, rng: &rng) }
        cls8 = Conv2d(88, 2, kernel: (1, 1), rng: &rng); reg8 = Conv2d(88, 32, kernel: (1, 1), rng: &rng)
        cls16 = Conv2d(96, 6, kernel: (1, 1), rng: &rng); reg16 = Conv2d(96, 96, kernel: (1, 1), rng: &rng)
        let w = WeightLoader(file: weights)
        try w.conv(conv0, "conv2d")
        for (i, b) in blocks.enumerated() {
            try b.load(w, depthwise: i == 0 ? "depthwise_conv2d" : "depthwise_conv2d_\(i)", pointwise: "conv2d_\(i + 1)", prelu: nil)
        }
        try w.conv(cls8, "classificator_8"); try w.conv(reg8, "regressor_8")
        try w.conv(cls16, "classificator_16"); try w.conv(reg16, "regressor_16")
        // SSD anchors: 2 per cell on the 16x16 map, 6 per cell (3 merged layers x 2) on the 8x8 map.
        var a: [(Double, Double)] = []
        for (grid, perCell) in [(16, 2), (8, 6)] {
            for y in 0..<grid { for x in 0..<grid { for _ in 0..<perCell { a.append(((Double(x) + 0.5) / Double(grid), (Double(y) + 0.5) / Double(grid))) } } }
        }
        anchors = a
        blocks.forEach { $0.setTraining(false) }
    }

    /// Raw network outputs for a prepared input: scores (896 logits) and regressors (896 x 16).
    func run(_ x: Tensor) -> (scores: [Float], boxes: [Float]) {
        var h = stem.forward(x)
        var at16: Tensor?
        for (i, b) in blocks.enumerated() {
            h = b.forward(h)
            if i == 10 { at16 = h }
        }
        var scores = [Float](repeating: 0, count: 896), boxes = [Float](repeating: 0, count: 896 * 16)
        func gather(_ cls: Tensor, _ reg: Tensor, grid: Int, perCell: Int, offset: Int) {
            let plane = grid * grid
            for y in 0..<grid {
                for x in 0..<grid {
                    for a in 0..<perCell {
                        let anchor = offset + (y * grid + x) * perCell + a
                        scores[anchor] = cls.data[a * plane + y * grid + x]
                        for k in 0..<16 { boxes[anchor * 16 + k] = reg.data[(a * 16 + k) * plane + y * grid + x] }
                    }
                }
            }
        }
        gather(cls8.forward(at16!), reg8.forward(at16!), grid: 16, perCell: 2, offset: 0)
        gather(cls16.forward(h), reg16.forward(h), grid: 8, perCell: 6, offset: 512)
        return (scores, boxes)
    }

    /// All faces in the picture, strongest first. An image with no face gives an empty array.
    public func detect(_ image: RGBImage) -> [FaceDetection] {
        let roi = RegionOfInterest.letterbox(width: image.width, height: image.height)
        roi.sample(image, size: Self.inputSize, range: -1...1, zeroBorder: true, into: input)
        let (scores, boxes) = run(input)
        var candidates: [(score: Float, box: [Double])] = []
        for i in 0..<896 {
            let s = 1 / (1 + expf(-min(100, max(-100, scores[i]))))
            guard s >= minScore else { continue }
            let r = boxes[(i * 16)..<(i * 16 + 16)].map { Double($0) / 128 }
            let ax = anchors[i].x, ay = anchors[i].y
            // Box centre/size and keypoints, normalised to the letterboxed input.
            var v = [ax + r[0], ay + r[1], r[2], r[3]]
            for k in 0..<6 { v.append(ax + r[4 + 2 * k]); v.append(ay + r[5 + 2 * k]) }
            candidates.append((s, v))
        }
        return weightedNMS(candidates).map { c in
            let b = c.box
            func px(_ u: Double, _ v: Double) -> [Double] { let p = roi.project(u: u, v: v); return [p.x, p.y] }
            let tl = px(b[0] - b[2] / 2, b[1] - b[3] / 2), br = px(b[0] + b[2] / 2, b[1] + b[3] / 2)
            return FaceDetection(score: c.score, x: tl[0], y: tl[1], width: br[0] - tl[0], height: br[1] - tl[1],
                                 keypoints: (0..<6).map { px(b[4 + 2 * $0], b[5 + 2 * $0]) })
        }
    }

    /// MediaPipe's weighted NMS: each cluster (IoU > threshold with its best member) becomes the
    /// score-weighted mean of its members' boxes and keypoints, keeping the best score.
    func weightedNMS(_ input: [(score: Float, box: [Double])]) -> [(score: Float, box: [Double])] {
        var remaining = input.sorted { $0.score > $1.score }
        var out: [(Float, [Double])] = []
        func iou(_ a: [Double], _ b: [Double]) -> Double {
            let ix = max(0, min(a[0] + a[2] / 2, b[0] + b[2] / 2) - max(a[0] - a[2] / 2, b[0] - b[2] / 2))
            let iy = max(0, min(a[1] + a[3] / 2, b[1] + b[3] / 2) - max(a[1] - a[3] / 2, b[1] - b[3] / 2))
            let inter = ix * iy
            return inter / max(1e-12, a[2] * a[3] + b[2] * b[3] - inter)
        }
        while let best = remaining.first {
            var cluster: [(score: Float, box: [Double])] = [], rest: [(score: Float, box: [Double])] = []
            for c in remaining { if iou(best.box, c.box) > suppressionIoU { cluster.append(c) } else { rest.append(c) } }
            if cluster.isEmpty { cluster = [best]; rest = Array(remaining.dropFirst()) }
            let total = cluster.reduce(0.0) { $0 + Double($1.score) }
            var mean = [Double](repeating: 0, count: best.box.count)
            for c in cluster { for k in 0..<mean.count { mean[k] += c.box[k] * Double(c.score) / total } }
            out.append((best.score, mean))
            remaining = rest
        }
        return out
    }
}
