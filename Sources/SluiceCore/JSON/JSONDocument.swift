/// A parsed document: a read-only view over simdjson's tape. Valid only inside the closure given
/// to `JSONParser.parse`; copy out (`JSON(_:)`) what must outlive it.
///
/// Tape words (simdjson doc/tape.md): the top byte is the type, the low 56 bits the payload.
/// `{`/`[` carry the index just past their closing word; strings carry an offset into the string
/// buffer, where a little-endian UInt32 length precedes the bytes; `l`/`u`/`d` numbers keep their
/// value in the following word.
public struct JSONDocument {
    @usableFromInline let tape: UnsafePointer<UInt64>
    @usableFromInline let strings: UnsafePointer<UInt8>
    public let tapeCount: Int

    @usableFromInline init(tape: UnsafePointer<UInt64>, strings: UnsafePointer<UInt8>, count: Int) {
        self.tape = tape
        self.strings = strings
        self.tapeCount = count
    }

    /// The root value.
    public var root: JSONView { JSONView(document: self, index: 1) }
}

/// The type of a JSON value.
public enum JSONKind: Sendable, Equatable {
    case object, array, string, number, bool, null
}

/// One value in a `JSONDocument`, addressed by its tape index.
public struct JSONView {
    public let document: JSONDocument
    public let index: Int

    @inlinable public init(document: JSONDocument, index: Int) {
        self.document = document
        self.index = index
    }

    @inlinable var word: UInt64 { document.tape[index] }
    @inlinable var typeByte: UInt8 { UInt8(truncatingIfNeeded: word >> 56) }
    @inlinable var payload: UInt64 { word & 0x00FF_FFFF_FFFF_FFFF }

    public var kind: JSONKind {
        switch typeByte {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "l"), UInt8(ascii: "u"), UInt8(ascii: "d"): return .number
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        default: return .null
        }
    }

    /// Tape index just past this value (its closing word, or its number payload word).
    @inlinable public var endIndex: Int {
        switch typeByte {
        case UInt8(ascii: "{"), UInt8(ascii: "["): return Int(truncatingIfNeeded: payload & 0xFFFF_FFFF)
        case UInt8(ascii: "l"), UInt8(ascii: "u"), UInt8(ascii: "d"): return index + 2
        default: return index + 1
        }
    }

    /// The string's UTF-8 bytes, without copying. Valid as long as the document.
    @inlinable public var stringBytes: UnsafeBufferPointer<UInt8>? {
        guard typeByte == UInt8(ascii: "\"") else { return nil }
        let base = document.strings + Int(payload)
        let length = UnsafeRawPointer(base).loadUnaligned(as: UInt32.self)
        return UnsafeBufferPointer(start: base + 4, count: Int(UInt32(littleEndian: length)))
    }

    public var string: String? { stringBytes.map { String(decoding: $0, as: UTF8.self) } }

    public var double: Double? {
        let next = document.tape[index + 1]
        switch typeByte {
        case UInt8(ascii: "d"): return Double(bitPattern: next)
        case UInt8(ascii: "l"): return Double(Int64(bitPattern: next))
        case UInt8(ascii: "u"): return Double(next)
        default: return nil
        }
    }

    /// The integer value when the number was written as an integer that fits Int64.
    public var int64: Int64? {
        let next = document.tape[index + 1]
        switch typeByte {
        case UInt8(ascii: "l"): return Int64(bitPattern: next)
        case UInt8(ascii: "u"): return next <= UInt64(Int64.max) ? Int64(next) : nil
        default: return nil
        }
    }

    /// The value of an integer above Int64.max.
    public var uint64: UInt64? { typeByte == UInt8(ascii: "u") ? document.tape[index + 1] : nil }

    public var isInteger: Bool { typeByte == UInt8(ascii: "l") || typeByte == UInt8(ascii: "u") }

    public var bool: Bool? {
        switch typeByte {
        case UInt8(ascii: "t"): return true
        case UInt8(ascii: "f"): return false
        default: return nil
        }
    }

    /// Number of elements of an object or array (saturates at 16,777,215).
    public var count: Int { Int(truncatingIfNeeded: (payload >> 32) & 0xFF_FFFF) }

    /// Calls `body` with each key and value of an object, in document order.
    @inlinable public func forEachMember(_ body: (UnsafeBufferPointer<UInt8>, JSONView) throws -> Void) rethrows {
        guard typeByte == UInt8(ascii: "{") else { return }
        var i = index + 1
        let end = endIndex - 1
        while i < end {
            let key = JSONView(document: document, index: i)
            let value = JSONView(document: document, index: i + 1)
            try body(key.stringBytes!, value)
            i = value.endIndex
        }
    }

    /// Calls `body` with each element of an array, in order.
    @inlinable public func forEachElement(_ body: (JSONView) throws -> Void) rethrows {
        guard typeByte == UInt8(ascii: "[") else { return }
        var i = index + 1
        let end = endIndex - 1
        while i < end {
            let value = JSONView(document: document, index: i)
            try body(value)
            i = value.endIndex
        }
    }

    /// The member named `key` of an object (the first, if the object repeats it).
    public subscript(key: String) -> JSONView? {
        guard typeByte == UInt8(ascii: "{") else { return nil }
        var key = key
        return key.withUTF8 { wanted in
            // Stops at the first match (the view reads ~30 members of a GuardDuty finding this way).
            var i = index + 1
            let end = endIndex - 1
            while i < end {
                let value = JSONView(document: document, index: i + 1)
                if let name = JSONView(document: document, index: i).stringBytes, name.count == wanted.count, name.elementsEqual(wanted) {
                    return value
                }
                i = value.endIndex
            }
            return nil
        }
    }

    /// Follows a dotted path of object keys (`detail.resource.resourceType`).
    public func value(atPath path: String) -> JSONView? {
        var current: JSONView? = self
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            current = current?[String(part)]
            if current == nil { return nil }
        }
        return current
    }

    /// The value rendered as a string the way a template or a header wants it: strings bare,
    /// numbers and literals in JSON form, objects and arrays as compact JSON.
    public var text: String {
        switch kind {
        case .string: return string ?? ""
        default: return JSON(self).serialized()
        }
    }
}
