/// An immutable open-addressing hash table from (namespace, byte string) to an Int32, looked up
/// straight from bytes in simdjson's string buffer — no String, no allocation per lookup. The
/// matcher keeps two: path-trie edges (for dotted keys) and atoms (a path's exact values,
/// prefixes, suffixes, numbers, literals).
struct ByteKeyTable: Sendable {
    struct Slot: Sendable {
        var hash: UInt64 = 0
        var keyStart: Int32 = 0
        var keyLength: Int32 = -1  // -1: empty
        var value: Int32 = 0
    }

    let slots: [Slot]
    let keys: [UInt8]
    let mask: Int

    /// Builds from distinct keys; a repeated (namespace, key) keeps its first value.
    init(_ entries: [(namespace: UInt64, key: [UInt8], value: Int32)]) {
        var capacity = 8
        while capacity < entries.count * 2 { capacity <<= 1 }
        var slots = [Slot](repeating: Slot(), count: capacity)
        var keys: [UInt8] = []
        let mask = capacity - 1
        for e in entries {
            let h = e.key.withUnsafeBufferPointer { ByteKeyTable.hash(e.namespace, $0.baseAddress, $0.count) }
            var i = Int(truncatingIfNeeded: h) & mask
            var duplicate = false
            while slots[i].keyLength >= 0 {
                if slots[i].hash == h && Int(slots[i].keyLength) == e.key.count
                    && keys[Int(slots[i].keyStart)..<Int(slots[i].keyStart) + e.key.count].elementsEqual(e.key)
                {
                    duplicate = true
                    break
                }
                i = (i + 1) & mask
            }
            if duplicate { continue }
            slots[i] = Slot(hash: h, keyStart: Int32(keys.count), keyLength: Int32(e.key.count), value: e.value)
            keys += e.key
        }
        self.slots = slots
        self.keys = keys
        self.mask = mask
    }

    /// A 64-bit hash of `count` bytes at `p` in `namespace`.
    @inline(__always) static func hash(_ namespace: UInt64, _ p: UnsafePointer<UInt8>?, _ count: Int) -> UInt64 {
        combine(namespace, bytesHash(p, count))
    }

    /// The hash of (namespace, bytes) from the bytes' own hash: a leaf's bytes are hashed once
    /// and looked up in many namespaces.
    @inline(__always) static func combine(_ namespace: UInt64, _ bytesHash: UInt64) -> UInt64 {
        var h = bytesHash ^ (namespace &* 0x9E37_79B9_7F4A_7C15)
        h = (h ^ (h >> 32)) &* 0xD6E8_FEB8_6659_FD93
        return h ^ (h >> 32)
    }

    /// A 64-bit hash of `count` bytes at `p`, eight bytes at a time.
    @inline(__always) static func bytesHash(_ p: UnsafePointer<UInt8>?, _ count: Int) -> UInt64 {
        var h: UInt64 = 0x51_7CC1_B727_220A ^ UInt64(count)
        guard let p else { return h ^ (h >> 29) }
        let raw = UnsafeRawPointer(p)
        var i = 0
        while i + 8 <= count {
            let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = (h ^ w) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            i += 8
        }
        if i < count {
            var w: UInt64 = 0
            var shift: UInt64 = 0
            while i < count {
                w |= UInt64(p[i]) << shift
                shift += 8
                i += 1
            }
            h = (h ^ w) &* 0x94D0_49BB_1331_11EB
            h ^= h >> 29
        }
        return h
    }

    /// The value stored for (namespace, bytes), or -1.
    @inline(__always) func find(_ namespace: UInt64, _ p: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
        find(hash: ByteKeyTable.hash(namespace, p, count), p, count)
    }

    /// The value stored for the bytes whose (namespace, bytes) hash is `h`, or -1.
    @inline(__always) func find(hash h: UInt64, _ p: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
        slots.withUnsafeBufferPointer { slots in
            var i = Int(truncatingIfNeeded: h) & mask
            while true {
                let s = slots[i]
                if s.keyLength < 0 { return -1 }
                if s.hash == h && Int(s.keyLength) == count {
                    let equal = keys.withUnsafeBufferPointer { k in
                        count == 0 || memcmpBytes(k.baseAddress! + Int(s.keyStart), p!, count)
                    }
                    if equal { return s.value }
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
