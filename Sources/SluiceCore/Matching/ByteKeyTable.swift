/// An immutable open-addressing hash table from (namespace, byte string) to an Int32, looked up
/// straight from bytes in simdjson's string buffer — no String, no allocation per lookup. The
/// matcher keeps two: path-trie edges (for dotted keys) and atoms (a path's exact values,
/// prefixes, suffixes, numbers, literals).
///
/// A slot holds its namespace and its key's first sixteen bytes: most keys (account ids,
/// regions, types up to sixteen bytes, numbers, literals) are compared in the slot's cache
/// line, with no second line for the key bytes; longer keys compare the rest from `keys`.
/// The namespace is compared too: one value at two paths (or as an exact value and a
/// suffix) is two keys.
///
/// A slot also holds a second value (`Entry.extra`, -1 unless given): the atom table keeps
/// there the posting list of the automaton root's group for that (path, value), so the walk
/// finds a leaf's atom and the root's states for it in one probe (it fits in the slot's padding).
struct ByteKeyTable: Sendable {
    struct Slot: Sendable {
        var namespace: UInt64 = 0
        var head0: UInt64 = 0  // key bytes 0..<8, zero-padded
        var head1: UInt64 = 0  // key bytes 8..<16, zero-padded
        var keyStart: Int32 = 0  // into `keys`, for the bytes after the sixteenth
        var keyLength: Int32 = -1  // -1: empty
        var value: Int32 = 0
        var extra: Int32 = -1
    }

    /// What one probe finds: the key's value and its second value, or (-1, -1).
    struct Entry: Sendable, Equatable {
        var value: Int32
        var extra: Int32
        static let absent = Entry(value: -1, extra: -1)
    }

    let slots: [Slot]
    let keys: [UInt8]
    let mask: Int

    /// Builds from distinct keys; a repeated (namespace, key) keeps its first value. `extras`,
    /// indexed by value, gives each key its second value (values outside it get -1).
    init(_ entries: [(namespace: UInt64, key: [UInt8], value: Int32)], extras: [Int32] = []) {
        var capacity = 8
        while capacity < entries.count * 2 { capacity <<= 1 }
        var slots = [Slot](repeating: Slot(), count: capacity)
        var keys: [UInt8] = []
        let mask = capacity - 1
        for e in entries {
            let n = e.key.count
            let (h0, h1) = e.key.withUnsafeBufferPointer { ByteKeyTable.heads($0.baseAddress, n) }
            let h = e.key.withUnsafeBufferPointer { ByteKeyTable.hash(e.namespace, h0, h1, $0.baseAddress, n, padded: false) }
            var i = Int(truncatingIfNeeded: h) & mask
            var duplicate = false
            while slots[i].keyLength >= 0 {
                if Int(slots[i].keyLength) == n && slots[i].namespace == e.namespace && slots[i].head0 == h0 && slots[i].head1 == h1
                    && keys[Int(slots[i].keyStart)..<Int(slots[i].keyStart) + max(0, n - 16)].elementsEqual(e.key.dropFirst(16))
                {
                    duplicate = true
                    break
                }
                i = (i + 1) & mask
            }
            if duplicate { continue }
            let extra = e.value >= 0 && Int(e.value) < extras.count ? extras[Int(e.value)] : -1
            slots[i] = Slot(
                namespace: e.namespace, head0: h0, head1: h1, keyStart: Int32(keys.count), keyLength: Int32(n), value: e.value, extra: extra)
            keys += e.key.dropFirst(16)
        }
        self.slots = slots
        self.keys = keys
        self.mask = mask
    }

    /// The first sixteen bytes of `count` bytes at `p` as two zero-padded words, read byte by
    /// byte past the end (no padding assumed).
    @inline(__always) static func heads(_ p: UnsafePointer<UInt8>?, _ count: Int) -> (UInt64, UInt64) {
        guard let p else { return (0, 0) }
        return (safeWord(p, from: 0, count), safeWord(p, from: 8, count))
    }

    /// Bytes `from..<min(from + 8, count)` as a zero-padded little-endian word.
    @inline(__always) static func safeWord(_ p: UnsafePointer<UInt8>, from start: Int, _ count: Int) -> UInt64 {
        if start + 8 <= count { return UnsafeRawPointer(p).loadUnaligned(fromByteOffset: start, as: UInt64.self) }
        var w: UInt64 = 0
        var shift: UInt64 = 0
        var i = start
        while i < count {
            w |= UInt64(p[i]) << shift
            shift += 8
            i += 1
        }
        return w
    }

    /// Bytes `from..<min(from + 8, count)` as a zero-padded word, by one load and a mask: the
    /// caller promises eight readable bytes at `from` (simdjson's padded string buffer).
    @inline(__always) static func paddedWord(_ p: UnsafePointer<UInt8>, from start: Int, _ count: Int) -> UInt64 {
        let w = UnsafeRawPointer(p).loadUnaligned(fromByteOffset: start, as: UInt64.self)
        let left = count - start
        if left >= 8 { return w }
        if left <= 0 { return 0 }
        return w & ((1 &<< UInt64(left &* 8)) &- 1)
    }

    @inline(__always) static func mixWord(_ h: UInt64, _ w: UInt64) -> UInt64 {
        let x = (h ^ w) &* 0xBF58_476D_1CE4_E5B9
        return x ^ (x >> 31)
    }

    @inline(__always) static func mixTail(_ h: UInt64, _ w: UInt64) -> UInt64 {
        let x = (h ^ w) &* 0x94D0_49BB_1331_11EB
        return x ^ (x >> 29)
    }

    /// A 64-bit hash of (namespace, `count` bytes at `p`) whose first sixteen bytes are the
    /// words `h0`, `h1`: whole words mixed one way, a final partial word another.
    @inline(__always) static func hash(
        _ namespace: UInt64, _ h0: UInt64, _ h1: UInt64, _ p: UnsafePointer<UInt8>?, _ count: Int, padded: Bool
    ) -> UInt64 {
        var h: UInt64 = 0x51_7CC1_B727_220A ^ UInt64(count)
        if count >= 8 { h = mixWord(h, h0) } else if count > 0 { h = mixTail(h, h0) }
        if count >= 16 { h = mixWord(h, h1) } else if count > 8 { h = mixTail(h, h1) }
        if count > 16, let p {
            var i = 16
            while i + 8 <= count {
                h = mixWord(h, UnsafeRawPointer(p).loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += 8
            }
            if i < count { h = mixTail(h, padded ? paddedWord(p, from: i, count) : safeWord(p, from: i, count)) }
        }
        // The namespace (a path and kind, or a trie node) folded in last.
        h ^= namespace &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ (h >> 32)) &* 0xD6E8_FEB8_6659_FD93
        return h ^ (h >> 32)
    }

    /// The value stored for (namespace, bytes), or -1. No bytes are read past `count`.
    @inline(__always) func find(_ namespace: UInt64, _ p: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
        let (h0, h1) = ByteKeyTable.heads(p, count)
        return find(namespace, h0, h1, p, count, padded: false)
    }

    /// `find` for bytes followed by at least sixteen readable bytes (a string in simdjson's
    /// padded string buffer): the heads are two loads and masks, not a loop per byte.
    @inline(__always) func findPadded(_ namespace: UInt64, _ p: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
        entryPadded(namespace, p, count).value
    }

    /// `findPadded`, with the key's second value.
    @inline(__always) func entryPadded(_ namespace: UInt64, _ p: UnsafePointer<UInt8>, _ count: Int) -> Entry {
        let h0 = ByteKeyTable.paddedWord(p, from: 0, count)
        let h1 = ByteKeyTable.paddedWord(p, from: 8, count)
        return entry(namespace, h0, h1, p, count, padded: true)
    }

    /// `find` for a key of at most eight bytes given as its zero-padded word (a number's
    /// ordered key, a literal's letter).
    @inline(__always) func find(_ namespace: UInt64, word: UInt64, count: Int) -> Int32 {
        entry(namespace, word, 0, nil, count, padded: false).value
    }

    /// `find(_:word:count:)`, with the key's second value.
    @inline(__always) func entry(_ namespace: UInt64, word: UInt64, count: Int) -> Entry {
        entry(namespace, word, 0, nil, count, padded: false)
    }

    /// `find` with the bytes given, for tests: the key's value and second value.
    func entry(_ namespace: UInt64, _ key: [UInt8]) -> Entry {
        key.withUnsafeBufferPointer { b in
            let (h0, h1) = ByteKeyTable.heads(b.baseAddress, b.count)
            return entry(namespace, h0, h1, b.baseAddress, b.count, padded: false)
        }
    }

    @inline(__always) func find(
        _ namespace: UInt64, _ h0: UInt64, _ h1: UInt64, _ p: UnsafePointer<UInt8>?, _ count: Int, padded: Bool
    ) -> Int32 {
        entry(namespace, h0, h1, p, count, padded: padded).value
    }

    @inline(__always) func entry(
        _ namespace: UInt64, _ h0: UInt64, _ h1: UInt64, _ p: UnsafePointer<UInt8>?, _ count: Int, padded: Bool
    ) -> Entry {
        let h = ByteKeyTable.hash(namespace, h0, h1, p, count, padded: padded)
        return slots.withUnsafeBufferPointer { slots in
            var i = Int(truncatingIfNeeded: h) & mask
            while true {
                let s = slots[i]
                if s.keyLength < 0 { return .absent }
                if s.head0 == h0 && s.head1 == h1 && Int(s.keyLength) == count && s.namespace == namespace {
                    if count <= 16 { return Entry(value: s.value, extra: s.extra) }
                    let equal = keys.withUnsafeBufferPointer { k in
                        guard let p, let base = k.baseAddress else { return false }
                        return memcmpBytes(base + Int(s.keyStart), p + 16, count - 16)
                    }
                    if equal { return Entry(value: s.value, extra: s.extra) }
                }
                i = (i + 1) & mask
            }
        }
    }
}

@inline(__always) func memcmpBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    var i = 0
    while i + 8 <= n {
        if UnsafeRawPointer(a).loadUnaligned(fromByteOffset: i, as: UInt64.self)
            != UnsafeRawPointer(b).loadUnaligned(fromByteOffset: i, as: UInt64.self)
        {
            return false
        }
        i += 8
    }
    while i < n {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}

/// Byte-wise lexicographic order of two byte strings: negative, zero or positive.
@inline(__always) func lexicographicCompare(_ a: UnsafePointer<UInt8>, _ an: Int, _ b: UnsafePointer<UInt8>, _ bn: Int) -> Int {
    let n = min(an, bn)
    var i = 0
    while i + 8 <= n {
        let x = UnsafeRawPointer(a).loadUnaligned(fromByteOffset: i, as: UInt64.self)
        let y = UnsafeRawPointer(b).loadUnaligned(fromByteOffset: i, as: UInt64.self)
        if x != y { return x.byteSwapped < y.byteSwapped ? -1 : 1 }
        i += 8
    }
    while i < n {
        if a[i] != b[i] { return a[i] < b[i] ? -1 : 1 }
        i += 1
    }
    return an - bn
}

/// Sorted, disjoint key segments, each with the distinct intervals covering it: numeric ranges
/// over `orderedKey` encodings and CIDR ranges over addresses become one binary search.
struct IntervalIndex<Key: FixedWidthInteger & UnsignedInteger & Sendable>: Sendable {
    /// Segment k covers [starts[k], starts[k+1]) (the last one to Key.max).
    let starts: [Key]
    /// Per segment, a range into `members`.
    let segmentMembers: [Range<Int32>]
    /// Posting-list ids of the intervals.
    let members: [Int32]

    init(_ intervals: [(lower: Key, upper: Key, posting: Int32)]) {
        var points: Set<Key> = [0]
        for iv in intervals {
            points.insert(iv.lower)
            if iv.upper < Key.max { points.insert(iv.upper + 1) }
        }
        let starts = points.sorted()
        var perSegment = [[Int32]](repeating: [], count: starts.count)
        for iv in intervals where iv.lower <= iv.upper {
            var k = IntervalIndex.segment(starts, iv.lower)
            while k < starts.count && starts[k] <= iv.upper {
                perSegment[k].append(iv.posting)
                k += 1
            }
        }
        var members: [Int32] = []
        var ranges: [Range<Int32>] = []
        for list in perSegment {
            let start = Int32(members.count)
            members += list
            ranges.append(start..<Int32(members.count))
        }
        self.starts = starts
        self.segmentMembers = ranges
        self.members = members
    }

    static func segment(_ starts: [Key], _ key: Key) -> Int {
        var lo = 0
        var hi = starts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= key { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// The posting ids of every interval containing `key`.
    @inline(__always) func lookup(_ key: Key) -> Range<Int32> {
        if starts.isEmpty { return 0..<0 }
        return segmentMembers[IntervalIndex.segment(starts, key)]
    }
}

/// An immutable open-addressing hash table from a 64-bit key to an Int32 (keys unique; no
/// key may be UInt64.max).
struct IntKeyTable: Sendable {
    /// Key and value side by side: a probe reads one cache line, not one per array.
    struct Slot: Sendable {
        var key: UInt64 = .max
        var value: Int32 = -1
    }

    let slots: [Slot]
    let mask: Int

    init(_ entries: [(key: UInt64, value: Int32)]) {
        var capacity = 8
        while capacity < entries.count * 2 { capacity <<= 1 }
        var slots = [Slot](repeating: Slot(), count: capacity)
        let mask = capacity - 1
        for e in entries {
            var i = IntKeyTable.slot(e.key, mask)
            while slots[i].key != .max && slots[i].key != e.key { i = (i + 1) & mask }
            slots[i] = Slot(key: e.key, value: e.value)
        }
        self.slots = slots
        self.mask = mask
    }

    @inline(__always) static func slot(_ key: UInt64, _ mask: Int) -> Int {
        var h = key &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 29
        return Int(truncatingIfNeeded: h) & mask
    }

    /// The value stored for `key`, or -1.
    @inline(__always) func find(_ key: UInt64) -> Int32 {
        slots.withUnsafeBufferPointer { slots in
            var i = IntKeyTable.slot(key, mask)
            while true {
                let s = slots[i]
                if s.key == key { return s.value }
                if s.key == .max { return -1 }
                i = (i + 1) & mask
            }
        }
    }
}

/// Many `IntervalIndex`es of one key type laid out in flat arrays of trivial values, read in
/// place by `lookup`. Copying one index out of an array of them (`let index = indexes[k]`)
/// retained and released its three arrays (six for a CIDR group's IPv4 and IPv6 indexes) on
/// every numeric or CIDR lookup: atomic operations, cheap in instructions, dear in time.
struct IntervalIndexSet<Key: FixedWidthInteger & UnsignedInteger & Sendable>: Sendable {
    /// Per index, its segments: a range of `starts` and of `segmentMembers`.
    private let indexSegments: [Range<Int32>]
    /// Every index's segment starts, index after index (each index's sorted, from 0).
    private let starts: [Key]
    /// Per segment, a range of `members`.
    private let segmentMembers: [Range<Int32>]
    /// The posting ids of the intervals, segment after segment.
    let members: [Int32]

    init(_ indexes: [IntervalIndex<Key>]) {
        var indexSegments: [Range<Int32>] = []
        var starts: [Key] = []
        var segmentMembers: [Range<Int32>] = []
        var members: [Int32] = []
        for index in indexes {
            let first = Int32(starts.count)
            starts += index.starts
            let base = Int32(members.count)
            segmentMembers += index.segmentMembers.map { ($0.lowerBound + base)..<($0.upperBound + base) }
            members += index.members
            indexSegments.append(first..<Int32(starts.count))
        }
        self.indexSegments = indexSegments
        self.starts = starts
        self.segmentMembers = segmentMembers
        self.members = members
    }

    var count: Int { indexSegments.count }

    /// Index `index`'s intervals containing `key`, as a range of `members` (what
    /// `IntervalIndex.lookup` answers, offset into the shared array).
    @inline(__always) func lookup(_ index: Int, _ key: Key) -> Range<Int32> {
        let segments = indexSegments[index]
        var lo = Int(segments.lowerBound)
        var hi = Int(segments.upperBound) - 1
        if hi < lo { return 0..<0 }
        // The last segment starting at or before the key (each index starts at 0).
        while lo < hi {
            let mid = (lo + hi + 1) >> 1
            if starts[mid] <= key { lo = mid } else { hi = mid - 1 }
        }
        return segmentMembers[lo]
    }
}
