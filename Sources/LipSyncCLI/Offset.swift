import ArgumentParser
import Foundation
import Media
import NN
import Sync
import Vision

extension SyncMethod: ExpressibleByArgument {}

/// The options every command that scores sync shares.
struct SyncOptions: ParsableArguments {
    @Option(help: "How to score alignment: learned (the sync model) or correlation (training-free).") var method: SyncMethod = .learned
    @Option(help: "Sync model weights for the learned method (default: the shipped Models/sync.safetensors).") var model: String?
    @Option(help: "Largest shift tried, in frames, each way.") var vshift = 15
    @Flag(help: "Print JSON for machines.") var json = false

    func validate() throws {
        guard (1...100).contains(vshift) else { throw ValidationError("--vshift must be between 1 and 100") }
    }

    /// The model the method needs: --model, else the shipped one; nil for correlation.
    func loadModel() throws -> SyncNet? {
        guard method == .learned else { return nil }
        return try SyncNet(contentsOf: model ?? ModelLocator.url("sync.safetensors").path)
    }

    /// Tracks faces and scores sync in one pass over the video (and one over the audio).
    func gatherSignals(video: String, audio: String?) throws -> SyncSignals {
        let s = try SyncSignals.gather(video: video, audioPath: audio, model: try loadModel(), vshift: vshift) { n in
            if n % 250 == 0 && n > 0 { FileHandle.standardError.write(Data("\r\(n) frames".utf8)) }
        }
        FileHandle.standardError.write(Data("\r".utf8))
        return s
    }
}

struct Offset: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure how far the audio is shifted against the picture, per face track.",
        discussion: """
        For every face track of at least 1 s, audio shifts from -vshift to +vshift frames are tried
        and the best one is reported. audio_delay_ms > 0 means the sound comes late against the
        picture: advance the audio by that much to fix it. Confidence is the median minus the minimum
        of the distance curve (syncnet_python's definition); higher is surer.

        Methods: `learned` (default) embeds every 5-frame mouth window and its 0.2 s of audio with the
        shipped sync model (Models/sync.safetensors) and averages 1 - cosine over windows, as
        syncnet_python does. `correlation` (training-free) correlates the mouth opening tracked by
        FaceMesh with the speech energy of the audio; it is the baseline, and the fallback for tracks
        with fewer than 10 complete windows. The method used is printed per track.

        The video is read on its own constant frame grid (variable-rate input is converted at its
        average rate) and each frame's audio follows that grid, so non-25 fps video does not drift.

        Examples:
          lipsync offset interview.mp4
          lipsync offset dub.mp4 --audio new_take.wav --json
        """
    )

    @Argument(help: "Video with one or more faces.") var video: String
    @Option(help: "Take the audio from this file instead of the video's own.") var audio: String?
    @Option(help: "A track id, or 'all'.") var track = "all"
    @OptionGroup var sync: SyncOptions

    func validate() throws {
        guard track == "all" || Int(track) != nil else { throw ValidationError("--track takes a number or 'all'") }
    }

    func run() throws {
        try reportingErrors {
            let signals = try sync.gatherSignals(video: video, audio: audio)
            var results = signals.offsets(vshift: sync.vshift)
            if let id = Int(track) { results = results.filter { $0.track == id } }
            if sync.json { try printJSON(results) }
            guard !results.isEmpty else {
                throw CLIError(description: "\(video): no face track of at least 1 s\(track == "all" ? "" : " with id \(track)")", exitCode: 68)
            }
            if sync.json { return }
            for r in results {
                let ms = abs(r.audioDelayMs), frames = abs(r.audioDelayFrames)
                let what = r.audioDelayFrames == 0 ? "in sync" :
                    String(format: "audio %@ by %.0f ms (%d frame%@)", r.audioDelayFrames > 0 ? "late" : "early", ms, frames, frames == 1 ? "" : "s")
                print(String(format: "track %d  frames %d-%d  %@  confidence %.2f  [%@]", r.track, r.startFrame, r.endFrame, what,
                             r.confidence, r.method.rawValue))
            }
        }
    }
}
