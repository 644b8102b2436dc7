import CFFmpeg
import Foundation

/// Still-image output through libavcodec's encoders (PNG by default), written atomically.
public enum ImageFile {
    public static func writePNG(_ image: RGBImage, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        guard FileManager.default.isWritableFile(atPath: dir) else {
            throw MediaError.unwritableOutput(path: path, reason: "directory \(dir) is not writable")
        }
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_PNG), var ctx = Optional(avcodec_alloc_context3(codec)) else {
            throw MediaError.encodeFailed(path: path, reason: "no PNG encoder")
        }
        defer { avcodec_free_context(&ctx) }
        ctx!.pointee.width = Int32(image.width)
        ctx!.pointee.height = Int32(image.height)
        ctx!.pointee.pix_fmt = AV_PIX_FMT_RGB24
        ctx!.pointee.time_base = AVRational(num: 1, den: 25)
        guard avcodec_open2(ctx, codec, nil) >= 0 else { throw MediaError.encodeFailed(path: path, reason: "cannot open PNG encoder") }
        var frame: UnsafeMutablePointer<AVFrame>? = av_frame_alloc()
        defer { av_frame_free(&frame) }
        frame!.pointee.width = Int32(image.width)
        frame!.pointee.height = Int32(image.height)
        frame!.pointee.format = AV_PIX_FMT_RGB24.rawValue
        guard av_frame_get_buffer(frame, 0) >= 0 else { throw MediaError.encodeFailed(path: path, reason: "out of memory") }
        let stride = Int(frame!.pointee.linesize.0)
        let dst = frame!.pointee.data.0!
        image.pixels.withUnsafeBufferPointer { src in
            for y in 0..<image.height {
                (dst + y * stride).update(from: src.baseAddress! + y * image.width * 3, count: image.width * 3)
            }
        }
        var pkt: UnsafeMutablePointer<AVPacket>? = av_packet_alloc()
        defer { av_packet_free(&pkt) }
        guard avcodec_send_frame(ctx, frame) >= 0, avcodec_receive_packet(ctx, pkt) >= 0 else {
            throw MediaError.encodeFailed(path: path, reason: "PNG encoding failed")
        }
        let data = Data(bytes: pkt!.pointee.data, count: Int(pkt!.pointee.size))
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw MediaError.unwritableOutput(path: path, reason: error.localizedDescription)
        }
    }
}
