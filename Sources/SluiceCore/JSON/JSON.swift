/// An owned JSON value: for configuration, patterns, templates and tests — not the hot path,
/// which reads `JSONView`s over simdjson's tape. Object members keep their document order.
public enum JSON: Sendable, Hashable {
    case null
    case bool(Bool)
    /// A number, with its source text kept so that serialization round-trips (`8.90` stays `8.90`).
    case number(Double, text: String)
    case string(String)
    case array([JSON])
    case object([(key: String, value: JSON)])

    public static func number(_ value: Double) -> JSON {
        .number(value, text: numberText(value))
    }

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x, _), .number(y, _)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    public func hash(into h: inout Hasher) {
        switch self {
        case .null: h.combine(0)
        case .bool(let v): h.combine(v)
        case .number(let v, _): h.combine(v)
        case .string(let v): h.combine(v)
        case .array(let v): h.combine(v)
        case .object(let v): for (k, x) in v { h.combine(k); h.combine(x) }
        }
    }

    /// Copies a view out of its document.
    public init(_ view: JSONView) {
        switch view.kind {
        case .null: self = .null
        case .bool: self = .bool(view.bool!)
        case .string: self = .string(view.string!)
        case .number:
            if let i = view.int64 { self = .number(Double(i), text: String(i)) } else if let u = view.uint64 {
                self = .number(Double(u), text: String(u))
            } else {
                let d = view.double!
                self = .number(d, text: JSON.numberText(d))
            }
        case .array:
            var items: [JSON] = []
            items.reserveCapacity(view.count)
            view.forEachElement { items.append(JSON($0)) }
            self = .array(items)
        case .object:
            var members: [(key: String, value: JSON)] = []
            members.reserveCapacity(view.count)
            view.forEachMember { k, v in members.append((String(decoding: k, as: UTF8.self), JSON(v))) }
            self = .object(members)
        }
    }

    public subscript(key: String) -> JSON? {
        if case .object(let members) = self { return members.first { $0.key == key }?.value }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var doubleValue: Double? { if case .number(let d, _) = self { return d }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: [(key: String, value: JSON)]? { if case .object(let o) = self { return o }; return nil }

    /// Follows a dotted path of object keys.
    public func value(atPath path: String) -> JSON? {
        // Components read from the path's UTF-8 in place and compared by length first: no array
        // of parts, no String per part (the Hold stage reads a few paths of every finding).
        var path = path
        return path.withUTF8 { bytes -> JSON? in
            var current = self
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: ".") { end += 1 }
                defer { start = end + 1 }
                if end == start { continue }
                let part = UnsafeBufferPointer(rebasing: bytes[start..<end])
                guard case .object(let members) = current,
                      let member = members.first(where: { $0.key.utf8.count == part.count && $0.key.utf8.elementsEqual(part) })
                else { return nil }
                current = member.value
            }
            return current
        }
    }

    /// Compact JSON text.
    public func serialized() -> String {
        var out = ""
        write(to: &out)
        return out
    }

    public func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(_, let text): out += text
        case .string(let s): JSON.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, v) in items.enumerated() {
                if i > 0 { out += "," }
                v.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, m) in members.enumerated() {
                if i > 0 { out += "," }
                JSON.writeString(m.key, to: &out)
                out += ":"
                m.value.write(to: &out)
            }
            out += "}"
        }
    }

    /// Writes `s` as a JSON string literal, escaping what RFC 8259 requires.
    public static func writeString(_ s: String, to out: inout String) {
        out += "\""
        // Most strings need no escape: appended whole (state keys write one per finding).
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out += s
            out += "\""
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// `8` for 8.0, `5.3` for 5.3, `1e+300` for 1e300: whole numbers print without a fraction
    /// only while they are exact (below 1e15), so no conversion can trap.
    public static func numberText(_ d: Double) -> String {
        if d.isFinite, d.rounded() == d, abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value), text: String(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) { self = .object(elements.map { (key: $0.0, value: $0.1) }) }
    public init(nilLiteral: ()) { self = .null }
}
