import Audio
import Foundation
import Media
import NN
import Vision

/// Held-out evaluation of offset search: every clip is re-timed in memory by each shift of a range
/// (exactly, by moving its decoded samples; no re-encode), and optionally paired with other clips'
/// audio to measure how well matched and mismatched speech are told apart.
public enum SyncEvaluation {
    /// What one clip contributes: its longest face track's mouth signal and its 16 kHz audio.
    public struct Clip: Sendable {
        public var path: String
        public var dataset: String
        public var fps: Double
        public var mouth: [Double]
        public var samples: [Float]
        /// With the learned method: the longest track's window embeddings.
        public var visual: [LearnedSync.VisualWindow]?
    }

    public struct ShiftResult: Codable, Sendable {
        public var clip: String
        public var dataset: String
        public var shift: Int
        public var predicted: Int
        public var confidence: Double
        public var minDist: Double
    }

    public struct PairScore: Codable, Sendable {
        public var clip: String
        public var dataset: String
        public var audioFrom: String
        /// The dataset of the clip the audio came from (`dataset` for matched pairs).
        public var audioDataset: String
        public var matched: Bool
        public var confidence: Double
        public var robustConfidence: Double
        public var dipSharpness: Double
        public var windowAgreement: Double?
        public var syncProbability: Double?
        /// The mean distance at the best shift (syncnet_python's `min_dist`): the model's own,
        /// uncalibrated reading of how well this audio fits this mouth.
        public var minDist: Double
        public var audioDelayFrames: Int
        /// What the calibration map reads (`SyncCalibration.features`).
        public var calibrationFeatures: [Double]

        init(clip: String, dataset: String, audioFrom: String, audioDataset: String? = nil, matched: Bool, reading r: TrackOffset) {
            (self.clip, self.dataset, self.audioFrom, self.matched) = (clip, dataset, audioFrom, matched)
            self.audioDataset = audioDataset ?? dataset
            (confidence, robustConfidence, dipSharpness, windowAgreement, syncProbability, audioDelayFrames) =
                (r.confidence, r.robustConfidence, r.dipSharpness, r.windowAgreement, r.syncProbability, r.audioDelayFrames)
            minDist = r.minDist
            calibrationFeatures = SyncCalibration.features(of: r)
        }

        /// A swapped pair whose audio comes from another dataset: another recording and usually another
        /// kind of voice, easier to tell than a neighbour's, so it is reported apart.
        public var crossDataset: Bool { dataset != audioDataset }

        /// What `detect` would call it: the calibrated probability's rule where there is one, else the
        /// confidence against `threshold`.
        public func calledMismatched(threshold: Double) -> Bool {
            SyncDetector().isMismatched(probability: syncProbability, confidence: confidence, threshold: threshold)
        }

        /// Called neither matched nor mismatched (`detect`'s `uncertain`).
        public func calledUncertain(threshold: Double) -> Bool {
            SyncDetector().match(probability: syncProbability, confidence: confidence, threshold: threshold) == .uncertain
        }

        /// The statistics a detector could threshold, by name (`eval sync` compares their AUCs).
        public var statistics: [String: Double] {
            var s = ["confidence": confidence, "robust_confidence": robustConfidence, "dip_sharpness": dipSharpness]
            if let a = windowAgreement { s["window_agreement"] = a }
            if let p = syncProbability { s["sync_probability"] = p }
            s["similarity"] = 1 - minDist
            return s
        }
    }

    public struct Row: Codable, Sendable {
        public var dataset: String
        public var clips: Int
        public var exactAccuracy: Double
        public var withinOneAccuracy: Double
        public var meanAbsoluteError: Double
        /// Pairs behind the matched-vs-swapped figures (swapped: audio from the same dataset).
        public var matchedPairs: Int = 0
        public var swappedPairs: Int = 0
        public var auc: Double?
        public var f1: Double?
        /// Detection at the threshold: matched pairs called mismatched, swapped pairs caught, and
        /// unshifted clips whose best shift is 2 frames or more (read as `offset`).
        public var falseAlarmRate: Double?
        public var swappedCaughtRate: Double?
        public var inSyncReadAsOffsetRate: Double?
        /// Matched and swapped pairs called `uncertain` (neither way).
        public var matchedUncertainRate: Double?
        public var swappedUncertainRate: Double?
        /// 5th percentile of matched confidences: the threshold with 5 % false alarms on this row.
        public var matchedConfidenceP5: Double?
        /// AUC of each statistic of `PairScore.statistics`.
        public var aucByStatistic: [String: Double] = [:]
        /// With `SwapPlan.all`: the same figures against audio from the other datasets.
        public var crossDatasetPairs: Int = 0
        public var crossDatasetAUC: Double?
        public var crossDatasetProbabilityAUC: Double?
        public var crossDatasetCaughtRate: Double?
    }

    /// Whose audio each clip is paired with for the swapped pairs.
    public enum SwapPlan: String, Sendable, CaseIterable {
        /// The next clip's of the same dataset: one swapped pair per clip.
        case next
        /// Every other clip's of the same dataset.
        case dataset
        /// Every other clip's of every dataset given; those from another dataset are reported apart
        /// (`Row.crossDatasetAUC`).
        case all
    }

    /// Dataset label from a path under shared/data: GRID s1, GRID s4, other GRID speakers, CREMA-D, or "other".
    public static func dataset(of path: String) -> String {
        if path.contains("/grid/s1/") { return "grid-s1" }
        // Since the sync models train on s4-more (docs/data-split.tsv), s4 is a seen identity: its own row.
        if path.contains("/grid/s4/") || path.contains("/grid/s4-more/") { return "grid-s4" }
        if path.contains("/grid/") { return "grid-unseen" }
        if path.contains("crema-d") { return "crema-d" }
        return "other"
    }

    /// Tracks a clip once. With `model`, its mouth windows are embedded (the whole clip is held in
    /// memory, which suits the seconds-long clips of an evaluation set).
    public static func load(_ path: String, model: SyncNet? = nil) throws -> Clip? {
        if let model {
            let f = try ClipFeatures.extract(video: path)
            let visual = LearnedSync.embeddings(of: f, model: model).visual
            guard !visual.isEmpty else { return nil }
            return Clip(path: path, dataset: dataset(of: path), fps: f.fps, mouth: [], samples: try AudioReader.decodeAll(path: path), visual: visual)
        }
        let s = try SyncSignals.gather(video: path)
        guard let longest = s.mouth.max(by: { $0.value.values.count < $1.value.values.count }),
              let grid = s.mouthOnGrid(track: longest.key) else { return nil }
        return Clip(path: path, dataset: dataset(of: path), fps: s.fps, mouth: grid.values, samples: try AudioReader.decodeAll(path: path), visual: nil)
    }

    /// `samples` moved `shift` frames later (positive: audio late), zero-filled, length kept.
    static func moved(_ samples: [Float], shift: Int, fps: Double) -> [Float] {
        let n = Int((Double(shift) * 16_000 / fps).rounded())
        if n > 0 { return [Float](repeating: 0, count: min(n, samples.count)) + samples.dropLast(min(n, samples.count)) }
        if n < 0 { return Array(samples.dropFirst(min(-n, samples.count))) + [Float](repeating: 0, count: min(-n, samples.count)) }
        return samples
    }

    /// Audio made ready for offset search against one clip's picture: the learned model's
    /// embeddings on that clip's frame grid, or the mel spectrogram the correlation method reads.
    enum PreparedAudio {
        case learned([Float])
        case correlation(MelFrames)
    }

    static func prepare(_ samples: [Float], fps: Double, model: SyncNet?) -> PreparedAudio {
        let mel = SpeechEnergy.mel.compute(samples)
        if let model { return .learned(LearnedSync.audioEmbeddings(mel, fps: fps, model: model)) }
        return .correlation(mel)
    }

    /// Offset search for the clip's picture against `samples` moved by `shift` frames.
    static func search(_ c: Clip, audio samples: [Float], shift: Int, vshift: Int, model: SyncNet?) -> TrackOffset {
        search(c, prepared: prepare(moved(samples, shift: shift, fps: c.fps), fps: c.fps, model: model), vshift: vshift)
    }

    static func search(_ c: Clip, prepared: PreparedAudio, vshift: Int) -> TrackOffset {
        switch prepared {
        case .learned(let audio):
            let visual = c.visual ?? []
            let rows = visual.map { (start: $0.start, distances: LearnedSync.distanceRow($0, audio: audio, vshift: vshift)) }
            let frames = (visual.first?.start ?? 0)..<((visual.last?.start ?? 0) + SyncNet.frames)
            return LearnedSync.estimate(track: 0, frames: frames, rows: rows, fps: c.fps, vshift: vshift)
        case .correlation(let mel):
            // The correlation method reads the level alone: no flux on this per-shift path.
            let audio = SpeechEnergy.perFrame((0..<mel.count).map { SpeechEnergy.level(mel, column: $0) }, fps: c.fps, frames: c.mouth.count)
            let valid = c.mouth.indices.filter { !c.mouth[$0].isNaN }
            let range = (valid.first ?? 0)..<((valid.last ?? -1) + 1)
            return CorrelationOffset.estimate(track: 0, frames: range, mouth: c.mouth, audio: audio, fps: c.fps, vshift: vshift, window: 25)
        }
    }

    public static func shifts(_ c: Clip, range: ClosedRange<Int>, vshift: Int, model: SyncNet? = nil) -> [ShiftResult] {
        range.map { k in
            let r = search(c, audio: c.samples, shift: k, vshift: vshift, model: model)
            return ShiftResult(clip: c.path, dataset: c.dataset, shift: k, predicted: r.audioDelayFrames, confidence: r.confidence, minDist: r.minDist)
        }
    }

    /// Each clip with its own audio, and with the audio of the clips `plan` names. Every clip's
    /// audio is prepared once per frame rate, so pairing every clip with every other costs a
    /// distance table per pair, not a pass of the audio tower.
    public static func pairs(_ clips: [Clip], plan: SwapPlan = .next, vshift: Int, model: SyncNet? = nil,
                             progress: ((_ done: Int, _ total: Int) -> Void)? = nil) -> [PairScore] {
        var prepared: [String: PreparedAudio] = [:]
        func audio(of a: Clip, for c: Clip) -> PreparedAudio {
            // Learned embeddings lie on the picture's frame grid, so a 30 fps face needs its own.
            let key = "\(c.fps) \(a.path)"
            if let p = prepared[key] { return p }
            let p = prepare(a.samples, fps: c.fps, model: model)
            prepared[key] = p
            return p
        }
        let datasets = Set(clips.map(\.dataset)).sorted()
        let groups = datasets.map { ds in clips.filter { $0.dataset == ds } }
        let everyClip = groups.flatMap { $0 }
        var out: [PairScore] = []
        var done = 0
        for (ds, group) in zip(datasets, groups) {
            for (i, c) in group.enumerated() {
                out.append(PairScore(clip: c.path, dataset: ds, audioFrom: c.path, matched: true,
                                     reading: search(c, prepared: audio(of: c, for: c), vshift: vshift)))
                let partners: [Clip]
                switch plan {
                case .next: partners = group.count > 1 ? [group[(i + 1) % group.count]] : []
                case .dataset: partners = group.filter { $0.path != c.path }
                case .all: partners = everyClip.filter { $0.path != c.path }
                }
                for o in partners {
                    out.append(PairScore(clip: c.path, dataset: ds, audioFrom: o.path, audioDataset: o.dataset, matched: false,
                                         reading: search(c, prepared: audio(of: o, for: c), vshift: vshift)))
                }
                done += 1
                progress?(done, everyClip.count)
            }
        }
        return out
    }

    /// Area under the ROC curve of `confidence` (or another statistic) separating matched from swapped pairs.
    public static func auc(_ p: [PairScore], statistic: String = "confidence") -> Double? {
        let pos = p.filter(\.matched).compactMap { $0.statistics[statistic] }, neg = p.filter { !$0.matched }.compactMap { $0.statistics[statistic] }
        guard !pos.isEmpty, !neg.isEmpty else { return nil }
        var wins = 0.0
        for a in pos { for b in neg { wins += a > b ? 1 : (a == b ? 0.5 : 0) } }
        return wins / Double(pos.count * neg.count)
    }

    /// F1 of "matched" as `detect` calls it (`PairScore.calledMismatched`).
    public static func f1(_ p: [PairScore], threshold: Double) -> Double? {
        guard !p.isEmpty else { return nil }
        let tp = Double(p.filter { $0.matched && !$0.calledMismatched(threshold: threshold) }.count)
        let fp = Double(p.filter { !$0.matched && !$0.calledMismatched(threshold: threshold) }.count)
        let fn = Double(p.filter { $0.matched && $0.calledMismatched(threshold: threshold) }.count)
        return tp == 0 ? 0 : 2 * tp / (2 * tp + fp + fn)
    }

    static func rate<T>(_ xs: [T], _ test: (T) -> Bool) -> Double? {
        xs.isEmpty ? nil : Double(xs.filter(test).count) / Double(xs.count)
    }

    /// Linear-interpolated percentile (numpy's default).
    static func percentile(_ xs: [Double], _ q: Double) -> Double? {
        guard !xs.isEmpty else { return nil }
        let s = xs.sorted(), pos = q * Double(s.count - 1), lo = Int(pos), hi = min(lo + 1, s.count - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - Double(lo))
    }

    public static func rows(_ results: [ShiftResult], pairs: [PairScore], threshold: Double) -> [Row] {
        let sets = Array(Set(results.map(\.dataset))).sorted() + ["all"]
        return sets.map { ds in
            let r = ds == "all" ? results : results.filter { $0.dataset == ds }
            let rowPairs = ds == "all" ? pairs : pairs.filter { $0.dataset == ds }
            let p = rowPairs.filter { $0.matched || !$0.crossDataset }
            let cross = rowPairs.filter { $0.matched || $0.crossDataset }
            let crossSwapped = cross.filter { !$0.matched }
            let n = Double(max(1, r.count))
            return Row(dataset: ds, clips: Set(r.map(\.clip)).count,
                       exactAccuracy: Double(r.filter { $0.predicted == $0.shift }.count) / n,
                       withinOneAccuracy: Double(r.filter { abs($0.predicted - $0.shift) <= 1 }.count) / n,
                       meanAbsoluteError: r.reduce(0.0) { $0 + Double(abs($1.predicted - $1.shift)) } / n,
                       matchedPairs: p.filter(\.matched).count, swappedPairs: p.filter { !$0.matched }.count,
                       auc: auc(p), f1: p.isEmpty ? nil : f1(p, threshold: threshold),
                       falseAlarmRate: rate(p.filter(\.matched)) { $0.calledMismatched(threshold: threshold) },
                       swappedCaughtRate: rate(p.filter { !$0.matched }) { $0.calledMismatched(threshold: threshold) },
                       inSyncReadAsOffsetRate: rate(r.filter { $0.shift == 0 }) { abs($0.predicted) >= 2 },
                       matchedUncertainRate: rate(p.filter(\.matched)) { $0.calledUncertain(threshold: threshold) },
                       swappedUncertainRate: rate(p.filter { !$0.matched }) { $0.calledUncertain(threshold: threshold) },
                       matchedConfidenceP5: percentile(p.filter(\.matched).map(\.confidence), 0.05),
                       aucByStatistic: Dictionary(uniqueKeysWithValues: Set(p.flatMap(\.statistics.keys)).compactMap { k in auc(p, statistic: k).map { (k, $0) } }),
                       crossDatasetPairs: crossSwapped.count,
                       crossDatasetAUC: crossSwapped.isEmpty ? nil : auc(cross),
                       crossDatasetProbabilityAUC: crossSwapped.isEmpty ? nil : auc(cross, statistic: "sync_probability"),
                       crossDatasetCaughtRate: rate(crossSwapped) { $0.calledMismatched(threshold: threshold) })
        }
    }
}
