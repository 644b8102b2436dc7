import Foundation

/// Progress on stderr. On a terminal: one line rewritten in place (at most 5 times a second). Into a
/// log (stderr not a terminal): a plain line every few seconds, with no carriage returns. `--quiet`:
/// nothing. Workers of a batch instead print machine lines (`lipsync-progress DONE TOTAL`) that the
/// batch driver folds into its own line.
final class ProgressLine: @unchecked Sendable {
    enum Style { case terminal, log, worker, quiet }

    let style: Style
    private let lock = NSLock()
    private var lastDraw = Date.distantPast
    private var drawn = false
    private let started = Date()

    init(quiet: Bool, worker: Bool = false) {
        style = worker ? .worker : quiet ? .quiet : (isatty(2) != 0 ? .terminal : .log)
    }

    private var interval: TimeInterval {
        switch style {
        case .terminal: return 0.2
        case .log: return 5
        case .worker: return 0.5
        case .quiet: return .infinity
        }
    }

    /// Frame progress of one file: "clip.mp4  43 % (1075/2500 frames)  212 fps  ETA 0m07s".
    func frames(_ done: Int, of total: Int?, file: String, force: Bool = false) {
        guard done > 0 || force else { return }
        if style == .worker {
            guard due(force: force) else { return }
            write("lipsync-progress \(done) \(total ?? 0)\n")
            return
        }
        let elapsed = Date().timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        var s = "\((file as NSString).lastPathComponent)  "
        if let total, total > 0 {
            let f = min(1, Double(done) / Double(total))
            s += String(format: "%3.0f %% (%d/%d frames)  %.0f fps", 100 * f, done, total, rate)
            if rate > 0 { s += "  ETA " + Self.duration(Double(max(0, total - done)) / rate) }
        } else {
            s += String(format: "%d frames  %.0f fps", done, rate)
        }
        show(s, force: force)
    }

    /// A free-form status line (the batch driver's).
    func show(_ line: String, force: Bool = false) {
        guard style == .terminal || style == .log, due(force: force) else { return }
        if style == .terminal {
            write("\r\u{1B}[K" + line)
            lock.withLock { drawn = true }
        } else {
            write(line + "\n")
        }
    }

    /// Ends the in-place line so that what follows starts on a fresh one.
    func finish() {
        let wasDrawn = lock.withLock { () -> Bool in defer { drawn = false }; return drawn }
        if style == .terminal && wasDrawn { write("\r\u{1B}[K") }
    }

    /// A message that must not be overwritten by the next progress update.
    func note(_ line: String) {
        finish()
        write(line + "\n")
    }

    private func due(force: Bool) -> Bool {
        lock.withLock {
            let now = Date()
            guard force || now.timeIntervalSince(lastDraw) >= interval else { return false }
            lastDraw = now
            return true
        }
    }

    private func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }

    /// "1h02m", "3m07s", "12s".
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%dh%02dm", s / 3600, s / 60 % 60) }
        if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return "\(s)s"
    }
}
