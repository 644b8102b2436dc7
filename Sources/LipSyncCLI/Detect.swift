import ArgumentParser
import Foundation
import Media
import Sync
import Vision

struct Detect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Say whether the speech belongs to the face on screen, and in sync: a verdict and exit code.",
        discussion: """
        Verdicts (exit code): in-sync (0), offset (10: the delay is named), mismatched (11: the
        speech does not belong to this face), no-face (12), no-speech (13: energy voice-activity
        detection finds speech in under 10 % of frames). Per track and overall (the longest track).

        Method `correlation` only, for now, with thresholds calibrated on held-out GRID s1: at its
        5 % false-alarm rate it catches only 7-9 % of swapped speech, and in-sync clips read as offset
        8 % (GRID) to 26 % (unseen speakers) of the time (docs/sync.md). Treat `mismatched` as weak
        evidence until the learned model ships.

        Examples:
          lipsync detect clip.mp4 && echo ok
          lipsync detect dub.mp4 --audio new_take.wav --json
        """
    )

    @Argument(help: "Video with one or more faces.") var video: String
    @Option(help: "Judge this audio against the video instead of its own.") var audio: String?
    @Option(help: "Largest shift tried, in frames, each way.") var vshift = 15
    @Flag(help: "Print JSON for machines.") var json = false

    func run() throws {
        var verdict = SyncVerdict.inSync
        try reportingErrors {
            let signals: SyncSignals
            do { signals = try SyncSignals.gather(video: video, audioPath: audio) } catch let e as VisionError {
                throw CLIError(description: "\(e)", exitCode: 70)
            }
            let report = SyncDetector().judge(signals, vshift: vshift)
            verdict = report.verdict
            if json { try printJSON(report); return }
            for t in report.tracks {
                let o = t.offset
                var line = String(format: "track %d  frames %d-%d  %@", t.track, o.startFrame, o.endFrame, t.verdict.rawValue)
                if t.verdict == .offset { line += String(format: " (audio %@ by %.0f ms)", o.audioDelayMs > 0 ? "late" : "early", abs(o.audioDelayMs)) }
                line += String(format: "  confidence %.2f", o.confidence)
                print(line)
            }
            print("\(video): \(report.verdict.rawValue)")
        }
        if verdict != .inSync { throw ExitCode(verdict.exitCode) }
    }
}
