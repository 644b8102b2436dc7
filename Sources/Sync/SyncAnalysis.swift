import Audio
import Foundation
import Media
import NN
import Vision

/// Per-frame signals of a video, gathered in one streaming pass: for every face track its mouth
/// opening per frame, and the speech energy of the audio under each frame. Frame i is the constant-
/// rate grid frame at i / fps, and its audio is the mel columns from Int(i * 80 / fps) up to the next
/// frame's: the mel windows follow the video's own clock, so 29.97 fps does not drift.
public struct SyncSignals: Sendable {
    public var fps: Double
    public var frameCount: Int
    /// Track id -> (first frame, mouth opening per frame from there; NaN where the face was missing).
    public var mouth: [Int: (start: Int, values: [Double])]
    /// Speech-band energy per frame (mean normalised log-mel, bands 5-60, about 150 Hz - 4 kHz).
    public var audio: [Double]
    /// Spectral flux of the speech band's shape per frame (`SpeechEnergy.Columns`); empty when unknown.
    public var spectralFlux: [Double] = []
    /// With a learned model: track id -> each complete 5-frame window's distances to the audio at
    /// shifts -vshift...vshift. A row is 2 * vshift + 1 floats; while the passes run, each window's
    /// 64-float embedding is kept instead (the audio embeddings arrive at the end): memory grows by
    /// about 0.5 KB per frame with the audio's, never by pictures.
    public var learnedRows: [Int: [(start: Int, distances: [Float])]] = [:]
    public var learnedVShift = 0
    /// Packets and frames the decoder skipped or concealed: a damaged file is reported, not read as a clean one.
    public var damage = DecodeDamage()

    /// Reads `video` (and the audio of `audioPath`, default the video's own) in one streaming pass
    /// each, the two at once: the audio pass (mel, and with `model` the audio embeddings, 64 floats
    /// per frame) runs on its own thread beside the video pass, which keeps each mouth window's
    /// 64-float embedding; the distance rows are formed when both are done. Batch-1 networks leave the
    /// second core mostly idle, and this fills it.
    public static func gather(video: String, audioPath: String? = nil, trackerOptions: FaceTracker.Options = .init(),
                              model: SyncNet? = nil, vshift: Int = 15, progress: ((Int) -> Void)? = nil,
                              faces: (([FrameFaces]) -> Void)? = nil) throws -> SyncSignals {
        var options = trackerOptions
        options.keepImages = options.keepImages || model != nil
        options.mouthDescriptors = options.mouthDescriptors || model?.usesMesh == true
        let tracked = try TrackedVideo(path: video, tracker: options)
        let fps = tracked.frameRate
        // Opened here so that a missing or unreadable audio stream fails before any video is decoded.
        let audioReader = try AudioReader(path: audioPath ?? video)
        let audioJob = BackgroundJob { try AudioPass.run(reader: audioReader, fps: fps, model: model) }
        var mouth: [Int: (start: Int, values: [Double])] = [:]
        var windows: [Int: [WindowEmbedding]] = [:]
        let batcher = model.map { VisualBatcher(model: $0) }
        func emit(_ w: WindowEmbedding) { windows[w.track, default: []].append(w) }
        var count = 0
        func take(_ frames: [FrameFaces]) {
            faces?(frames)
            for f in frames {
                count = max(count, f.frame + 1)
                for o in f.faces {
                    var entry = mouth[o.track] ?? (f.frame, [])
                    while entry.start + entry.values.count < f.frame { entry.values.append(.nan) }
                    entry.values.append(o.mouthOpening)
                    mouth[o.track] = entry
                    guard let batcher, let image = f.image else { continue }
                    batcher.push(track: o.track, frame: f.frame, MouthFeatures.extract(image, landmarks: o.landmarks, lips: o.rawLandmarks, mesh: o.mouthDescriptor), emit: emit)
                }
                batcher?.forget(tracksNotIn: Set(f.faces.map(\.track)))
            }
            progress?(count)
        }
        do {
            try tracked.forEachBatch(take)
        } catch {
            _ = try? audioJob.wait()
            throw error
        }
        batcher?.flush(emit)
        let audioPass = try audioJob.wait()
        var rows: [Int: [(start: Int, distances: [Float])]] = [:]
        for (track, list) in windows {
            rows[track] = list.map { w in
                (w.start, LearnedSync.distanceRow(.init(start: w.start, embedding: w.embedding), audio: audioPass.embeddings, vshift: vshift))
            }
        }
        let speech = audioPass.speech.perFrame(fps: fps, frames: count)
        var s = SyncSignals(fps: fps, frameCount: count, mouth: mouth, audio: speech.energy)
        s.spectralFlux = speech.flux
        for k in rows.keys { rows[k]!.sort { $0.start < $1.start } }
        s.learnedRows = rows
        s.learnedVShift = model == nil ? 0 : vshift
        s.damage = tracked.reader.damage
        return s
    }

    /// Speech-band energy and spectral flux per video frame, streamed through the mel front end
    /// (what `SyncDetector.speechFraction` reads).
    public static func speechEvidence(path: String, fps: Double, frames: Int) throws -> (energy: [Double], flux: [Double]) {
        try AudioPass.run(path: path, fps: fps, model: nil).speech.perFrame(fps: fps, frames: frames)
    }

    /// The same for 16 kHz mono samples in memory, one reading per frame of their length.
    public static func speechEvidence(samples: [Float], fps: Double) -> (energy: [Double], flux: [Double]) {
        var columns = SpeechEnergy.Columns()
        columns.push(SpeechEnergy.mel.compute(samples))
        return columns.perFrame(fps: fps, frames: Int(Double(samples.count) / Double(AudioReader.defaultSampleRate) * fps))
    }

    /// One track's mouth opening laid on the whole frame grid (NaN outside the track), so shifted
    /// audio may reach beyond the track's ends.
    public func mouthOnGrid(track id: Int) -> (frames: Range<Int>, values: [Double])? {
        guard let (start, values) = mouth[id] else { return nil }
        var full = [Double](repeating: .nan, count: max(frameCount, start + values.count))
        for (k, v) in values.enumerated() { full[start + k] = v }
        return (start..<(start + values.count), full)
    }

    /// The offset of the longest track (what a single-speaker clip is judged by), if any.
    public static func gatherLongest(_ s: SyncSignals, vshift: Int = 15) -> TrackOffset? {
        s.offsets(vshift: vshift).max { ($0.endFrame - $0.startFrame) < ($1.endFrame - $1.startFrame) }
    }

    /// Windows the learned model needs before its estimate replaces the correlation fallback.
    public static let minimumLearnedWindows = 10

    /// Offsets for every track with at least `minimumSeconds` of measured frames: learned where the
    /// model scored enough windows (and `vshift` fits the rows gathered), correlation otherwise.
    public func offsets(vshift: Int, minimumSeconds: Double = 1.0) -> [TrackOffset] {
        mouth.keys.sorted().compactMap { id in
            guard let (frames, full) = mouthOnGrid(track: id),
                  Double(full.filter { !$0.isNaN }.count) >= minimumSeconds * fps else { return nil }
            var o: TrackOffset
            if let r = learnedRows[id], r.count >= Self.minimumLearnedWindows, vshift <= learnedVShift {
                let cut = learnedVShift - vshift
                let rows = r.map { (start: $0.start, distances: Array($0.distances[cut..<($0.distances.count - cut)])) }
                o = LearnedSync.estimate(track: id, frames: frames, rows: rows, fps: fps, vshift: vshift)
            } else {
                o = CorrelationOffset.estimate(track: id, frames: frames, mouth: full, audio: audio, fps: fps, vshift: vshift)
            }
            o.mouthActivity = Self.activity(full.filter { !$0.isNaN })
            o.unreliable = SyncDetector().unreliability(of: o)
            return o
        }
    }

    /// The 10th-90th percentile range of a track's mouth openings.
    static func activity(_ opening: [Double]) -> Double? {
        guard opening.count >= 2 else { return nil }
        let s = opening.sorted()
        return s[Int(0.9 * Double(s.count - 1))] - s[Int(0.1 * Double(s.count - 1))]
    }
}

/// One streaming pass over the audio: the speech-band energy and flux columns (the correlation
/// method and voice activity) and, with a model, the unit audio embedding of every frame's 16-column
/// window.
struct AudioPass {
    var speech = SpeechEnergy.Columns()
    var embeddings: [Float] = []

    static func run(path: String, fps: Double, model: SyncNet?, chunk: Int = 160_000) throws -> AudioPass {
        try run(reader: try AudioReader(path: path), fps: fps, model: model, chunk: chunk)
    }

    static func run(reader: AudioReader, fps: Double, model: SyncNet?, chunk: Int = 160_000) throws -> AudioPass {
        let stream = MelStream(SpeechEnergy.mel)
        var pass = AudioPass()
        let embedder = model.map { AudioEmbedder(model: $0, fps: fps) }
        func take(_ m: MelFrames) {
            pass.speech.push(m)
            embedder?.push(m)
        }
        while let samples = try reader.read(maxSamples: chunk) { take(stream.push(samples)) }
        take(stream.finish())
        pass.embeddings = embedder?.finish() ?? []
        return pass
    }
}

/// The audio feature the correlation method compares with the mouth: mean normalised log-mel over
/// bands 5-60 (about 150 Hz - 4 kHz), averaged over each video frame's mel columns.
enum SpeechEnergy {
    /// One spectrogram configuration for every caller: its FFT plan and filterbank are built once.
    static let mel = MelSpectrogram()

    static let bands = 5..<60

    /// The speech band's mean level in column `t` (what the correlation method compares with the mouth).
    static func level(_ m: MelFrames, column t: Int) -> Double {
        bands.reduce(0.0) { $0 + Double(m[column: t, band: $1]) } / Double(bands.count)
    }

    /// Per mel column: the speech band's mean level, and its spectral flux, the mean absolute change
    /// of the band's *shape* (each band minus the column's mean, so loudness changes do not count)
    /// against the column two hops (25 ms) earlier. Speech moves its formants every few tens of
    /// milliseconds (flux 0.28-0.44 on GRID and CREMA-D); held musical notes barely change shape
    /// (0.02-0.06). Noise changes shape at random (about 0.26), which is why voice activity also asks
    /// for syllabic level modulation. Streams: only the last two columns' shapes are kept.
    struct Columns {
        var energy: [Double] = []
        var flux: [Double] = []
        private var previous: [[Double]] = []

        mutating func push(_ m: MelFrames) {
            for t in 0..<m.count {
                let level = SpeechEnergy.level(m, column: t)
                let shape = bands.map { Double(m[column: t, band: $0]) - level }
                energy.append(level)
                if previous.count == 2 {
                    flux.append(zip(shape, previous[0]).reduce(0.0) { $0 + abs($1.0 - $1.1) } / Double(bands.count))
                    previous.removeFirst()
                } else {
                    flux.append(0)
                }
                previous.append(shape)
            }
        }

        /// Both readings averaged over each video frame's columns (`SpeechEnergy.perFrame`).
        func perFrame(fps: Double, frames: Int) -> (energy: [Double], flux: [Double]) {
            (SpeechEnergy.perFrame(energy, fps: fps, frames: frames), SpeechEnergy.perFrame(flux, fps: fps, frames: frames))
        }
    }

    /// Frame i averages columns Int(i * 80 / fps) up to the next frame's (at least one); NaN past the end.
    static func perFrame(_ perColumn: [Double], fps: Double, frames: Int) -> [Double] {
        (0..<frames).map { i in
            let lo = MelFrames.windowStart(frame: i, fps: fps), hi = max(lo + 1, MelFrames.windowStart(frame: i + 1, fps: fps))
            guard lo < perColumn.count else { return .nan }
            let slice = perColumn[lo..<min(hi, perColumn.count)]
            return slice.reduce(0, +) / Double(slice.count)
        }
    }
}

/// A computation on its own thread; `wait()` returns its value or rethrows its error.
final class BackgroundJob<T>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<T, Error>?

    init(_ work: @escaping () throws -> T) {
        nonisolated(unsafe) let work = work
        let t = Thread { [self] in
            self.result = Result { try work() }
            self.done.signal()
        }
        t.stackSize = 8 << 20
        t.start()
    }

    func wait() throws -> T {
        done.wait()
        done.signal()
        return try result!.get()
    }
}
