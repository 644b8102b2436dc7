import ArgumentParser
import Foundation
import NN

/// Every convolution of the four benchmark networks (`benchNetworks`), replayed alone in LipSync's engine, so that
/// another convolution library can be timed on exactly the same shapes (`tools/dnnl_conv_bench.c`
/// reads the table this writes). The whole networks are timed too: a library that only replaced
/// the convolutions would change a train step by the difference of the two libraries' sums.
struct ConvLayersBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv-layers",
        abstract: "Wav2Lip's SyncNet (batch 64) and generator (batch 16), and LipSync's sync model (64 pairs) and mouth painter (20 frames), layer by layer: each distinct convolution timed alone in LipSync's engine (forward, and backward for the weight and input gradients), with the whole networks' forward and train step, written as a table for tools/dnnl_conv_bench.c.",
        discussion: "A row is one distinct convolution shape with the number of times the network uses it. Times are medians of --runs repetitions after one warm-up. `make bench-dnnl` runs this and then oneDNN on the same table.")

    @Option(help: "Timed repetitions; the median is reported.") var runs = 5
    @Option(help: "Where the table goes (tab-separated).") var out = "bench-data/conv-layers.tsv"

    func run() throws {
        var rng = SeededRandom(seed: 1)
        func randomInput(_ shape: [Int]) -> Tensor {
            let t = Tensor(shape: shape)
            for i in 0..<t.count { t[i] = rng.normal() }
            return t
        }
        var lines = ["# lipsync-bench conv-layers, \(Compute.threads) threads, runs \(runs)",
                     "net\tkind\tcount\tn\tc\th\tw\toc\tkh\tkw\tsh\tsw\tph\tpw\toph\topw\tgroups\tdx\tforward_s\tbackward_s"]
        func replay(_ name: String, _ layers: [Layer]) {
            var rows: [String: (count: Int, order: Int, layer: Layer, shape: [Int])] = [:]
            for (i, l) in layers.enumerated() {
                let key: String, shape: [Int]
                switch l {
                case let c as Conv2d:
                    shape = c.lastInputShape!
                    key = "conv \(shape) \(c.outChannels) \(c.kernel) \(c.stride) \(c.padding) \(c.groups) \(c.computesInputGradient)"
                case let t as ConvTranspose2d:
                    shape = t.lastInputShape!
                    key = "deconv \(shape) \(t.outChannels) \(t.kernel) \(t.stride) \(t.padding) \(t.outputPadding)"
                default: continue
                }
                rows[key, default: (0, i, l, shape)].count += 1
            }
            for (_, r) in rows.sorted(by: { $0.value.order < $1.value.order }) {
                let x = randomInput(r.shape)
                let fields: [Int], kind: String, fresh: Layer
                switch r.layer {
                case let c as Conv2d:
                    let l = Conv2d(c.inChannels, c.outChannels, kernel: (c.kernel.h, c.kernel.w), stride: (c.stride.h, c.stride.w),
                                   padding: (c.padding.h, c.padding.w), groups: c.groups, bias: c.bias != nil, rng: &rng)
                    l.computesInputGradient = c.computesInputGradient
                    kind = "conv"; fresh = l
                    fields = [c.outChannels, c.kernel.h, c.kernel.w, c.stride.h, c.stride.w, c.padding.h, c.padding.w, 0, 0, c.groups,
                              c.computesInputGradient ? 1 : 0]
                case let t as ConvTranspose2d:
                    fresh = ConvTranspose2d(t.inChannels, t.outChannels, kernel: (t.kernel.h, t.kernel.w), stride: (t.stride.h, t.stride.w),
                                            padding: (t.padding.h, t.padding.w), outputPadding: (t.outputPadding.h, t.outputPadding.w),
                                            bias: t.bias != nil, rng: &rng)
                    kind = "deconv"
                    fields = [t.outChannels, t.kernel.h, t.kernel.w, t.stride.h, t.stride.w, t.padding.h, t.padding.w,
                              t.outputPadding.h, t.outputPadding.w, 1, 1]
                default: continue
                }
                let y = fresh.forward(x)
                let dy = randomInput(y.shape)
                let forward = timed(runs: runs) { _ = fresh.forward(x) }.median
                // Backward reads only the last forward's input, so it can be repeated on its own.
                let backward = timed(runs: runs) { _ = fresh.backward(dy) }.median
                lines.append(([name, kind, String(r.count)] + r.shape.map(String.init) + fields.map(String.init)).joined(separator: "\t")
                             + String(format: "\t%.6f\t%.6f", forward, backward))
                FileHandle.standardError.write(Data("\(name) \(kind) \(r.shape) -> \(y.shape): forward \(String(format: "%.4f", forward)) s, backward \(String(format: "%.4f", backward)) s\n".utf8))
            }
        }
        for net in benchNetworks(rng: &rng) {
            let t = net.measure(runs: runs)[0]
            lines.insert(String(format: "# network %@ forward_s %.6f step_s %.6f", net.name, t.forward.median, t.step.median), at: 1)
            // A training-mode forward leaves each convolution holding the input it saw.
            net.forward()
            replay(net.name, convolutions(in: net.root))
        }

        let url = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        print("wrote \(out): \(lines.count - 6) convolution shapes")
    }
}
