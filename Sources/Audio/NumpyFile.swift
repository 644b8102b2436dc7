import Foundation
import Media

/// Minimal NumPy `.npy` (format 1.0) I/O for little-endian float32/float64 arrays.
public enum NumpyFile {
    public struct Array: Sendable {
        public var shape: [Int]
        public var fortranOrder: Bool
        public var values: [Double]
    }

    public enum Error: Swift.Error, CustomStringConvertible {
        case malformed(path: String, reason: String)
        public var description: String {
            switch self { case .malformed(let p, let r): return "\(p): not a readable .npy file (\(r))" }
        }
    }

    public static func read(_ path: String) throws -> Array {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard data.count >= 10, data.prefix(6) == Data([0x93]) + Data("NUMPY".utf8) else {
            throw Error.malformed(path: path, reason: "bad magic")
        }
        let major = data[6]
        let headerLen: Int, start: Int
        if major == 1 {
            headerLen = Int(data[8]) | Int(data[9]) << 8
            start = 10
        } else {
            guard data.count >= 12 else { throw Error.malformed(path: path, reason: "short header") }
            headerLen = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
            start = 12
        }
        guard data.count >= start + headerLen,
              let header = String(data: data[start..<start + headerLen], encoding: .ascii) else {
            throw Error.malformed(path: path, reason: "short header")
        }
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descr = field("descr"), let fo = field("fortran_order"), let sh = field("shape"),
              let open = sh.firstIndex(of: "("), let close = sh.firstIndex(of: ")") else {
            throw Error.malformed(path: path, reason: "header fields")
        }
        let shape = sh[sh.index(after: open)..<close].split(separator: ",")
            .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let body = data[(start + headerLen)...]
        var values = [Double](repeating: 0, count: count)
        if descr.hasPrefix("'<f4'") {
            guard body.count >= count * 4 else { throw Error.malformed(path: path, reason: "truncated data") }
            body.withUnsafeBytes { raw in
                for i in 0..<count { values[i] = Double(Float(bitPattern: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian)) }
            }
        } else if descr.hasPrefix("'<f8'") {
            guard body.count >= count * 8 else { throw Error.malformed(path: path, reason: "truncated data") }
            body.withUnsafeBytes { raw in
                for i in 0..<count { values[i] = Double(bitPattern: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self).littleEndian) }
            }
        } else {
            throw Error.malformed(path: path, reason: "unsupported dtype \(descr.prefix(6))")
        }
        return Array(shape: shape, fortranOrder: fo.hasPrefix("True"), values: values)
    }

    /// Header of fixed length (128 bytes), so a streaming writer can fill in the shape at the end.
    static func header(shape: [Int], fortranOrder: Bool) -> Data {
        let dims = shape.count == 1 ? "\(shape[0])," : shape.map(String.init).joined(separator: ", ")
        var dict = "{'descr': '<f4', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': (\(dims)), }"
        let total = 128
        let pad = total - 10 - dict.utf8.count - 1
        precondition(pad >= 0, "npy header too long")
        dict += String(repeating: " ", count: pad) + "\n"
        var d = Data([0x93]) + Data("NUMPY".utf8) + Data([1, 0])
        let len = UInt16(dict.utf8.count)
        d.append(UInt8(len & 0xff)); d.append(UInt8(len >> 8))
        d.append(Data(dict.utf8))
        return d
    }
}

/// Writes a float32 `.npy` incrementally to a temporary file beside the target; `finish(shape:)`
/// fills in the shape and renames it into place. Nothing appears at `path` unless it completes.
public final class NumpyStreamWriter {
    public let path: String
    private let tempPath: String
    private let handle: FileHandle
    private var written = 0
    private var done = false

    public init(path: String) throws {
        self.path = path
        tempPath = AtomicOutput.temporaryPath(for: path)
        guard FileManager.default.createFile(atPath: tempPath, contents: NumpyFile.header(shape: [0], fortranOrder: false)),
              let h = FileHandle(forUpdatingAtPath: tempPath) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        handle = h
        handle.seekToEndOfFile()
    }

    deinit {
        if !done {
            try? handle.close()
            AtomicOutput.discard(tempPath)
        }
    }

    public func append(_ values: [Float]) throws {
        var bytes = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        try handle.write(contentsOf: bytes)
        written += values.count
    }

    public func finish(shape: [Int], fortranOrder: Bool) throws {
        precondition(shape.reduce(1, *) == written, "npy shape does not match the values written")
        try handle.seek(toOffset: 0)
        try handle.write(contentsOf: NumpyFile.header(shape: shape, fortranOrder: fortranOrder))
        try handle.close()
        done = true
        try AtomicOutput.commit(tempPath, to: path)
    }
}
