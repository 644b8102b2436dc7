import Foundation

/// Per-clip feature caches (training and evaluation): one file per source video in a directory,
/// named after the video's path and stamped with its size, modification time and `version`; a
/// missing or unreadable entry is extracted and written (atomically) again, so an interrupted
/// preparation resumes where it stopped, and a changed video or a changed extraction never serves
/// stale features.
public enum FeatureCache {
    /// Bumped whenever decoding or feature extraction changes what a clip's features are.
    /// 2: decoding's colour conversion with accurate rounding and full chroma interpolation (2026-12-01).
    public static let version = 2

    public static func file(for video: String, in directory: String) -> String {
        let attributes = try? FileManager.default.attributesOfItem(atPath: video)
        let size = (attributes?[.size] as? NSNumber)?.int64Value ?? -1
        let mtime = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
        // FNV-1a of the stamp: short, stable across runs and machines (Swift's Hasher is seeded per process).
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(size)|\(mtime)|\(version)".utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let name = video.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ".", with: "_")
            + "-" + String(hash, radix: 16) + ".safetensors"
        return (directory as NSString).appendingPathComponent(name)
    }

    public static func load<T>(video: String, directory: String, read: (String) throws -> T, extract: () throws -> T,
                               save: (T, String) throws -> Void) throws -> T {
        let path = file(for: video, in: directory)
        if FileManager.default.fileExists(atPath: path), let c = try? read(path) { return c }
        let c = try extract()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try save(c, path)
        return c
    }
}
