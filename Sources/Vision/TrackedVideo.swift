import Foundation
import Media

/// The one decode → track loop: frames are read on the video's frame grid, fed to the tracker, and
/// each batch of frames the tracker makes final is handed on at once (the tracker holds back a few
/// frames to bridge short gaps), so memory stays flat in the video's length.
public final class TrackedVideo {
    public let reader: FrameSource
    public let tracker: FaceTracker

    public init(path: String, reader options: VideoReaderOptions = .constantFrameRateAtSource,
                tracker trackerOptions: FaceTracker.Options = .init()) throws {
        reader = try VideoReader(path: path, options: options)
        tracker = try FaceTracker(options: trackerOptions)
    }

    /// Tracks the pictures of any frame source (a ping-pong playback, say).
    public init(source: FrameSource, tracker trackerOptions: FaceTracker.Options = .init()) throws {
        reader = source
        tracker = try FaceTracker(options: trackerOptions)
    }

    public var frameRate: Double { reader.frameRate }

    /// Reads the whole video; `body` gets every frame once, in order, in the batches the tracker releases.
    public func forEachBatch(_ body: ([FrameFaces]) throws -> Void) throws {
        var image = RGBImage.empty
        while let t = try reader.readFrame(into: &image) { try body(tracker.push(image, frame: t.index, time: t.time)) }
        try body(tracker.finish())
    }
}
