import CSimdjson

/// Why an inbound document was rejected. The raw value is the dead-letter reason.
public enum JSONRejection: String, Error, Sendable, CaseIterable {
    case tooLarge = "too_large"
    case tooDeep = "too_deep"
    case invalidUTF8 = "invalid_utf8"
    case notJSON = "not_json"
    case empty = "empty"
    case noMemory = "no_memory"

    init(_ status: sluice_json_status) {
        switch status {
        case SLUICE_JSON_TOO_LARGE: self = .tooLarge
        case SLUICE_JSON_TOO_DEEP: self = .tooDeep
        case SLUICE_JSON_INVALID_UTF8: self = .invalidUTF8
        case SLUICE_JSON_EMPTY: self = .empty
        case SLUICE_JSON_NO_MEMORY: self = .noMemory
        default: self = .notJSON
        }
    }
}

/// A simdjson DOM parser. Not thread-safe: each decoding thread owns one. The document a parse
/// yields is valid only inside the closure passed to `parse`, because the next parse reuses it.
public final class JSONParser {
    public let maxBytes: Int
    public let maxDepth: Int
    private let handle: OpaquePointer

    /// - Parameters:
    ///   - maxBytes: larger documents are rejected as `tooLarge` (default 1 MiB).
    ///   - maxDepth: deeper nesting is rejected as `tooDeep` (default 64 levels).
    public init(maxBytes: Int = 1 << 20, maxDepth: Int = 64) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        guard let h = sluice_json_parser_new(maxBytes, maxDepth) else {
            fatalError("simdjson: cannot allocate a parser of \(maxBytes) bytes")  // start-up only
        }
        handle = h
    }

    deinit { sluice_json_parser_free(handle) }

    /// Bytes simdjson may read past the end of a document: a buffer with this much spare
    /// capacity is parsed where it is, without a copy.
    public static let padding = sluice_json_padding()

    /// Parses `bytes` and runs `body` on the document, or returns why it was rejected.
    /// `padded`: `JSONParser.padding` bytes after the document are readable. Otherwise the
    /// input is copied into padded memory unless those bytes are in the same memory page.
    public func parse<R>(
        _ bytes: UnsafeRawBufferPointer, padded: Bool = false, _ body: (JSONDocument) throws -> R
    ) rethrows -> Result<R, JSONRejection> {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return .failure(.empty) }
        var tape = sluice_json_tape()
        let status = sluice_json_parse_in_place(handle, base.assumingMemoryBound(to: CChar.self), bytes.count, padded ? 1 : 0, &tape)
        guard status == SLUICE_JSON_OK, let words = tape.tape, let strings = tape.strings else {
            return .failure(JSONRejection(status))
        }
        return .success(try body(JSONDocument(tape: words, strings: strings, count: tape.tape_length)))
    }

    /// An array with `JSONParser.padding` bytes of spare capacity is parsed in place.
    public func parse<R>(_ bytes: [UInt8], _ body: (JSONDocument) throws -> R) rethrows -> Result<R, JSONRejection> {
        let padded = bytes.capacity - bytes.count >= JSONParser.padding
        return try bytes.withUnsafeBytes { try parse($0, padded: padded, body) }
    }

    public func parse<R>(_ text: String, _ body: (JSONDocument) throws -> R) rethrows -> Result<R, JSONRejection> {
        try parse(Array(text.utf8), body)
    }

    /// simdjson's description of the last failure, for logs.
    public var lastErrorDescription: String { String(cString: sluice_json_last_error(handle)) }
}
