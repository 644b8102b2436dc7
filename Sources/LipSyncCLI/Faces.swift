import ArgumentParser
import Foundation
import Media
import Vision

struct Faces: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find, track and measure every face: an annotated video and per-frame JSON.",
        discussion: """
        Faces are found with MediaPipe's BlazeFace and followed with its 468-point FaceMesh (both Apache-2.0, converted into Models/). The annotated video shows each track's box and id and the outer and inner lip contours, with the original audio. A frame without a face is normal: it is written as it is and listed with no faces. Scene cuts end all tracks; gaps up to 5 frames keep the track id and are interpolated.

        JSON: {"video": ..., "fps": ..., "frames": [{"frame", "time", "scene_cut", "faces": [{"track", "box" [x, y, w, h], "landmarks" [[x, y, z] x 468], "mouth_opening", "mouth_width", "presence", "interpolated"}]}]}, written as the video is read.

        Examples:
          lipsync faces clip.mp4 -o annotated.mp4
          lipsync faces interview.mov -o check.mp4 --json tracks.json --detect-every 5
        """
    )

    @Argument(help: "Video file.") var video: String
    @Option(name: .shortAndLong, help: "Annotated output video (.mp4).") var output: String
    @Option(help: "Per-frame faces as JSON.") var json: String?
    @Option(help: "Run the detector at least every N frames (new faces appear within N frames).") var detectEvery = 10
    @Option(help: "Most faces tracked at once.") var maxFaces = 4

    func validate() throws {
        guard detectEvery >= 1 else { throw ValidationError("--detect-every must be at least 1") }
        guard maxFaces >= 1 else { throw ValidationError("--max-faces must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            var options = FaceTracker.Options()
            options.detectionInterval = detectEvery
            options.maxFaces = maxFaces
            options.keepImages = true
            let tracked = try TrackedVideo(path: video, reader: .init(), tracker: options)
            let reader = tracked.reader
            let hasAudio = (try? MediaInfo(probing: video))?.audio != nil
            let writer = try VideoWriter(path: output, width: reader.width, height: reader.height, fps: reader.frameRate,
                                         options: .init(crf: 20, audio: hasAudio ? .copy(fromFile: video) : .none))
            let sink = try json.map { try JSONStreamWriter(path: $0, header: ["video": video, "fps": String(reader.frameRate)]) }
            var frames = 0, withFaces = 0
            var trackIDs = Set<Int>()
            let started = Date()
            func emit(_ batch: [FrameFaces]) throws {
                for var f in batch {
                    var img = f.image!
                    for face in f.faces {
                        trackIDs.insert(face.track)
                        let color = Self.palette[face.track % Self.palette.count]
                        img.drawRect(x: face.box[0], y: face.box[1], width: face.box[2], height: face.box[3], color: color)
                        img.drawNumber(face.track, x: Int(face.box[0]), y: max(0, Int(face.box[1]) - 18), color: color)
                        let pts = face.landmarks.map { SIMD2(Double($0.x), Double($0.y)) }
                        img.drawPolyline(FaceMeshIndex.outerLips.map { pts[$0] }, closed: true, color: (255, 60, 60), thickness: 1)
                        img.drawPolyline(FaceMeshIndex.innerLips.map { pts[$0] }, closed: true, color: (60, 255, 255), thickness: 1)
                    }
                    if !f.faces.isEmpty { withFaces += 1 }
                    try writer.append(img)
                    f.image = nil
                    try sink?.append(f)
                    frames += 1
                    if frames % 100 == 0 {
                        FileHandle.standardError.write(Data(String(format: "\r%d frames, %.1f fps", frames,
                                                                   Double(frames) / Date().timeIntervalSince(started)).utf8))
                    }
                }
            }
            try tracked.forEachBatch(emit)
            try writer.finish()
            try sink?.finish()
            FileHandle.standardError.write(Data("\r".utf8))
            print("\(video): \(frames) frames, faces in \(withFaces), \(trackIDs.count) track\(trackIDs.count == 1 ? "" : "s") -> \(output)")
        }
    }

    static let palette: [(UInt8, UInt8, UInt8)] = [(60, 220, 60), (255, 200, 0), (80, 140, 255), (255, 80, 220), (255, 255, 255)]
}

/// Writes {"key": value, ..., "frames": [ ... ]} one frame at a time to a temporary file, renamed
/// into place by `finish()`.
final class JSONStreamWriter {
    let path: String
    private let temp: String
    private let handle: FileHandle
    private var first = true
    private var done = false
    private let encoder: JSONEncoder

    init(path: String, header: [String: String]) throws {
        self.path = path
        temp = AtomicOutput.temporaryPath(for: path)
        guard FileManager.default.createFile(atPath: temp, contents: nil), let h = FileHandle(forWritingAtPath: temp) else {
            throw MediaError.unwritableOutput(path: path, reason: "cannot create file")
        }
        handle = h
        encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var head = "{"
        for (k, v) in header.sorted(by: { $0.key < $1.key }) {
            head += "\(String(decoding: try encoder.encode(k), as: UTF8.self)):\(String(decoding: try encoder.encode(v), as: UTF8.self)),"
        }
        try handle.write(contentsOf: Data((head + "\"frames\":[\n").utf8))
    }

    deinit {
        if !done { try? handle.close(); AtomicOutput.discard(temp) }
    }

    struct Frame: Encodable { var frame: Int; var time: Double; var sceneCut: Bool; var faces: [Face] }
    struct Face: Encodable {
        var track: Int; var box: [Double]; var landmarks: [[Float]]
        var mouthOpening: Double; var mouthWidth: Double; var presence: Float; var interpolated: Bool
    }

    func append(_ f: FrameFaces) throws {
        let r = { (v: Double) in (v * 10).rounded() / 10 }
        let frame = Frame(frame: f.frame, time: f.time, sceneCut: f.sceneCut, faces: f.faces.map { o in
            Face(track: o.track, box: o.box.map(r), landmarks: o.landmarks.map { [Float(r(Double($0.x))), Float(r(Double($0.y))), Float(r(Double($0.z)))] },
                 mouthOpening: (o.mouthOpening * 1000).rounded() / 1000, mouthWidth: (o.mouthWidth * 1000).rounded() / 1000,
                 presence: o.presence, interpolated: o.interpolated)
        })
        var data = first ? Data() : Data(",\n".utf8)
        data.append(try encoder.encode(frame))
        try handle.write(contentsOf: data)
        first = false
    }

    func finish() throws {
        try handle.write(contentsOf: Data("\n]}\n".utf8))
        try handle.close()
        done = true
        try AtomicOutput.commit(temp, to: path)
    }
}
