import Audio
import Foundation
import Media
import NN
import Vision

/// One clip reduced to what the generator trains and is measured on: per frame, the longest face
/// track's aligned 128 x 128 RGB crop (8-bit, as decoded) or nothing where the face is missing, and
/// the clip's mel spectrogram. Meant for clips of seconds: everything is kept (`cached` stores it).
public struct FaceClip: Sendable {
    public var path: String
    public var fps: Double
    public var frames: Int
    /// frames x 128 x 128 x 3 bytes.
    public var crops: [UInt8]
    public var valid: [Bool]
    public var mel: MelFrames

    public static let size = MouthPainter.size
    public static let cropBytes = size * size * 3
    static let format = "lipsync-face-clip-1"
    static let mel = MelSpectrogram()

    /// The whole clip, or with `seconds` only its beginning (person adaptation on a long video).
    public static func extract(video: String, seconds: Double? = nil) throws -> FaceClip {
        var options = FaceTracker.Options()
        options.keepImages = true
        let tracked: TrackedVideo
        var samples: [Float]
        if let seconds {
            let source = try PingPongFrames(path: video, count: 1)
            let frames = max(5, Int(seconds * source.frameRate))
            tracked = try TrackedVideo(source: try PingPongFrames(path: video, count: frames), tracker: options)
            let audio = try AudioReader(path: video)
            samples = []
            let wanted = Int(Double(frames + 3) / source.frameRate * Double(AudioReader.defaultSampleRate))
            while samples.count < wanted, let s = try audio.read(maxSamples: 16_000) { samples += s }
        } else {
            tracked = try TrackedVideo(path: video, tracker: options)
            samples = try AudioReader.decodeAll(path: video)
        }
        var perTrack: [Int: [Int: [UInt8]]] = [:]
        var count = 0
        try tracked.forEachBatch { frames in
            for f in frames {
                count = max(count, f.frame + 1)
                guard let image = f.image else { continue }
                for o in f.faces {
                    perTrack[o.track, default: [:]][f.frame] = FaceCrop.crop(image, FaceCrop.alignment(o.landmarks, size: size), size: size).pixels
                }
            }
        }
        let longest = perTrack.max { $0.value.count < $1.value.count }?.value ?? [:]
        var clip = FaceClip(path: video, fps: tracked.frameRate, frames: count, crops: [UInt8](repeating: 0, count: count * cropBytes),
                            valid: [Bool](repeating: false, count: count), mel: mel.compute(samples))
        for (i, c) in longest where i < count {
            clip.valid[i] = true
            clip.crops.replaceSubrange(i * cropBytes..<(i + 1) * cropBytes, with: c)
        }
        return clip
    }

    /// First frames of the 5-frame windows whose frames all hold the face and whose audio exists.
    public var windowStarts: [Int] {
        guard frames >= 5 else { return [] }
        return (0...(frames - 5)).filter { i in (i..<(i + 5)).allSatisfy { valid[$0] } && MelFrames.windowStart(frame: i, fps: fps) + 16 <= mel.count }
    }

    /// The mel window the generator hears for frame `i`: 0.2 s centred on it (Wav2Lip's), kept inside the clip.
    public func generatorMel(frame i: Int) -> [Float] {
        let s = MouthPainter.melStart(frame: i, fps: fps)
        return mel.window(start: min(s, max(0, mel.count - 16)))
    }

    public func crop(_ i: Int) -> ArraySlice<UInt8> { crops[(i * Self.cropBytes)..<((i + 1) * Self.cropBytes)] }

    public func save(to path: String) throws {
        try SafetensorsFile.write([("mel", Tensor(shape: [mel.count, mel.nMels], values: mel.values))],
                                  bytes: [("crops", [frames, Self.size, Self.size, 3], crops), ("valid", [frames], valid.map { $0 ? 1 : 0 })],
                                  metadata: ["format": Self.format, "fps": String(fps), "source": self.path], to: path)
    }

    public init(contentsOf file: String) throws {
        let f = try SafetensorsFile(path: file)
        guard f.metadata["format"] == Self.format, let fps = Double(f.metadata["fps"] ?? "") else {
            throw SafetensorsFile.Error.malformed(path: file, reason: "not a lipsync face-clip cache")
        }
        let v = try f.bytes("valid"), m = try f.tensor("mel")
        self.init(path: f.metadata["source"] ?? file, fps: fps, frames: v.count, crops: try f.bytes("crops"), valid: v.map { $0 > 0 },
                  mel: MelFrames(nMels: m.shape.count == 2 ? m.shape[1] : 80, values: m.values))
    }

    public init(path: String, fps: Double, frames: Int, crops: [UInt8], valid: [Bool], mel: MelFrames) {
        (self.path, self.fps, self.frames, self.crops, self.valid, self.mel) = (path, fps, frames, crops, valid, mel)
    }

    /// The cached clip in `directory`, extracted and stored there first if missing.
    public static func cached(video: String, directory: String) throws -> FaceClip {
        try FeatureCache.load(video: video, directory: directory, read: { try FaceClip(contentsOf: $0) }, extract: { try extract(video: video) },
                              save: { try $0.save(to: $1) })
    }
}
