import Testing
@testable import SluiceCore

/// `CacheLineRecords` holds the matcher's group and state records: they must start on a cache
/// line (so a 32-byte record never spans two) and read back as they were given.
@Suite struct CacheLineRecordsTests {
    @Test func recordsStartOnACacheLineAndReadBackInOrder() {
        // Sizes below and above malloc's mapping threshold (where an array's elements start
        // 48 bytes into a line).
        for count in [1, 3, 1_000, 40_000] {
            let given = (0..<count).map { CompiledMatcher.Group(path: Int32($0), singleAtom: Int32($0 * 2)) }
            let records = CacheLineRecords(given)
            #expect(records.count == count)
            records.withUnsafeBufferPointer { buffer in
                #expect(UInt(bitPattern: buffer.baseAddress) % 64 == 0, "\(count) records")
                #expect(buffer.map(\.path) == given.map(\.path))
                #expect(buffer.map(\.singleAtom) == given.map(\.singleAtom))
            }
            #expect(records[count - 1].path == Int32(count - 1))
        }
    }

    @Test func anEmptyTableHasNoRecords() {
        let records = CacheLineRecords([CompiledMatcher.State]())
        #expect(records.count == 0)
        #expect(records.withUnsafeBufferPointer { $0.isEmpty })
    }

    @Test func theRecordsReadInPlaceAreThirtyTwoBytes() {
        #expect(MemoryLayout<CompiledMatcher.Group>.stride == 32)
        #expect(MemoryLayout<CompiledMatcher.State>.stride == 32)
    }
}
