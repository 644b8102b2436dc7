import Foundation

/// Per-clip feature caches (training and evaluation): one file per source video in a directory,
/// named after the video's path; a missing or unreadable entry is extracted and written (atomically)
/// again, so an interrupted preparation resumes where it stopped.
public enum FeatureCache {
    public static func file(for video: String, in directory: String) -> String {
        let name = video.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ".", with: "_") + ".safetensors"
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
