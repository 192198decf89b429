/// Plain records in storage that starts on a cache line, so records of 32 bytes (or 64) never
/// span two lines. An array's elements start 32 bytes into its allocation, on whatever 16-byte
/// boundary malloc gives: a large one (page + 16) put every 32-byte group record across two lines.
/// Immutable after init.
final class CacheLineRecords<Record>: @unchecked Sendable {
    private let base: UnsafeMutablePointer<Record>
    let count: Int

    init(_ records: [Record]) {
        count = records.count
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(1, records.count) * MemoryLayout<Record>.stride, alignment: max(64, MemoryLayout<Record>.alignment))
        base = raw.bindMemory(to: Record.self, capacity: max(1, records.count))
        records.withUnsafeBufferPointer { source in
            if let start = source.baseAddress { base.initialize(from: start, count: count) }
        }
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    /// Traps out of range, as an array does (indexes come from the compiled tables, not from events).
    @inline(__always) subscript(_ i: Int) -> Record {
        precondition(i >= 0 && i < count, "record index out of range")
        return base[i]
    }

    @inline(__always) func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Record>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: count))
    }
}
