import Foundation

/// The safetensors format: an 8-byte little-endian header length, a JSON header naming each tensor's
/// dtype, shape and byte range, then the raw data. Files are untrusted input: every field is checked
/// before any byte of data is touched.
public struct SafetensorsFile: Sendable {
    public enum DType: String, Sendable {
        case f32 = "F32", f16 = "F16", u8 = "U8"
        var size: Int {
            switch self {
            case .f32: return 4
            case .f16: return 2
            case .u8: return 1
            }
        }
    }

    public struct Entry: Sendable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var range: Range<Int>
    }

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case unreadable(path: String, reason: String)
        case malformed(path: String, reason: String)
        case missingTensor(path: String, name: String)
        case shapeMismatch(path: String, name: String, expected: [Int], found: [Int])

        public var description: String {
            switch self {
            case .unreadable(let p, let r): return "\(p): cannot read weights (\(r))"
            case .malformed(let p, let r): return "\(p): malformed safetensors file (\(r))"
            case .missingTensor(let p, let n): return "\(p): no tensor named '\(n)'"
            case .shapeMismatch(let p, let n, let e, let f): return "\(p): tensor '\(n)' has shape \(f), expected \(e)"
            }
        }
    }

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    /// Opens a file, memory-mapped.
    public init(path: String) throws {
        let d: Data
        do { d = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw Error.unreadable(path: path, reason: FileManager.default.fileExists(atPath: path) ? "permission or I/O error" : "no such file")
        }
        try self.init(data: d, path: path)
    }

    public init(data: Data, path: String = "<memory>") throws {
        self.path = path
        self.data = data
        func bad(_ r: String) -> Error { .malformed(path: path, reason: r) }
        guard data.count >= 8 else { throw bad("file shorter than its 8-byte header length") }
        let n = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard n >= 2, n <= UInt64(data.count - 8), n <= 100_000_000 else { throw bad("header length \(n) out of range") }
        dataStart = 8 + Int(n)
        let headerBytes = data[data.startIndex + 8 ..< data.startIndex + dataStart]
        guard let json = try? JSONSerialization.jsonObject(with: headerBytes), let dict = json as? [String: Any] else {
            throw bad("header is not a JSON object")
        }
        let dataLength = data.count - dataStart
        var entries: [String: Entry] = [:], meta: [String: String] = [:]
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw bad("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw bad("metadata '\(k)' is not a string") }
                    meta[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw bad("entry '\(name)' is not an object") }
            guard let dt = info["dtype"] as? String, let dtype = DType(rawValue: dt) else {
                throw bad("tensor '\(name)' has unsupported dtype \(info["dtype"].map { "\($0)" } ?? "none")")
            }
            guard let shapeAny = info["shape"] as? [Any], let offsAny = info["data_offsets"] as? [Any], offsAny.count == 2 else {
                throw bad("tensor '\(name)' lacks shape or data_offsets")
            }
            func int(_ v: Any) -> Int? {
                guard let num = v as? NSNumber else { return nil }
                let d = num.doubleValue
                guard d >= 0, d <= 1e15, d == d.rounded() else { return nil }
                return Int(d)
            }
            let shape = shapeAny.compactMap(int)
            guard shape.count == shapeAny.count, shape.count <= 8 else { throw bad("tensor '\(name)' has an invalid shape") }
            guard let begin = int(offsAny[0]), let end = int(offsAny[1]), begin <= end, end <= dataLength else {
                throw bad("tensor '\(name)' has data offsets outside the file")
            }
            var elements = 1
            for s in shape {
                let (p, overflow) = elements.multipliedReportingOverflow(by: s)
                guard !overflow, p <= 1 << 40 else { throw bad("tensor '\(name)' is impossibly large") }
                elements = p
            }
            guard end - begin == elements * dtype.size else {
                throw bad("tensor '\(name)' holds \(end - begin) bytes, shape \(shape) needs \(elements * dtype.size)")
            }
            entries[name] = Entry(name: name, dtype: dtype, shape: shape, range: begin..<end)
        }
        // Byte ranges must not overlap.
        let sorted = entries.values.sorted { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.range.upperBound > b.range.lowerBound {
            throw bad("tensors '\(a.name)' and '\(b.name)' overlap")
        }
        self.entries = entries
        metadata = meta
    }

    public var names: [String] { entries.keys.sorted() }

    /// The tensor as Float32 (F16 is widened).
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else { throw Error.missingTensor(path: path, name: name) }
        let t = Tensor(shape: e.shape)
        data.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart + e.range.lowerBound
            switch e.dtype {
            case .f32:
                for i in 0..<t.count { t.data[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            case .f16:
                for i in 0..<t.count { t.data[i] = Float(Float16(bitPattern: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))) }
            case .u8:
                for i in 0..<t.count { t.data[i] = Float(base.load(fromByteOffset: i, as: UInt8.self)) }
            }
        }
        return t
    }

    /// The raw bytes of a U8 tensor (8-bit pictures stay 8-bit in memory).
    public func bytes(_ name: String) throws -> [UInt8] {
        guard let e = entries[name] else { throw Error.missingTensor(path: path, name: name) }
        guard e.dtype == .u8 else { throw Error.malformed(path: path, reason: "tensor '\(name)' is \(e.dtype.rawValue), not U8") }
        return data.withUnsafeBytes { raw in Array(UnsafeRawBufferPointer(rebasing: raw[(dataStart + e.range.lowerBound)..<(dataStart + e.range.upperBound)])) }
    }

    /// Writes Float tensors (sorted by name) and 8-bit arrays in one file, atomically.
    public static func write(_ tensors: [(name: String, tensor: Tensor)], bytes: [(name: String, shape: [Int], values: [UInt8])],
                             metadata: [String: String] = [:], to path: String) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let ordered = tensors.sorted { $0.name < $1.name }
        for (name, t) in ordered {
            header[name] = ["dtype": DType.f32.rawValue, "shape": t.shape, "data_offsets": [offset, offset + 4 * t.count]]
            offset += 4 * t.count
        }
        for b in bytes {
            precondition(b.shape.reduce(1, *) == b.values.count, "safetensors: \(b.name) shape \(b.shape) for \(b.values.count) bytes")
            header[b.name] = ["dtype": DType.u8.rawValue, "shape": b.shape, "data_offsets": [offset, offset + b.values.count]]
            offset += b.values.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for (_, t) in ordered { out.append(Data(bytes: t.data, count: t.count * 4)) }
        for b in bytes { out.append(contentsOf: b.values) }
        do { try out.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw Error.unreadable(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Copies a stored tensor into `target`, which must have the same shape.
    public func load(_ name: String, into target: Tensor) throws {
        guard let e = entries[name] else { throw Error.missingTensor(path: path, name: name) }
        guard e.shape == target.shape else { throw Error.shapeMismatch(path: path, name: name, expected: target.shape, found: e.shape) }
        target.copy(from: try tensor(name))
    }

    /// Writes tensors (sorted by name) with optional metadata, atomically.
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
                             dtype: DType = .f32, to path: String) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let ordered = tensors.sorted { $0.name < $1.name }
        for (name, t) in ordered {
            let bytes = t.count * dtype.size
            header[name] = ["dtype": dtype.rawValue, "shape": t.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for (_, t) in ordered {
            switch dtype {
            case .f32:
                out.append(Data(bytes: t.data, count: t.count * 4))
            case .f16:
                var half = [UInt16](repeating: 0, count: t.count)
                for i in 0..<t.count { half[i] = Float16(t.data[i]).bitPattern.littleEndian }
                half.withUnsafeBytes { out.append(contentsOf: $0) }
            case .u8:
                out.append(contentsOf: (0..<t.count).map { UInt8(max(0, min(255, t.data[$0].rounded()))) })
            }
        }
        do { try out.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw Error.unreadable(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}

/// Any number of models and named optimisers in one safetensors file, so training resumes bit for
/// bit: every model's parameters and buffers under its scope (`sync.visual.0.conv.weight`), every
/// optimiser's moments (`optim.NAME.m.SCOPED-PARAMETER`) and step (metadata `optim.NAME.step`), and
/// any caller state as metadata (the data generator's state, say).
public enum Checkpoint {
    public static let format = "lipsync-checkpoint-2"

    public enum Error: Swift.Error, CustomStringConvertible {
        case parameterOutsideModels(optimizer: String, parameter: String)
        case wrongFormat(path: String, found: String?)
        public var description: String {
            switch self {
            case .parameterOutsideModels(let o, let p): return "checkpoint: optimiser '\(o)' updates '\(p)', which belongs to no saved model"
            case .wrongFormat(let p, let f): return "\(p): not a \(Checkpoint.format) checkpoint (format \(f ?? "missing"))"
            }
        }
    }

    static func tensors(models: [any Model], optimizers: [(name: String, optimizer: Adam)]) throws -> [(name: String, tensor: Tensor)] {
        var scoped: [ObjectIdentifier: String] = [:]
        for m in models { for p in m.parameters { scoped[ObjectIdentifier(p)] = m.scope + "." + p.name } }
        var out = models.flatMap(\.scopedTensors)
        for (name, o) in optimizers {
            for (k, p) in o.parameters.enumerated() {
                guard let s = scoped[ObjectIdentifier(p)] else { throw Error.parameterOutsideModels(optimizer: name, parameter: p.name) }
                out.append((name: "optim.\(name).m.\(s)", tensor: o.m[k]))
                out.append((name: "optim.\(name).v.\(s)", tensor: o.v[k]))
            }
        }
        return out
    }

    public static func save(models: [any Model], optimizers: [(name: String, optimizer: Adam)], metadata: [String: String] = [:],
                            to path: String) throws {
        var meta = metadata
        meta["format"] = format
        for (name, o) in optimizers { meta["optim.\(name).step"] = String(o.step) }
        try SafetensorsFile.write(try tensors(models: models, optimizers: optimizers), metadata: meta, to: path)
    }

    /// Restores every model and optimiser named; returns the file's metadata.
    @discardableResult
    public static func load(from path: String, models: [any Model], optimizers: [(name: String, optimizer: Adam)]) throws -> [String: String] {
        let f = try SafetensorsFile(path: path)
        guard f.metadata["format"] == format else { throw Error.wrongFormat(path: path, found: f.metadata["format"]) }
        for (name, t) in try tensors(models: models, optimizers: optimizers) { try f.load(name, into: t) }
        for (name, o) in optimizers { o.restore(step: Int(f.metadata["optim.\(name).step"] ?? "0") ?? 0) }
        return f.metadata
    }
}
