import Foundation
import SluiceCore

/// Changelog and repartition records as bytes. Keys are `kind \0 state key`. Dedupe values, a
/// million of which a restore may replay, are a compact binary record (`DedupeRecordFormat`);
/// throttle and group values (few keys, nested lists) are compact JSON, readable with any Kafka
/// tool. The first byte tells them apart: JSON begins with `{`. A record that does not decode is
/// skipped on restore, never trusted: changelog bytes are outside data, they cannot crash or
/// poison the owner.
public enum StateCodec {
    public static func key(_ change: StateChange) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(change.key.utf8.count + 2)
        out.append(contentsOf: change.kind.rawValue.utf8)
        out.append(0)
        out.append(contentsOf: change.key.utf8)
        return out
    }

    /// nil for a tombstone.
    public static func value(_ change: StateChange) -> [UInt8]? {
        guard let record = change.record else { return nil }
        if case .dedupe(let s) = record { return DedupeRecordFormat.encode(s) }
        return Array(json(record).serialized().utf8)
    }

    public static func decode(key: [UInt8], value: [UInt8]?) -> StateChange? {
        key.withUnsafeBytes { k in
            guard let value else { return decode(key: k, value: nil) }
            return value.withUnsafeBytes { decode(key: k, value: $0) }
        }
    }

    /// Decodes straight from a consumer's buffers (restore reads them without copying). `value`
    /// nil: a tombstone.
    public static func decode(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?) -> StateChange? {
        // `kind \0 key`: the kind is one byte.
        guard key.count >= 2, key[1] == 0, let kind = StateKind(byte: key[0]) else { return nil }
        let stateKey = String(decoding: UnsafeRawBufferPointer(rebasing: key[2...]), as: UTF8.self)
        guard let value else { return StateChange(kind: kind, key: stateKey, record: nil) }
        if kind == .dedupe, value.first == DedupeRecordFormat.version {
            return DedupeRecordFormat.decode(value).map { StateChange(kind: kind, key: stateKey, record: .dedupe($0)) }
        }
        guard value.first == UInt8(ascii: "{"), let json = try? JSON.parse(String(decoding: value, as: UTF8.self)),
              let record = record(kind, json) else { return nil }
        return StateChange(kind: kind, key: stateKey, record: record)
    }

    static func n(_ v: Int64) -> JSON { JSON.number(Double(v)) }
    static func n(_ v: Int) -> JSON { JSON.number(Double(v)) }

    /// A whole number from a record; nil (record skipped) when absent, fractional or out of range.
    static func int(_ j: JSON?) -> Int64? {
        guard let d = j?.doubleValue, d.rounded() == d, abs(d) < 9e15 else { return nil }
        return Int64(exactly: d)
    }

    static func json(_ record: StateRecord) -> JSON {
        switch record {
        case .dedupe(let s):
            return .object([
                (key: "l", value: s.lastDelivery.map(n) ?? .null), (key: "s", value: s.severity.map { JSON.number($0) } ?? .null),
                (key: "h", value: n(s.heldCount)), (key: "f", value: n(s.firstSeen)), (key: "z", value: n(s.lastSeen)),
            ])
        case .throttle(let s):
            return .object([(key: "p", value: n(s.periodStart)), (key: "c", value: n(s.count)), (key: "o", value: digestJSON(s.overflow))])
        case .group(let g):
            let members = g.order.compactMap { id in g.members[id].map { m -> JSON in
                .array([.string(id), .string(m.title), JSON.number(m.severity), n(m.firstSeen), n(m.lastSeen)] + (m.account.map { [JSON.string($0)] } ?? []))
            } }
            return .object([
                (key: "r", value: .string(g.route)), (key: "t", value: .string(g.target)), (key: "at", value: n(g.flushAt)),
                (key: "sent", value: g.lastSent.map(n) ?? .null), (key: "chg", value: .bool(g.changed)), (key: "m", value: .array(members)),
            ])
        }
    }

    static func digestJSON(_ a: DigestAccumulator) -> JSON {
        .object([
            (key: "n", value: n(a.total)),
            (key: "b", value: .object(a.bySeverity.sorted { $0.key < $1.key }.map { (key: $0.key, value: n($0.value)) })),
            (key: "e", value: .array(a.first.map { e in
                .array([e.findingID.map { .string($0) } ?? .null, .string(e.title), JSON.number(e.severity)] + (e.account.map { [JSON.string($0)] } ?? []))
            })),
        ])
    }

    static func record(_ kind: StateKind, _ j: JSON) -> StateRecord? {
        switch kind {
        case .dedupe:
            guard let h = int(j["h"]), let f = int(j["f"]), let z = int(j["z"]), let held = Int(exactly: h), held >= 0 else { return nil }
            return .dedupe(DedupeState(lastDelivery: int(j["l"]), severity: j["s"]?.doubleValue, heldCount: held, firstSeen: f, lastSeen: z))
        case .throttle:
            guard let p = int(j["p"]), let c = int(j["c"]).flatMap({ Int(exactly: $0) }), c >= 0, let o = j["o"], let acc = accumulator(o) else { return nil }
            return .throttle(ThrottleState(periodStart: p, count: c, overflow: acc))
        case .group:
            guard let r = j["r"]?.stringValue, let t = j["t"]?.stringValue, let at = int(j["at"]), let m = j["m"]?.arrayValue else { return nil }
            var g = GroupState(route: r, target: t, flushAt: at)
            g.lastSent = int(j["sent"])
            g.changed = j["chg"]?.boolValue ?? true
            for item in m {
                // A sixth element, the account, since digests list it (records without it still read).
                guard let a = item.arrayValue, a.count == 5 || a.count == 6, let id = a[0].stringValue, let title = a[1].stringValue,
                      let sev = a[2].doubleValue, let f = int(a[3]), let l = int(a[4]) else { return nil }
                g.members[id] = GroupMember(title: title, severity: sev, firstSeen: f, lastSeen: l, account: a.count == 6 ? a[5].stringValue : nil)
                g.order.append(id)
            }
            return .group(g)
        }
    }

    static func accumulator(_ j: JSON) -> DigestAccumulator? {
        guard let e = j["e"]?.arrayValue, let total = int(j["n"]).flatMap({ Int(exactly: $0) }), total >= 0 else { return nil }
        var acc = DigestAccumulator()
        for item in e {
            guard let a = item.arrayValue, a.count == 3 || a.count == 4, let title = a[1].stringValue, let sev = a[2].doubleValue else { return nil }
            acc.add(DigestEntry(findingID: a[0].stringValue, title: title, severity: sev, account: a.count == 4 ? a[3].stringValue : nil))
        }
        // Findings beyond the sample were counted, not kept: restore the counts as written.
        acc.restoreCounts(total: total, bySeverity: (j["b"]?.objectValue ?? []).reduce(into: [:]) { out, kv in
            if let c = int(kv.value).flatMap({ Int(exactly: $0) }), c >= 0 { out[kv.key] = c }
        })
        return acc
    }
}

/// The binary dedupe record (format 1), little-endian, 22 to 38 bytes:
///
/// | bytes | field |
/// |---|---|
/// | 1 | `0x01`, the format (JSON records, written before it, begin with `{`) |
/// | 1 | flags: bit 0 last delivery present, bit 1 severity present; other bits 0 |
/// | 8 | last delivery, Int64 epoch ms (only with bit 0) |
/// | 8 | severity, IEEE 754 binary64, finite (only with bit 1) |
/// | 4 | held count, UInt32 (saturates) |
/// | 8 | first seen, Int64 epoch ms |
/// | 8 | last seen, Int64 epoch ms |
///
/// Decoding takes exactly that many bytes; anything else (truncated, extra bytes, unknown flags,
/// a severity that is not finite, a time beyond ±9e15 ms) is not a record.
public enum DedupeRecordFormat {
    public static let version: UInt8 = 1
    static let hasLastDelivery: UInt8 = 1
    static let hasSeverity: UInt8 = 2

    public static func encode(_ s: DedupeState) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(38)
        let flags = (s.lastDelivery != nil ? hasLastDelivery : 0) | (s.severity != nil ? hasSeverity : 0)
        out.append(version)
        out.append(flags)
        if let l = s.lastDelivery { append(UInt64(bitPattern: l), 8, to: &out) }
        if let v = s.severity { append(v.bitPattern, 8, to: &out) }
        append(UInt64(UInt32(clamping: s.heldCount)), 4, to: &out)
        append(UInt64(bitPattern: s.firstSeen), 8, to: &out)
        append(UInt64(bitPattern: s.lastSeen), 8, to: &out)
        return out
    }

    public static func decode(_ b: UnsafeRawBufferPointer) -> DedupeState? {
        guard b.count >= 2, b[0] == version else { return nil }
        let flags = b[1]
        guard flags & ~(hasLastDelivery | hasSeverity) == 0 else { return nil }
        let expected = 2 + (flags & hasLastDelivery != 0 ? 8 : 0) + (flags & hasSeverity != 0 ? 8 : 0) + 4 + 16
        guard b.count == expected else { return nil }
        var at = 2
        func read(_ n: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in 0..<n { v |= UInt64(b[at + i]) << (8 * UInt64(i)) }
            at += n
            return v
        }
        let last: EpochMillis? = flags & hasLastDelivery != 0 ? EpochMillis(bitPattern: read(8)) : nil
        var severity: Double?
        if flags & hasSeverity != 0 {
            let v = Double(bitPattern: read(8))
            guard v.isFinite else { return nil }
            severity = v
        }
        let held = Int(read(4))
        let first = EpochMillis(bitPattern: read(8))
        let lastSeen = EpochMillis(bitPattern: read(8))
        // Times as the JSON form bounds them: a last delivery near Int64.max overflowed `last + window`.
        guard [last ?? 0, first, lastSeen].allSatisfy(isPlausibleEpochMillis) else { return nil }
        return DedupeState(lastDelivery: last, severity: severity, heldCount: held, firstSeen: first, lastSeen: lastSeen)
    }

    static func append(_ v: UInt64, _ n: Int, to out: inout [UInt8]) {
        for i in 0..<n { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }
}

extension DigestAccumulator {
    mutating func restoreCounts(total: Int, bySeverity: [String: Int]) {
        self.setCounts(total: max(total, first.count), bySeverity: bySeverity)
    }
}

/// Repartition records: a `HoldItem`, keyed by its state key. Written in a binary form (format
/// 1, below): every planned delivery with a state rule crosses this topic, and parsing JSON with
/// a base64 payload cost the owner more than the rest of its work. Records in the JSON form of
/// earlier versions (value beginning with `{`) are still read.
///
/// Format 1, little-endian: `0x01`, a flags byte (bit 0 dedupe key, 1 throttle key, 2 finding
/// id, 3 finding, 4 account; other bits 0; an owner older than the account bit skips such a
/// record, so instances are upgraded together), severity (binary64, finite), seen at (Int64 epoch ms, within ±9e15), then
/// length-prefixed fields (UInt32 length, bytes): route, target, state key, title, payload, and
/// the optional fields present, in flag order. Every length is checked against what is left; a
/// record that does not add up exactly is not one Sluice wrote.
public enum HoldItemCodec {
    static let version: UInt8 = 1

    public static func encode(_ item: HoldItem) -> [UInt8] {
        var out: [UInt8] = []
        let optional: [[UInt8]?] = [item.dedupeKey.map { Array($0.utf8) }, item.throttleKey.map { Array($0.utf8) },
                                    item.findingID.map { Array($0.utf8) }, item.finding, item.account.map { Array($0.utf8) }]
        out.reserveCapacity(64 + item.payload.count + item.route.utf8.count + item.stateKey.utf8.count * 3 + item.title.utf8.count + (item.finding?.count ?? 0))
        out.append(version)
        var flags: UInt8 = 0
        for (i, field) in optional.enumerated() where field != nil { flags |= 1 << UInt8(i) }
        out.append(flags)
        DedupeRecordFormat.append(item.severity.bitPattern, 8, to: &out)
        DedupeRecordFormat.append(UInt64(bitPattern: item.seenAt), 8, to: &out)
        func field(_ bytes: some Collection<UInt8>) {
            DedupeRecordFormat.append(UInt64(UInt32(clamping: bytes.count)), 4, to: &out)
            out.append(contentsOf: bytes.prefix(Int(UInt32.max)))
        }
        field(item.route.utf8)
        field(item.target.utf8)
        field(item.stateKey.utf8)
        field(item.title.utf8)
        field(item.payload)
        for case let bytes? in optional { field(bytes) }
        return out
    }

    /// nil when the record is not one Sluice wrote (it is skipped and counted, never trusted).
    public static func decode(_ bytes: [UInt8]) -> HoldItem? {
        if bytes.first == UInt8(ascii: "{") { return decodeJSON(bytes) }
        return bytes.withUnsafeBytes { decodeBinary($0) }
    }

    static func decodeBinary(_ b: UnsafeRawBufferPointer) -> HoldItem? {
        guard b.count >= 18, b[0] == version, b[1] & ~0x1F == 0 else { return nil }
        let flags = b[1]
        var at = 2
        func word(_ n: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in 0..<n { v |= UInt64(b[at + i]) << (8 * UInt64(i)) }
            at += n
            return v
        }
        let severity = Double(bitPattern: word(8))
        let seenAt = EpochMillis(bitPattern: word(8))
        guard severity.isFinite, isPlausibleEpochMillis(seenAt) else { return nil }
        func field() -> UnsafeRawBufferPointer? {
            guard b.count - at >= 4 else { return nil }
            let n = Int(word(4))
            guard b.count - at >= n else { return nil }
            defer { at += n }
            return UnsafeRawBufferPointer(rebasing: b[at..<(at + n)])
        }
        func text() -> String? { field().map { String(decoding: $0, as: UTF8.self) } }
        guard let route = text(), let target = text(), let stateKey = text(), let title = text(), let payload = field() else { return nil }
        var optional: [UnsafeRawBufferPointer?] = [nil, nil, nil, nil, nil]
        for i in 0..<5 where flags & (1 << UInt8(i)) != 0 {
            guard let f = field() else { return nil }
            optional[i] = f
        }
        guard at == b.count else { return nil }
        return HoldItem(route: route, target: target, stateKey: stateKey,
                        dedupeKey: optional[0].map { String(decoding: $0, as: UTF8.self) },
                        throttleKey: optional[1].map { String(decoding: $0, as: UTF8.self) },
                        findingID: optional[2].map { String(decoding: $0, as: UTF8.self) },
                        title: title, severity: severity, seenAt: seenAt, payload: Array(payload), finding: optional[3].map { Array($0) },
                        account: optional[4].map { String(decoding: $0, as: UTF8.self) })
    }

    /// The JSON form of earlier versions (the payload base64).
    static func decodeJSON(_ bytes: [UInt8]) -> HoldItem? {
        guard let j = try? JSON.parse(String(decoding: bytes, as: UTF8.self)),
              let r = j["r"]?.stringValue, let t = j["t"]?.stringValue, let k = j["k"]?.stringValue,
              let title = j["ti"]?.stringValue, let s = j["s"]?.doubleValue, s.isFinite, let at = StateCodec.int(j["at"]),
              let p = j["p"]?.stringValue, let payload = Data(base64Encoded: p) else { return nil }
        return HoldItem(route: r, target: t, stateKey: k, dedupeKey: j["dk"]?.stringValue, throttleKey: j["tk"]?.stringValue,
                        findingID: j["id"]?.stringValue, title: title, severity: s, seenAt: at, payload: Array(payload),
                        finding: j["ev"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map { Array($0) })
    }
}
