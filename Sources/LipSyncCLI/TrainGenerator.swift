import ArgumentParser
import Foundation
import Generate
import Media
import NN
import Sync
import Training
import Vision

extension CropAugmentation: ExpressibleByArgument {}

struct TrainGenerator: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generator",
        abstract: "Train the mouth generator (and its quality critic) on talking-face clips.",
        discussion: """
        Clips are sorted by the split file as for `train sync`: `train` clips are trained on, `heldout` clips measure progress. Each clip is tracked once and its aligned 128 x 128 face crops and mel spectrogram are cached in --cache. Every step paints --windows runs of 5 frames; the critic is updated first, then the generator with reconstruction (L1), perceptual (critic feature matching), adversarial and, from --sync-from steps on, sync-expert losses. Progress, held-out L1 and PSNR, checkpoints (--resume), the JSON-lines log and the final weights work as in `train sync`; the weights of the best held-out PSNR so far are also written to OUT with .best.safetensors.

        Person adaptation: --init Models/generator.safetensors --data actor.mp4 --split none fine-tunes the base model on one person's own footage (every clip given is trained on). The measured recipe (what generate --adapt runs) keeps BatchNorm on its running statistics, trains reconstruction only, and varies the crops lightly (the default).

        Examples:
          lipsync train generator --data ../shared/data --out Models/generator.safetensors --steps 6000
          lipsync train generator --init Models/generator.safetensors --data actor.mp4 --split none --out actor.safetensors --steps 400 --windows 2 --learning-rate 0.0001 --sync-weight 0 --adversarial-weight 0 --perceptual-weight 0 --freeze-normalisation --augmentation light
        """)

    @Option(parsing: .upToNextOption, help: "Directories (searched recursively) or files of clips.") var data: [String]
    @Option(help: "Where the trained weights go.") var out = "Models/generator.safetensors"
    @Option(help: "The fixed data split, or 'none' to train on every clip given (person adaptation).") var split = "docs/data-split.tsv"
    @Option(help: "Feature cache directory.") var cache = ".cache/generator-features"
    @Option(help: "Optimiser steps.") var steps = 6000
    @Option(help: "5-frame windows per step.") var windows = 2
    @Option(help: "Peak learning rate of the generator (the critic's is half).") var learningRate: Float = 4e-4
    @Option(help: "Seed for initialisation, sampling and augmentation.") var seed: UInt64 = 1
    @Option(help: "The frozen pixel-only sync expert (`lipsync train sync --pixels-only`).") var expert = "Models/sync_pixels.safetensors"
    @Option(help: "Weight of the sync-expert loss (0: off).") var syncWeight: Float = 0.03
    @Option(help: "Steps before the sync loss joins.") var syncFrom = 500
    @Option(help: "Weight of the adversarial loss (0: no critic).") var adversarialWeight: Float = 0.05
    @Option(help: "Weight of the perceptual (critic feature-matching) loss (0: off).") var perceptualWeight: Float = 0.3
    @Option(name: .customLong("init"), help: "Start from these generator weights (fine-tuning, person adaptation).") var initial: String?
    @Option(help: "Progress and log interval, in steps.") var logEvery = 25
    @Option(help: "Held-out measurement interval, in steps (0: only at the end).") var evalEvery = 250
    @Option(help: "Checkpoint interval, in steps.") var checkpointEvery = 100
    @Option(help: "Checkpoint file (default: OUT with .ckpt.safetensors).") var checkpoint: String?
    @Option(help: "JSON-lines log (default: OUT with .log.jsonl).") var log: String?
    @Flag(help: "Continue from the checkpoint.") var resume = false
    @Option(help: "How training crops are varied: none, light (brightness, contrast, flip: runs 1 to 3), colour (light, plus colour casts and saturation down to black and white, for light and cameras the training identity does not show) or full (colour, plus ±6 % scale and ±3 pixel shifts).")
    var augmentation: CropAugmentation = .light
    @Flag(help: "Train without augmentation (as --augmentation none).") var noAugment = false
    @Flag(help: "Keep BatchNorm on its running statistics (fine-tuning and person adaptation with few windows per step).") var freezeNormalisation = false

    func validate() throws {
        guard steps > 0, windows >= 1, logEvery >= 1, checkpointEvery >= 1 else {
            throw ValidationError("--steps, --windows, --log-every and --checkpoint-every must be positive")
        }
    }

    func run() throws {
        try reportingErrors {
            let base = out.hasSuffix(".safetensors") ? String(out.dropLast(".safetensors".count)) : out
            let files = try mediaFiles(under: data)
            var trainFiles = files, heldFiles: [String] = []
            if split != "none" {
                let roles = try DataSplit(path: split)
                trainFiles = files.filter { roles.role(of: $0) == "train" }
                heldFiles = files.filter { roles.role(of: $0) == "heldout" }
            }
            guard !trainFiles.isEmpty else {
                throw CLIError(description: "\(data.joined(separator: " ")): no clip to train on (marked `train` in \(split))", exitCode: 68)
            }
            let generator = MouthPainter(seed: seed)
            if let initial {
                try generator.loadWeights(from: initial)
                note("initialised from \(initial)")
            }
            var expertModel: SyncNet? = nil
            if syncWeight > 0 {
                expertModel = try SyncNet(contentsOf: expert, mode: .frozen)
                guard expertModel?.usesGeometry == false else {
                    throw CLIError(description: "\(expert): the sync expert must be a pixel-only model (train it with --pixels-only)", exitCode: 70)
                }
            }
            note("\(trainFiles.count) training clips, \(heldFiles.count) held-out clips")
            let prepare = { (list: [String], label: String) in
                try prepareClips(list, label) { try FaceClip.cached(video: $0, directory: cache) } usable: { !$0.windowStarts.isEmpty }
            }
            let train = try prepare(trainFiles, "train")
            let held = try prepare(heldFiles, "held-out")
            guard !train.isEmpty else { throw CLIError(description: "no training clip has a usable face", exitCode: 68) }

            var options = GeneratorObjective.Options()
            options.windows = windows
            options.generatorLearningRate = learningRate
            options.criticLearningRate = learningRate / 2
            options.syncWeight = syncWeight
            options.syncFrom = syncFrom
            options.adversarialWeight = adversarialWeight
            options.perceptualWeight = perceptualWeight
            options.seed = seed
            options.augmentation = noAugment ? .none : augmentation
            options.frozenNormalisation = freezeNormalisation
            let objective = GeneratorObjective(generator: generator, critic: QualityCritic(seed: seed + 1), expert: expertModel,
                                               train: train, heldOut: held, options: options)
            var loop = Trainer<GeneratorObjective>.Options()
            loop.steps = steps
            loop.warmup = min(200, steps / 10)
            loop.seed = seed
            loop.logEvery = logEvery
            loop.evalEvery = evalEvery
            loop.checkpointEvery = checkpointEvery
            loop.checkpoint = checkpoint ?? base + ".ckpt.safetensors"
            loop.log = log ?? base + ".log.jsonl"
            loop.bestMetric = held.isEmpty ? nil : "heldout_psnr_lower"
            let trainer = Trainer(objective: objective, options: loop)
            let bestPath = base + ".best.safetensors"
            trainer.onBest = { step, psnr in
                try generator.save(to: bestPath, metadata: ["step": String(step), "heldout_psnr_lower": String(format: "%.4f", psnr),
                                                            "seed": String(seed), "split": split])
                note(String(format: "  best held-out PSNR so far (%.2f dB at step %d): %@", psnr, step, bestPath))
            }
            note("\(objective.trainingWindows) training windows; \(steps) steps of \(windows) x 5 frames")
            try trainer.run(resume: resume)
            let dir = (out as NSString).deletingLastPathComponent
            try FileManager.default.createDirectory(atPath: dir.isEmpty ? "." : dir, withIntermediateDirectories: true)
            try generator.save(to: out, metadata: ["steps": String(steps), "windows": String(windows), "seed": String(seed),
                                                   "train_clips": String(train.count), "split": split,
                                                   "losses": "l1" + (perceptualWeight > 0 ? "+perceptual" : "") + (adversarialWeight > 0 ? "+adversarial" : "")
                                                       + (syncWeight > 0 ? "+sync" : "")])
            note("wrote \(out)")
        }
    }

    func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
}
