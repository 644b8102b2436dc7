import Foundation
import Media
import NN
import Training

/// Would a detector trained for it tell our mouths from real ones? A fresh classifier (the quality
/// critic's architecture, new weights: not the critic the generator trained against) learns real
/// versus generated lower halves of aligned crops from one half of the clips and is scored on the
/// other half. Generated is the positive class.
public enum DetectionResistance {
    /// A lower half of an aligned crop: 64 x 128 RGB, row-major, interleaved.
    public typealias Crop = [UInt8]
    public static let cropHeight = MouthPainter.size - MouthPainter.paintTop, cropWidth = MouthPainter.size

    public struct Scores: Codable, Sendable {
        public var accuracy: Double
        public var precision: Double
        public var recall: Double
        public var f1: Double
        public var trainCrops: Int
        public var testCrops: Int
    }

    /// The lower half of a 128 x 128 aligned crop.
    public static func lowerHalf(of crop: RGBImage) -> Crop {
        let row = crop.width * 3
        return Array(crop.pixels[(MouthPainter.paintTop * row)..<(crop.height * row)])
    }

    /// Trains on (`trainReal`, `trainGenerated`), balanced in every batch, and scores the test crops
    /// at logit 0. Deterministic for a seed.
    public static func score(trainReal: [Crop], trainGenerated: [Crop], testReal: [Crop], testGenerated: [Crop],
                             steps: Int = 400, batch: Int = 32, seed: UInt64 = 7) throws -> Scores? {
        guard !trainReal.isEmpty, !trainGenerated.isEmpty, !testReal.isEmpty, !testGenerated.isEmpty else { return nil }
        let objective = Objective(real: trainReal, generated: trainGenerated, batch: batch, seed: seed)
        var options = Trainer<Objective>.Options()
        options.steps = steps
        options.warmup = steps / 10
        options.evalEvery = 0
        options.checkpointEvery = 0
        options.printsProgress = false
        options.seed = seed
        try Trainer(objective: objective, options: options).run()
        let classifier = objective.classifier
        classifier.setMode(.inference)
        var tp = 0, fp = 0, tn = 0, fn = 0
        for (crops, generated) in [(testReal, false), (testGenerated, true)] {
            for start in stride(from: 0, to: crops.count, by: batch) {
                let part = Array(crops[start..<min(crops.count, start + batch)])
                let logits = classifier.forward(tensor(part)).logits
                for i in 0..<part.count {
                    let saysGenerated = logits.data[i] > 0
                    switch (saysGenerated, generated) {
                    case (true, true): tp += 1
                    case (true, false): fp += 1
                    case (false, false): tn += 1
                    case (false, true): fn += 1
                    }
                }
            }
        }
        let total = Double(tp + fp + tn + fn)
        let precision = tp + fp == 0 ? 0 : Double(tp) / Double(tp + fp)
        let recall = tp + fn == 0 ? 0 : Double(tp) / Double(tp + fn)
        return Scores(accuracy: Double(tp + tn) / total, precision: precision, recall: recall,
                      f1: precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall),
                      trainCrops: trainReal.count + trainGenerated.count, testCrops: testReal.count + testGenerated.count)
    }

    /// Crops as a [N, 3, 64, 128] tensor in 0...1 (the critic's input).
    static func tensor(_ crops: [Crop]) -> Tensor {
        let h = cropHeight, w = cropWidth, plane = h * w
        let t = Tensor(shape: [crops.count, 3, h, w])
        for (n, c) in crops.enumerated() {
            let base = t.data + n * 3 * plane
            for i in 0..<plane { for ch in 0..<3 { base[ch * plane + i] = Float(c[i * 3 + ch]) / 255 } }
        }
        return t
    }

    /// Balanced batches of real (target 0) and generated (target 1) crops, BCE on the logits.
    final class Objective: Training.Objective {
        let classifier: QualityCritic
        let optimizer: Adam
        let real: [Crop], generated: [Crop]
        let batch: Int
        var rng: SeededRandom

        init(real: [Crop], generated: [Crop], batch: Int, seed: UInt64) {
            classifier = QualityCritic(seed: seed)
            optimizer = Adam(parameters: classifier.parameters, learningRate: 2e-4)
            (self.real, self.generated, self.batch) = (real, generated, batch)
            rng = SeededRandom(seed: seed &+ 1)
        }

        var models: [any Model] { [classifier] }
        var optimizers: [NamedOptimizer] { [NamedOptimizer(name: "classifier", optimizer: optimizer, peakLearningRate: 2e-4, clipNorm: 5)] }
        var samplesPerStep: Int { batch }

        func nextBatch() -> (input: Tensor, targets: [Float]) {
            var crops: [Crop] = [], targets: [Float] = []
            for i in 0..<batch {
                let fromGenerated = i % 2 == 1
                let pool = fromGenerated ? generated : real
                var c = pool[Int(rng.next() % UInt64(pool.count))]
                if rng.next() % 2 == 0 { c = Self.mirrored(c) }
                crops.append(c)
                targets.append(fromGenerated ? 1 : 0)
            }
            return (DetectionResistance.tensor(crops), targets)
        }

        func step(_ b: (input: Tensor, targets: [Float]), phase: String) -> [String: Float] {
            let logits = classifier.forward(b.input).logits
            let grad = Tensor(shape: logits.shape)
            let loss = Loss.bceWithLogits(logits, target: b.targets, grad: grad)
            classifier.backward(logits: grad)
            return ["bce": loss]
        }

        func evaluate() -> [String: Double] { [:] }
        var state: [String: String] { [:] }
        func restore(state: [String: String]) {}

        /// Left-right mirror (faces are near-symmetric; it doubles what the classifier sees).
        static func mirrored(_ c: Crop) -> Crop {
            var out = c
            let w = DetectionResistance.cropWidth
            for y in 0..<DetectionResistance.cropHeight {
                for x in 0..<w { for ch in 0..<3 { out[(y * w + x) * 3 + ch] = c[(y * w + w - 1 - x) * 3 + ch] } }
            }
            return out
        }
    }
}

/// The Fréchet distance between two sets of feature vectors, each summarised by its mean and
/// covariance: |μa − μb|² + tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½). FID is this in Inception's feature
/// space; here the space is whatever the caller embeds in (`eval generate`: the pixel-only sync
/// expert's mouth-window embedding), so the figure is named by it, never "FID".
public enum FrechetDistance {
    public static func between(_ a: [[Float]], _ b: [[Float]]) -> Double? {
        guard a.count > 1, b.count > 1, let d = a.first?.count, d > 0, b.first?.count == d else { return nil }
        let (ma, ca) = moments(a, d), (mb, cb) = moments(b, d)
        var meanTerm = 0.0
        for i in 0..<d { meanTerm += (ma[i] - mb[i]) * (ma[i] - mb[i]) }
        let rootA = SymmetricMatrix(ca, d).squareRoot()
        let middle = SymmetricMatrix(multiply(multiply(rootA.values, cb, d), rootA.values, d), d)
        let crossTrace = middle.eigenvalues().reduce(0) { $0 + max(0, $1).squareRoot() }
        var traces = 0.0
        for i in 0..<d { traces += ca[i * d + i] + cb[i * d + i] }
        return max(0, meanTerm + traces - 2 * crossTrace)
    }

    static func moments(_ x: [[Float]], _ d: Int) -> (mean: [Double], covariance: [Double]) {
        var mean = [Double](repeating: 0, count: d)
        for v in x { for i in 0..<d { mean[i] += Double(v[i]) } }
        for i in 0..<d { mean[i] /= Double(x.count) }
        var cov = [Double](repeating: 0, count: d * d)
        for v in x {
            for i in 0..<d {
                let di = Double(v[i]) - mean[i]
                for j in i..<d { cov[i * d + j] += di * (Double(v[j]) - mean[j]) }
            }
        }
        let n = Double(x.count - 1)
        for i in 0..<d { for j in i..<d { cov[i * d + j] /= n; cov[j * d + i] = cov[i * d + j] } }
        return (mean, cov)
    }

    static func multiply(_ a: [Double], _ b: [Double], _ d: Int) -> [Double] {
        var c = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for k in 0..<d { let v = a[i * d + k]; if v == 0 { continue }; for j in 0..<d { c[i * d + j] += v * b[k * d + j] } } }
        return c
    }
}

/// A real symmetric matrix, diagonalised by cyclic Jacobi rotations (exact to rounding for the
/// 64 x 64 covariances used here, and free of any LAPACK dependency).
struct SymmetricMatrix {
    var values: [Double]
    let d: Int
    init(_ values: [Double], _ d: Int) {
        self.d = d
        // Symmetrise: products of symmetric matrices are symmetric only up to rounding.
        var v = values
        for i in 0..<d { for j in (i + 1)..<max(i + 1, d) { let m = (v[i * d + j] + v[j * d + i]) / 2; v[i * d + j] = m; v[j * d + i] = m } }
        self.values = v
    }

    /// Eigenvalues and eigenvectors (columns of a d x d row-major matrix).
    func decomposition() -> (values: [Double], vectors: [Double]) {
        var a = values
        var v = [Double](repeating: 0, count: d * d)
        for i in 0..<d { v[i * d + i] = 1 }
        for _ in 0..<100 {
            var off = 0.0, scale = 0.0
            for i in 0..<d { for j in 0..<d { if i != j { off += a[i * d + j] * a[i * d + j] } else { scale += a[i * d + j] * a[i * d + j] } } }
            if off <= 1e-24 * max(scale, 1e-300) { break }
            for p in 0..<d {
                for q in (p + 1)..<max(p + 1, d) {
                    let apq = a[p * d + q]
                    if abs(apq) < 1e-300 { continue }
                    let theta = (a[q * d + q] - a[p * d + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<d {
                        let akp = a[k * d + p], akq = a[k * d + q]
                        a[k * d + p] = c * akp - s * akq
                        a[k * d + q] = s * akp + c * akq
                    }
                    for k in 0..<d {
                        let apk = a[p * d + k], aqk = a[q * d + k]
                        a[p * d + k] = c * apk - s * aqk
                        a[q * d + k] = s * apk + c * aqk
                    }
                    for k in 0..<d {
                        let vkp = v[k * d + p], vkq = v[k * d + q]
                        v[k * d + p] = c * vkp - s * vkq
                        v[k * d + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<d).map { a[$0 * d + $0] }, v)
    }

    func eigenvalues() -> [Double] { decomposition().values }

    /// The positive semi-definite square root (negative eigenvalues, rounding noise of a covariance, clamp to 0).
    func squareRoot() -> SymmetricMatrix {
        let (e, v) = decomposition()
        var r = [Double](repeating: 0, count: d * d)
        for k in 0..<d {
            let s = max(0, e[k]).squareRoot()
            if s == 0 { continue }
            for i in 0..<d { let vi = v[i * d + k] * s; for j in 0..<d { r[i * d + j] += vi * v[j * d + k] } }
        }
        return SymmetricMatrix(r, d)
    }
}
