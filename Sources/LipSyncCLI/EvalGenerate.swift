import ArgumentParser
import Foundation
import Generate
import Media
import NN
import Sync
import Vision

struct EvalGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Measure the generator on held-out clips beside two baselines: the input copied, and the reference mouth pasted.",
        discussion: """
        For every clip (files, or the media files directly under each directory; clips the split file marks `train` are refused), four renderings are measured: `generated` (the generator), `copied` (the input unchanged: perfect pixels, lips that ignore the new audio), `reference` (the reference frame's lower half pasted: a static mouth) and `pipeline` (each frame's own lower half cropped, colour-matched and pasted back: what the crop and paste cost on their own, the ceiling for any painter). --renderings picks some of them.

        Every rendering is measured as delivered: encoded as `lipsync generate` encodes by default (H.264, CRF 18, preset veryfast) and decoded back. With the clip's own audio: PSNR and SSIM in the mouth-and-jaw region of the aligned face crop, and LMD (the 40 FaceMesh lip points of the rendering, tracked afresh, against the real ones, in % of the inter-ocular distance). Dubbed with the next clip's speech (same dataset): the learned `offset` of the rendering (re-encoded with that speech) must read 0 ± 1 frames, and its confidence is divided by the real clip's with its own audio (the LSE-C idea). Both: flicker (frame-to-frame change in the region) and jitter (second differences of the lip points), sharpness (variance of the Laplacian) and seam energy (gradient energy where the mask fades), each divided by the real video's. The Fréchet distance compares the dubbed renderings' 5-frame mouth windows with the real frames' in the embedding of the pixel-only sync expert (Models/sync_pixels.safetensors): a named feature space, not FID. Detection resistance: for each rendering a fresh classifier (the quality critic's architecture, new weights) learns real against rendered mouths on the even-numbered clips and is tested on the odd-numbered ones; accuracy, precision, recall and F1 (positive: rendered).

        Example:
          lipsync eval generate ../shared/data/grid/mixed ../shared/data/crema-d --jsonl per-clip.jsonl
        """)

    @Argument(help: "Clips or directories of clips.") var paths: [String]
    @Option(help: "Generator weights (default: the shipped Models/generator.safetensors).") var model: String?
    @Option(help: "The fixed data split (clips marked `train` are skipped).") var split = "docs/data-split.tsv"
    @Option(help: "Write one JSON line per clip, rendering and audio here.") var jsonl: String?
    @Option(help: "Evaluate at most this many clips per dataset (0: all).") var limit = 0
    @Option(help: "Training steps of each real-vs-rendered classifier.") var detectorSteps = 400
    @Option(help: "Render at most this many seconds of each clip (0: all; for quick checks).") var maxSeconds: Double = 0
    @Option(help: "Comma-separated renderings to measure: generated, copied, reference, pipeline.") var renderings = "generated,copied,reference,pipeline"
    @Flag(help: "Print the table as JSON.") var json = false

    func chosenRenderings() throws -> [MouthDubber.Rendering] {
        try renderings.split(separator: ",").map { name in
            guard let r = MouthDubber.Rendering(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("unknown rendering '\(name)': expected generated, copied, reference or pipeline")
            }
            return r
        }
    }

    struct Dub: Codable {
        var clip: String, dataset: String, speech: String, method: String
        var audioDelayFrames: Int?
        var confidence: Double?
        var realConfidence: Double?
    }

    struct Row: Codable {
        var dataset: String, method: String, clips: Int
        var psnr: Double?, ssim: Double?, lmd: Double?
        var dubbedWithinOne: Double?, confidenceRatio: Double?
        var flickerRatio: Double?, jitterRatio: Double?, sharpnessRatio: Double?, seamRatio: Double?
        /// Fréchet distance of the dubbed renderings' mouth windows to the real ones, in the pixel-only sync expert's embedding.
        var frechetSyncExpert: Double?
    }

    func run() throws {
        try reportingErrors {
            let chosen = try chosenRenderings()
            let painter = try MouthPainter(contentsOf: try model ?? ModelLocator.url("generator.safetensors").path)
            let sync = try SyncNet(contentsOf: ModelLocator.url("sync.safetensors").path)
            let roles = FileManager.default.fileExists(atPath: split) ? try DataSplit(path: split) : nil
            var files = try mediaFiles(under: paths, recursive: false)
            let refused = files.filter { roles?.role(of: $0) == "train" }
            if !refused.isEmpty { note("skipping \(refused.count) training clip(s)") }
            files.removeAll { refused.contains($0) }
            if limit > 0 {
                var perSet: [String: Int] = [:]
                files = files.filter { f in
                    let d = SyncEvaluation.dataset(of: f)
                    perSet[d, default: 0] += 1
                    return perSet[d]! <= limit
                }
            }
            guard !files.isEmpty else { throw CLIError(description: "nothing to evaluate: no clip left after refusing \(refused.count) training clip(s)", exitCode: 68) }
            let expert = try SyncNet(contentsOf: ModelLocator.url("sync_pixels.safetensors").path)
            var measures: [GenerationEvaluation.Measures] = []
            var dubs: [Dub] = []
            // Per dataset and rendering, the mouth-window embeddings for the Fréchet distance (real
            // frames under "real"); per clip, the crops for the real-vs-generated classifier.
            var embeddings: [String: [String: [[Float]]]] = [:]
            var crops: [(clip: Int, rendering: String, crops: [DetectionResistance.Crop])] = []
            let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("lipsync-eval-\(getpid())")
            try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: tmp) }
            for (i, clip) in files.enumerated() {
                FileHandle.standardError.write(Data("\r[\(i + 1)/\(files.count)] \(clip)   ".utf8))
                let fps = try VideoReader(path: clip, options: .constantFrameRateAtSource).frameRate
                let dataset = SyncEvaluation.dataset(of: clip)
                let sameSet = files.filter { SyncEvaluation.dataset(of: $0) == dataset }
                let speech = sameSet.count > 1 ? sameSet[(sameSet.firstIndex(of: clip)! + 1) % sameSet.count] : clip
                let real = SyncSignals.gatherLongest(try SyncSignals.gather(video: clip, model: sync))
                for rendering in chosen {
                    var own = try GenerationEvaluation.render(video: clip, speech: clip, painter: painter, rendering: rendering,
                                                              frames: try frames(of: clip, fps: fps))
                    guard own.faces.contains(where: { $0 != nil }) else { continue }
                    // Measured as delivered: encoded as `generate` encodes (CRF 18) and decoded again.
                    own.frames = try Self.delivered(own.frames, fps: fps, audio: clip, file: tmp.appendingPathComponent("own.mp4").path)
                    measures.append(try GenerationEvaluation.measure(clip: clip, speech: clip, rendering: rendering, output: own.frames, real: own.real,
                                                                     landmarks: own.landmarks, ownAudio: true))
                    if rendering == .copied || (rendering == chosen[0] && !chosen.contains(.copied)) {
                        embeddings[dataset, default: [:]]["real", default: []] += expert.visualEmbeddings(of: own.mouthWindows(real: true))
                        crops.append((i, "real", own.mouthCrops(real: true)))
                    }
                    guard speech != clip else { continue }
                    var dubbed = try GenerationEvaluation.render(video: clip, speech: speech, painter: painter, rendering: rendering,
                                                                 frames: try frames(of: speech, fps: fps))
                    let file = tmp.appendingPathComponent("dub.mp4").path
                    dubbed.frames = try Self.delivered(dubbed.frames, fps: fps, audio: speech, file: file)
                    embeddings[dataset, default: [:]][rendering.rawValue, default: []] += expert.visualEmbeddings(of: dubbed.mouthWindows())
                    crops.append((i, rendering.rawValue, dubbed.mouthCrops()))
                    let read = SyncSignals.gatherLongest(try SyncSignals.gather(video: file, model: sync))
                    dubs.append(Dub(clip: clip, dataset: dataset, speech: speech, method: rendering.rawValue,
                                    audioDelayFrames: read?.audioDelayFrames, confidence: read?.confidence, realConfidence: real?.confidence))
                    var m = try GenerationEvaluation.measure(clip: clip, speech: speech, rendering: rendering, output: dubbed.frames, real: dubbed.real,
                                                             landmarks: dubbed.landmarks, ownAudio: false)
                    m.method = rendering.rawValue + "-dubbed"
                    measures.append(m)
                }
            }
            FileHandle.standardError.write(Data("\n".utf8))
            if let path = jsonl { try writeJSONLines(measures as [any Encodable] + dubs as [any Encodable], to: path) }
            var rows = Self.rows(measures, dubs)
            for k in rows.indices {
                let d = rows[k].dataset
                let sets = d == "all" ? Array(embeddings.values) : embeddings[d].map { [$0] } ?? []
                let realSet = sets.flatMap { $0["real"] ?? [] }, rendered = sets.flatMap { $0[rows[k].method] ?? [] }
                rows[k].frechetSyncExpert = FrechetDistance.between(realSet, rendered)
            }
            let detection = try Self.detection(crops, steps: detectorSteps)
            if json { try printJSON(Table(rows: rows, detection: detection)); return }
            func f(_ v: Double?, _ fmt: String) -> String { v.map { String(format: fmt, $0) } ?? "-" }
            print("dataset      method     clips  PSNR   SSIM   LMD%   dub±1   conf×  flicker× jitter× sharp× seam×  Fréchet")
            for r in rows {
                print([r.dataset.padding(toLength: 12, withPad: " ", startingAt: 0), r.method.padding(toLength: 10, withPad: " ", startingAt: 0),
                       String(format: "%5d", r.clips), f(r.psnr, "%5.1f"), f(r.ssim, "%5.3f"), f(r.lmd, "%5.2f"),
                       f(r.dubbedWithinOne.map { 100 * $0 }, "%5.1f%%"), f(r.confidenceRatio, "%5.2f"), f(r.flickerRatio, "%6.2f"),
                       f(r.jitterRatio, "%6.2f"), f(r.sharpnessRatio, "%5.2f"), f(r.seamRatio, "%5.2f"), f(r.frechetSyncExpert, "%7.4f")].joined(separator: "  "))
            }
            print("Fréchet: distance to the real frames' mouth windows in the pixel-only sync expert's 64-d embedding (not FID).")
            print("real-vs-rendered classifier (trained on the even-numbered clips' crops, tested on the odd ones; positive = rendered):")
            for d in detection {
                print(String(format: "  %-10@ accuracy %.3f  precision %.3f  recall %.3f  F1 %.3f  (%d train, %d test crops)",
                             d.method as NSString, d.scores.accuracy, d.scores.precision, d.scores.recall, d.scores.f1, d.scores.trainCrops, d.scores.testCrops))
            }
        }
    }

    struct Detection: Codable { var method: String; var scores: DetectionResistance.Scores }
    struct Table: Codable { var rows: [Row]; var detection: [Detection] }

    /// For each rendering, a fresh classifier of real versus rendered dubbed mouths, trained on the
    /// even-numbered clips and scored on the odd-numbered ones (no clip on both sides).
    static func detection(_ crops: [(clip: Int, rendering: String, crops: [DetectionResistance.Crop])], steps: Int) throws -> [Detection] {
        func pool(_ name: String, train: Bool) -> [DetectionResistance.Crop] {
            crops.filter { $0.rendering == name && ($0.clip % 2 == 0) == train }.flatMap(\.crops)
        }
        var out: [Detection] = []
        for r in MouthDubber.Rendering.allCases {
            if let s = try DetectionResistance.score(trainReal: pool("real", train: true), trainGenerated: pool(r.rawValue, train: true),
                                                     testReal: pool("real", train: false), testGenerated: pool(r.rawValue, train: false), steps: steps) {
                out.append(Detection(method: r.rawValue, scores: s))
            }
        }
        return out
    }

    /// `frames` as a viewer gets them: written to `file` as `lipsync generate` writes (H.264, CRF 18,
    /// with `audio`'s sound) and decoded back. The file stays for the offset reading.
    static func delivered(_ frames: [RGBImage], fps: Double, audio: String, file: String) throws -> [RGBImage] {
        let w = try VideoWriter(path: file, width: frames[0].width, height: frames[0].height, fps: fps,
                                options: .init(crf: Delivery.crf, preset: Delivery.preset, audio: .copy(fromFile: audio)))
        for f in frames { try w.append(f) }
        try w.finish()
        let reader = try VideoReader(path: file)
        var out: [RGBImage] = []
        while let f = try reader.nextFrame(), out.count < frames.count { out.append(f.image) }
        // Fewer frames back would shorten every measure silently.
        guard out.count == frames.count else { throw CLIError(description: "\(file): \(out.count) of \(frames.count) frames decoded back", exitCode: 70) }
        return out
    }

    /// Frames the speech lasts on the video's grid, at most --max-seconds.
    func frames(of speech: String, fps: Double) throws -> Int {
        let all = max(1, Int(Double(try AudioReader.sampleCount(path: speech)) / Double(AudioReader.defaultSampleRate) * fps))
        return maxSeconds > 0 ? min(all, max(1, Int(maxSeconds * fps))) : all
    }

    static func rows(_ measures: [GenerationEvaluation.Measures], _ dubs: [Dub]) -> [Row] {
        func mean(_ v: [Double?]) -> Double? { let x = v.compactMap { $0 }.filter(\.isFinite); return x.isEmpty ? nil : x.reduce(0, +) / Double(x.count) }
        var rows: [Row] = []
        let sets = Array(Set(measures.map(\.dataset))).sorted() + ["all"]
        for d in sets {
            for method in MouthDubber.Rendering.allCases.map(\.rawValue) {
                let own = measures.filter { ($0.dataset == d || d == "all") && $0.method == method }
                let dubbed = measures.filter { ($0.dataset == d || d == "all") && $0.method == method + "-dubbed" }
                let ds = dubs.filter { ($0.dataset == d || d == "all") && $0.method == method }
                guard !own.isEmpty else { continue }
                let read = ds.compactMap(\.audioDelayFrames)
                let ratios = ds.compactMap { x -> Double? in
                    guard let c = x.confidence, let r = x.realConfidence, r > 0 else { return nil }
                    return c / r
                }
                let both = own + dubbed
                rows.append(Row(dataset: d, method: method, clips: own.count, psnr: mean(own.map(\.psnr)), ssim: mean(own.map(\.ssim)), lmd: mean(own.map(\.lmd)),
                                dubbedWithinOne: ds.isEmpty ? nil : Double(read.filter { abs($0) <= 1 }.count) / Double(ds.count),
                                confidenceRatio: ratios.isEmpty ? nil : ratios.reduce(0, +) / Double(ratios.count),
                                flickerRatio: mean(both.map(\.flickerRatio)), jitterRatio: mean(both.map(\.jitterRatio)),
                                sharpnessRatio: mean(both.map(\.sharpnessRatio)), seamRatio: mean(both.map(\.seamRatio))))
            }
        }
        return rows
    }

    func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
}
