import ArgumentParser
import Foundation
import Media
import NN
import Sync
import Vision

extension SyncMethod: ExpressibleByArgument {}
extension AudioAugmentation: ExpressibleByArgument {}

/// The options every command that scores sync shares.
struct SyncOptions: ParsableArguments {
    @Option(help: "How to score alignment: learned (the sync model) or correlation (training-free).") var method: SyncMethod = .learned
    @Option(help: "Sync model weights for the learned method (default: the shipped Models/sync.safetensors).") var model: String?
    @Option(help: "Largest shift tried, in frames, each way.") var vshift = 15
    @Flag(help: "Print JSON for machines: one record per file (with several files, one per line).") var json = false

    func validate() throws {
        guard (1...100).contains(vshift) else { throw ValidationError("--vshift must be between 1 and 100") }
    }

    /// The weights file the learned method reads; nil for correlation.
    var modelPath: String? {
        guard method == .learned else { return nil }
        return model ?? (try? ModelLocator.url("sync.safetensors").path) ?? "sync.safetensors"
    }

    /// The model the method needs: --model, else the shipped one; nil for correlation.
    func loadModel() throws -> SyncNet? {
        guard method == .learned else { return nil }
        return try SyncNet(contentsOf: model ?? ModelLocator.url("sync.safetensors").path)
    }

    /// One engine worker per pass, unless LIPSYNC_THREADS says otherwise: the networks here run at
    /// batch 1-32, where splitting a layer over two cores costs more than it saves (measured on
    /// `lipsync-bench offset`: 6.8-7.0x real time with one worker against 5.4-6.0x with two), and the
    /// audio pass runs beside the video pass on the other core. Must run before the engine's first use.
    static func useOneWorkerPerPass() {
        if ProcessInfo.processInfo.environment["LIPSYNC_THREADS"] == nil { setenv("LIPSYNC_THREADS", "1", 1) }
    }

    /// What a batch worker is told, so that it scores exactly as this process would.
    var workerArguments: [String] {
        ["--method", method.rawValue, "--vshift", String(vshift)] + (model.map { ["--model", $0] } ?? [])
    }

    /// Tracks faces and scores sync in one pass over the video (and one over the audio).
    func gatherSignals(video: String, audio: String?, expectedFrames: Int?, progress: ProgressLine,
                       faces: (([FrameFaces]) -> Void)? = nil) throws -> SyncSignals {
        let s = try SyncSignals.gather(video: video, audioPath: audio, model: try loadModel(), vshift: vshift, progress: { n in
            progress.frames(n, of: expectedFrames, file: video)
        }, faces: faces)
        progress.frames(s.frameCount, of: s.frameCount, file: video, force: true)
        progress.finish()
        if !s.damage.isEmpty {
            progress.note("lipsync: warning: \(video): the video stream is damaged: \(s.damage.summary); decoding went on past it")
        }
        return s
    }
}

extension FileRecord {
    /// Frames the container's duration implies (the progress total), if it declares one.
    var expectedFrames: Int? {
        guard let d = durationS, let f = fps, d > 0, f > 0 else { return nil }
        return Int((d * f).rounded())
    }

    /// Fills in a failure's code and message, and the time taken.
    mutating func close(started: Date, failure: Error?) {
        elapsedS = Date().timeIntervalSince(started)
        if let failure {
            let (message, code) = exitStatus(for: failure)
            error = Failure(code: code, message: message)
        }
    }

    /// The single-file form's output: the record as JSON (one line for a batch worker), then the
    /// failure, if any, as the one-line error and exit code.
    func emit(json: Bool, worker: Bool) throws {
        if json {
            if worker {
                FileHandle.standardOutput.write(try compactJSON(self) + Data("\n".utf8))
            } else {
                try printJSON(self)
            }
        }
        if let e = error {
            FileHandle.standardError.write(Data("lipsync: error: \(e.message)\n".utf8))
            throw ExitCode(e.code)
        }
    }
}

/// "no face track of at least 1 s", with the damage that may explain it.
func noTrackError(_ file: String, damage: DecodeDamage, detail: String = "") -> CLIError {
    var m = "\(file): no face track of at least 1 s\(detail)"
    if !damage.isEmpty { m += " (the video stream is damaged: \(damage.summary))" }
    return CLIError(description: m, exitCode: 68)
}

struct Offset: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure how far the audio is shifted against the picture, per face track.",
        discussion: """
        For every face track of at least 1 s, audio shifts from -vshift to +vshift frames are tried and the best one is reported. audio_delay_ms > 0 means the sound comes late against the picture: advance the audio by that much to fix it. Confidence is the median minus the minimum of the distance curve (syncnet_python's definition); higher is surer.

        Methods: `learned` (default) embeds every 5-frame mouth window and its 0.2 s of audio with the shipped sync model (Models/sync.safetensors) and averages 1 - cosine over windows, as syncnet_python does. `correlation` (training-free) correlates the mouth opening tracked by FaceMesh with the speech energy of the audio; it is the baseline, and the fallback for tracks with fewer than 10 complete windows. The method used is printed per track.

        The video is read on its own constant frame grid (variable-rate input is converted at its average rate) and each frame's audio follows that grid, so non-25 fps video does not drift.

        Many files: give several files, directories (searched recursively for media files) or @list.txt files. Each file is scored by its own worker process, so a bad file becomes a record with its error and the batch goes on. --jsonl writes each record as soon as its file is done; --resume continues a killed run; --shard K/N splits the list for cluster job arrays; --jobs N scores N files at once. The exit code of a batch is 0, or 20 when any file failed. Recipes for Slurm, Kubernetes and GNU parallel are in docs/batch.md.

        Examples:
          lipsync offset interview.mp4
          lipsync offset dub.mp4 --audio new_take.wav --json
          lipsync offset interview.mp4 --plot reading.png --annotate check.mp4
          lipsync offset library/ --jsonl offsets.jsonl --jobs 2 --resume
        """
    )

    @Argument(help: "Videos, directories of videos, or @list.txt files (one path per line).") var inputs: [String]
    @Option(help: "Take the audio from this file instead of each video's own.") var audio: String?
    @Option(help: "A track id, or 'all'.") var track = "all"
    @Option(help: "Also draw the reading as a PNG: per track, the distance curve over the shifts tried with the chosen shift marked, and the framewise confidence over time (single file only).") var plot: String?
    @Option(help: "Also write a copy of the video with each face box coloured by its framewise confidence (red low, green high) and the offset and confidence written on the frame, with the original audio (single file only; a second decoding pass, no second face pass).") var annotate: String?
    @OptionGroup var sync: SyncOptions
    @OptionGroup var batch: BatchOptions

    func validate() throws {
        guard track == "all" || Int(track) != nil else { throw ValidationError("--track takes a number or 'all'") }
    }

    func run() throws {
        if batch.isSingleFile(inputs) { return try measure(inputs[0]) }
        if plot != nil || annotate != nil {
            FileHandle.standardError.write(Data("lipsync: error: --plot and --annotate take a single file\n".utf8))
            throw ExitCode(64)
        }
        try reportingErrors {
            var forwarded = sync.workerArguments + ["--track", track]
            if let audio { forwarded += ["--audio", audio] }
            try BatchRunner.scoring(TrackOffset.self, command: "offset", workerArguments: forwarded, batch: batch, sync: sync) { r in
                for line in Self.lines(r.tracks) { print("\(r.file): \(line)") }
            }.run(inputs: inputs)
        }
    }

    /// The single-file form.
    func measure(_ video: String) throws {
        SyncOptions.useOneWorkerPerPass()
        let started = Date()
        let progress = ProgressLine(quiet: batch.quiet, worker: batch.worker)
        var record = FileRecord<TrackOffset>(file: video, options: sync)
        var failure: Error?
        do {
            // Face boxes per frame, kept only for --annotate: a few numbers per face, never pictures.
            var boxes: [Int: [(track: Int, box: [Double])]] = [:]
            let keep: (([FrameFaces]) -> Void)? = annotate == nil ? nil : { frames in
                for f in frames where !f.faces.isEmpty { boxes[f.frame] = f.faces.map { ($0.track, $0.box) } }
            }
            let signals = try sync.gatherSignals(video: video, audio: audio, expectedFrames: record.expectedFrames, progress: progress, faces: keep)
            record.frames = signals.frameCount
            record.fps = signals.fps
            record.damage = signals.damage.isEmpty ? nil : signals.damage
            var results = signals.offsets(vshift: sync.vshift)
            if let id = Int(track) { results = results.filter { $0.track == id } }
            record.tracks = results
            if let plot {
                try ImageFile.writePNG(SyncPlot.render(results, fps: signals.fps, title: (video as NSString).lastPathComponent), to: plot)
            }
            if let annotate {
                try OffsetAnnotation.write(video: video, audio: audio, to: annotate, tracks: results, boxes: boxes, progress: progress)
            }
            if results.isEmpty { throw noTrackError(video, damage: signals.damage, detail: track == "all" ? "" : " with id \(track)") }
        } catch {
            failure = error
        }
        record.close(started: started, failure: failure)
        try record.emit(json: sync.json, worker: batch.worker)
        if !sync.json { for line in Self.lines(record.tracks) { print(line) } }
    }

    static func lines(_ results: [TrackOffset]) -> [String] {
        results.map { r in
            let ms = abs(r.audioDelayMs), frames = abs(r.audioDelayFrames)
            let what = r.audioDelayFrames == 0 ? "in sync" :
                String(format: "audio %@ by %.0f ms (%d frame%@)", r.audioDelayFrames > 0 ? "late" : "early", ms, frames, frames == 1 ? "" : "s")
            var line = String(format: "track %d  frames %d-%d  %@  confidence %.2f  [%@]", r.track, r.startFrame, r.endFrame,
                              r.unreliable == nil ? what : "best guess " + what, r.confidence, r.method.rawValue)
            // A weak reading is not stated as fact.
            if let why = r.unreliable { line += "  unreliable: \(why)" }
            return line
        }
    }
}
