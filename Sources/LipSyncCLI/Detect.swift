import ArgumentParser
import Foundation
import Media
import Sync
import Vision

struct Detect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Say whether the speech belongs to the face on screen, and in sync: a verdict and exit code.",
        discussion: """
        Verdicts (exit code): in-sync (0), offset (10: the delay is named), mismatched (11: the speech does not belong to this face), no-face (12), no-speech (13: voice-activity detection finds speech in under 10 % of frames), uncertain (14: the reading is too weak to say either way, so neither an offset nor a mismatch is claimed), not-speaking (15: no face on screen moves its mouth with the speech: a voice-over or a still picture). Per track and overall. With several faces the overall verdict is the speaking track's (named in the output and as speaking_track in JSON): the face most likely to be saying the speech. A face whose reading fails while another face on screen at the same time follows the speech, or whose mouth barely moves, is not-speaking (a listener), not mismatched.

        With the learned method a track is mismatched when the calibrated probability that the speech belongs to the face is below 0.40 (the 5th percentile of matched pairs of a face the model had never seen, when the calibration was fitted) and uncertain from 0.40 to 0.5; the probability is a logistic map of scale-free readings of the distance curve, fitted on an identity the model had never seen. With --method correlation (no calibration) it is mismatched below confidence 0.17, the 5th percentile of matched held-out GRID s1 clips. The rates on unseen speakers are in docs/sync.md.

        Many files: as for `lipsync offset` (several files, directories, @list.txt; --jsonl, --resume, --shard, --jobs). A batch exits 0 when every file is in-sync, 21 when none failed but some verdict is not in-sync, and 20 when any file failed; stderr ends with the counts per verdict.

        Examples:
          lipsync detect clip.mp4 && echo ok
          lipsync detect dub.mp4 --audio new_take.wav --json
          lipsync detect uploads/ --jsonl verdicts.jsonl --jobs 2
        """
    )

    @Argument(help: "Videos, directories of videos, or @list.txt files (one path per line).") var inputs: [String]
    @Option(help: "Judge this audio against each video instead of its own.") var audio: String?
    @OptionGroup var sync: SyncOptions
    @OptionGroup var batch: BatchOptions

    func run() throws {
        if batch.isSingleFile(inputs) { return try judge(inputs[0]) }
        try reportingErrors {
            var forwarded = sync.workerArguments
            if let audio { forwarded += ["--audio", audio] }
            try BatchRunner.scoring(SyncDetector.TrackVerdict.self, command: "detect", workerArguments: forwarded, batch: batch,
                                             sync: sync) { r in
                if let v = r.verdict { print("\(r.file): \(v.rawValue)") }
            }.run(inputs: inputs)
        }
    }

    /// The single-file form.
    func judge(_ video: String) throws {
        SyncOptions.useOneWorkerPerPass()
        let started = Date()
        let progress = ProgressLine(quiet: batch.quiet, worker: batch.worker)
        var record = FileRecord<SyncDetector.TrackVerdict>(file: video, options: sync)
        var failure: Error?
        do {
            let signals = try sync.gatherSignals(video: video, audio: audio, expectedFrames: record.expectedFrames, progress: progress)
            record.frames = signals.frameCount
            record.fps = signals.fps
            record.damage = signals.damage.isEmpty ? nil : signals.damage
            let report = SyncDetector().judge(signals, vshift: sync.vshift)
            record.verdict = report.verdict
            record.speechFraction = report.speechFraction
            record.tracks = report.tracks
            record.speakingTrack = report.speakingTrack
            record.method = report.method
        } catch {
            failure = error
        }
        record.close(started: started, failure: failure)
        try record.emit(json: sync.json, worker: batch.worker)
        guard let verdict = record.verdict else { return }
        if !sync.json {
            for t in record.tracks {
                let o = t.offset
                var line = String(format: "track %d  frames %d-%d  %@", t.track, o.startFrame, o.endFrame, t.verdict.rawValue)
                if t.verdict == .offset { line += String(format: " (audio %@ by %.0f ms)", o.audioDelayMs > 0 ? "late" : "early", abs(o.audioDelayMs)) }
                line += String(format: "  confidence %.2f", o.confidence)
                if let p = o.syncProbability { line += String(format: "  P(speech belongs to this face) %.2f", p) }
                if t.verdict == .uncertain || t.verdict == .notSpeaking, let why = o.unreliable { line += "  (\(why))" }
                if t.verdict == .notSpeaking, !SyncDetector().barelyMoves(o) { line += "  (another face on screen follows the speech)" }
                print(line)
            }
            if record.tracks.count > 1, let s = record.speakingTrack { print("speaking: track \(s)") }
            if let g = record.generatedBy { print("provenance: generated by \(g)") }
            if let d = record.damage { print("damaged stream: \(d.summary)") }
            print("\(video): \(verdict.rawValue)")
        }
        if verdict != .inSync { throw ExitCode(verdict.exitCode) }
    }
}
