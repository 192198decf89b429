import CJansson

/// A JSON document built or changed in place, backed by jansson: how connectors construct
/// vendor payloads (PagerDuty events, Jira issues, bulk lines) and patch rendered templates
/// (add a routing key, a dedup key) before sending. Inbound parsing stays on simdjson.
///
/// ```swift
/// let event: JSONBuilder = ["event_action": "trigger", "payload": ["summary": .string(title)]]
/// event["dedup_key"] = .string(id)
/// let bytes = event.serialized()
/// ```
/// A builder is a reference to one jansson value; `copy()` before sharing it across threads.
public final class JSONBuilder: @unchecked Sendable {
    /// An owned reference (released in deinit).
    let raw: OpaquePointer

    private init(owning raw: OpaquePointer) { self.raw = raw }

    deinit { sluice_json_decref(UnsafeMutablePointer(raw)) }

    // MARK: Values

    public static func object() -> JSONBuilder { JSONBuilder(owning: OpaquePointer(json_object())!) }
    public static func array() -> JSONBuilder { JSONBuilder(owning: OpaquePointer(json_array())!) }
    public static func string(_ s: String) -> JSONBuilder {
        // json_stringn_nocheck: Swift strings are valid UTF-8 already, and may hold NUL.
        let utf8 = Array(s.utf8) + [0]
        return utf8.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { JSONBuilder(owning: OpaquePointer(json_stringn_nocheck($0.baseAddress!, $0.count - 1))!) }
        }
    }
    public static func int(_ v: Int) -> JSONBuilder { JSONBuilder(owning: OpaquePointer(json_integer(json_int_t(v)))!) }
    public static func double(_ v: Double) -> JSONBuilder {
        // Integral values print as integers (severity 8.0 → 8), as GuardDuty's own JSON does.
        if v.rounded() == v, abs(v) < 1e15 { return int(Int(v)) }
        return JSONBuilder(owning: OpaquePointer(json_real(v.isFinite ? v : 0))!)
    }
    public static func bool(_ v: Bool) -> JSONBuilder { JSONBuilder(owning: OpaquePointer(json_boolean_value(v))!) }
    public static func null() -> JSONBuilder { JSONBuilder(owning: OpaquePointer(json_null())!) }

    private static func json_boolean_value(_ v: Bool) -> UnsafeMutablePointer<json_t>? { v ? json_true() : json_false() }

    /// Converts Sluice's owned JSON value (from a parsed finding).
    public convenience init(_ json: JSON) {
        switch json {
        case .object(let members):
            self.init(owning: OpaquePointer(json_object())!)
            for (k, v) in members { self[k] = JSONBuilder(v) }
        case .array(let items):
            self.init(owning: OpaquePointer(json_array())!)
            for v in items { append(JSONBuilder(v)) }
        case .string(let s): self.init(owning: JSONBuilder.string(s).retained())
        case .number(let d, let text):
            if let i = Int(text) { self.init(owning: OpaquePointer(json_integer(json_int_t(i)))!) } else { self.init(owning: OpaquePointer(json_real(d))!) }
        case .bool(let b): self.init(owning: OpaquePointer(b ? json_true() : json_false())!)
        case .null: self.init(owning: OpaquePointer(json_null())!)
        }
    }

    /// Parses JSON text (a rendered template) into an editable document; nil with the reason
    /// when it is not JSON.
    public static func parse(_ bytes: [UInt8]) -> Result<JSONBuilder, JSONBuilderError> {
        var error = json_error_t()
        let j = bytes.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { json_loadb($0.baseAddress, $0.count, Int(JSON_DECODE_ANY | JSON_ALLOW_NUL), &error) }
        }
        guard let j else {
            let text = withUnsafeBytes(of: error.text) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return .failure(JSONBuilderError(message: "line \(error.line), column \(error.column): \(text)"))
        }
        return .success(JSONBuilder(owning: OpaquePointer(j)))
    }

    /// A +1 reference for handing to a jansson `_new` function.
    private func retained() -> OpaquePointer { OpaquePointer(sluice_json_incref(UnsafeMutablePointer(raw))!) }

    private var pointer: UnsafeMutablePointer<json_t> { UnsafeMutablePointer(raw) }

    // MARK: Reading and changing

    public var isObject: Bool { sluice_json_typeof(pointer) == JSON_OBJECT }
    public var isArray: Bool { sluice_json_typeof(pointer) == JSON_ARRAY }

    /// A member of an object (a reference into this document: changes show through), or nil.
    /// Setting adds or replaces the member; setting nil removes it.
    public subscript(key: String) -> JSONBuilder? {
        get {
            guard isObject, let v = json_object_get(pointer, key) else { return nil }
            return JSONBuilder(owning: OpaquePointer(sluice_json_incref(v))!)
        }
        set {
            guard isObject else { return }
            if let newValue { json_object_set_new(pointer, key, UnsafeMutablePointer(newValue.retained())) } else { json_object_del(pointer, key) }
        }
    }

    /// A string member's value.
    public func string(_ key: String) -> String? {
        guard isObject, let v = json_object_get(pointer, key), sluice_json_typeof(v) == JSON_STRING else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: json_string_value(v), count: json_string_length(v)), as: UTF8.self)
    }

    public var count: Int { isArray ? json_array_size(pointer) : isObject ? json_object_size(pointer) : 0 }

    /// Appends to an array.
    public func append(_ value: JSONBuilder) {
        guard isArray else { return }
        json_array_append_new(pointer, UnsafeMutablePointer(value.retained()))
    }

    /// The array's elements (references into this document).
    public var elements: [JSONBuilder] {
        guard isArray else { return [] }
        return (0..<json_array_size(pointer)).map { JSONBuilder(owning: OpaquePointer(sluice_json_incref(json_array_get(pointer, $0)))!) }
    }

    /// The object's keys, in insertion order.
    public var keys: [String] {
        guard isObject else { return [] }
        var out: [String] = []
        var iter = json_object_iter(pointer)
        while let i = iter {
            if let key = json_object_iter_key(i) { out.append(String(cString: key)) }
            iter = json_object_iter_next(pointer, i)
        }
        return out
    }

    /// A deep copy, independent of this document.
    public func copy() -> JSONBuilder { JSONBuilder(owning: OpaquePointer(json_deep_copy(pointer))!) }

    /// Compact JSON text, members in insertion order.
    public func serialized() -> [UInt8] {
        let flags = Int(JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER) | jsonRealPrecision17
        let size = json_dumpb(pointer, nil, 0, flags)
        guard size > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: size)
        _ = out.withUnsafeMutableBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { json_dumpb(pointer, $0.baseAddress, size, flags) }
        }
        return out
    }

    public var text: String { String(decoding: serialized(), as: UTF8.self) }
}

/// JSON_REAL_PRECISION(17): doubles round-trip exactly.
private let jsonRealPrecision17 = (17 & 0x1F) << 11

public struct JSONBuilderError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

extension JSONBuilder: ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByStringLiteral,
    ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral, ExpressibleByFloatLiteral
{
    public convenience init(dictionaryLiteral elements: (String, JSONBuilder)...) {
        self.init(owning: OpaquePointer(json_object())!)
        for (k, v) in elements { self[k] = v }
    }
    public convenience init(arrayLiteral elements: JSONBuilder...) {
        self.init(owning: OpaquePointer(json_array())!)
        for v in elements { append(v) }
    }
    public convenience init(stringLiteral value: String) { self.init(owning: JSONBuilder.string(value).retained()) }
    public convenience init(integerLiteral value: Int) { self.init(owning: OpaquePointer(json_integer(json_int_t(value)))!) }
    public convenience init(booleanLiteral value: Bool) { self.init(owning: OpaquePointer(value ? json_true() : json_false())!) }
    public convenience init(floatLiteral value: Double) { self.init(owning: JSONBuilder.double(value).retained()) }
}
