import Foundation

/// Anything that delivers pictures in order on a constant frame grid: a `VideoReader`, or a
/// `PingPongFrames` that plays a video forward and back.
public protocol FrameSource: AnyObject {
    var frameRate: Double { get }
    var width: Int { get }
    var height: Int { get }
    /// The next picture into `image`; nil at the end.
    func readFrame(into image: inout RGBImage) throws -> (index: Int, time: Double, sourceTime: Double)?
    /// What the decoder skipped or concealed so far.
    var damage: DecodeDamage { get }
}

extension VideoReader: FrameSource {}

/// A video played forward, then backward, then forward again… until `count` frames have been
/// delivered, so a clip can carry speech longer than itself without a jump cut.
///
/// Memory stays bounded: forward passes stream from a freshly opened reader; a backward pass is
/// cut into segments of at most `bufferBytes` of pictures, each decoded forward from the start and
/// delivered in reverse (decode cost grows as length² / segment, paid only when the speech outlasts
/// the video). Frame k is delivered with time k / fps.
public final class PingPongFrames: FrameSource {
    public let path: String
    public let count: Int
    public let frameRate: Double
    public let width: Int, height: Int
    let options: VideoReaderOptions
    let bufferBytes: Int
    private var reader: VideoReader?
    private var delivered = 0
    /// Damage of the first forward pass (later passes decode the same packets again).
    public private(set) var damage = DecodeDamage()
    /// Source length, known once the first forward pass ends.
    public private(set) var sourceFrames: Int?
    /// Position in the source and direction.
    private var position = 0, forward = true
    private var segment: [RGBImage] = [], segmentStart = 0

    public init(path: String, count: Int, options: VideoReaderOptions = .constantFrameRateAtSource, bufferBytes: Int = 192 << 20) throws {
        let r = try VideoReader(path: path, options: options)
        (self.path, self.count, self.options, self.bufferBytes) = (path, count, options, bufferBytes)
        frameRate = r.frameRate
        width = r.width
        height = r.height
        reader = r
    }

    public func readFrame(into image: inout RGBImage) throws -> (index: Int, time: Double, sourceTime: Double)? {
        guard delivered < count else { return nil }
        if sourceFrames == nil {
            if let t = try reader!.readFrame(into: &image) {
                position = t.index
                return deliver(sourceTime: t.time)
            }
            damage = reader!.damage
            guard position > 0 || delivered > 0 else { return nil }
            sourceFrames = delivered
            reader = nil
            forward = false
            position = delivered - 1
            if delivered == 1 { forward = true }
        }
        let length = sourceFrames!
        if length == 1 {
            try rereadForward(to: 0, into: &image)
            return deliver(sourceTime: 0)
        }
        // Turn at the ends: ... L-2, L-1, L-2 ... 1, 0, 1 ...
        if forward {
            position += 1
            if position >= length { forward = false; position = length - 2 }
        } else {
            position -= 1
            if position < 0 { forward = true; position = 1 }
        }
        if forward {
            try rereadForward(to: position, into: &image)
        } else {
            try readBackward(position, length: length, into: &image)
        }
        return deliver(sourceTime: Double(position) / frameRate)
    }

    private func deliver(sourceTime: Double) -> (index: Int, time: Double, sourceTime: Double) {
        defer { delivered += 1 }
        return (delivered, Double(delivered) / frameRate, sourceTime)
    }

    /// Forward passes after the first: one reader streamed from the start.
    private func rereadForward(to target: Int, into image: inout RGBImage) throws {
        if reader == nil || target == 0 { reader = try VideoReader(path: path, options: options); segment = [] }
        while let t = try reader!.readFrame(into: &image) { if t.index >= target { return } }
        throw MediaError.decodeFailed(path: path, at: Double(position) / frameRate, reason: "the video ended early on its second reading")
    }

    private func readBackward(_ target: Int, length: Int, into image: inout RGBImage) throws {
        reader = nil
        if segment.isEmpty || target < segmentStart || target >= segmentStart + segment.count {
            let per = max(1, width * height * 3)
            let k = max(2, min(length, bufferBytes / per))
            segmentStart = max(0, target - k + 1)
            segment = []
            let r = try VideoReader(path: path, options: options)
            var img = RGBImage.empty
            while let t = try r.readFrame(into: &img) {
                if t.index >= segmentStart { segment.append(img) }
                if t.index >= target { break }
            }
            guard segmentStart + segment.count > target else {
                throw MediaError.decodeFailed(path: path, at: Double(position) / frameRate, reason: "the video ended early on its second reading")
            }
        }
        image = segment[target - segmentStart]
    }
}
