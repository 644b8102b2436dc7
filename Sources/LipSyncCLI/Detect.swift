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

        The mismatch threshold of each method is the 5th percentile of its confidence on matched
        held-out GRID s1 clips (5 % false alarms there); the rates it gives on unseen speakers are in
        docs/sync.md.

        Examples:
          lipsync detect clip.mp4 && echo ok
          lipsync detect dub.mp4 --audio new_take.wav --json
        """
    )

    @Argument(help: "Video with one or more faces.") var video: String
    @Option(help: "Judge this audio against the video instead of its own.") var audio: String?
    @Option(help: "Largest shift tried, in frames, each way.") var vshift = 15
    @Option(help: "How to score alignment: learned or correlation.") var method: SyncMethod = .learned
    @Flag(help: "Print JSON for machines.") var json = false

    func run() throws {
        var verdict = SyncVerdict.inSync
        try reportingErrors {
            let signals = try gatherSignals(video: video, audio: audio, method: method, vshift: vshift)
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
