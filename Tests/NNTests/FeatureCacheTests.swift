import Foundation
import XCTest
@testable import NN

final class FeatureCacheTests: XCTestCase {
    /// A cache entry belongs to one state of its video: touching or replacing the file names another
    /// entry, so stale features are never served.
    func testEntryFollowsTheVideosSizeAndTime() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lipsync-cache-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let video = dir.appendingPathComponent("clip.mp4").path
        try Data("one".utf8).write(to: URL(fileURLWithPath: video))
        let first = FeatureCache.file(for: video, in: dir.path)
        XCTAssertEqual(FeatureCache.file(for: video, in: dir.path), first, "stable for an unchanged file")
        var extracted = 0
        func load() throws -> String {
            try FeatureCache.load(video: video, directory: dir.path, read: { try String(contentsOfFile: $0, encoding: .utf8) },
                                  extract: { extracted += 1; return "features" }, save: { try $0.write(toFile: $1, atomically: true, encoding: .utf8) })
        }
        XCTAssertEqual(try load(), "features")
        XCTAssertEqual(try load(), "features")
        XCTAssertEqual(extracted, 1, "the second load reads the cache")
        try Data("changed".utf8).write(to: URL(fileURLWithPath: video))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 60)], ofItemAtPath: video)
        XCTAssertNotEqual(FeatureCache.file(for: video, in: dir.path), first)
        _ = try load()
        XCTAssertEqual(extracted, 2, "a changed video is extracted again")
    }
}
