import Foundation

/// Outputs are written to a hidden temporary file beside the target and renamed into place only when
/// complete, so a failed or interrupted run never leaves a half-written file at the target.
public enum AtomicOutput {
    /// `.NAME.partial.PID.EXT` in the target's directory; the extension is kept because muxers pick
    /// the container from it.
    public static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension.isEmpty ? "" : ".\(url.pathExtension)"
        return url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.deletingPathExtension().lastPathComponent).partial.\(getpid())\(ext)").path
    }

    /// Moves the finished temporary file over `path` in one step (rename replaces an existing file
    /// atomically; there is no moment without a file at the target).
    public static func commit(_ temporary: String, to path: String) throws {
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw MediaError.unwritableOutput(path: path, reason: reason)
        }
    }

    /// Deletes an abandoned temporary file, if any.
    public static func discard(_ temporary: String) {
        if FileManager.default.fileExists(atPath: temporary) { try? FileManager.default.removeItem(atPath: temporary) }
    }
}
