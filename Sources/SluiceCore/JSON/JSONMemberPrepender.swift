/// Adds one member, first, to a parsed document's root object without serialising or parsing
/// anything: the member is written in simdjson's tape format (`JSONDocument`), the root's other
/// words and strings are copied after it (indexes and offsets moved by what came before), and
/// the result is read like any parsed document. The decoder adds a finding's `sluice` view this
/// way; writing the view as text and parsing the whole event again cost more than the match
/// (docs/benchmarks-match.md).
///
/// Not thread-safe (it reuses its buffers): one per decoder. A document it yields is valid only
/// inside the closure it is given to, like a parser's.
public final class JSONMemberPrepender {
    private var tape: [UInt64] = []
    private var strings: [UInt8] = []

    public init() {}

    /// Calls `body` with `root` led by the member `key`, whose object `write` fills in. nil when
    /// `root` is not its document's root object.
    public func withLeadingMember<R>(
        _ key: String, in root: JSONView, object write: (inout TapeObjectWriter) -> Void, _ body: (JSONView) throws -> R
    ) rethrows -> R? {
        let source = root.document
        // The root object is followed by the final root word (simdjson's layout).
        guard root.index == 1, root.kind == .object, UInt8(truncatingIfNeeded: source.tape[root.endIndex] >> 56) == UInt8(ascii: "r") else {
            return nil
        }
        tape.removeAll(keepingCapacity: true)
        strings.removeAll(keepingCapacity: true)
        var writer = TapeObjectWriter(tape: tape, strings: strings)
        tape = []
        strings = []
        writer.tape.append(contentsOf: [0, 0])  // the root words, set at the end
        writer.key(key)
        writer.openObject()
        write(&writer)
        writer.closeObject()
        Self.copyMembers(of: source, below: root.endIndex - 1, into: &writer)
        // The root's own closing brace, then the final root word (simdjson's layout).
        writer.tape.append(TapeObjectWriter.word(UInt8(ascii: "}"), 1))
        let last = writer.tape.count
        writer.tape.append(TapeObjectWriter.word(UInt8(ascii: "r"), 0))
        writer.tape[0] = TapeObjectWriter.word(UInt8(ascii: "r"), UInt64(last + 1))  // simdjson: the index past the final root word
        let members = min(UInt64(root.count) + 1, 0xFF_FFFF)
        writer.tape[1] = TapeObjectWriter.word(UInt8(ascii: "{"), members << 32 | UInt64(last))
        // Readers load eight bytes from any string start (TapeWalker): pad like simdjson does.
        writer.strings.append(contentsOf: repeatElement(0, count: 64))
        defer {
            tape = writer.tape
            strings = writer.strings
        }
        return try writer.tape.withUnsafeBufferPointer { words in
            try writer.strings.withUnsafeBufferPointer { bytes in
                try body(JSONDocument(tape: words.baseAddress!, strings: bytes.baseAddress!, count: words.count).root)
            }
        }
    }

    /// Appends the root's members (tape words 2..<close) after what the writer holds: container
    /// words point `shift` words further, strings `stringShift` bytes further; then the strings
    /// they point at (simdjson writes each as a 4-byte length, its bytes and a NUL).
    private static func copyMembers(of d: JSONDocument, below close: Int, into w: inout TapeObjectWriter) {
        let shift = UInt64(w.tape.count - 2)
        let stringShift = UInt64(w.strings.count)
        var extent = 0
        var i = 2
        while i < close {
            let word = d.tape[i]
            switch UInt8(truncatingIfNeeded: word >> 56) {
            case UInt8(ascii: "\""):
                let offset = Int(word & 0x00FF_FFFF_FFFF_FFFF)
                let length = UnsafeRawPointer(d.strings + offset).loadUnaligned(as: UInt32.self)
                extent = max(extent, offset + 4 + Int(UInt32(littleEndian: length)) + 1)
                w.tape.append(word &+ stringShift)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                w.tape.append(word &+ shift)  // the end index is the low 32 bits
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                w.tape.append(word &+ shift)  // the opening word's index
            case UInt8(ascii: "l"), UInt8(ascii: "u"), UInt8(ascii: "d"):
                w.tape.append(word)
                w.tape.append(d.tape[i + 1])
                i += 1
            default:
                w.tape.append(word)
            }
            i += 1
        }
        w.strings.append(contentsOf: UnsafeBufferPointer(start: d.strings, count: extent))
    }
}

/// Writes an object's members in simdjson's tape format (for `JSONMemberAppender`). Keys and
/// values are copied as bytes: nothing in them is interpreted.
public struct TapeObjectWriter {
    fileprivate var tape: [UInt64]
    fileprivate var strings: [UInt8]
    /// Tape indexes of the open objects' `{` words and their member counts.
    private var open: [(index: Int, members: UInt64)] = []

    fileprivate init(tape: [UInt64], strings: [UInt8]) {
        self.tape = tape
        self.strings = strings
    }

    fileprivate static func word(_ type: UInt8, _ payload: UInt64) -> UInt64 { UInt64(type) << 56 | payload }

    public mutating func string(_ key: String, _ value: String) {
        self.key(key)
        text(value)
    }

    public mutating func int(_ key: String, _ value: Int) {
        self.key(key)
        tape.append(Self.word(UInt8(ascii: "l"), 0))
        tape.append(UInt64(bitPattern: Int64(value)))
    }

    /// A member whose value is an object, filled in by `body`.
    public mutating func object(_ key: String, _ body: (inout TapeObjectWriter) -> Void) {
        self.key(key)
        openObject()
        body(&self)
        closeObject()
    }

    fileprivate mutating func key(_ key: String) {
        if !open.isEmpty { open[open.count - 1].members += 1 }
        text(key)
    }

    private mutating func text(_ s: String) {
        tape.append(Self.word(UInt8(ascii: "\""), UInt64(strings.count)))
        var s = s
        s.withUTF8 { bytes in
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: bytes.count).littleEndian) { strings.append(contentsOf: $0) }
            strings.append(contentsOf: bytes)
        }
        strings.append(0)
    }

    fileprivate mutating func openObject() {
        open.append((tape.count, 0))
        tape.append(0)  // set when the object closes
    }

    fileprivate mutating func closeObject() {
        guard let (start, members) = open.popLast() else { return }
        tape.append(Self.word(UInt8(ascii: "}"), UInt64(start)))
        tape[start] = Self.word(UInt8(ascii: "{"), min(members, 0xFF_FFFF) << 32 | UInt64(tape.count))
    }
}
