import Foundation

/// Every failure the media layer can report. Each renders as one line that names the file.
public enum MediaError: Error, Equatable, CustomStringConvertible {
    case fileNotFound(path: String)
    case isDirectory(path: String)
    case notMedia(path: String, reason: String)
    case truncated(path: String, decodedUntil: Double, expected: Double)
    case noVideoStream(path: String)
    case noAudioStream(path: String)
    case decodeFailed(path: String, at: Double, reason: String)
    case unwritableOutput(path: String, reason: String)
    case encodeFailed(path: String, reason: String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .fileNotFound(let p): return "\(p): no such file"
        case .isDirectory(let p): return "\(p): is a directory, not a media file"
        case .notMedia(let p, let r): return "\(p): not a readable media file (\(r))"
        case .truncated(let p, let got, let want):
            return "\(p): file is truncated: decoding stopped at \(fmt(got)) s of \(fmt(want)) s"
        case .noVideoStream(let p): return "\(p): no video stream"
        case .noAudioStream(let p): return "\(p): no audio stream"
        case .decodeFailed(let p, let t, let r): return "\(p): decoding failed at \(fmt(t)) s (\(r))"
        case .unwritableOutput(let p, let r): return "\(p): cannot write output (\(r))"
        case .encodeFailed(let p, let r): return "\(p): encoding failed (\(r))"
        case .invalidArgument(let m): return m
        }
    }

    /// Process exit status for this error; the table lives in docs/cli.md.
    public var exitCode: Int32 {
        switch self {
        case .fileNotFound, .isDirectory: return 66
        case .notMedia, .truncated, .decodeFailed: return 65
        case .noVideoStream, .noAudioStream: return 67
        case .unwritableOutput, .encodeFailed: return 73
        case .invalidArgument: return 64
        }
    }
}

private func fmt(_ t: Double) -> String { String(format: "%.3f", t) }
