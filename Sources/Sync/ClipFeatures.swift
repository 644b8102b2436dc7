import Audio
import Foundation
import Media
import NN
import Vision

/// One short clip reduced to what the sync model trains on: per frame, the longest face track's mouth
/// crop and lip geometry (or nothing where the face is missing), and the clip's mel spectrogram.
/// Training prepares these once per clip and caches them (`ClipFeatures.cached`).
public struct ClipFeatures: Sendable {
    public var path: String
    public var fps: Double
    public var frames: Int
    /// frames x storedHeight x storedWidth grey values (0-255).
    public var crops: [Float]
    /// frames x geometryCount.
    public var geometry: [Float]
    /// frames x FaceLandmarker.descriptorCount: FaceMesh's backbone at the lips.
    public var mesh: [Float]
    public var valid: [Bool]
    public var mel: MelFrames

    static let cropSize = MouthFeatures.storedWidth * MouthFeatures.storedHeight
    static let meshCount = FaceLandmarker.descriptorCount

    /// Decodes and tracks a clip. Meant for clips of seconds to minutes: everything is kept.
    public static func extract(video: String) throws -> ClipFeatures {
        var options = FaceTracker.Options()
        options.keepImages = true
        options.mouthDescriptors = true
        let tracked = try TrackedVideo(path: video, tracker: options)
        var perTrack: [Int: [Int: MouthFeatures.Frame]] = [:]
        var count = 0
        func take(_ frames: [FrameFaces]) {
            for f in frames {
                count = max(count, f.frame + 1)
                guard let image = f.image else { continue }
                for o in f.faces {
                    perTrack[o.track, default: [:]][f.frame] = MouthFeatures.extract(image, landmarks: o.landmarks, lips: o.rawLandmarks, mesh: o.mouthDescriptor)
                }
            }
        }
        try tracked.forEachBatch(take)
        let longest = perTrack.max { $0.value.count < $1.value.count }?.value ?? [:]
        var clip = ClipFeatures(path: video, fps: tracked.frameRate, frames: count,
                                crops: [Float](repeating: 0, count: count * cropSize),
                                geometry: [Float](repeating: 0, count: count * MouthFeatures.geometryCount),
                                mesh: [Float](repeating: 0, count: count * meshCount),
                                valid: [Bool](repeating: false, count: count),
                                mel: SpeechEnergy.mel.compute(try AudioReader.decodeAll(path: video)))
        for (i, f) in longest where i < count {
            clip.valid[i] = true
            clip.crops.replaceSubrange(i * cropSize..<(i + 1) * cropSize, with: f.crop)
            clip.geometry.replaceSubrange(i * MouthFeatures.geometryCount..<(i + 1) * MouthFeatures.geometryCount, with: f.geometry)
            if f.mesh.count == meshCount { clip.mesh.replaceSubrange(i * meshCount..<(i + 1) * meshCount, with: f.mesh) }
        }
        return clip
    }

    /// First frames of the 5-frame windows whose frames all hold the face.
    public var windowStarts: [Int] {
        guard frames >= SyncNet.frames else { return [] }
        return (0...(frames - SyncNet.frames)).filter { i in (i..<(i + SyncNet.frames)).allSatisfy { valid[$0] } }
    }

    /// Whether frame `j`'s 16-column mel window lies inside the spectrogram.
    public func hasAudioWindow(_ j: Int) -> Bool {
        j >= 0 && MelFrames.windowStart(frame: j, fps: fps) + 16 <= mel.count
    }

    // MARK: cache

    public func save(to path: String) throws {
        let t: [(name: String, tensor: Tensor)] = [
            ("crops", Tensor(shape: [frames, MouthFeatures.storedHeight, MouthFeatures.storedWidth], values: crops)),
            ("geometry", Tensor(shape: [frames, MouthFeatures.geometryCount], values: geometry)),
            ("mesh", Tensor(shape: [frames, Self.meshCount], values: mesh)),
            ("valid", Tensor(shape: [frames], values: valid.map { $0 ? 1 : 0 })),
            ("mel", Tensor(shape: [mel.count, mel.nMels], values: mel.values)),
        ]
        // Written to a temporary file and renamed: an interrupted preparation leaves no partial cache.
        try SafetensorsFile.write(t, metadata: ["source": self.path, "fps": String(fps), "format": Self.cacheFormat], to: path)
    }

    public init(contentsOf file: String) throws {
        let f = try SafetensorsFile(path: file)
        guard f.metadata["format"] == Self.cacheFormat, let fps = Double(f.metadata["fps"] ?? "") else {
            throw SafetensorsFile.Error.malformed(path: file, reason: "not a lipsync clip-features cache")
        }
        let v = try f.tensor("valid")
        let m = try f.tensor("mel")
        self.init(path: f.metadata["source"] ?? file, fps: fps, frames: v.count, crops: try f.tensor("crops").values,
                  geometry: try f.tensor("geometry").values, mesh: try f.tensor("mesh").values, valid: v.values.map { $0 > 0.5 },
                  mel: MelFrames(nMels: m.shape.count == 2 ? m.shape[1] : 80, values: m.values))
    }

    /// 3: FaceMesh's mouth descriptor added (2026-12-02); an older cache is extracted again.
    static let cacheFormat = "lipsync-clip-features-3"

    init(path: String, fps: Double, frames: Int, crops: [Float], geometry: [Float], mesh: [Float]? = nil, valid: [Bool], mel: MelFrames) {
        (self.path, self.fps, self.frames, self.crops, self.geometry, self.valid, self.mel) = (path, fps, frames, crops, geometry, valid, mel)
        self.mesh = mesh ?? [Float](repeating: 0, count: frames * Self.meshCount)
    }

    /// The cached features of `video` in `directory`, extracted and written there first if missing:
    /// an interrupted preparation resumes where it stopped.
    public static func cached(video: String, directory: String) throws -> ClipFeatures {
        try FeatureCache.load(video: video, directory: directory, read: { try ClipFeatures(contentsOf: $0) }, extract: { try extract(video: video) },
                              save: { try $0.save(to: $1) })
    }
}
