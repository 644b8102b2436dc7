import Foundation
import Media
import Sync
import Vision

/// `offset --annotate`: syncnet_python's visual check, made streaming. The reading needs the whole
/// video, so the picture is a second decoding pass (no second face pass: the boxes were kept from
/// the first), each frame drawn and encoded as it is decoded.
enum OffsetAnnotation {
    static func write(video: String, audio: String?, to output: String, tracks: [TrackOffset],
                      boxes: [Int: [(track: Int, box: [Double])]], progress: ProgressLine) throws {
        let reader = try VideoReader(path: video, options: .constantFrameRateAtSource)
        let writer = try VideoWriter(path: output, width: reader.width, height: reader.height, fps: reader.frameRate,
                                     options: .init(crf: 20, audio: .copy(fromFile: audio ?? video)))
        let byTrack = Dictionary(tracks.map { ($0.track, $0) }, uniquingKeysWith: { a, _ in a })
        let scale = max(1, reader.height / 240)
        let banner = tracks.map { t in
            String(format: "track %d: %@  confidence %.2f", t.track,
                   t.audioDelayFrames == 0 ? "in sync" : String(format: "audio %@ %.0f ms (%d frames)", t.audioDelayMs > 0 ? "late" : "early",
                                                                abs(t.audioDelayMs), abs(t.audioDelayFrames)), t.confidence)
        }
        var image = RGBImage.empty
        var written = 0
        while let f = try reader.readFrame(into: &image) {
            for face in boxes[f.index] ?? [] {
                guard let t = byTrack[face.track] else { continue }
                let k = f.index - t.startFrame
                let c = t.framewiseConfidence.indices.contains(k) ? t.framewiseConfidence[k] : .nan
                let colour = Self.colour(c)
                image.drawRect(x: face.box[0], y: face.box[1], width: face.box[2], height: face.box[3], color: colour, thickness: 2 * scale)
                let label = c.isFinite ? String(format: "%d  %.2f", t.track, c) : "\(t.track)"
                image.drawText(label, x: Int(face.box[0]), y: max(scale, Int(face.box[1]) - 9 * scale), scale: scale, color: colour, background: (0, 0, 0))
            }
            for (i, line) in banner.enumerated() {
                image.drawText(line, x: 4 * scale, y: 4 * scale + i * 10 * scale, scale: scale, color: (255, 255, 255), background: (0, 0, 0))
            }
            try writer.append(image)
            written += 1
            progress.show("annotating \(written) frames")
        }
        try writer.finish()
        progress.finish()
    }

    /// Red (no evidence of sync) through yellow to green: framewise confidence 0, 0.25, 0.5 and up,
    /// on the learned method's scale (matched clips of unseen speakers run 0.3-0.6; docs/sync.md).
    static func colour(_ c: Double) -> (UInt8, UInt8, UInt8) {
        guard c.isFinite else { return (160, 160, 160) }
        let t = min(1, max(0, c / 0.5))
        return t < 0.5 ? (230, UInt8(230 * t * 2), 40) : (UInt8(230 * (1 - t) * 2), 210, 40)
    }
}
