import ArgumentParser
import Foundation
import Media

struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a media file: container, duration, video and audio streams.",
        discussion: """
        Reads the header and the first video packets' timestamps (nothing is decoded) to report the average frame rate and whether it varies. `rotation_clockwise` is the turn applied to show the picture upright, as ffmpeg's autorotate does.

        Example:
          lipsync probe fixtures/media/sync_h264_aac.mp4
          lipsync probe clip.mov --json
        """
    )

    @Argument(help: "Any file ffmpeg reads: video, audio or a still image.")
    var file: String

    @Flag(help: "Print JSON for machines instead of text.")
    var json = false

    func run() throws {
        try reportingErrors {
            let info = try MediaInfo(probing: file)
            if json { try printJSON(info); return }
            print(Self.describe(info))
        }
    }

    static func describe(_ i: MediaInfo) -> String {
        var lines = ["\(i.path)", "  container  \(i.container)"]
        lines.append("  duration   " + (i.duration.map { String(format: "%.3f s", $0) } ?? "unknown"))
        if let v = i.video {
            var s = "  video      \(v.codec) \(v.width)x\(v.height) " + String(format: "%.3f fps", v.averageFPS)
            s += v.variableFrameRate ? " (variable)" : " (constant)"
            if v.rotationClockwise != 0 { s += ", rotated \(v.rotationClockwise)° clockwise for display" }
            lines.append(s)
        } else {
            lines.append("  video      none")
        }
        if let a = i.audio {
            lines.append("  audio      \(a.codec) \(a.sampleRate) Hz, \(a.channels) channel\(a.channels == 1 ? "" : "s")")
        } else {
            lines.append("  audio      none")
        }
        if let g = i.generatedBy { lines.append("  generated  \(g) (LipSync's provenance mark; a file without it proves nothing)") }
        return lines.joined(separator: "\n")
    }
}
