import ArgumentParser
import Foundation
import Media
import NN
import Sync
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the models LipSync ships.",
        subcommands: [TrainSync.self, TrainGenerator.self])
}

/// How `train sync`'s lips branch reads the landmarks (`SyncNet.normalisesGeometry`).
enum GeometryInput: String, ExpressibleByArgument, CaseIterable {
    case raw
    case windowNormalised = "window-normalised"
}

struct TrainSync: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Train the sync discriminator on talking-face clips.",
        discussion: """
        Clips are found under the --data directories and sorted by the split file: clips marked `train` are trained on, clips marked `heldout` measure progress, all others are never used. Each clip is tracked once and its mouth crops, lip landmarks and mel spectrogram are cached in --cache (an interrupted preparation resumes). Training then prints step, loss, accuracy, samples/s and ETA on stderr every --log-every steps, measures held-out pair accuracy and offset accuracy every --eval-every steps, writes a checkpoint every --checkpoint-every steps (resume with --resume), appends every measurement to --log as JSON lines, and writes the weights to --out at the end.

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
    @Flag(help: "Add a third visual input: FaceMesh's own backbone features at the lip points (trained on many faces; the transfer the data's two identities cannot give). With --init from a model without it, the new branch starts at zero weight.")
    var meshFeatures = false
    @Option(help: "How the lips branch reads the lip landmarks: raw (positions in the face's aligned frame) or window-normalised (centred on each window's lip centroid, in units of its mouth width, so mouth position and size, which differ from person to person, drop out). Default: as the --init model, else raw.")
    var geometry: GeometryInput?
    @Option(name: .customLong("init"), help: "Start from these sync model weights instead of a random initialisation (fine-tuning).") var initial: String?
    @Flag(help: "Continue from the checkpoint.") var resume = false
    @Flag(help: "Train without augmentation (for ablation).") var noAugment = false
    @Option(help: "Audio augmentation: 'acoustic' (the shipped model's: another vocal tract, gain and a noise floor, then rooms, telephone bands, microphone colour, and noise or music at 0-20 dB SNR) or 'voice' (the first three only, as models before 2026-12-01 late were trained).") var audioAugmentation = AudioAugmentation.acoustic
    @Flag(inversion: .prefixedNo, help: "Draw other-clip negatives from the same speaker (the clip's directory), so that a mismatch cannot be told by voice and face identity alone.") var sameSpeakerNegatives = true
    @Flag(help: "Train the pixel-only variant (mouth crops, no lip landmarks): the generator's sync expert, which must judge painted pixels.") var pixelsOnly = false

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
            // `train-sync` clips (a second identity, docs/data-split.tsv) are for the sync models only.
            let trainFiles = files.filter { ["train", "train-sync"].contains(roles.role(of: $0)) }, heldFiles = files.filter { roles.role(of: $0) == "heldout" }
            guard !trainFiles.isEmpty else {
                throw CLIError(description: "\(data.joined(separator: " ")): no clip marked `train` in \(split)", exitCode: 68)
            }
            note("\(trainFiles.count) training clips, \(heldFiles.count) held-out clips, \(files.count - trainFiles.count - heldFiles.count) others not used")

            let model = SyncNet(seed: seed, usesGeometry: !pixelsOnly, usesMesh: meshFeatures)
            if let initial {
                let start = try SyncNet(contentsOf: initial, mode: .training)
                guard start.usesGeometry == model.usesGeometry, !start.usesMesh || model.usesMesh else {
                    throw CLIError(description: "\(initial): a \(start.usesMesh ? "mesh" : start.usesGeometry ? "pixels+lips" : "pixels-only") model cannot start this one", exitCode: 65)
                }
                model.adopt(start)
                note("initialised from \(initial)")
            }
            // Unset: as the --init model (adopted above), else raw.
            if let geometry { model.normalisesGeometry = geometry == .windowNormalised }

            let prepare = { (list: [String], label: String) in
                try prepareClips(list, label) { try ClipFeatures.cached(video: $0, directory: cache) } usable: { !$0.windowStarts.isEmpty }
            }
            let train = try prepare(trainFiles, "train")
            let held = try prepare(heldFiles, "held-out")
            guard !train.isEmpty else { throw CLIError(description: "no training clip has a usable face", exitCode: 68) }

            var options = SyncObjective.Options()
            options.batch = batch
            options.learningRate = learningRate
            options.seed = seed
            options.augment = !noAugment
            options.audioAugmentation = audioAugmentation
            options.sameSpeakerNegatives = sameSpeakerNegatives
            let objective = SyncObjective(model: model, train: train, heldOut: held, options: options)
            var loop = Trainer<SyncObjective>.Options()
            loop.steps = steps
            loop.seed = seed
            loop.logEvery = logEvery
            loop.evalEvery = evalEvery
            loop.checkpointEvery = checkpointEvery
            loop.checkpoint = ckpt
            loop.log = logPath
            let trainer = Trainer(objective: objective, options: loop)
            note("\(objective.trainingWindows) training windows; \(steps) steps of \(batch) pairs")
            try trainer.run(resume: resume)
            try FileManager.default.createDirectory(atPath: (out as NSString).deletingLastPathComponent.isEmpty ? "." : (out as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try model.save(to: out, metadata: ["steps": String(steps), "batch": String(batch), "seed": String(seed),
                                               "train_clips": String(train.count), "split": split])
            note("wrote \(out)")
        }
    }

    func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
}

/// The fixed data split (`docs/data-split.tsv`): `ROLE<TAB>path relative to the data root` per line,
/// `#` comments. Roles: train, train-sync (the sync models only), heldout, unseen.
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

/// Loads (from the cache, or by tracking) every clip of `list`, with progress and ETA on stderr; a
/// clip that cannot be decoded or has no usable face is skipped with a note, not the end of the run.
func prepareClips<Clip>(_ list: [String], _ label: String, load: (String) throws -> Clip, usable: (Clip) -> Bool) throws -> [Clip] {
    var out: [Clip] = []
    let t0 = Date()
    for (i, f) in list.enumerated() {
        do {
            let c = try load(f)
            if usable(c) { out.append(c) } else { FileHandle.standardError.write(Data("\n\(f): no usable face windows, skipped\n".utf8)) }
        } catch let e as MediaError {
            FileHandle.standardError.write(Data("\n\(e.description), skipped\n".utf8))
        }
        let el = Date().timeIntervalSince(t0), eta = el / Double(i + 1) * Double(list.count - i - 1)
        FileHandle.standardError.write(Data(String(format: "\rpreparing %@ %d/%d  ETA %.0f s   ", label, i + 1, list.count, eta).utf8))
    }
    FileHandle.standardError.write(Data("\n".utf8))
    return out
}

/// Writes values as JSON lines (snake_case keys), atomically.
func writeJSONLines(_ values: [any Encodable], to path: String) throws {
    let enc = JSONEncoder()
    enc.keyEncodingStrategy = .convertToSnakeCase
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var text = ""
    for v in values { text += String(decoding: try enc.encode(v), as: UTF8.self) + "\n" }
    do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
        throw MediaError.unwritableOutput(path: path, reason: error.localizedDescription)
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
