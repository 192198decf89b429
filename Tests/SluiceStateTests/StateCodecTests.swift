import SluiceCore
import SluiceTestSupport
import Testing
@testable import SluiceState

/// The binary dedupe record and hashed changelog keys: expectations are literal bytes worked out
/// by hand (and with Python's struct/hashlib), never produced by the codec under test.
@Suite struct StateCodecTests {
    let known = DedupeState(lastDelivery: 1_700_000_000_000, severity: 8.0, heldCount: 3, firstSeen: 1_699_999_000_000, lastSeen: 1_700_000_500_000)
    /// format 1, flags 3, last delivery, 8.0, held 3, first seen, last seen (little-endian).
    let knownBytes: [UInt8] = [
        0x01, 0x03,
        0x00, 0x68, 0xe5, 0xcf, 0x8b, 0x01, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x40,
        0x03, 0x00, 0x00, 0x00,
        0xc0, 0x25, 0xd6, 0xcf, 0x8b, 0x01, 0x00, 0x00,
        0x20, 0x09, 0xed, 0xcf, 0x8b, 0x01, 0x00, 0x00,
    ]

    func decode(_ bytes: [UInt8]) -> DedupeState? { bytes.withUnsafeBytes { DedupeRecordFormat.decode($0) } }

    @Test func knownRecordHasTheseBytes() {
        #expect(DedupeRecordFormat.encode(known) == knownBytes)
        #expect(decode(knownBytes) == known)
    }

    @Test func everyFlagCombinationRoundTrips() {
        for last in [nil, -5, 1_700_000_000_123] as [EpochMillis?] {
            for severity in [nil, 0, 2.5, 8.9] as [Double?] {
                let s = DedupeState(lastDelivery: last, severity: severity, heldCount: 7, firstSeen: -1, lastSeen: 42)
                let bytes = DedupeRecordFormat.encode(s)
                #expect(bytes.count == 22 + (last == nil ? 0 : 8) + (severity == nil ? 0 : 8))
                #expect(decode(bytes) == s)
            }
        }
    }

    @Test func truncatedExtendedOrForeignBytesAreNoRecord() {
        for n in 0..<knownBytes.count { #expect(decode(Array(knownBytes.prefix(n))) == nil, "prefix of \(n) bytes") }
        #expect(decode(knownBytes + [0]) == nil)
        var unknownFlag = knownBytes
        unknownFlag[1] = 0x07
        #expect(decode(unknownFlag) == nil)
        var version2 = knownBytes
        version2[0] = 0x02
        #expect(decode(version2) == nil)
        var nan = knownBytes
        nan.replaceSubrange(10..<18, with: [0, 0, 0, 0, 0, 0, 0xf8, 0x7f])
        #expect(decode(nan) == nil)
    }

    /// Changelog bytes are outside data: a binary record's times are any 64 bits. A last
    /// delivery near Int64.max trapped the owner in `last + window` (on its next offer or expiry
    /// sweep); times beyond ±9e15 ms (the bound of the JSON form) are no record.
    @Test func aTimeBeyondTheBoundIsNoRecordAndTheEngineSweepsOn() {
        let edge: EpochMillis = 8_999_999_999_999_999
        for absurd in [EpochMillis.max - 1_000, EpochMillis.min, 9_000_000_000_000_000, -9_000_000_000_000_000] {
            for s in [DedupeState(lastDelivery: absurd, severity: 5, heldCount: 0, firstSeen: 0, lastSeen: 0),
                      DedupeState(lastDelivery: 0, severity: 5, heldCount: 0, firstSeen: absurd, lastSeen: 0),
                      DedupeState(lastDelivery: 0, severity: 5, heldCount: 0, firstSeen: 0, lastSeen: absurd)] {
                #expect(decode(DedupeRecordFormat.encode(s)) == nil, "\(s)")
            }
        }
        let atEdge = DedupeState(lastDelivery: edge, severity: 5, heldCount: 0, firstSeen: -edge, lastSeen: edge)
        #expect(decode(DedupeRecordFormat.encode(atEdge)) == atEdge)

        let f = Fixture(rules: HoldRules(dedupe: DedupeRule(key: ["detail.id"], window: .seconds(366 * 86_400))))
        var e = HoldEngine(rules: [f.route: f.rules])
        let key = Array("d\u{0}r\u{0}fd6e756f5e89f3f1c6f5eae79eea51cc".utf8)
        func restore(_ s: DedupeState) -> Bool {
            key.withUnsafeBytes { k in DedupeRecordFormat.encode(s).withUnsafeBytes { e.restore(key: k, value: $0) } }
        }
        #expect(!restore(DedupeState(lastDelivery: .max - 1_000, severity: 5, heldCount: 0, firstSeen: 0, lastSeen: 0)))
        #expect(e.keyCounts.dedupe == 0)
        // The widest time taken, with the longest window: the sweep and an offer add and compare without trapping.
        #expect(restore(atEdge))
        e.expire(now: 1_700_000_000_000)
        #expect(e.keyCounts.dedupe == 1)
        #expect(e.offer(f.item(id: "a", at: 1_700_000_000_000), now: 1_700_000_000_000) == .held(.dedupe))
    }

    @Test func changelogBytesThatAreNotRecordsAreSkipped() {
        let good = Array("d\u{0}r\u{0}fd6e756f5e89f3f1c6f5eae79eea51cc".utf8)
        #expect(StateCodec.decode(key: good, value: knownBytes) != nil)
        #expect(StateCodec.decode(key: Array("x\u{0}r".utf8), value: knownBytes) == nil)  // unknown kind
        #expect(StateCodec.decode(key: Array("d".utf8), value: knownBytes) == nil)  // no separator
        #expect(StateCodec.decode(key: [], value: nil) == nil)
        #expect(StateCodec.decode(key: good, value: Array(knownBytes.prefix(20))) == nil)  // truncated
        #expect(StateCodec.decode(key: good, value: Array("{\"h\":".utf8)) == nil)  // broken JSON
        #expect(StateCodec.decode(key: good, value: [0xff, 0xfe]) == nil)
        // A tombstone is a change with no record.
        #expect(StateCodec.decode(key: good, value: nil) == StateChange(kind: .dedupe, key: "r\u{0}fd6e756f5e89f3f1c6f5eae79eea51cc", record: nil))
    }

    @Test func dedupeChangelogKeyIsRouteAndDigest() {
        let f = Fixture(rules: HoldRules(dedupe: DedupeRule(key: ["detail.id"], window: .seconds(3600))))
        var e = HoldEngine(rules: [f.route: f.rules])
        guard case .deliver(let r) = e.offer(f.item(id: "a", at: 0), now: 0), let t = r.ticket else { Issue.record("not delivered"); return }
        _ = e.settled(ticket: t, succeeded: true, now: 0)
        let changes = e.takeChanges()
        #expect(changes.count == 1)
        // sha256("r\0t\0\"a\"") begins fd6e756f5e89f3f1c6f5eae79eea51cc.
        #expect(changes.first.map(StateCodec.key) == Array("d\u{0}r\u{0}fd6e756f5e89f3f1c6f5eae79eea51cc".utf8))
        #expect(changes.first.flatMap(StateCodec.value)?.count == 38)
    }

    @Test func restoreFromBytesTakesRecordsAndRefusesTheRest() {
        let f = Fixture(rules: HoldRules(dedupe: DedupeRule(key: ["detail.id"], window: .seconds(3600))))
        var e = HoldEngine(rules: [f.route: f.rules])
        let key = Array("d\u{0}r\u{0}fd6e756f5e89f3f1c6f5eae79eea51cc".utf8)
        // Last delivery at 0, severity 5: the key of finding "a" is in its window.
        let record = DedupeRecordFormat.encode(DedupeState(lastDelivery: 0, severity: 5, heldCount: 0, firstSeen: 0, lastSeen: 0))
        func restore(_ k: [UInt8], _ v: [UInt8]?) -> Bool {
            k.withUnsafeBytes { kb in v.map { $0.withUnsafeBytes { e.restore(key: kb, value: $0) } } ?? e.restore(key: kb, value: nil) }
        }
        #expect(restore(key, Array(record.prefix(10))) == false)  // truncated
        #expect(restore(Array("d\u{0}r\u{0}FD6E756F5E89F3F1C6F5EAE79EEA51CC".utf8), [0x7b]) == false)  // not hex, not JSON
        #expect(e.keyCounts.dedupe == 0)
        #expect(restore(key, record))
        #expect(e.keyCounts.dedupe == 1)
        #expect(e.offer(f.item(id: "a", at: minute), now: minute) == .held(.dedupe))
        #expect(restore(key, nil))  // a tombstone forgets it
        #expect(e.keyCounts.dedupe == 0)
    }

    @Test func recordsWrittenBeforeHashingStillRestore() {
        // The JSON value and whole-key form of earlier versions.
        let f = Fixture(rules: HoldRules(dedupe: DedupeRule(key: ["detail.id"], window: .seconds(3600))))
        var e = HoldEngine(rules: [f.route: f.rules])
        let change = StateCodec.decode(key: Array("d\u{0}r\u{0}t\u{0}\"a\"".utf8), value: Array(#"{"l":0,"s":5,"h":0,"f":0,"z":0}"#.utf8))
        #expect(change != nil)
        if let change { e.restore(change) }
        #expect(e.offer(f.item(id: "a", at: minute), now: minute) == .held(.dedupe))
        #expect(e.keyCounts.dedupe == 1)
    }
}

/// The open-addressing table against a Dictionary, operation for operation, with digests that
/// share home slots so probe runs and backward-shift deletion are exercised.
@Suite struct DedupeTableTests {
    @Test func agreesWithADictionary() {
        var rng = SplitMix(state: 12)
        var table = DedupeTable()
        var reference: [DedupeID: DedupeState] = [:]
        // 600 ids with 8 home slots at every table size (the low 16 bits of `high` index it):
        // long probe runs that wrap around, so deletion must shift members back correctly.
        var ids: [DedupeID] = []
        for i in 0..<600 {
            let home: UInt64 = i % 8 == 0 ? 0xFFFF : UInt64(i % 8)
            let high: UInt64 = (rng.next() << 16) | home
            ids.append(DedupeID(high: high, low: UInt64(i), route: UInt16(i % 3)))
        }
        for step in 0..<20_000 {
            let id = ids[Int(rng.next() % UInt64(ids.count))]
            if rng.next() % 3 == 0 {
                table[id] = nil
                reference[id] = nil
            } else {
                let s = DedupeState(lastDelivery: step % 2 == 0 ? EpochMillis(step) : nil, severity: Double(step % 9),
                                    heldCount: step % 5, firstSeen: EpochMillis(step), lastSeen: EpochMillis(step + 1))
                table[id] = s
                reference[id] = s
            }
            #expect(table.count == reference.count)
        }
        for id in ids { #expect(table[id] == reference[id]) }
        #expect(Set(table.ids { _, _ in true }) == Set(reference.keys))
    }
}

/// Repartition records (`HoldItemCodec` format 1).
@Suite struct HoldItemCodecTests {
    let item = HoldItem(route: "r", target: "t", stateKey: "k", findingID: "a", title: "T", severity: 5, seenAt: 1000, payload: Array("{}".utf8))
    /// format 1, flags 0x04 (finding id), severity 5.0, seen at 1000, then r, t, k, T, {}, a with UInt32 lengths.
    let itemBytes: [UInt8] = [
        0x01, 0x04,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x40,
        0xe8, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x72,
        0x01, 0x00, 0x00, 0x00, 0x74,
        0x01, 0x00, 0x00, 0x00, 0x6b,
        0x01, 0x00, 0x00, 0x00, 0x54,
        0x02, 0x00, 0x00, 0x00, 0x7b, 0x7d,
        0x01, 0x00, 0x00, 0x00, 0x61,
    ]

    @Test func knownItemHasTheseBytes() {
        #expect(HoldItemCodec.encode(item) == itemBytes)
        #expect(HoldItemCodec.decode(itemBytes) == item)
    }

    @Test func everyOptionalFieldRoundTrips() {
        for mask in 0..<16 {
            var i = item
            i.dedupeKey = mask & 1 != 0 ? "r\u{0}t\u{0}\"a\"" : nil
            i.throttleKey = mask & 2 != 0 ? "r\u{0}t\u{0}\"Recon\"" : nil
            i.findingID = mask & 4 != 0 ? "ünïcode-id" : nil
            i.finding = mask & 8 != 0 ? Array(#"{"detail":{"id":"a"}}"#.utf8) : nil
            #expect(HoldItemCodec.decode(HoldItemCodec.encode(i)) == i, "mask \(mask)")
        }
    }

    @Test func truncatedOrPaddedOrForeignRecordsAreNotItems() {
        for n in 0..<itemBytes.count { #expect(HoldItemCodec.decode(Array(itemBytes.prefix(n))) == nil, "prefix of \(n) bytes") }
        #expect(HoldItemCodec.decode(itemBytes + [0]) == nil)
        var hugeLength = itemBytes
        hugeLength.replaceSubrange(18..<22, with: [0xff, 0xff, 0xff, 0xff])
        #expect(HoldItemCodec.decode(hugeLength) == nil)
        var unknownFlag = itemBytes
        unknownFlag[1] = 0x14
        #expect(HoldItemCodec.decode(unknownFlag) == nil)
        var infinite = itemBytes
        infinite.replaceSubrange(2..<10, with: [0, 0, 0, 0, 0, 0, 0xf0, 0x7f])
        #expect(HoldItemCodec.decode(infinite) == nil)
    }

    /// A repartition record's `seen at` becomes a group member's last sighting and a dedupe
    /// delivery's time: at Int64.min, `now - lastSeen` trapped the owner. Beyond ±9e15 ms it is no item.
    @Test func aSeenAtBeyondTheBoundIsNoItem() {
        for absurd in [EpochMillis.min, EpochMillis.max, 9_000_000_000_000_000, -9_000_000_000_000_000] {
            var i = item
            i.seenAt = absurd
            #expect(HoldItemCodec.decode(HoldItemCodec.encode(i)) == nil, "\(absurd)")
        }
        var edge = item
        edge.seenAt = -8_999_999_999_999_999
        #expect(HoldItemCodec.decode(HoldItemCodec.encode(edge)) == edge)
    }

    @Test func jsonItemsOfEarlierVersionsStillDecode() {
        // {"r":"r","t":"t","k":"k","ti":"T","s":5,"at":1000,"p":"e30=","id":"a"}: "e30=" is base64 of "{}".
        let old = Array(#"{"r":"r","t":"t","k":"k","ti":"T","s":5,"at":1000,"p":"e30=","id":"a"}"#.utf8)
        #expect(HoldItemCodec.decode(old) == item)
    }
}
