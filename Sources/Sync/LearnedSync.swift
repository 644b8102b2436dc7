import Audio
import Foundation
import Media
import NN
import Vision

/// Offset search with the learned model, as syncnet_python does it: every 5-frame mouth window is
/// compared with the audio window at each shift; the distance (1 - cosine) is averaged over windows;
/// the best shift is the minimum and the confidence is median - minimum.
public enum LearnedSync {
    /// A window's visual embedding (unit length) and the first frame of its window.
    public struct VisualWindow: Sendable {
        public var start: Int
        public var embedding: [Float]
    }

    /// Unit-length audio embeddings of every frame whose 16-column mel window lies inside `mel`,
    /// frame after frame (64 floats each).
    public static func audioEmbeddings(_ mel: MelFrames, fps: Double, model: SyncNet) -> [Float] {
        let embedder = AudioEmbedder(model: model, fps: fps)
        embedder.push(mel)
        return embedder.finish()
    }

    /// Visual embeddings of every complete window of a cached clip, and its audio embeddings.
    public static func embeddings(of clip: ClipFeatures, model: SyncNet) -> (visual: [VisualWindow], audio: [Float]) {
        let batcher = VisualBatcher(model: model)
        var visual: [VisualWindow] = []
        clip.crops.withUnsafeBufferPointer { c in
            for s in clip.windowStarts {
                let frames = (0..<SyncNet.frames).map { c.baseAddress! + (s + $0) * ClipFeatures.cropSize }
                let g = Array(clip.geometry[(s * MouthFeatures.geometryCount)..<((s + SyncNet.frames) * MouthFeatures.geometryCount)])
                let m = Array(clip.mesh[(s * ClipFeatures.meshCount)..<((s + SyncNet.frames) * ClipFeatures.meshCount)])
                batcher.add(track: 0, start: s, crops: frames, geometry: g, mesh: m) { visual.append(VisualWindow(start: $0.start, embedding: $0.embedding)) }
            }
        }
        batcher.flush { visual.append(VisualWindow(start: $0.start, embedding: $0.embedding)) }
        return (visual, audioEmbeddings(clip.mel, fps: clip.fps, model: model))
    }

    /// Distances 1 - cos between a window and the audio `s` frames later, for s in -vshift...vshift
    /// (NaN where that audio does not exist).
    public static func distanceRow(_ v: VisualWindow, audio: [Float], vshift: Int, audioShift: Int = 0) -> [Float] {
        let d = SyncNet.embedding, frames = audio.count / d
        return (-vshift...vshift).map { s in
            let j = v.start + s - audioShift
            guard j >= 0 && j < frames else { return .nan }
            var dot: Float = 0
            for k in 0..<d { dot += v.embedding[k] * audio[j * d + k] }
            return 1 - dot
        }
    }

    /// Mean distance per shift over all windows (audio moved `audioShift` frames later first).
    public static func curve(visual: [VisualWindow], audio: [Float], audioShift: Int = 0, vshift: Int) -> [Double] {
        meanCurve(visual.map { distanceRow($0, audio: audio, vshift: vshift, audioShift: audioShift) }, vshift: vshift)
    }

    static func meanCurve(_ rows: [[Float]], vshift: Int) -> [Double] {
        (0...(2 * vshift)).map { s in
            var sum = 0.0, n = 0
            for r in rows where !r[s].isNaN { sum += Double(r[s]); n += 1 }
            return n == 0 ? 2 : sum / Double(n)
        }
    }

    /// The offset of one track from its windows' distance rows (window start, distances over shifts).
    public static func estimate(track: Int, frames: Range<Int>, rows: [(start: Int, distances: [Float])], fps: Double, vshift: Int) -> TrackOffset {
        let curve = meanCurve(rows.map(\.distances), vshift: vshift)
        let best = curve.indices.min { curve[$0] < curve[$1] } ?? vshift
        // Per window: median - min of its own row; then median-filtered and laid on the track's frames
        // (each frame takes the window centred on it, or the nearest one).
        let perWindow = rows.map { r -> Double in
            let v = r.distances.filter { !$0.isNaN }.map(Double.init)
            return v.isEmpty ? 0 : median(v) - (v.min() ?? 0)
        }
        let filtered = medianFilter(perWindow, width: 9)
        var framewise: [Double] = []
        var k = 0
        for f in frames {
            while k + 1 < rows.count && abs(rows[k + 1].start + 2 - f) <= abs(rows[k].start + 2 - f) { k += 1 }
            framewise.append(filtered.isEmpty ? 0 : filtered[k])
        }
        let shift = best - vshift
        var o = TrackOffset(track: track, startFrame: frames.lowerBound, endFrame: frames.upperBound - 1,
                            audioDelayFrames: shift, audioDelayMs: Double(shift) * 1000 / fps,
                            minDist: curve[best], confidence: median(curve) - curve[best],
                            framewiseConfidence: framewise, distCurve: curve, method: .learned)
        o.describeCurve(rows: rows.map(\.distances), fps: fps)
        return o
    }
}

/// Embeds the audio of every frame as mel columns stream in: frame j's 16-column window from
/// `MelFrames.windowStart(j)`, in batches; columns no later window needs are dropped, so memory holds
/// one batch of windows, not the spectrogram.
final class AudioEmbedder {
    let model: SyncNet
    let fps: Double
    let batch: Int
    private let input: Tensor
    private var columns = MelFrames(nMels: 80)
    private var first = 0, frame = 0
    private(set) var embeddings: [Float] = []

    init(model: SyncNet, fps: Double, batch: Int = 64) {
        (self.model, self.fps, self.batch) = (model, fps, batch)
        input = Tensor(shape: [batch, 1, 80, 16])
    }

    func push(_ m: MelFrames) {
        columns.values += m.values
        embed(final: false)
    }

    /// Embeds the frames still pending (those whose window lies inside the audio) and returns all.
    func finish() -> [Float] {
        embed(final: true)
        return embeddings
    }

    private func embed(final: Bool) {
        while true {
            var n = 0
            input.reshape([batch, 1, 80, 16])
            while n < batch {
                let s = MelFrames.windowStart(frame: frame + n, fps: fps) - first
                guard s + 16 <= columns.count else { break }
                let w = columns.window(start: s)
                (input.data + n * w.count).update(from: w, count: w.count)
                n += 1
            }
            guard n == batch || (final && n > 0) else { break }
            input.reshape([n, 1, 80, 16])
            let e = model.embedAudio(mel: input)
            normalizeRows(e)
            embeddings.append(contentsOf: UnsafeBufferPointer(start: e.data, count: n * SyncNet.embedding))
            frame += n
        }
        let keep = MelFrames.windowStart(frame: frame, fps: fps) - first
        if keep > 0 {
            columns.values.removeFirst(min(keep, columns.count) * 80)
            first += keep
        }
    }
}

/// A window's unit visual embedding and where it came from.
struct WindowEmbedding {
    var track: Int
    var start: Int
    var embedding: [Float]
}

/// Gathers mouth windows into batches for the visual tower; emits each window's unit embedding.
final class VisualBatcher {
    let model: SyncNet
    let batch: Int
    let crops: Tensor, geometry: Tensor, mesh: Tensor
    var pending: [(track: Int, start: Int)] = []

    init(model: SyncNet, batch: Int = 32) {
        self.model = model
        self.batch = batch
        crops = Tensor(shape: [batch, SyncNet.frames, MouthFeatures.height, MouthFeatures.width])
        geometry = Tensor(shape: [batch, SyncNet.geometryFeatures])
        mesh = Tensor(shape: [batch, SyncNet.meshFeatures])
    }

    func add(track: Int, start: Int, crops frames: [UnsafePointer<Float>], geometry g: [Float], mesh m: [Float], emit: (WindowEmbedding) -> Void) {
        let k = pending.count
        let plane = MouthFeatures.width * MouthFeatures.height * SyncNet.frames
        crops.reshape([batch, SyncNet.frames, MouthFeatures.height, MouthFeatures.width])
        geometry.reshape([batch, SyncNet.geometryFeatures])
        MouthFeatures.windowInput(frames, into: crops.data + k * plane)
        (geometry.data + k * SyncNet.geometryFeatures).update(from: g, count: SyncNet.geometryFeatures)
        if model.usesMesh {
            mesh.reshape([batch, SyncNet.meshFeatures])
            // A window with a frame short of its descriptor reads zeros.
            if m.count == SyncNet.meshFeatures {
                (mesh.data + k * SyncNet.meshFeatures).update(from: m, count: SyncNet.meshFeatures)
            } else {
                (mesh.data + k * SyncNet.meshFeatures).update(repeating: 0, count: SyncNet.meshFeatures)
            }
        }
        pending.append((track, start))
        if pending.count == batch { flush(emit) }
    }

    /// The last five frames of each track; a window is scored once they are consecutive.
    private var recent: [Int: [(frame: Int, crop: [Float], geometry: [Float], mesh: [Float])]] = [:]

    /// Adds a track's mouth at `frame`; the window ending there is scored once five consecutive frames are in.
    func push(track: Int, frame: Int, _ m: MouthFeatures.Frame, emit: (WindowEmbedding) -> Void) {
        var r = recent[track] ?? []
        if let last = r.last, last.frame != frame - 1 { r.removeAll() }
        r.append((frame, m.crop, m.geometry, m.mesh))
        if r.count > SyncNet.frames { r.removeFirst() }
        recent[track] = r
        guard r.count == SyncNet.frames else { return }
        let crops = r.flatMap(\.crop), geometry = r.flatMap(\.geometry)
        // A frame without its descriptor leaves the window short; `add` then reads zeros.
        let mesh = r.flatMap(\.mesh)
        crops.withUnsafeBufferPointer { c in
            let ptrs = (0..<SyncNet.frames).map { c.baseAddress! + $0 * ClipFeatures.cropSize }
            add(track: track, start: r[0].frame, crops: ptrs, geometry: geometry, mesh: mesh, emit: emit)
        }
    }

    /// Ends the windows of tracks absent from a frame.
    func forget(tracksNotIn present: Set<Int>) {
        for id in recent.keys where !present.contains(id) { recent[id] = nil }
    }

    func flush(_ emit: (WindowEmbedding) -> Void) {
        guard !pending.isEmpty else { return }
        let n = pending.count
        crops.reshape([n, SyncNet.frames, MouthFeatures.height, MouthFeatures.width])
        geometry.reshape([n, SyncNet.geometryFeatures])
        mesh.reshape([n, SyncNet.meshFeatures])
        let e = model.embedVisual(crops: crops, geometry: geometry, mesh: model.usesMesh ? mesh : nil)
        normalizeRows(e)
        for (i, p) in pending.enumerated() {
            emit(WindowEmbedding(track: p.track, start: p.start,
                                 embedding: Array(UnsafeBufferPointer(start: e.data + i * SyncNet.embedding, count: SyncNet.embedding))))
        }
        pending.removeAll(keepingCapacity: true)
    }
}

extension SyncNet {
    /// Unit visual embeddings of every 5-frame window of consecutive faces in `frames` (nil: no face
    /// in that frame), in order: the space `lipsync eval generate` measures its Fréchet distance in.
    public func visualEmbeddings(of frames: [(image: RGBImage, face: FaceObservation)?]) -> [[Float]] {
        let batcher = VisualBatcher(model: self)
        var out: [[Float]] = []
        for (i, f) in frames.enumerated() {
            guard let f else { batcher.forget(tracksNotIn: []); continue }
            batcher.push(track: 0, frame: i, MouthFeatures.extract(f.image, landmarks: f.face.landmarks, lips: f.face.rawLandmarks, mesh: f.face.mouthDescriptor)) { out.append($0.embedding) }
        }
        batcher.flush { out.append($0.embedding) }
        return out
    }
}
