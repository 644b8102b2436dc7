import Foundation
import Media
import NN

/// One face in one frame.
public struct FaceObservation: Codable, Sendable {
    public var track: Int
    /// Left, top, width, height of the landmarks' bounds, in pixels.
    public var box: [Double]
    /// 468 points (x, y, z) in pixels, One-Euro smoothed over the track.
    public var landmarks: [SIMD3<Float>]
    /// The same points as FaceMesh measured them, unsmoothed: for timing-critical uses (the sync
    /// model's lip geometry), where the filter's lag of a frame or two would blur the timing.
    public var rawLandmarks: [SIMD3<Float>]
    /// Inner-lip gap / inter-ocular distance, from the unsmoothed landmarks (smoothing would lag the lips).
    public var mouthOpening: Double
    public var mouthWidth: Double
    public var presence: Float
    /// Filled in across a short gap, not measured.
    public var interpolated: Bool
    /// FaceMesh's backbone features at the lips (`FaceLandmarks.mouthDescriptor`), unsmoothed. Not
    /// written to JSON: it is model input, not a measurement.
    public var mouthDescriptor: [Float] = []

    public init(track: Int, box: [Double], landmarks: [SIMD3<Float>], rawLandmarks: [SIMD3<Float>], mouthOpening: Double,
                mouthWidth: Double, presence: Float, interpolated: Bool, mouthDescriptor: [Float] = []) {
        (self.track, self.box, self.landmarks, self.rawLandmarks) = (track, box, landmarks, rawLandmarks)
        (self.mouthOpening, self.mouthWidth, self.presence, self.interpolated) = (mouthOpening, mouthWidth, presence, interpolated)
        self.mouthDescriptor = mouthDescriptor
    }

    enum CodingKeys: String, CodingKey {
        case track, box, landmarks, rawLandmarks, mouthOpening, mouthWidth, presence, interpolated
    }
}

/// Everything known about one frame once it is final.
public struct FrameFaces: Sendable {
    public var frame: Int
    public var time: Double
    public var sceneCut: Bool
    public var faces: [FaceObservation]
    /// The picture, if the tracker was asked to keep it (for drawing).
    public var image: RGBImage?

    public init(frame: Int, time: Double, sceneCut: Bool, faces: [FaceObservation], image: RGBImage? = nil) {
        (self.frame, self.time, self.sceneCut, self.faces, self.image) = (frame, time, sceneCut, faces, image)
    }
}

/// Detect, track and smooth faces through a video, one frame at a time.
///
/// As MediaPipe does, a face found once is followed by running FaceMesh on the region its previous
/// landmarks give; the detector runs every `detectionInterval` frames (to find new faces) and whenever
/// a face is lost. A scene cut (a jump in the colour histogram) ends every track. A track missing for
/// at most `maxGap` frames keeps its id and the gap is interpolated; longer gaps end it. Frames come
/// back `maxGap + 1` frames late, when nothing can change them any more: memory stays bounded.
public final class FaceTracker {
    public struct Options: Sendable {
        public var detectionInterval = 10
        public var maxFaces = 4
        public var minPresence: Float = 0.5
        public var maxGap = 5
        /// Half the L1 distance between consecutive normalised colour histograms (0...1).
        public var sceneCutThreshold = 0.5
        public var smoothingMinCutoff = 1.0
        public var smoothingBeta = 3.0
        public var keepImages = false
        /// Fill each observation's `mouthDescriptor` (FaceMesh's features at the lips), for a sync
        /// model with the mesh input.
        public var mouthDescriptors = false
        public init() {}
    }

    final class Track {
        let id: Int
        var lastFrame: Int
        var lastTime: Double
        var last: FaceLandmarks
        var lastObservation: FaceObservation
        var filters: [OneEuroFilter]
        init(id: Int, frame: Int, time: Double, landmarks: FaceLandmarks, observation: FaceObservation, filters: [OneEuroFilter]) {
            self.id = id; lastFrame = frame; lastTime = time; last = landmarks; lastObservation = observation; self.filters = filters
        }
    }

    public let options: Options
    let detector: FaceDetector
    let landmarker: FaceLandmarker
    private var tracks: [Track] = []
    private var nextID = 0
    private var pending: [FrameFaces] = []
    private var lastDetectionFrame = Int.min / 2
    private var previousHistogram: [Double]?

    public init(detector: FaceDetector, landmarker: FaceLandmarker, options: Options = .init()) {
        self.detector = detector
        self.landmarker = landmarker
        self.options = options
    }

    public convenience init(options: Options = .init()) throws {
        try self.init(detector: FaceDetector(), landmarker: FaceLandmarker(), options: options)
    }

    /// Feeds the next frame; returns the frames that became final.
    public func push(_ image: RGBImage, frame: Int, time: Double) -> [FrameFaces] {
        let cut = isSceneCut(image)
        if cut { tracks.removeAll() }
        var observations: [FaceObservation] = []
        var lost = false
        // Follow known faces from their previous landmarks.
        for t in tracks where t.lastFrame == frame - 1 {
            let lm = landmarker.landmarks(in: image, region: t.last.nextRegion, withMouthDescriptor: options.mouthDescriptors)
            if lm.presence >= options.minPresence, lm.interOcularDistance > 2 {
                observations.append(accept(lm, into: t, frame: frame, time: time))
            } else {
                lost = true
            }
        }
        // Look for faces: periodically, after a loss, at a cut, or while nothing is tracked.
        if cut || lost || observations.isEmpty || frame - lastDetectionFrame >= options.detectionInterval {
            lastDetectionFrame = frame
            for d in detector.detect(image).prefix(options.maxFaces) {
                let box = FaceDetection(score: d.score, x: d.x, y: d.y, width: d.width, height: d.height, keypoints: [])
                // Already followed this frame: overlapping box, or the detection's nose keypoint on a tracked nose.
                let nose = SIMD2(d.keypoints[2][0], d.keypoints[2][1])
                if observations.contains(where: { box.iou(boxDetection($0.box)) > 0.3 || noseDistance($0, nose) < 0.5 }) { continue }
                guard observations.count < options.maxFaces else { break }
                let lm = landmarker.landmarks(in: image, region: FaceLandmarker.region(for: d), withMouthDescriptor: options.mouthDescriptors)
                guard lm.presence >= options.minPresence, lm.interOcularDistance > 2 else { continue }
                let b = lm.bounds
                let here = FaceDetection(score: 0, x: b.x, y: b.y, width: b.width, height: b.height, keypoints: [])
                // A face lost a few frames ago comes back under its own id.
                // Identity: box overlap, less the nose-tip distance in inter-ocular units.
                let noseHere = SIMD2(Double(lm.points[FaceMeshIndex.noseTip].x), Double(lm.points[FaceMeshIndex.noseTip].y))
                func affinity(_ t: Track) -> Double {
                    boxDetection(t.lastObservation.box).iou(here) - 0.2 * noseDistance(t.lastObservation, noseHere)
                }
                let resumed = tracks.filter { $0.lastFrame < frame && frame - $0.lastFrame - 1 <= options.maxGap }
                    .max { affinity($0) < affinity($1) }
                if let t = resumed, affinity(t) > 0.2 {
                    fillGap(t, until: frame, landmarks: lm)
                    observations.append(accept(lm, into: t, frame: frame, time: time))
                } else {
                    let t = Track(id: nextID, frame: frame, time: time, landmarks: lm, observation: observation(lm, track: nextID),
                                  filters: Array(repeating: OneEuroFilter(minCutoff: options.smoothingMinCutoff, beta: options.smoothingBeta),
                                                 count: 468 * 2))
                    nextID += 1
                    tracks.append(t)
                    observations.append(accept(lm, into: t, frame: frame, time: time))
                }
            }
        }
        tracks.removeAll { frame - $0.lastFrame > options.maxGap }
        pending.append(FrameFaces(frame: frame, time: time, sceneCut: cut, faces: observations, image: options.keepImages ? image : nil))
        let ready = max(0, pending.count - (options.maxGap + 1))
        let out = Array(pending.prefix(ready))
        pending.removeFirst(ready)
        return out
    }

    /// The frames still held back, at the end of the video.
    public func finish() -> [FrameFaces] {
        defer { pending.removeAll(); tracks.removeAll() }
        return pending
    }

    /// Distance from an observation's nose tip to `p`, in its inter-ocular distances.
    private func noseDistance(_ o: FaceObservation, _ p: SIMD2<Double>) -> Double {
        let n = o.landmarks[FaceMeshIndex.noseTip]
        let r = (o.landmarks[33] + o.landmarks[133]) / 2, l = (o.landmarks[362] + o.landmarks[263]) / 2
        let iod = max(1, Double(((l.x - r.x) * (l.x - r.x) + (l.y - r.y) * (l.y - r.y)).squareRoot()))
        let dx = Double(n.x) - p.x, dy = Double(n.y) - p.y
        return (dx * dx + dy * dy).squareRoot() / iod
    }

    private func boxDetection(_ b: [Double]) -> FaceDetection {
        FaceDetection(score: 0, x: b[0], y: b[1], width: b[2], height: b[3], keypoints: [])
    }

    private func observation(_ lm: FaceLandmarks, track: Int, smoothed: [SIMD3<Float>]? = nil, interpolated: Bool = false) -> FaceObservation {
        let b = lm.bounds
        return FaceObservation(track: track, box: [b.x, b.y, b.width, b.height], landmarks: smoothed ?? lm.points,
                               rawLandmarks: lm.points, mouthOpening: lm.mouthOpening, mouthWidth: lm.mouthWidth, presence: lm.presence, interpolated: interpolated,
                               mouthDescriptor: lm.mouthDescriptor)
    }

    private func accept(_ lm: FaceLandmarks, into t: Track, frame: Int, time: Double) -> FaceObservation {
        let dt = frame == t.lastFrame ? 0 : time - t.lastTime
        let scale = max(1, lm.interOcularDistance)
        var smoothed = lm.points
        for i in 0..<468 {
            smoothed[i].x = Float(t.filters[2 * i].filter(Double(lm.points[i].x), dt: dt, scale: scale))
            smoothed[i].y = Float(t.filters[2 * i + 1].filter(Double(lm.points[i].y), dt: dt, scale: scale))
        }
        let o = observation(lm, track: t.id, smoothed: smoothed)
        t.lastFrame = frame; t.lastTime = time; t.last = lm; t.lastObservation = o
        return o
    }

    /// Linear interpolation across the missed frames, written into the held-back frames.
    private func fillGap(_ t: Track, until frame: Int, landmarks lm: FaceLandmarks) {
        let start = t.lastFrame, span = Double(frame - start)
        for k in pending.indices where pending[k].frame > start && pending[k].frame < frame {
            let a = Float(Double(pending[k].frame - start) / span)
            let from = t.lastObservation
            var mix = from
            mix.landmarks = zip(from.landmarks, lm.points).map { $0 + ($1 - $0) * a }
            mix.rawLandmarks = zip(from.rawLandmarks, lm.points).map { $0 + ($1 - $0) * a }
            mix.box = zip(from.box, [lm.bounds.x, lm.bounds.y, lm.bounds.width, lm.bounds.height]).map { $0 + ($1 - $0) * Double(a) }
            mix.mouthOpening = from.mouthOpening + (lm.mouthOpening - from.mouthOpening) * Double(a)
            mix.mouthWidth = from.mouthWidth + (lm.mouthWidth - from.mouthWidth) * Double(a)
            if from.mouthDescriptor.count == lm.mouthDescriptor.count {
                mix.mouthDescriptor = zip(from.mouthDescriptor, lm.mouthDescriptor).map { $0 + ($1 - $0) * a }
            }
            mix.interpolated = true
            pending[k].faces.append(mix)
        }
    }

    private var previousThumbnail: [Double]?
    private var typicalChange = 0.0

    /// A cut is a jump in the coarse colour histogram (half L1 > threshold), or a change of a 16x16 grey
    /// thumbnail that covers at least 80 % of its cells and is far above the clip's running typical
    /// change (same set, different shot). Measured on the fixtures: a speaker cut changes 95 % of the
    /// cells by more than 10 grey levels; painting out half the frame changes 54 %.
    private func isSceneCut(_ image: RGBImage) -> Bool {
        var h = [Double](repeating: 0, count: 64), thumb = [Double](repeating: 0, count: 256), counts = [Double](repeating: 0, count: 256)
        var n = 0.0
        image.pixels.withUnsafeBufferPointer { p in
            var y = 0
            while y < image.height {
                var x = 0
                let ty = y * 16 / max(1, image.height)
                while x < image.width {
                    let o = (y * image.width + x) * 3
                    h[Int(p[o] >> 6) * 16 + Int(p[o + 1] >> 6) * 4 + Int(p[o + 2] >> 6)] += 1
                    let cell = ty * 16 + x * 16 / max(1, image.width)
                    thumb[cell] += 0.299 * Double(p[o]) + 0.587 * Double(p[o + 1]) + 0.114 * Double(p[o + 2])
                    counts[cell] += 1
                    n += 1
                    x += 4
                }
                y += 4
            }
        }
        for i in 0..<64 { h[i] /= max(1, n) }
        for i in 0..<256 { thumb[i] /= max(1, counts[i]) }
        defer { previousHistogram = h; previousThumbnail = thumb }
        guard let prevH = previousHistogram, let prevT = previousThumbnail else { return false }
        let histogramJump = zip(h, prevH).reduce(0) { $0 + abs($1.0 - $1.1) } / 2
        let change = zip(thumb, prevT).reduce(0) { $0 + abs($1.0 - $1.1) } / 256
        // A new shot touches nearly the whole frame; an occlusion (a hand, a face turning away) does not.
        let spread = Double(zip(thumb, prevT).filter { abs($0.0 - $0.1) > 10 }.count) / 256
        let cut = histogramJump > options.sceneCutThreshold
            || (spread >= 0.8 && change > 10 && change > 6 * max(1, typicalChange))
        if !cut { typicalChange = 0.9 * typicalChange + 0.1 * change }
        return cut
    }
}
