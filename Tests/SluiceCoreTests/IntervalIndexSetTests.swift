import Testing
@testable import SluiceCore

/// `IntervalIndexSet` lays many interval indexes out in shared flat arrays; each index must
/// still answer alone: the intervals of its own set containing a key, none of its neighbours'.
/// The postings expected are written out by hand from the intervals below.
@Suite struct IntervalIndexSetTests {
    /// Index 0: [10, 20] → 1, [15, 30] → 2. Index 1: no interval. Index 2: [0, 5] → 3,
    /// [100, max] → 4, [3, 3] → 5.
    static let numeric = IntervalIndexSet<UInt64>([
        IntervalIndex([(10, 20, 1), (15, 30, 2)]),
        IntervalIndex([]),
        IntervalIndex([(0, 5, 3), (100, UInt64.max, 4), (3, 3, 5)]),
    ])

    static func postings<Key>(_ set: IntervalIndexSet<Key>, _ index: Int, _ key: Key) -> [Int32] {
        set.lookup(index, key).map { set.members[Int($0)] }.sorted()
    }

    @Test func eachIndexAnswersWithItsOwnIntervals() {
        let set = Self.numeric
        #expect(set.count == 3)
        #expect(Self.postings(set, 0, 0) == [])
        #expect(Self.postings(set, 0, 9) == [])
        #expect(Self.postings(set, 0, 10) == [1])
        #expect(Self.postings(set, 0, 14) == [1])
        #expect(Self.postings(set, 0, 15) == [1, 2])
        #expect(Self.postings(set, 0, 20) == [1, 2])
        #expect(Self.postings(set, 0, 21) == [2])
        #expect(Self.postings(set, 0, 30) == [2])
        #expect(Self.postings(set, 0, 31) == [])
        #expect(Self.postings(set, 0, UInt64.max) == [])
    }

    @Test func anIndexWithoutIntervalsMatchesNothing() {
        for key: UInt64 in [0, 3, 10, 15, 100, UInt64.max] {
            #expect(Self.postings(Self.numeric, 1, key) == [], "key \(key)")
        }
    }

    /// The last index's segments sit after the others' in the shared arrays: its first
    /// segment starts at 0 again, and its open-ended interval reaches the key type's maximum.
    @Test func theLastIndexStartsAtZeroAndReachesTheMaximum() {
        let set = Self.numeric
        #expect(Self.postings(set, 2, 0) == [3])
        #expect(Self.postings(set, 2, 2) == [3])
        #expect(Self.postings(set, 2, 3) == [3, 5])
        #expect(Self.postings(set, 2, 4) == [3])
        #expect(Self.postings(set, 2, 5) == [3])
        #expect(Self.postings(set, 2, 6) == [])
        #expect(Self.postings(set, 2, 99) == [])
        #expect(Self.postings(set, 2, 100) == [4])
        #expect(Self.postings(set, 2, UInt64.max) == [4])
        // Keys inside index 0's intervals find nothing of index 0 here.
        #expect(Self.postings(set, 2, 17) == [])
    }

    /// CIDR blocks as address intervals: 10.0.0.0/8 → 7 and 10.1.0.0/16 → 8 in index 0,
    /// 192.168.0.0/16 → 9 in index 1.
    @Test func addressBlocks() {
        let set = IntervalIndexSet<UInt128>([
            IntervalIndex([(0x0A00_0000, 0x0AFF_FFFF, 7), (0x0A01_0000, 0x0A01_FFFF, 8)]),
            IntervalIndex([(0xC0A8_0000, 0xC0A8_FFFF, 9)]),
        ])
        #expect(Self.postings(set, 0, 0x0A02_0304) == [7])  // 10.2.3.4
        #expect(Self.postings(set, 0, 0x0A01_0203) == [7, 8])  // 10.1.2.3
        #expect(Self.postings(set, 0, 0x0B00_0000) == [])  // 11.0.0.0
        #expect(Self.postings(set, 0, 0xC0A8_0001) == [])  // 192.168.0.1 is index 1's
        #expect(Self.postings(set, 1, 0xC0A8_0001) == [9])
        #expect(Self.postings(set, 1, 0x0A01_0203) == [])
    }
}
