import ArgumentParser
import Foundation
import NN
import Sync
import Vision

/// The shipped sync model at the window batches `offset` and `detect` run it at: the visual tower on
/// batches of mouth windows (`VisualBatcher`, 32), the audio tower on batches of mel windows
/// (`AudioEmbedder`, 64), and batch 1 and 8 for the per-layer overheads that rule there. Inference
/// mode, one engine worker unless LIPSYNC_THREADS says otherwise, as `offset` runs it.
struct SyncWindowsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync-windows",
        abstract: "The shipped sync model's embeddings per second at the window batches offset uses (visual 32, audio 64) and at batch 1 and 8.")

    @Option(help: "Timed repetitions; the median is reported, with the fastest and slowest run beside it.") var runs = 7
    @Option(help: "Windows embedded per timed repetition and batch size.") var windows = 512
    @Flag(help: "Also time each convolution alone at the window batch (visual 32, audio 64).") var layers = false

    func run() throws {
        if ProcessInfo.processInfo.environment["LIPSYNC_THREADS"] == nil { setenv("LIPSYNC_THREADS", "1", 1) }
        let model = try SyncNet(contentsOf: ModelLocator.url("sync.safetensors").path)
        var rng = SeededRandom(seed: 1)
        print("sync model (Models/sync.safetensors), inference, LIPSYNC_THREADS=\(ProcessInfo.processInfo.environment["LIPSYNC_THREADS"]!)")
        for batch in [1, 8, 32, 64] {
            let crops = Tensor(shape: [batch, SyncNet.frames, 32, 64]), geometry = Tensor(shape: [batch, SyncNet.geometryFeatures])
            let mel = Tensor(shape: [batch, 1, 80, 16])
            for t in [crops, geometry, mel] { for i in 0..<t.count { t.data[i] = rng.normal() } }
            let repeats = max(1, windows / batch)
            let visual = timed(runs: runs) { for _ in 0..<repeats { _ = model.embedVisual(crops: crops, geometry: geometry) } }
            let audio = timed(runs: runs) { for _ in 0..<repeats { _ = model.embedAudio(mel: mel) } }
            let n = Double(repeats * batch)
            if layers && (batch == 32 || batch == 64) { timeLayers(model, crops: crops, geometry: geometry, mel: mel, visual: batch == 32) }
            print(String(format: "batch %2d: visual %.0f windows/s [%.0f–%.0f], audio %.0f windows/s [%.0f–%.0f]", batch,
                         n / visual.median, n / visual.slowest, n / visual.fastest, n / audio.median, n / audio.slowest, n / audio.fastest))
        }
    }

    /// Each convolution that ran in the last embedding (the folded ones, in inference), timed alone on
    /// its own input shape: where the tower's time goes.
    func timeLayers(_ model: SyncNet, crops: Tensor, geometry: Tensor, mel: Tensor, visual: Bool) {
        if visual { _ = model.embedVisual(crops: crops, geometry: geometry) } else { _ = model.embedAudio(mel: mel) }
        var seen = Set<ObjectIdentifier>(), found: [Conv2d] = []
        func visit(_ value: Any, depth: Int) {
            if let c = value as? Conv2d { if seen.insert(ObjectIdentifier(c)).inserted { found.append(c) }; return }
            guard depth < 12, !(value is Tensor || value is [Float] || value is [Int]) else { return }
            for child in Mirror(reflecting: value).children { visit(child.value, depth: depth + 1) }
        }
        visit(model, depth: 0)
        var rng = SeededRandom(seed: 2)
        for c in found {
            guard let shape = c.lastInputShape, c.weight.name.hasPrefix(visual ? "visual" : "audio") else { continue }
            let x = Tensor(shape: shape)
            for i in 0..<x.count { x.data[i] = rng.normal() }
            let t = timed(runs: runs) { for _ in 0..<8 { _ = c.forward(x) } }
            print(String(format: "  %@ %@ -> %d, stride %d×%d: %.3f ms", c.weight.name, "\(shape)", c.outChannels, c.stride.h, c.stride.w, t.median / 8 * 1000))
        }
    }
}
