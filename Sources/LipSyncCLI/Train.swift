import ArgumentParser
import Foundation
import Media
import NN
import Sync

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the models LipSync ships.",
        subcommands: [TrainSync.self])
}

struct TrainSync: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Train the sync discriminator on talking-face clips.",
        discussion: """
        Clips are found under the --data directories and sorted by the split file: clips marked
        `train` are trained on, clips marked `heldout` measure progress, all others are never used.
        Each clip is tracked once and its mouth crops, lip landmarks and mel spectrogram are cached
        in --cache (an interrupted preparation resumes). Training then prints step, loss, samples/s
        and ETA on stderr, measures held-out pair accuracy and offset accuracy every --eval-every
        steps, writes a checkpoint every --checkpoint-every steps (resume with --resume), appends
        every measurement to --log as JSON lines, and writes the weights to --out at the end.

        Example:
          lipsync train sync --data ../shared/data --out Models/sync.safetensors --steps 9000
        """)

    @Option(parsing: .upToNextOption, help: "Directories (searched recursively) or files of clips.") var data: [String]
    @Option(help: "Where the trained weights go.") var out = "Models/sync.safetensors"
    @Option(help: "The fixed data split.") var split = "docs/data-split.tsv"
    @Option(help: "Feature cache directory.") var cache = ".cache/sync-features"
    @Option(help: "Optimiser steps.") var steps = 9000
    @Option(help: "Pairs per step.") var batch = 64
    @Option(help: "Peak learning rate (AdamW, warm-up then cosine decay).") var learningRate: Float = 1e-3
    @Option(help: "Seed for initialisation, sampling and augmentation.") var seed: UInt64 = 1
    @Option(help: "Held-out measurement interval, in steps (0: only at the end).") var evalEvery = 500
    @Option(help: "Progress and log interval, in steps (losses are averaged over it).") var logEvery = 25
    @Option(help: "Checkpoint interval, in steps.") var checkpointEvery = 250
    @Option(help: "Checkpoint file (default: OUT with .ckpt.safetensors).") var checkpoint: String?
    @Option(help: "JSON-lines log (default: OUT with .log.jsonl).") var log: String?
    @Flag(help: "Continue from the checkpoint.") var resume = false
    @Flag(help: "Train without augmentation (for ablation).") var noAugment = false

    func validate() throws {
        guard steps > 0, batch >= 2, batch % 2 == 0, logEvery >= 1 else { throw ValidationError("--steps and --log-every must be positive and --batch even and at least 2") }
    }

    func run() throws {
        try reportingErrors {
            let base = out.hasSuffix(".safetensors") ? String(out.dropLast(".safetensors".count)) : out
            let ckpt = checkpoint ?? base + ".ckpt.safetensors"
            let logPath = log ?? base + ".log.jsonl"
            let roles = try DataSplit(path: split)
            let files = try mediaFiles(under: data)
            let trainFiles = files.filter { roles.role(of: $0) == "train" }, heldFiles = files.filter { roles.role(of: $0) == "heldout" }
            guard !trainFiles.isEmpty else {
                throw CLIError(description: "\(data.joined(separator: " ")): no clip marked `train` in \(split)", exitCode: 68)
            }
            note("\(trainFiles.count) training clips, \(heldFiles.count) held-out clips, \(files.count - trainFiles.count - heldFiles.count) others not used")

            func prepare(_ list: [String], _ label: String) throws -> [ClipFeatures] {
                var out: [ClipFeatures] = []
                let t0 = Date()
                for (i, f) in list.enumerated() {
                    do {
                        let c = try ClipFeatures.cached(video: f, directory: cache)
                        if !c.windowStarts.isEmpty { out.append(c) } else { note("\n\(f): no usable face windows, skipped") }
                    } catch let e as MediaError {
                        note("\n\(e.description), skipped")
                    }
                    let el = Date().timeIntervalSince(t0), eta = el / Double(i + 1) * Double(list.count - i - 1)
                    FileHandle.standardError.write(Data(String(format: "\rpreparing %@ %d/%d  ETA %.0f s   ", label, i + 1, list.count, eta).utf8))
                }
                FileHandle.standardError.write(Data("\n".utf8))
                return out
            }
            let train = try prepare(trainFiles, "train")
            let held = try prepare(heldFiles, "held-out")
            guard !train.isEmpty else { throw CLIError(description: "no training clip has a usable face", exitCode: 68) }

            var options = SyncTrainer.Options()
            options.steps = steps
            options.batch = batch
            options.learningRate = learningRate
            options.seed = seed
            options.augment = !noAugment
            let trainer = SyncTrainer(model: SyncNet(seed: seed), train: train, heldOut: held, options: options)
            var step = 0
            if resume {
                guard FileManager.default.fileExists(atPath: ckpt) else { throw CLIError(description: "\(ckpt): no checkpoint to resume", exitCode: 66) }
                step = try trainer.resume(from: ckpt)
                note("resumed at step \(step)")
            } else {
                try? FileManager.default.removeItem(atPath: logPath)
            }
            note("\(trainer.trainingWindows) training windows; \(steps) steps of \(batch) pairs")
            let logFile = try LogFile(path: logPath)
            var window: [SyncTrainer.StepResult] = []
            var t0 = Date(), startStep = step
            let started = Date()
            while step < steps {
                let r = trainer.step()
                step += 1
                window.append(r)
                if step % logEvery == 0 || step == steps {
                    let el = Date().timeIntervalSince(t0)
                    let rate = Double((step - startStep) * batch) / max(el, 1e-9)
                    let loss = window.map(\.loss).reduce(0, +) / Float(window.count)
                    let acc = window.map(\.accuracy).reduce(0, +) / Float(window.count)
                    let eta = Double(steps - step) * Double(batch) / max(rate, 1e-9)
                    FileHandle.standardError.write(Data(String(format: "\rstep %d/%d  loss %.4f  acc %.3f  %.0f samples/s  ETA %@   ",
                                                               step, steps, loss, acc, rate, Self.duration(eta)).utf8))
                    try logFile.append(["step": Double(step), "loss": Double(loss), "accuracy": Double(acc), "samples_per_s": rate,
                                        "lr": Double(trainer.optimizer.learningRate), "elapsed_s": Date().timeIntervalSince(started)])
                    window.removeAll()
                    if step - startStep >= 200 { t0 = Date(); startStep = step }
                }
                if step % checkpointEvery == 0 || step == steps { try trainer.saveCheckpoint(to: ckpt) }
                if (evalEvery > 0 && step % evalEvery == 0) || step == steps {
                    let h = trainer.evaluate()
                    FileHandle.standardError.write(Data(String(format: "\n  held-out: pair loss %.4f  pair acc %.3f  offset exact %.3f  within 1 %.3f\n",
                                                               h.pairLoss, h.pairAccuracy, h.offsetExact, h.offsetWithinOne).utf8))
                    try logFile.append(["step": Double(step), "heldout_pair_loss": h.pairLoss, "heldout_pair_accuracy": h.pairAccuracy,
                                        "heldout_offset_exact": h.offsetExact, "heldout_offset_within_one": h.offsetWithinOne])
                }
            }
            try FileManager.default.createDirectory(atPath: (out as NSString).deletingLastPathComponent.isEmpty ? "." : (out as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try trainer.model.save(to: out, metadata: ["steps": String(steps), "batch": String(batch), "seed": String(seed),
                                                        "train_clips": String(train.count), "split": split])
            note("wrote \(out)")
        }
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%dh%02dm", t / 3600, t % 3600 / 60) : String(format: "%dm%02ds", t / 60, t % 60)
    }

    func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
}

/// The fixed data split (`docs/data-split.tsv`): `ROLE<TAB>path relative to the data root` per line,
/// `#` comments. Roles: train, heldout, unseen.
struct DataSplit {
    var roles: [String: String] = [:]

    init(path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CLIError(description: "\(path): cannot read the split file", exitCode: 66)
        }
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: "\t")
            if f.count == 2 { roles[String(f[1])] = String(f[0]) }
        }
    }

    /// The role of a clip, matched by its path's tail.
    func role(of file: String) -> String? {
        roles.first { file.hasSuffix("/" + $0.key) || file == $0.key }?.value
    }
}

/// Media files in the given files and directories (recursively unless told otherwise), sorted.
func mediaFiles(under paths: [String], recursive: Bool = true) throws -> [String] {
    let exts: Set<String> = ["mpg", "flv", "mp4", "mov", "mkv", "avi", "webm"]
    var files: [String] = []
    for p in paths {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else { throw MediaError.fileNotFound(path: p) }
        if isDir.boolValue {
            let all = recursive ? FileManager.default.enumerator(atPath: p)?.compactMap { $0 as? String } ?? []
                : try FileManager.default.contentsOfDirectory(atPath: p)
            files += all.filter { exts.contains(($0 as NSString).pathExtension.lowercased()) }.map { (p as NSString).appendingPathComponent($0) }
        } else {
            files.append(p)
        }
    }
    return files.sorted()
}

/// Appends JSON objects, one per line, flushed as they come (a crash loses nothing logged).
final class LogFile {
    let handle: FileHandle
    init(path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else { throw MediaError.unwritableOutput(path: path, reason: "cannot open the log") }
        h.seekToEndOfFile()
        handle = h
    }
    func append(_ record: [String: Double]) throws {
        let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        handle.write(data + Data("\n".utf8))
    }
}
