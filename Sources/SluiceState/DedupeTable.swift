import Crypto

/// The identity of a dedupe key: the first 128 bits of SHA-256 of the key's text, and the index of
/// its route (the window comes from the route's rule).
///
/// Why a hash can stand for the key: two distinct keys merge only if their digests collide. For
/// n keys the odds are about n² / 2¹²⁹: 1.5 × 10⁻²⁷ for a million keys, 1.5 × 10⁻²¹ for a billion.
/// Finding text is hostile, so the hash must also resist a chosen collision (a finding crafted
/// to share a key with another and so hide it): SHA-256 truncated to 128 bits takes about 2⁶⁴
/// hash evaluations for that (a generic birthday search; no better attack is known), unlike a
/// fast non-cryptographic hash with a fixed public seed.
struct DedupeID: Hashable, Sendable, Comparable {
    var high: UInt64
    var low: UInt64
    var route: UInt16

    static func < (a: DedupeID, b: DedupeID) -> Bool { (a.high, a.low) < (b.high, b.low) }

    /// The digest's first word is already uniform: the hasher needs no more of it (equality
    /// still compares every field).
    func hash(into hasher: inout Hasher) { hasher.combine(high) }

    /// The digest of `key` (its UTF-8 bytes).
    static func digest(of key: String) -> (high: UInt64, low: UInt64) {
        var key = key
        return key.withUTF8 { bytes in
            SHA256.hash(data: UnsafeRawBufferPointer(bytes)).withUnsafeBytes { d in
                var high: UInt64 = 0
                var low: UInt64 = 0
                for i in 0..<8 {
                    high = high << 8 | UInt64(d[i])
                    low = low << 8 | UInt64(d[8 + i])
                }
                return (high, low)
            }
        }
    }

    /// The digest as 32 lowercase hex digits (changelog keys).
    var hex: String {
        String(unsafeUninitializedCapacity: 32) { out in
            for (w, word) in [high, low].enumerated() {
                for i in 0..<16 {
                    let nibble = UInt8(truncatingIfNeeded: word >> UInt64(60 - 4 * i)) & 0xF
                    out[w * 16 + i] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
                }
            }
            return 32
        }
    }

    /// The digest from 32 lowercase hex digits; nil for anything else.
    static func parse(hex: some Collection<UInt8>) -> (high: UInt64, low: UInt64)? {
        guard hex.count == 32 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (i, c) in hex.enumerated() {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            default: return nil
            }
            if i < 16 { high = high << 4 | UInt64(v) } else { low = low << 4 | UInt64(v) }
        }
        return (high, low)
    }
}

/// The dedupe keys of one engine: an open-addressing hash table (linear probing, backward-shift
/// deletion) of flat 56-byte slots, so a million keys cost about 56 / load bytes each (load
/// between 3/8 and 3/4: 75 to 150 bytes) instead of a dictionary entry holding a String key.
/// What is rare stays out of the slots: a delivery in flight and the repeat parked behind it.
struct DedupeTable: Sendable {
    struct Slot: Sendable {
        var high: UInt64
        var low: UInt64
        var lastDelivery: Int64
        var severity: Double
        var firstSeen: Int64
        var lastSeen: Int64
        var heldCount: UInt32
        var route: UInt16
        var flags: UInt8

        static let occupied: UInt8 = 1
        static let hasLastDelivery: UInt8 = 2
        static let hasSeverity: UInt8 = 4
        /// The key has an entry in `inFlight` / `parked`: only then are those dictionaries
        /// asked (each ask hashes the id; a decision reads and writes a key three times).
        static let hasInFlight: UInt8 = 8
        static let hasParked: UInt8 = 16
        static let empty = Slot(high: 0, low: 0, lastDelivery: 0, severity: 0, firstSeen: 0, lastSeen: 0, heldCount: 0, route: 0, flags: 0)
    }

    private var slots: [Slot] = []
    private(set) var count = 0
    private var inFlight: [DedupeID: InFlight] = [:]
    private var parked: [DedupeID: ParkedItem] = [:]

    init() {}

    private var mask: Int { slots.count - 1 }

    private func home(_ high: UInt64) -> Int { Int(truncatingIfNeeded: high) & mask }

    /// The slot holding `id`, or nil.
    private func find(_ id: DedupeID) -> Int? {
        guard !slots.isEmpty else { return nil }
        var i = home(id.high)
        while slots[i].flags & Slot.occupied != 0 {
            if slots[i].high == id.high, slots[i].low == id.low { return i }
            i = (i + 1) & mask
        }
        return nil
    }

    subscript(id: DedupeID) -> DedupeState? {
        get {
            guard let i = find(id) else { return nil }
            let s = slots[i]
            var state = DedupeState(lastDelivery: s.flags & Slot.hasLastDelivery != 0 ? s.lastDelivery : nil,
                                    severity: s.flags & Slot.hasSeverity != 0 ? s.severity : nil,
                                    heldCount: Int(s.heldCount), firstSeen: s.firstSeen, lastSeen: s.lastSeen)
            if s.flags & Slot.hasInFlight != 0 { state.inFlight = inFlight[id] }
            if s.flags & Slot.hasParked != 0 { state.parkedBox = parked[id] }
            return state
        }
        set {
            guard let state = newValue else { return remove(id) }
            let existing = find(id)
            let had = existing.map { slots[$0].flags } ?? 0
            if state.inFlight != nil || had & Slot.hasInFlight != 0 { inFlight[id] = state.inFlight }
            if state.parkedBox != nil || had & Slot.hasParked != 0 { parked[id] = state.parkedBox }
            let slot = Slot(high: id.high, low: id.low, lastDelivery: state.lastDelivery ?? 0, severity: state.severity ?? 0,
                            firstSeen: state.firstSeen, lastSeen: state.lastSeen, heldCount: UInt32(clamping: state.heldCount), route: id.route,
                            flags: Slot.occupied | (state.lastDelivery != nil ? Slot.hasLastDelivery : 0) | (state.severity != nil ? Slot.hasSeverity : 0)
                                | (state.inFlight != nil ? Slot.hasInFlight : 0) | (state.parkedBox != nil ? Slot.hasParked : 0))
            if let i = existing { slots[i] = slot; return }
            if (count + 1) * 4 > slots.count * 3 { grow() }
            var i = home(id.high)
            while slots[i].flags & Slot.occupied != 0 { i = (i + 1) & mask }
            slots[i] = slot
            count += 1
        }
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: .empty, count: max(16, old.count * 2))
        for s in old where s.flags & Slot.occupied != 0 {
            var i = home(s.high)
            while slots[i].flags & Slot.occupied != 0 { i = (i + 1) & mask }
            slots[i] = s
        }
    }

    private mutating func remove(_ id: DedupeID) {
        guard var hole = find(id) else { return }
        if slots[hole].flags & Slot.hasInFlight != 0 { inFlight[id] = nil }
        if slots[hole].flags & Slot.hasParked != 0 { parked[id] = nil }
        slots[hole] = .empty
        count -= 1
        // Backward shift: move later members of the probe run into the hole when their home
        // does not lie cyclically within (hole, j], so every key stays reachable from its home.
        var j = (hole + 1) & mask
        while slots[j].flags & Slot.occupied != 0 {
            let h = home(slots[j].high)
            let reachable = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j)
            if !reachable {
                slots[hole] = slots[j]
                slots[j] = .empty
                hole = j
            }
            j = (j + 1) & mask
        }
    }

    /// The ids whose state satisfies `body` (a sweep over every slot: expiry).
    func ids(where body: (DedupeID, DedupeState) -> Bool) -> [DedupeID] {
        var out: [DedupeID] = []
        for s in slots where s.flags & Slot.occupied != 0 {
            let id = DedupeID(high: s.high, low: s.low, route: s.route)
            guard let state = self[id], body(id, state) else { continue }
            out.append(id)
        }
        return out
    }
}
