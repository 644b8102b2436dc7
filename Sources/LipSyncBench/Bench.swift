import ArgumentParser
import Foundation
import Audio
import Media
import NN
import Sync
import Vision
import COpenBLAS
import Generate

/// Benchmarks against the peers, measured in the same run on the same input.
/// Results go to docs/benchmarks.md together with the command that produced them.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lipsync-bench",
        abstract: "Time LipSync against its peers on the same input, in the same run.",
        subcommands: [Decode.self, DecodeMemory.self, MelBench.self, NNBench.self, ConvLayersBench.self, FacesBench.self, SyncWindowsBench.self, OffsetBench.self, GenerateBench.self]
    )

    // What users get: a generic fallback kernel is replaced as `lipsync` replaces it (BLASKernel).
    static func main() {
        BLASKernel.useFastKernel()
        main(nil)
    }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Runs a command and returns its wall time; its output is discarded.
func timeProcess(_ args: [String]) throws -> Double {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    let t0 = now()
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw ValidationError("\(args.joined(separator: " ")) failed") }
    return now() - t0
}

func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode to RGB24: VideoReader against `ffmpeg -threads 2 -i X -f rawvideo -pix_fmt rgb24 -y /dev/null`.")

    @Argument(help: "Video file (the documented row uses a 720p H.264 file).")
    var file: String
    @Option(help: "Timed repetitions of each side; the median is reported.")
    var runs = 5
    @Option(help: "Decoder threads for both sides.")
    var threads = 2

    func run() throws {
        var ours: [Double] = [], theirs: [Double] = []
        var frames = 0
        for r in 0..<(runs + 1) {
            // Interleave the two sides so drift in machine load hits both alike; run 0 is warm-up.
            let t0 = now()
            let reader = try VideoReader(path: file, options: .init(threads: threads))
            var image = RGBImage.empty
            var n = 0
            while try reader.readFrame(into: &image) != nil { n += 1 }
            let ourTime = now() - t0
            let ffTime = try timeProcess(["ffmpeg", "-nostdin", "-v", "error", "-threads", String(threads), "-i", file,
                                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-y", "/dev/null"])
            frames = n
            if r > 0 { ours.append(ourTime); theirs.append(ffTime) }
        }
        let o = median(ours), f = median(theirs)
        print(String(format: "decode %@: %d frames; lipsync %.3f s (%.1f fps), ffmpeg %.3f s (%.1f fps); ratio lipsync/ffmpeg %.3f; peak RSS %.0f MB",
                     (file as NSString).lastPathComponent, frames, o, Double(frames) / o, f, Double(frames) / f, o / f, peakRSSMegabytes()))
    }
}

struct DecodeMemory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode-memory",
        abstract: "Decode a whole file (video frames, then audio in chunks) and report peak RSS.")

    @Argument var file: String

    func run() throws {
        let t0 = now()
        let reader = try VideoReader(path: file)
        var image = RGBImage.empty
        var frames = 0
        while try reader.readFrame(into: &image) != nil { frames += 1 }
        let video = now() - t0
        var samples = 0
        if let audio = try? AudioReader(path: file) {
            while let chunk = try audio.read(maxSamples: 160_000) { samples += chunk.count }
        }
        print(String(format: "decode-memory %@: %d frames in %.1f s, %.1f s of audio; peak RSS %.0f MB",
                     (file as NSString).lastPathComponent, frames, video, Double(samples) / 16_000, peakRSSMegabytes()))
    }
}

struct MelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mel",
        abstract: "Mel (Wav2Lip) and MFCC (syncnet) features of the first 60 s of a file's audio: LipSync against librosa and python_speech_features.",
        discussion: "Decoding and process start-up are excluded on both sides; FFTW plans are made before timing.")

    @Argument var file: String
    @Option(help: "Seconds of audio.") var seconds = 60.0
    @Option(help: "Timed repetitions; the median is reported.") var runs = 20
    @Option(help: "Python with librosa and python_speech_features.") var python = "tools/.venv/bin/python"

    func run() throws {
        let reader = try AudioReader(path: file)
        let samples = try reader.read(maxSamples: Int(seconds * 16_000)) ?? []
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("lipsync-bench-\(getpid()).npy").path
        let w = try NumpyStreamWriter(path: tmp)
        try w.append(samples)
        try w.finish(shape: [samples.count], fortranOrder: false)
        defer { try? FileManager.default.removeItem(atPath: tmp) }

        let mel = MelSpectrogram()
        let mfcc = MFCC()
        let ourMel = timed(runs: runs) { _ = mel.compute(samples) }.median
        let ourMFCC = timed(runs: runs) { _ = mfcc.compute(samples) }.median

        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["tools/bench_audio.py", tmp, String(runs)]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard let json = try JSONSerialization.jsonObject(with: out) as? [String: Any],
              let lm = json["librosa_mel_s"] as? Double, let pm = json["psf_mfcc_s"] as? Double else {
            throw ValidationError("peer benchmark failed: \(String(decoding: out, as: UTF8.self))")
        }
        let secs = Double(samples.count) / 16_000
        print(String(format: "mel %.0f s: lipsync %.2f ms, librosa %@ %.2f ms, ratio %.3f", secs, ourMel * 1000,
                     (json["librosa"] as? String) ?? "?", lm * 1000, ourMel / lm))
        print(String(format: "mfcc %.0f s: lipsync %.2f ms, python_speech_features %.2f ms, ratio %.3f", secs, ourMFCC * 1000,
                     pm * 1000, ourMFCC / pm))
    }
}

struct NNBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nn",
        abstract: "Wav2Lip's SyncNet (batch 64) and generator (batch 16), and LipSync's own sync model (64 pairs) and mouth painter (20 frames): forward and train step, LipSync against the same networks in PyTorch (2 threads).",
        discussion: "Run it twice to compare OpenBLAS settings: as the environment gives it, and with OPENBLAS_CORETYPE unset.")

    @Option(help: "Timed repetitions; the median is reported, with the fastest and slowest run beside it.") var runs = 5
    @Option(help: "One of syncnet, generator, sync-model, painter; all four when absent.") var only = ""
    @Option(help: "Python with torch.") var python = "tools/.venv/bin/python"
    @Flag(help: "Skip the PyTorch side.") var noPeer = false
    @Option(help: "Which implementation runs the convolutions: engine, onednn, or both (each network timed on the engine's kernels and on oneDNN in turn, one run of each, the oneDNN line with its ratio to the engine). Without it, what `lipsync` uses (LIPSYNC_CONV_BACKEND, else the default).")
    var backend = ""

    func validate() throws {
        guard ["", "engine", "onednn", "both"].contains(backend) else { throw ValidationError("--backend is engine, onednn or both, not '\(backend)'") }
        if backend == "onednn" || backend == "both", let why = ConvolutionBackend.loadFailure { throw ValidationError("oneDNN does not load: \(why)") }
    }

    func run() throws {
        // OpenBLAS's own threaded sgemm on 2048^3, before the engine takes the threads over: the ceiling.
        let ceiling = sgemmCeiling()
        var rng = SeededRandom(seed: 1)
        var ours: [String: (forward: Timing, step: Timing, parameters: Int)] = [:]
        var onOneDNN: [String: (forward: Timing, step: Timing)] = [:]
        for net in benchNetworks(only: only, rng: &rng) {
            let parameters = net.parameters.reduce(0) { $0 + $1.value.count }
            let backends: [ConvolutionBackend?] = switch backend {
            case "both": [.engine, .oneDNN]
            case "engine": [.engine]
            case "onednn": [.oneDNN]
            default: [nil]
            }
            let t = net.measure(runs: runs, alternating: backends)
            ours[net.name] = (t[0].forward, t[0].step, parameters)
            if backend == "both" { onOneDNN[net.name] = t[1] }
        }
        var peer: [String: (forward: Timing, step: Timing)] = [:]
        var torchVersion = "-"
        if !noPeer {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: python)
            p.arguments = ["tools/bench_nn.py", "--runs", String(runs)] + (only.isEmpty ? [] : ["--only", only])
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let out = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            if let json = try JSONSerialization.jsonObject(with: out) as? [String: Any], let rs = json["results"] as? [[String: Any]] {
                torchVersion = json["torch"] as? String ?? "?"
                func timing(_ r: [String: Any], _ key: String) -> Timing {
                    let m = r[key + "_s"] as! Double, range = r[key + "_range_s"] as? [Double] ?? [m, m]
                    return Timing(median: m, fastest: range[0], slowest: range[1])
                }
                for r in rs { peer[r["name"] as! String] = (timing(r, "forward"), timing(r, "train_step")) }
            }
        }
        let coretype = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "unset (auto-detect)"
        print("OPENBLAS_CORETYPE=\(coretype), \(String(cString: openblas_get_corename())) kernel, torch \(torchVersion)")
        let shown = backend.isEmpty ? ConvolutionBackend.configured.rawValue : backend == "both" ? "engine (and onednn below each)" : backend
        print("convolutions: \(shown)")
        func oneDNNLine(_ name: String) {
            guard let d = onOneDNN[name], let e = ours[name] else { return }
            print(String(format: "  on onednn: forward %@, ratio onednn/engine %.2f; train step %@, ratio %.2f",
                         d.forward.description, d.forward.median / e.forward.median, d.step.description, d.step.median / e.step.median)
                  + (peer[name].map { String(format: "; against torch: forward %.2f, train step %.2f", d.forward.median / $0.forward.median, d.step.median / $0.step.median) } ?? ""))
        }
        print(String(format: "sgemm ceiling (OpenBLAS, 2048^3, 2 threads): %.0f GFLOP/s", ceiling))
        let gflop: [String: Double] = ["syncnet": 2.4 * 64, "generator": 7.9 * 16]
        for name in ["syncnet", "generator"] {
            guard let o = ours[name] else { continue }
            let p = peer[name], work = gflop[name]!
            func side(_ label: String, _ ours: Timing, _ theirs: Timing?, flop: Double) -> String {
                String(format: "%@ lipsync %@ (%.0f GFLOP/s, %.0f%% of ceiling)", label, ours.description, flop / ours.median, 100 * flop / ours.median / ceiling)
                    + (theirs.map { String(format: ", torch %@, ratio %.2f", $0.description, ours.median / $0.median) } ?? "")
            }
            print(String(format: "%@ (%.1f M params): ", name, Double(o.parameters) / 1e6)
                  + side("forward", o.forward, p?.forward, flop: work) + "; " + side("train step", o.step, p?.step, flop: 3 * work))
            oneDNNLine(name)
        }
        for (name, batch, unit) in [("sync-model", 64.0, "pairs"), ("painter", 20.0, "frames")] {
            guard let o = ours[name] else { continue }
            let p = peer[name]
            func side(_ label: String, _ ours: Timing, _ theirs: Timing?) -> String {
                String(format: "%@ lipsync %@ (%.0f %@/s)", label, ours.description, batch / ours.median, unit)
                    + (theirs.map { String(format: ", torch %@ (%.0f %@/s), ratio %.2f", $0.description, batch / $0.median, unit, ours.median / $0.median) } ?? "")
            }
            print(String(format: "%@ (%.2f M params, batch %.0f): ", name, Double(o.parameters) / 1e6, batch)
                  + side("forward", o.forward, p?.forward) + "; " + side("train step", o.step, p?.step))
            oneDNNLine(name)
        }
    }
}

/// A median time with the fastest and slowest run beside it (runs on one machine scatter by ±20 %).
struct Timing {
    var median: Double, fastest: Double, slowest: Double
    var description: String { String(format: "%.3f s [%.3f–%.3f]", median, fastest, slowest) }

}

extension Timing {
    /// The median of repeated runs, with their extremes.
    init(_ runs: [Double]) { self.init(median: LipSyncBench.median(runs), fastest: runs.min()!, slowest: runs.max()!) }
}

/// `body` once untimed, then `runs` timed repetitions.
func timed(runs: Int, _ body: () -> Void) -> Timing {
    body()
    var ts: [Double] = []
    for _ in 0..<runs { let t0 = now(); body(); ts.append(now() - t0) }
    return Timing(ts)
}

/// Median GFLOP/s of OpenBLAS's threaded sgemm on 2048^3.
func sgemmCeiling() -> Double {
    let n = 2048
    let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
    var c = [Float](repeating: 0, count: n * n)
    var ts: [Double] = []
    for _ in 0..<4 {
        let t0 = now()
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n), 0, &c, Int32(n))
        ts.append(now() - t0)
    }
    return 2 * pow(Double(n), 3) / median(Array(ts.dropFirst())) / 1e9
}

struct FacesBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faces",
        abstract: "Face detection and FaceMesh landmarks per frame on a video's first frames (decode excluded).")

    @Argument var file: String
    @Option(help: "Frames to time.") var frames = 200

    func run() throws {
        let reader = try VideoReader(path: file)
        var images: [RGBImage] = []
        while images.count < frames, let f = try reader.nextFrame() { images.append(f.image) }
        let detector = try FaceDetector(), landmarker = try FaceLandmarker()
        _ = detector.detect(images[0])
        var t0 = now()
        var regions: [RegionOfInterest] = []
        for img in images { if let d = detector.detect(img).first { regions.append(FaceLandmarker.region(for: d)) } }
        let detect = (now() - t0) / Double(images.count)
        guard !regions.isEmpty else { throw ValidationError("no face found in \(file)") }
        _ = landmarker.landmarks(in: images[0], region: regions[0])
        t0 = now()
        for (img, r) in zip(images, regions) { _ = landmarker.landmarks(in: img, region: r) }
        let mesh = (now() - t0) / Double(regions.count)
        print(String(format: "faces %@ (%dx%d, %d frames): detection %.2f ms (%.0f fps), landmarks %.2f ms (%.0f fps)",
                     (file as NSString).lastPathComponent, images[0].width, images[0].height, images.count,
                     detect * 1000, 1 / detect, mesh * 1000, 1 / mesh))
    }
}

struct OffsetBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offset",
        abstract: "End-to-end `lipsync offset` speed (decode + faces + features + search) as a multiple of real time, by stage.")

    @Argument var file: String
    @Flag(help: "Only the full learned pipeline (for the memory run).") var fullOnly = false

    func run() throws {
        let duration = try MediaInfo(probing: file).duration ?? 0
        var line = String(format: "offset %@ (%.1f s):", (file as NSString).lastPathComponent, duration)
        if !fullOnly {
            var t0 = now()
            let reader = try VideoReader(path: file, options: .constantFrameRateAtSource)
            var image = RGBImage.empty
            while try reader.readFrame(into: &image) != nil {}
            line += String(format: " decode %.1fx", duration / (now() - t0))
            t0 = now()
            let s = try SyncSignals.gather(video: file)
            _ = s.offsets(vshift: 15)
            line += String(format: ", +faces (correlation) %.1fx", duration / (now() - t0))
        }
        let model = try SyncNet(contentsOf: ModelLocator.url("sync.safetensors").path)
        let t0 = now()
        let s = try SyncSignals.gather(video: file, model: model, vshift: 15)
        let r = s.offsets(vshift: 15)
        line += String(format: ", learned %.1fx real time; %d track(s), delay %@ frames; peak RSS %.0f MB",
                       duration / (now() - t0), r.count, r.map { String($0.audioDelayFrames) }.joined(separator: ","), peakRSSMegabytes())
        print(line)
    }
}

struct GenerateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "`lipsync generate` end to end (decode, track, paint, paste, encode) as a multiple of real time with its peak memory, and the painter's cost per frame against Wav2Lip's generator in PyTorch (2 threads), in the same run.",
        discussion: "Wav2Lip's generator runs with random weights (its architecture is what costs; no weights are downloaded) at its inference batch of 16 frames on 96 x 96 faces; LipSync's painter runs at batch 1, as `lipsync generate` calls it, on 128 x 128 crops.")

    @Argument(help: "The video to dub.") var video: String
    @Option(help: "The new speech.") var audio: String
    @Option(help: "Timed repetitions; the median is reported.") var runs = 3
    @Option(help: "The lipsync binary timed end to end.") var lipsync = ".build/release/lipsync"
    @Option(help: "Python with torch.") var python = "tools/.venv/bin/python"
    @Flag(help: "Skip the PyTorch side.") var noPeer = false

    func run() throws {
        // End to end, in a child process: its wall time and, from the children's rusage, its peak RSS.
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lipsync-bench-\(getpid()).mp4").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let speech = Double(try AudioReader.sampleCount(path: audio)) / Double(AudioReader.defaultSampleRate)
        var walls: [Double] = []
        for _ in 0..<runs {
            walls.append(try timeProcess([lipsync, "generate", video, "--audio", audio, "-o", out, "--track", "0"]))
        }
        var children = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &children)
        let wall = median(walls)
        let info = try MediaInfo(probing: video)
        print(String(format: "generate %@ (%dx%d) with %.1f s of speech: %.2f s median of %d (%.2fx real time); peak RSS %.0f MB",
                     (video as NSString).lastPathComponent, info.video?.width ?? 0, info.video?.height ?? 0, speech, wall, runs,
                     speech / wall, Double(children.ru_maxrss) / 1024))

        // The painter, per frame, as generate calls it (batch 1), and at Wav2Lip's batch of 16.
        var rng = SeededRandom(seed: 1)
        func random(_ shape: [Int]) -> Tensor {
            let t = Tensor(shape: shape)
            for i in 0..<t.count { t[i] = rng.uniform() }
            return t
        }
        func perFrame(batch: Int, _ body: () -> Void) -> Double { timed(runs: max(5, runs), body).median / Double(batch) }
        let painter = try MouthPainter(contentsOf: ModelLocator.url("generator.safetensors").path)
        let s = MouthPainter.size
        let face1 = random([1, 6, s, s]), mel1 = random([1, 1, 80, 16])
        let face16 = random([16, 6, s, s]), mel16 = random([16, 1, 80, 16])
        let ours1 = perFrame(batch: 1) { _ = painter.forward(face: face1, mel: mel1) }
        let ours16 = perFrame(batch: 16) { _ = painter.forward(face: face16, mel: mel16) }
        let wav2lip = Wav2LipReference.Generator(rng: &rng)
        wav2lip.setTraining(false)
        let wf = random([16, 6, 96, 96]), wm = random([16, 1, 80, 16])
        let theirsInOurEngine = perFrame(batch: 16) { _ = wav2lip.forward(mel: wm, face: wf) }
        var torch: Double?
        var torchVersion = "-"
        if !noPeer {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: python)
            p.arguments = ["tools/bench_nn.py", "--runs", String(max(5, runs)), "--only", "generator", "--forward-only"]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            if let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let rs = json["results"] as? [[String: Any]],
               let f = rs.first?["forward_s"] as? Double {
                torch = f / 16
                torchVersion = json["torch"] as? String ?? "?"
            }
        }
        print(String(format: "painter forward (128x128, 2.96 M params): %.1f ms/frame at batch 1, %.1f ms/frame at batch 16", 1000 * ours1, 1000 * ours16))
        print(String(format: "Wav2Lip generator forward (96x96, 36 M params, batch 16): LipSync engine %.1f ms/frame", 1000 * theirsInOurEngine)
              + (torch.map { String(format: ", PyTorch %@ %.1f ms/frame; ratio painter (batch 1) / Wav2Lip in PyTorch %.3f", torchVersion, 1000 * $0, ours1 / $0) } ?? ""))
    }
}
