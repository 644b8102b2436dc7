import ArgumentParser
import Foundation
import Media
import Sync

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure models and methods on held-out data.",
        subcommands: [EvalSync.self, EvalGenerate.self])
}

struct EvalSync: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Offset accuracy and matched-vs-swapped separation over clips re-timed in memory.",
        discussion: """
        Every clip (the files given, or every .mpg/.flv/.mp4 under the directories given) is tracked once; its audio is then moved by each shift of --shifts, exactly, in memory, and offset search must recover the shift. With --swap, each clip is also paired with the next clip's audio of the same dataset, and the ROC AUC of the confidence for matched against swapped pairs is reported, with F1 at --threshold. --swap-audio dataset pairs each clip with every other clip's audio of its dataset instead, and --swap-audio all with every other clip's audio of every dataset given; pairs whose audio comes from another dataset (another recording, usually another kind of voice, so easier to tell) are reported in a table of their own, never pooled with the rest. Clips the split file marks `train` are refused: figures are never measured on training clips.

        Example:
          lipsync eval sync ../shared/data/grid/mixed ../shared/data/crema-d --swap
          lipsync eval sync ../shared/data/grid/mixed ../shared/data/crema-d --shifts=0:0 --swap-audio all
        """)

    @Argument(help: "Clips or directories of clips.") var paths: [String]
    @Option(help: "Shift range in frames, as FROM:TO.") var shifts = "-15:15"
    @Flag(help: "Also score each clip against another clip's audio (as --swap-audio next).") var swap = false
    @Option(help: "Whose audio the swapped pairs take: next (the next clip's of the same dataset), dataset (every other clip's of the same dataset) or all (every other clip's of every dataset given). Implies --swap.")
    var swapAudio: SyncEvaluation.SwapPlan?
    @OptionGroup var sync: SyncOptions
    @Option(help: "Confidence at or above which a pair counts as matched, for F1 (default: the detector's threshold for the method).")
    var threshold: Double?
    @Option(help: "The fixed data split (clips marked `train` are skipped).") var split = "docs/data-split.tsv"
    @Option(help: "Write one JSON line per clip and shift here.") var jsonl: String?
    @Flag(help: "With --swap: fit the calibrated probability's logistic map on these clips' matched and swapped pairs and print it (never fit it on the clips it is reported on).")
    var fitCalibration = false

    func run() throws {
        try reportingErrors {
            let bounds = shifts.split(separator: ":").compactMap { Int($0) }
            guard bounds.count == 2, bounds[0] <= bounds[1] else { throw CLIError(description: "--shifts must look like -15:15", exitCode: 64) }
            // A missing split file refuses nothing (clips outside shared/data have no role).
            let roles = FileManager.default.fileExists(atPath: split) ? try DataSplit(path: split) : nil
            var files = try mediaFiles(under: paths, recursive: false)
            let refused = files.filter { ["train", "train-sync"].contains(roles?.role(of: $0)) }
            if !refused.isEmpty { FileHandle.standardError.write(Data("skipping \(refused.count) training clip(s)\n".utf8)) }
            files.removeAll { refused.contains($0) }
            let model = try sync.loadModel()
            let threshold = self.threshold ?? SyncDetector().mismatchConfidence(for: sync.method)
            let vshift = sync.vshift
            var clips: [SyncEvaluation.Clip] = []
            for (i, f) in files.enumerated() {
                FileHandle.standardError.write(Data("\r[\(i + 1)/\(files.count)] \(f)".utf8))
                if let c = try SyncEvaluation.load(f, model: model) { clips.append(c) } else {
                    FileHandle.standardError.write(Data("\n\(f): no face, skipped\n".utf8))
                }
            }
            FileHandle.standardError.write(Data("\n".utf8))
            guard !clips.isEmpty else {
                throw CLIError(description: "nothing to evaluate: \(files.count) usable clip(s) with a face, \(refused.count) refused as training clips",
                               exitCode: 68)
            }
            var results: [SyncEvaluation.ShiftResult] = []
            for (i, c) in clips.enumerated() {
                FileHandle.standardError.write(Data("\rsearching \(i + 1)/\(clips.count)   ".utf8))
                results += SyncEvaluation.shifts(c, range: bounds[0]...bounds[1], vshift: vshift, model: model)
            }
            FileHandle.standardError.write(Data("\n".utf8))
            let plan = swapAudio ?? (swap ? .next : nil)
            let pairs = plan.map { plan in
                SyncEvaluation.pairs(clips, plan: plan, vshift: vshift, model: model) { done, total in
                    FileHandle.standardError.write(Data("\rpairing \(done)/\(total)   ".utf8))
                }
            } ?? []
            if plan != nil { FileHandle.standardError.write(Data("\n".utf8)) }
            if let path = jsonl { try writeJSONLines(results as [any Encodable] + pairs as [any Encodable], to: path) }
            if fitCalibration {
                guard plan != nil else { throw CLIError(description: "--fit-calibration needs --swap", exitCode: 64) }
                guard let map = SyncCalibration.fit(pairs.map(\.calibrationFeatures), labels: pairs.map(\.matched)) else {
                    throw CLIError(description: "cannot fit a calibration: it needs matched and swapped pairs", exitCode: 65)
                }
                FileHandle.standardError.write(Data("calibration for \(sync.method.rawValue) fitted on \(pairs.count) pairs (features: \(SyncCalibration.featureNames.joined(separator: ", ")))\n".utf8))
                try printJSON(map)
            }
            let rows = SyncEvaluation.rows(results, pairs: pairs, threshold: threshold)
            if sync.json { try printJSON(rows); return }
            print("method \(sync.method.rawValue), shifts \(shifts), vshift \(vshift)\(plan.map { ", swap \($0.rawValue)" } ?? "")")
            print("dataset        clips  exact   ±1      MAE    AUC     F1@\(threshold)")
            for r in rows {
                let name = r.dataset.padding(toLength: 13, withPad: " ", startingAt: 0)
                print(String(format: "%@ %6d  %5.1f%%  %5.1f%%  %5.2f  %@  %@", name, r.clips, 100 * r.exactAccuracy,
                             100 * r.withinOneAccuracy, r.meanAbsoluteError,
                             r.auc.map { String(format: "%.3f", $0) } ?? "  -  ", r.f1.map { String(format: "%.3f", $0) } ?? "  -  "))
            }
            if plan != nil {
                let names = ["confidence", "robust_confidence", "dip_sharpness", "window_agreement", "sync_probability", "similarity"]
                print("\nAUC of each statistic (matched vs swapped with the same dataset's audio; pairs matched/swapped): " + names.joined(separator: ", "))
                for r in rows {
                    print(r.dataset.padding(toLength: 13, withPad: " ", startingAt: 0) + "  "
                          + names.map { r.aucByStatistic[$0].map { String(format: "%.3f", $0) } ?? "  -  " }.joined(separator: "  ")
                          + "  (\(r.matchedPairs)/\(r.swappedPairs))")
                }
            }
            if rows.contains(where: { $0.crossDatasetPairs > 0 }) {
                print("\nswapped with another dataset's audio: swapped pairs, AUC of confidence, AUC of sync_probability, swapped caught")
                for r in rows where r.crossDatasetPairs > 0 {
                    print(r.dataset.padding(toLength: 13, withPad: " ", startingAt: 0)
                          + String(format: "  %6d  ", r.crossDatasetPairs)
                          + [r.crossDatasetAUC, r.crossDatasetProbabilityAUC].map { $0.map { String(format: "%.3f", $0) } ?? "  -  " }.joined(separator: "  ")
                          + (r.crossDatasetCaughtRate.map { String(format: "  %5.1f%%", 100 * $0) } ?? "    - "))
                }
            }
            func pct(_ x: Double?) -> String { x.map { String(format: "%5.1f%%", 100 * $0) } ?? "    - " }
            let d = SyncDetector()
            print("\ndetection as `detect` calls it (where calibrated: mismatched below P \(d.mismatchProbability), uncertain below \(d.trustedProbability); else mismatched below confidence \(threshold)): false alarms (matched called mismatched), matched called uncertain, swapped caught (called mismatched), swapped called uncertain, in-sync read as offset; matched 5th pct")
            for r in rows {
                let name = r.dataset.padding(toLength: 13, withPad: " ", startingAt: 0)
                print("\(name)  \(pct(r.falseAlarmRate))  \(pct(r.matchedUncertainRate))  \(pct(r.swappedCaughtRate))  \(pct(r.swappedUncertainRate))  \(pct(r.inSyncReadAsOffsetRate))  "
                      + (r.matchedConfidenceP5.map { String(format: "%.3f", $0) } ?? "-"))
            }
        }
    }
}

extension SyncEvaluation.SwapPlan: ExpressibleByArgument {}
