import ArgumentParser
import Foundation
import Media
import Sync
import Vision

// Batch scoring: many inputs, one record per file. Every file is scored by a worker process (this
// same executable, on one file, with --json), so a file that crashes a decoder costs its own
// record, never the batch, and memory cannot creep up over ten thousand files.

/// The options of every command that scores many files.
struct BatchOptions: ParsableArguments {
    @Option(help: "Write one JSON record per file to this file as soon as the file is done (JSON lines).") var jsonl: String?
    @Option(help: "Files scored in parallel (each worker runs its audio and video passes on a thread each).") var jobs = 1
    @Flag(help: "Skip files that already have a record in --jsonl (same path, size and modification time), so a killed run continues where it stopped.") var resume = false
    @Option(help: "Take only shard K of N (K = 0 ... N-1) of the sorted input list: every N-th file from the K-th. The N shards together are the whole list, with no file twice (Slurm: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT with --array=0-(N-1)).") var shard: Shard?
    @Flag(help: "No progress on stderr.") var quiet = false
    @Flag(help: .hidden) var worker = false

    func validate() throws {
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 64") }
        if resume && jsonl == nil { throw ValidationError("--resume needs --jsonl (the records to resume from)") }
    }

    /// One file given as a plain file, with no batch option: the single-file form.
    func isSingleFile(_ inputs: [String]) -> Bool {
        guard inputs.count == 1, jsonl == nil, shard == nil, !inputs[0].hasPrefix("@") else { return false }
        var dir: ObjCBool = false
        return !(FileManager.default.fileExists(atPath: inputs[0], isDirectory: &dir) && dir.boolValue)
    }
}

/// K/N: a stable 1/N of a sorted list.
struct Shard: ExpressibleByArgument, Equatable {
    var index: Int
    var count: Int

    init?(argument: String) {
        let parts = argument.split(separator: "/")
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n >= 1, (0..<n).contains(k) else { return nil }
        (index, count) = (k, n)
    }

    init(index: Int, count: Int) { (self.index, self.count) = (index, count) }

    /// Round-robin over the sorted list: balanced, and a file's shard depends only on the list.
    func select(_ sorted: [String]) -> [String] {
        sorted.enumerated().filter { $0.offset % count == index }.map(\.element)
    }
}

/// Files, directories (searched recursively for media files) and @list files (one path per line,
/// # comments), expanded into one sorted list without duplicates.
enum InputList {
    static let mediaExtensions: Set<String> = ["mp4", "mov", "m4v", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "mts", "m2ts",
                                               "flv", "wmv", "3gp", "mxf", "ogv", "dv"]

    static func expand(_ arguments: [String]) throws -> [String] {
        var out: [String] = []
        for a in arguments {
            if a.hasPrefix("@") {
                let list = String(a.dropFirst())
                guard let text = try? String(contentsOfFile: list, encoding: .utf8) else {
                    throw CLIError(description: "\(list): cannot read the list of inputs", exitCode: 66)
                }
                let base = (list as NSString).deletingLastPathComponent
                for line in text.split(whereSeparator: \.isNewline) {
                    let p = line.trimmingCharacters(in: .whitespaces)
                    guard !p.isEmpty, !p.hasPrefix("#") else { continue }
                    // Relative entries are relative to the list, so a list travels with its files.
                    out.append(p.hasPrefix("/") || base.isEmpty ? p : base + "/" + p)
                }
                continue
            }
            var dir: ObjCBool = false
            if FileManager.default.fileExists(atPath: a, isDirectory: &dir), dir.boolValue {
                out += mediaFiles(in: a)
            } else {
                // Missing files stay in the list: each becomes a failure record naming it.
                out.append(a)
            }
        }
        return Array(Set(out)).sorted()
    }

    static func mediaFiles(in directory: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: directory) else { return [] }
        var found: [String] = []
        let base = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        while let rel = e.nextObject() as? String {
            let ext = (rel as NSString).pathExtension.lowercased()
            guard mediaExtensions.contains(ext), !(rel as NSString).lastPathComponent.hasPrefix(".") else { continue }
            found.append(base + "/" + rel)
        }
        return found
    }
}

/// The file facts that decide whether a record is still current.
struct FileStamp: Equatable {
    var size: Int64
    var mtime: Double

    init?(path: String) {
        guard let a = try? FileManager.default.attributesOfItem(atPath: path),
              let size = (a[.size] as? NSNumber)?.int64Value, let date = a[.modificationDate] as? Date else { return nil }
        self.size = size
        mtime = date.timeIntervalSince1970
    }

    init(size: Int64, mtime: Double) { (self.size, self.mtime) = (size, mtime) }
}

/// The envelope every offset and detect record shares, single-file `--json` and batch lines alike.
struct FileRecord<Track: Codable & Sendable>: Codable, Sendable {
    struct ModelRef: Codable, Sendable {
        var file: String
        var format: String
    }
    struct Failure: Codable, Sendable {
        var code: Int32
        var message: String
    }

    var file: String
    var fileSize: Int64?
    var fileMtime: Double?
    var durationS: Double?
    var fps: Double?
    var frames: Int?
    var method: String
    var model: ModelRef?
    var lipsyncVersion = LipSync.version
    var tracks: [Track] = []
    /// detect only.
    var verdict: SyncVerdict?
    var speechFraction: Double?
    var speakingTrack: Int?
    var generatedBy: String?
    var damage: DecodeDamage?
    var error: Failure?
    var elapsedS = 0.0

    init(file: String, options: SyncOptions) {
        self.file = file
        method = options.method.rawValue
        if let m = options.modelPath { model = ModelRef(file: m, format: "safetensors") }
        if let s = FileStamp(path: file) { (fileSize, fileMtime) = (s.size, s.mtime) }
        if let info = try? MediaInfo(probing: file) {
            durationS = info.duration
            fps = info.video?.averageFPS
            generatedBy = info.generatedBy
        }
    }
}

/// What the driver needs to read back from any record, of either command.
struct RecordHeader: Decodable {
    struct Failure: Decodable { var code: Int32; var message: String }
    var file: String
    var fileSize: Int64?
    var fileMtime: Double?
    var verdict: String?
    var error: Failure?

    /// The file facts the record was made from, if it carries them.
    var stamp: FileStamp? {
        guard let fileSize, let fileMtime else { return nil }
        return FileStamp(size: fileSize, mtime: fileMtime)
    }
}

func recordDecoder() -> JSONDecoder {
    let d = JSONDecoder()
    d.keyDecodingStrategy = .convertFromSnakeCase
    return d
}

func compactJSON<T: Encodable>(_ value: T) throws -> Data {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    enc.keyEncodingStrategy = .convertToSnakeCase
    return try enc.encode(value)
}

/// Runs one command over many files with worker processes, writes records, prints progress and
/// the summary, and exits with the batch's code (docs/cli.md): 0, 20 if any file failed, 21 if
/// none failed but some detect verdict is not in-sync.
struct BatchRunner {
    /// The subcommand and the options every worker gets after the file name.
    var command: String
    var workerArguments: [String]
    var options: BatchOptions
    /// Builds the record of a worker that died without writing one.
    var crashRecord: @Sendable (_ file: String, _ failure: (code: Int32, message: String), _ elapsed: Double) throws -> Data
    /// Prints a record's human-readable lines (batch without --json).
    var printHuman: @Sendable (Data) -> Void
    var json: Bool

    /// A runner for one record type: a worker that died without a record gets one with its failure,
    /// and records are decoded for the human-readable lines.
    static func scoring<Track: Codable & Sendable>(_: Track.Type, command: String, workerArguments: [String], batch: BatchOptions,
                                                   sync: SyncOptions, printHuman: @escaping @Sendable (FileRecord<Track>) -> Void) -> BatchRunner {
        BatchRunner(command: command, workerArguments: workerArguments, options: batch, crashRecord: { file, failure, elapsed in
            var r = FileRecord<Track>(file: file, options: sync)
            r.error = .init(code: failure.code, message: failure.message)
            r.elapsedS = elapsed
            return try compactJSON(r)
        }, printHuman: { data in
            if let r = try? recordDecoder().decode(FileRecord<Track>.self, from: data) { printHuman(r) }
        }, json: sync.json)
    }

    /// Scores every input; ends with the batch's exit code (thrown as `ExitCode` when not 0).
    func run(inputs: [String]) throws {
        var files = try InputList.expand(inputs)
        if let shard = options.shard { files = shard.select(files) }
        guard !files.isEmpty else { throw CLIError(description: "\(inputs.joined(separator: " ")): no media files found", exitCode: 66) }
        let sink = try options.jsonl.map { try RecordSink(path: $0, resume: options.resume) }
        var todo = files
        if let sink, options.resume {
            todo = files.filter { f in
                guard let have = sink.headers[f]?.stamp, let now = FileStamp(path: f) else { return true }
                return have != now
            }
        }
        let progress = ProgressLine(quiet: options.quiet)
        if todo.count < files.count {
            progress.note("\(files.count - todo.count) of \(files.count) files already have current records in \(options.jsonl!): skipped")
        }
        let state = BatchState(files: todo, progress: progress)
        // A resumed batch ends with the verdict an uninterrupted one would have: the records kept
        // from before count in the exit code and the summary.
        if let sink {
            let pending = Set(todo)
            for f in files where !pending.contains(f) { if let h = sink.headers[f] { state.count(earlier: h) } }
        }
        let exe = ModelLocator.executable.path
        let (command, workerArguments, crashRecord, printHuman, json) = (command, workerArguments, crashRecord, printHuman, json)
        let echoHuman = sink == nil || !options.quiet
        let run = { @Sendable (worker: Int) in
            while let (index, file) = state.next() {
                let started = Date()
                let result = Self.score(exe: exe, arguments: [command, file] + workerArguments + ["--json", "--worker"]) { done, total in state.update(worker: worker, index: index, done: done, total: total) }
                var line = result.record
                var header = line.flatMap { try? recordDecoder().decode(RecordHeader.self, from: $0) }
                if header == nil {
                    line = try? crashRecord(file, result.failure, Date().timeIntervalSince(started))
                    header = line.flatMap { try? recordDecoder().decode(RecordHeader.self, from: $0) }
                }
                state.finish(worker: worker, index: index, record: line ?? Data(), header: header, sink: sink, echo: { data in
                    if json { FileHandle.standardOutput.write(data + Data("\n".utf8)) } else if echoHuman { printHuman(data) }
                })
            }
        }
        WorkerRegistry.shared.stopWorkersOnInterrupt()
        let group = DispatchGroup()
        for w in 0..<min(options.jobs, todo.count) {
            group.enter()
            Thread { run(w); group.leave() }.start()
        }
        group.wait()
        progress.finish()
        let summary = state.summary(command: command)
        if !options.quiet || state.failed > 0 { FileHandle.standardError.write(Data((summary + "\n").utf8)) }
        if state.failed > 0 { throw ExitCode(20) }
        if state.flagged > 0 { throw ExitCode(21) }
    }

    /// One worker process on one file: its stdout record (if it wrote one), and its failure as the
    /// last error line and exit status.
    static func score(exe: String, arguments: [String],
                      progress: @escaping @Sendable (Int, Int) -> Void) -> (record: Data?, failure: (code: Int32, message: String)) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = arguments
        // Each worker runs its audio and video passes on one engine thread each (SyncOptions).
        p.environment = ProcessInfo.processInfo.environment
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        let lastError = LockedBox("")
        let errDone = DispatchSemaphore(value: 0)
        do { try p.run() } catch {
            return (nil, (70, "\(arguments[1]): cannot start a worker (\(error))"))
        }
        WorkerRegistry.shared.add(p.processIdentifier)
        defer { WorkerRegistry.shared.remove(p.processIdentifier) }
        Thread {
            var pending = Data()
            while true {
                let chunk = err.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                pending += chunk
                while let nl = pending.firstIndex(of: 10) {
                    let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                    pending = Data(pending[(nl + 1)...])
                    let f = line.split(separator: " ")
                    if f.count == 3, f[0] == "lipsync-progress", let d = Int(f[1]), let t = Int(f[2]) {
                        progress(d, t)
                    } else if line.hasPrefix("lipsync: error: ") {
                        lastError.value = String(line.dropFirst("lipsync: error: ".count))
                    }
                }
            }
            errDone.signal()
        }.start()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        errDone.wait()
        let status = p.terminationStatus
        var failure: (Int32, String)
        if p.terminationReason == .uncaughtSignal {
            failure = (70, "\(arguments[1]): the worker died of signal \(status) (please report it)")
        } else {
            failure = (status, lastError.value.isEmpty ? "\(arguments[1]): the worker exited with status \(status) and no record" : lastError.value)
        }
        let line = data.split(separator: 10).last.map { Data($0) }
        return (line, failure)
    }
}

/// The shared state of a batch's workers: the queue, per-worker progress, counts, the sink.
final class BatchState: @unchecked Sendable {
    private let lock = NSLock()
    private let files: [String]
    private let sizes: [Int64]
    private let progress: ProgressLine
    private var nextIndex = 0
    private var current: [Int: (index: Int, done: Int, total: Int)] = [:]
    private(set) var finished = 0
    private(set) var failed = 0
    private(set) var flagged = 0
    private var verdicts: [String: Int] = [:]
    private var bytesDone: Int64 = 0
    private let totalBytes: Int64
    private let started = Date()

    init(files: [String], progress: ProgressLine) {
        self.files = files
        self.progress = progress
        sizes = files.map { FileStamp(path: $0)?.size ?? 0 }
        totalBytes = max(1, sizes.reduce(0, +))
    }

    func next() -> (Int, String)? {
        lock.withLock {
            guard nextIndex < files.count else { return nil }
            defer { nextIndex += 1 }
            return (nextIndex, files[nextIndex])
        }
    }

    func update(worker: Int, index: Int, done: Int, total: Int) {
        lock.withLock { current[worker] = (index, done, total) }
        draw(force: false)
    }

    private var earlier = 0

    func count(earlier h: RecordHeader) {
        lock.withLock {
            earlier += 1
            tally(h)
        }
    }

    private func tally(_ h: RecordHeader?) {
        if let h, h.error != nil {
            failed += 1
        } else if let v = h?.verdict {
            verdicts[v, default: 0] += 1
            if v != SyncVerdict.inSync.rawValue { flagged += 1 }
        }
    }

    func finish(worker: Int, index: Int, record: Data, header: RecordHeader?, sink: RecordSink?, echo: (Data) -> Void) {
        lock.withLock {
            current[worker] = nil
            finished += 1
            bytesDone += sizes[index]
            tally(header)
            if let e = header?.error { progress.note("lipsync: error: \(e.message)") }
            sink?.append(record)
            echo(record)
        }
        draw(force: false)
    }

    /// "files 12/340 (1 failed)  clip.mp4 43 %  3.1 files/s  ETA 1m50s".
    private func draw(force: Bool) {
        let line: String = lock.withLock {
            let elapsed = Date().timeIntervalSince(started)
            // Progress in bytes: a file's size is known without opening it, and decoding cost
            // follows it more closely than a file count does.
            var bytes = Double(bytesDone)
            var parts: [String] = []
            for (_, c) in current.sorted(by: { $0.key < $1.key }) where c.total > 0 {
                let f = min(1, Double(c.done) / Double(c.total))
                bytes += f * Double(sizes[c.index])
                parts.append(String(format: "%@ %.0f %%", (files[c.index] as NSString).lastPathComponent, 100 * f))
            }
            var s = "files \(finished)/\(files.count)" + (failed > 0 ? " (\(failed) failed)" : "")
            if !parts.isEmpty { s += "  " + parts.joined(separator: ", ") }
            if elapsed > 0 { s += String(format: "  %.2f files/s", Double(finished) / elapsed) }
            let fraction = bytes / Double(totalBytes)
            if fraction > 0.005 { s += "  ETA " + ProgressLine.duration(elapsed * (1 - fraction) / fraction) }
            return s
        }
        progress.show(line, force: force)
    }

    func summary(command: String) -> String {
        lock.withLock {
            let elapsed = Date().timeIntervalSince(started)
            var s = "\(finished) file\(finished == 1 ? "" : "s") in \(ProgressLine.duration(elapsed))"
            s += String(format: " (%.2f files/s)", elapsed > 0 ? Double(finished) / elapsed : 0)
            if earlier > 0 { s += " and \(earlier) from earlier records" }
            if command == "detect" {
                let order = SyncVerdict.allCases.map(\.rawValue)
                let counts = verdicts.sorted { (order.firstIndex(of: $0.key) ?? 99) < (order.firstIndex(of: $1.key) ?? 99) }
                if !counts.isEmpty { s += ": " + counts.map { "\($0.value) \($0.key)" }.joined(separator: ", ") }
            } else {
                s += ": \(finished + earlier - failed) measured"
            }
            s += failed > 0 ? "; \(failed) failed (their records carry the error)" : "; none failed"
            return s
        }
    }
}

/// The JSON-lines output: appended one record at a time and flushed, so that a killed run leaves
/// every finished record. With resume, the records already there are indexed and a partial last
/// line (the run was killed mid-write) is cut off.
final class RecordSink: @unchecked Sendable {
    let path: String
    private let handle: FileHandle
    /// The last record of each file already in the output (resume).
    private(set) var headers: [String: RecordHeader] = [:]

    init(path: String, resume: Bool) throws {
        self.path = path
        let fm = FileManager.default
        var dir: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &dir), dir.boolValue {
            throw CLIError(description: "\(path): is a directory, not a file for records", exitCode: 73)
        }
        if resume, let data = fm.contents(atPath: path) {
            let complete = data.lastIndex(of: 10).map { data.index(after: $0) } ?? data.startIndex
            let decoder = recordDecoder()
            for line in data[..<complete].split(separator: 10) {
                guard let h = try? decoder.decode(RecordHeader.self, from: Data(line)), h.stamp != nil else { continue }
                headers[h.file] = h
            }
            if complete < data.endIndex { truncate(path, off_t(complete)) }
        } else if !fm.createFile(atPath: path, contents: nil) {
            throw CLIError(description: "\(path): cannot write records (missing or read-only directory)", exitCode: 73)
        }
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw CLIError(description: "\(path): cannot write records (permission denied)", exitCode: 73)
        }
        handle = h
        handle.seekToEndOfFile()
    }

    func append(_ record: Data) {
        handle.write(record + Data("\n".utf8))
        try? handle.synchronize()
    }
}

/// The running workers, so that an interrupted batch (Ctrl-C, a scheduler's SIGTERM) stops them
/// too instead of leaving them running without anyone to collect their records.
final class WorkerRegistry: @unchecked Sendable {
    static let shared = WorkerRegistry()
    private let lock = NSLock()
    private var running = Set<Int32>()
    private var sources: [DispatchSourceSignal] = []

    func add(_ pid: Int32) { lock.withLock { _ = running.insert(pid) } }
    func remove(_ pid: Int32) { lock.withLock { _ = running.remove(pid) } }

    func stopWorkersOnInterrupt() {
        lock.withLock {
            guard sources.isEmpty else { return }
            for sig in [SIGINT, SIGTERM] {
                signal(sig, SIG_IGN)
                let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                s.setEventHandler { [weak self] in
                    let pids = self?.lock.withLock { self?.running ?? [] } ?? []
                    for pid in pids { kill(pid, SIGTERM) }
                    FileHandle.standardError.write(Data("\nlipsync: interrupted: \(pids.count) running file\(pids.count == 1 ? "" : "s") stopped; finished records are kept (--resume continues)\n".utf8))
                    exit(128 + sig)
                }
                s.resume()
                sources.append(s)
            }
        }
    }
}

/// A value shared between threads behind a lock.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ v: T) { stored = v }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
