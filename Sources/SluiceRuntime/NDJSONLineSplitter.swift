/// Cuts NDJSON input into lines, in time linear in the input and memory bounded by
/// `maxLineBytes`, whatever the input. The scan resumes where the previous chunk ended (the
/// loop it replaces rescanned the pending line from its start on every chunk: one 40 MB line
/// took 94 s), and a line longer than `maxLineBytes` is never buffered whole: its first bytes
/// are kept for the dead letter, the rest is counted and dropped up to its newline.
struct NDJSONLineSplitter {
    enum Piece: Equatable {
        /// A line without its newline.
        case line([UInt8])
        /// A line over the bound: its first `prefix.count` bytes and its full length.
        case oversized(prefix: [UInt8], byteCount: Int)
    }

    /// How much of an oversized line the dead letter keeps.
    static let keptPrefixBytes = 4096

    let maxLineBytes: Int
    private var pending: [UInt8] = []
    /// While dropping an oversized line: its kept prefix and its length so far.
    private var oversized: (prefix: [UInt8], byteCount: Int)?

    init(maxLineBytes: Int) { self.maxLineBytes = maxLineBytes }

    /// Bytes held between chunks: at most `maxLineBytes` (or the kept prefix while dropping).
    var bufferedByteCount: Int { pending.count + (oversized?.prefix.count ?? 0) }

    /// Feeds the next chunk of input; `emit` gets each piece it completes, in order.
    mutating func feed(_ chunk: UnsafeRawBufferPointer, _ emit: (Piece) -> Void) {
        var start = 0
        while start < chunk.count {
            let rest = UnsafeRawBufferPointer(rebasing: chunk[start...])
            let newline = rest.firstIndex(of: 0x0A).map { start + ($0 - rest.startIndex) }
            let end = newline ?? chunk.count
            take(UnsafeRawBufferPointer(rebasing: chunk[start..<end]))
            if newline != nil { finishLine(emit) }
            start = end + 1
        }
    }

    /// Emits what is left after the last newline.
    mutating func finish(_ emit: (Piece) -> Void) {
        if !pending.isEmpty || oversized != nil { finishLine(emit) }
    }

    private mutating func take(_ bytes: UnsafeRawBufferPointer) {
        if var o = oversized {
            o.prefix.append(contentsOf: bytes.prefix(Self.keptPrefixBytes - o.prefix.count))
            o.byteCount += bytes.count
            oversized = o
        } else if pending.count + bytes.count > maxLineBytes {
            var prefix = pending.prefix(Self.keptPrefixBytes)
            prefix.append(contentsOf: bytes.prefix(Self.keptPrefixBytes - prefix.count))
            oversized = (Array(prefix), pending.count + bytes.count)
            pending = []
        } else {
            pending.append(contentsOf: bytes)
        }
    }

    private mutating func finishLine(_ emit: (Piece) -> Void) {
        if let o = oversized {
            emit(.oversized(prefix: o.prefix, byteCount: o.byteCount))
            oversized = nil
        } else {
            emit(.line(pending))
            pending.removeAll(keepingCapacity: true)
        }
    }
}
