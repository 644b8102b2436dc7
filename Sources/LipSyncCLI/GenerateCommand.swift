import ArgumentParser
import Foundation
import Generate
import Media
import NN
import Sync
import Training
import Vision

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Re-sync a face to new speech: paint the mouth so the lips follow the new audio.",
        discussion: """
        The output is an H.264 MP4 with the new speech as its audio, as long as the speech: a shorter video plays forward and back (no jump cut), a longer one is cut where the speech ends. Frames are read, painted, pasted and encoded as they come, so memory does not grow with the length. Only pixels under a feathered mouth-and-jaw mask change; a frame with no face, or with only other people's faces, passes through untouched, and so does a frame whose mouth is hidden behind a hand or a microphone (the painting fades out as it is covered). The painted mouth is colour-matched to the skin around it and follows the tracker's smoothed alignment.

        The face painted is --track N, or with auto, in each frame, the face the sync model finds speaking on the video's own audio, so the speaker is followed across scene cuts (each starts a new track); a face judged not speaking while another speaks is left alone, and a video with no audio or no speech of its own gets the largest face in each frame. The file carries a provenance mark (container tag `lipsync_generated`: version, model, source) that `lipsync probe` and `lipsync detect` report. A file without the mark proves nothing: tags are easy to strip.

        Audio without speech is allowed (the mouth closes; a note says so on stderr).

        Examples:
          lipsync generate interview.mp4 --audio dub_fr.wav -o interview_fr.mp4
          lipsync generate clip.mp4 --audio take2.wav -o out.mp4 --compare side.mp4 --json
        """)

    @Argument(help: "The video whose face is re-synced.") var video: String
    @Option(help: "The new speech (any audio or video file).") var audio: String
    @Option(name: .shortAndLong, help: "The output video (.mp4).") var output: String
    @Option(help: "Generator weights (default: the shipped Models/generator.safetensors).") var model: String?
    @Option(help: "A track id, or 'auto'.") var track = "auto"
    @Option(help: "Person adaptation: first fine-tune the model on this many seconds of the video's beginning, with its own audio (self-supervised: the mouth is masked and reconstructed).") var adapt: Double?
    @Option(help: "Optimiser steps of the adaptation (each paints 2 windows of 5 frames; about 1.3 steps/s on 2 cores).") var adaptSteps = 400
    @Option(help: "Weight of the sync-expert loss during adaptation. The default keeps every measured dub in sync at 0.4 dB less reconstruction than 0, which gains the most PSNR but let 3 of 20 GRID s4 dubs drift off the new speech (Models/generator.md).") var adaptSyncWeight: Float = 0.001
    @Option(help: "Also write input and output side by side here.") var compare: String?
    @Option(help: "x264 quality (lower is better; 18 is visually lossless).") var crf = Delivery.crf
    @Option(help: "x264 speed preset: veryfast (default) encodes 1080p about 3x faster than medium, in a file of about the same size at the same --crf; slower presets (fast, medium, slow) squeeze the file further for final delivery.") var preset = Delivery.preset
    @Flag(help: "Print a JSON report for machines.") var json = false

    func validate() throws {
        guard track == "auto" || Int(track) != nil else { throw ValidationError("--track takes a number or 'auto'") }
        guard (0...51).contains(crf) else { throw ValidationError("--crf must be between 0 and 51") }
        let presets = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"]
        guard presets.contains(preset) else { throw ValidationError("--preset must be one of \(presets.joined(separator: ", "))") }
    }

    struct Report: Encodable {
        var video: String, audio: String, output: String, model: String
        /// `--track N`, or the one track painted; nil when auto painted several (`tracks_painted`).
        var track: Int?
        var tracksPainted: [Int]
        var frames: Int, painted: Int, passedThrough: Int
        /// Frames of the face whose mouth was hidden (a hand, a microphone): left as they came.
        var mouthHidden: Int
        var adaptedSteps: Int
        var speechSeconds: Double, fps: Double
        var speechFraction: Double
        var seconds: Double
        var realTimeFactor: Double
        var timing: Timing
    }

    /// Seconds per stage: model loading, adaptation and the track-choosing pass (`setup_s`), decoding
    /// and tracking, the painter's forward pass, cropping / detail and colour match / pasting, and
    /// encoding (x264 and the colour conversion).
    struct Timing: Encodable {
        var setupS: Double, decodeAndTrackS: Double, paintS: Double, cropAndPasteS: Double, encodeS: Double
    }

    func run() throws {
        try reportingErrors {
            let started = Date()
            let modelPath = try model ?? ModelLocator.url("generator.safetensors").path
            let painter = try MouthPainter(contentsOf: modelPath)
            var adapted = 0
            if let seconds = adapt, seconds > 0 {
                adapted = try Self.adapt(painter, video: video, seconds: seconds, steps: adaptSteps, syncWeight: adaptSyncWeight)
            }
            let probe = try MediaInfo(probing: video)
            guard probe.video != nil else { throw MediaError.noVideoStream(path: video) }
            let source = try VideoReader(path: video, options: .constantFrameRateAtSource)
            let fps = source.frameRate
            // The speech's length fixes the output's; its energy says whether it speaks.
            let seconds = Double(try AudioReader.sampleCount(path: audio)) / Double(AudioReader.defaultSampleRate)
            let frames = Int(seconds * fps)
            guard frames > 0 else { throw CLIError(description: "\(audio): the speech is shorter than one frame", exitCode: 65) }
            let evidence = try SyncSignals.speechEvidence(path: audio, fps: fps, frames: frames)
            let speechFraction = SyncDetector.speechFraction(evidence.energy, flux: evidence.flux, fps: fps)
            if speechFraction < SyncDetector().minimumSpeechFraction {
                note("\(audio): almost no speech (\(Int(100 * speechFraction)) % of frames): the mouth will mostly close")
            }
            let (choice, choiceNote) = try chooseFaces()
            if let choiceNote { note(choiceNote) }

            var tracker = FaceTracker.Options()
            tracker.keepImages = true
            let playback = try PingPongFrames(path: video, count: frames)
            let tracked = try TrackedVideo(source: playback, tracker: tracker)
            let mark = "LipSync \(LipSync.version); lipsync generate; model \((modelPath as NSString).lastPathComponent) (\(MouthPainter.format)); source \((video as NSString).lastPathComponent); speech \((audio as NSString).lastPathComponent)"
            var options = VideoWriterOptions(crf: crf, preset: preset, audio: .copy(fromFile: audio))
            options.metadata = [MediaInfo.provenanceKey: mark, "comment": "generated by " + mark]
            let writer = try VideoWriter(path: output, width: playback.width, height: playback.height, fps: fps, options: options)
            var compareOptions = options
            compareOptions.metadata = [MediaInfo.provenanceKey: mark + " (side by side)"]
            let side = try compare.map { try VideoWriter(path: $0, width: 2 * playback.width, height: playback.height, fps: fps, options: compareOptions) }
            let mel = try StreamingMel(path: audio, fps: fps)
            let dubber = MouthDubber(compositor: Compositor(painter: painter), choice: choice, mel: mel)
            var written = 0
            // Where the time goes (the --json report's `timing`): rendering (crop, paint, paste) and
            // encoding are timed here; decoding and tracking are the rest of the loop.
            var renderSeconds = 0.0, encodeSeconds = 0.0
            let loopStarted = Date()
            try tracked.forEachBatch { batch in
                for f in batch {
                    let t0 = Date()
                    guard let image = try dubber.render(f)?.image else { continue }
                    let t1 = Date()
                    try writer.append(image)
                    if let side, let original = f.image { try side.append(Self.sideBySide(original, image)) }
                    renderSeconds += t1.timeIntervalSince(t0)
                    encodeSeconds += Date().timeIntervalSince(t1)
                    written += 1
                    if written % 100 == 0 {
                        FileHandle.standardError.write(Data(String(format: "\r%d/%d frames, %.1f fps", written, frames,
                                                                   Double(written) / Date().timeIntervalSince(started)).utf8))
                    }
                }
            }
            let painted = dubber.painted - dubber.hidden
            FileHandle.standardError.write(Data("\r".utf8))
            guard dubber.painted > 0 else {
                throw CLIError(description: "\(video): no face\(choice.only.map { " of track \($0)" } ?? "") in any frame: nothing to paint", exitCode: 68)
            }
            let t2 = Date()
            try writer.finish()
            try side?.finish()
            encodeSeconds += Date().timeIntervalSince(t2)
            let loopSeconds = Date().timeIntervalSince(loopStarted)
            let elapsed = Date().timeIntervalSince(started)
            let paint = dubber.compositor.paintSeconds
            let timing = Timing(setupS: elapsed - loopSeconds, decodeAndTrackS: loopSeconds - renderSeconds - encodeSeconds,
                                paintS: paint, cropAndPasteS: renderSeconds - paint, encodeS: encodeSeconds)
            let report = Report(video: video, audio: audio, output: output, model: modelPath,
                                track: choice.only ?? (dubber.paintedTracks.count == 1 ? dubber.paintedTracks.first : nil),
                                tracksPainted: dubber.paintedTracks.sorted(), frames: written, painted: painted,
                                passedThrough: written - dubber.painted, mouthHidden: dubber.hidden, adaptedSteps: adapted, speechSeconds: seconds, fps: fps, speechFraction: speechFraction,
                                seconds: elapsed, realTimeFactor: seconds / elapsed, timing: timing)
            if json { try printJSON(report); return }
            let hidden = dubber.hidden > 0 ? String(format: ", %d with the mouth hidden, left as they were", dubber.hidden) : ""
            print(String(format: "%@: %d frames (%d painted, %d without the face%@), %.1f s of speech in %.1f s (%.2fx real time) -> %@",
                         video, written, painted, written - dubber.painted, hidden, seconds, elapsed, seconds / elapsed, output))
        }
    }

    /// --track N, or auto: in each frame the face that speaks on the video's own audio, so that the
    /// speaker is followed across scene cuts and re-detections (each starts a new track). A face
    /// `detect` calls not speaking while another face speaks (a listener, a reaction shot) is left
    /// alone; faces it cannot judge come after the ones it can, the largest first. A video without
    /// audio of its own (picture-only dubbing material) or without speech in it: the largest face.
    func chooseFaces() throws -> (choice: FaceChoice, note: String?) {
        if let id = Int(track) { return (.track(id), "painting track \(id)") }
        guard try MediaInfo(probing: video).audio != nil else {
            return (.largestFace, "\(video): no audio of its own to tell the speaker by: painting the largest face in each frame")
        }
        let model = try SyncNet(contentsOf: ModelLocator.url("sync.safetensors").path)
        let signals = try SyncSignals.gather(video: video, model: model)
        guard signals.mouth.count > 1 else { return (.largestFace, nil) }
        let report = SyncDetector().judge(signals, vshift: 15)
        guard report.verdict != .noSpeech else {
            return (.largestFace, "\(video): no speech in its own audio to tell the speaker by: painting the largest face in each frame")
        }
        let choice = Self.faceChoice(report.tracks)
        let names = report.tracks.map { "\($0.track) \($0.verdict.rawValue)" }.joined(separator: ", ")
        return (choice, "tracks on the video's own audio: \(names); painting the speaking face in each frame")
    }

    /// The preference `chooseFaces` gives each judged track: speaking (in sync or offset) above the
    /// rest, then by how surely the speech belongs to the face.
    static func faceChoice(_ tracks: [SyncDetector.TrackVerdict]) -> FaceChoice {
        var choice = FaceChoice()
        // Without a face that clearly speaks, "not speaking" may be a small or still speaker misread:
        // painting it is safer than leaving the dub's only face untouched.
        let someoneSpeaks = tracks.contains(where: \.verdict.followsTheSpeech)
        for t in tracks {
            if someoneSpeaks && t.verdict == .notSpeaking { choice.excluded.insert(t.track); continue }
            choice.rank[t.track] = (t.verdict.followsTheSpeech ? 2 : 0) + min(1, max(0, t.offset.syncProbability ?? t.offset.confidence))
        }
        return choice
    }

    /// Fine-tunes `painter` on the video's first `seconds` (its own face, its own audio), then
    /// leaves it in inference mode. Returns the steps run.
    ///
    /// The recipe measured on GRID s4 (Models/generator.md): BatchNorm kept on its running statistics
    /// (2 windows of one person make poor batch statistics), no critic (a fresh one pulls the
    /// painter off before it has learnt anything), reconstruction plus a light sync-expert loss.
    static func adapt(_ painter: MouthPainter, video: String, seconds: Double, steps: Int, syncWeight: Float) throws -> Int {
        let clip = try FaceClip.extract(video: video, seconds: seconds)
        guard !clip.windowStarts.isEmpty else {
            FileHandle.standardError.write(Data("\(video): no face in the first \(seconds) s: painting without adaptation\n".utf8))
            return 0
        }
        var options = GeneratorObjective.Options()
        options.windows = 2
        options.generatorLearningRate = 1e-4
        options.criticLearningRate = 5e-5
        options.adversarialWeight = 0
        options.perceptualWeight = 0
        options.syncWeight = syncWeight
        options.syncFrom = 0
        options.frozenNormalisation = true
        options.augmentation = .light
        let expert = syncWeight > 0 ? try SyncNet(contentsOf: ModelLocator.url("sync_pixels.safetensors").path, mode: .frozen) : nil
        let objective = GeneratorObjective(generator: painter, critic: QualityCritic(), expert: expert, train: [clip], heldOut: [], options: options)
        var loop = Trainer<GeneratorObjective>.Options()
        loop.steps = steps
        loop.warmup = min(40, steps / 10)
        loop.evalEvery = 0
        loop.logEvery = 10
        try Trainer(objective: objective, options: loop).run()
        FileHandle.standardError.write(Data("\nadapted to \(video) (\(steps) steps on \(clip.frames) frames)\n".utf8))
        painter.setMode(.inference)
        return steps
    }

    static func sideBySide(_ a: RGBImage, _ b: RGBImage) -> RGBImage {
        var out = RGBImage(width: a.width * 2, height: a.height)
        let row = a.width * 3
        for y in 0..<a.height {
            out.pixels.replaceSubrange((y * 2 * row)..<(y * 2 * row + row), with: a.pixels[(y * row)..<((y + 1) * row)])
            out.pixels.replaceSubrange((y * 2 * row + row)..<((y + 1) * 2 * row), with: b.pixels[(y * row)..<((y + 1) * row)])
        }
        return out
    }

    func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
}
