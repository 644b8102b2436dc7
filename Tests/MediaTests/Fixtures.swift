import Foundation
import Media

/// Paths to committed fixtures, found from this source file so tests run from any directory.
enum Fixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func media(_ name: String) -> String { root.appendingPathComponent("fixtures/media/\(name)").path }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lipsync-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// Time of the first frame brighter than mid-grey.
func flashTime(_ path: String, options: VideoReaderOptions = .init()) throws -> Double? {
    let reader = try VideoReader(path: path, options: options)
    var image = RGBImage.empty
    while let t = try reader.readFrame(into: &image) {
        if image.meanLuma > 128 { return t.time }
    }
    return nil
}

/// Time of the first sample of the 0.5-amplitude beep (threshold at a fifth of its peak).
func beepTime(_ path: String) throws -> Double? {
    let samples = try AudioReader.decodeAll(path: path)
    guard let i = samples.firstIndex(where: { abs($0) > 0.1 }) else { return nil }
    return Double(i) / 16_000
}
