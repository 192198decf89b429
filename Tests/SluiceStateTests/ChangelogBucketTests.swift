import Foundation
import Logging
import SluiceCore
import SluiceKafka
import SluiceTestSupport
import Synchronization
import Testing
@testable import SluiceState

/// The changelog of buckets (docs/state.md, "A changelog of buckets"): its format, restore by
/// last write wins with per-key records of earlier versions, tombstones of buckets left with
/// nothing live, and the at-least-once rule across a crash mid-bucket, on a real broker.
@Suite(.serialized) struct ChangelogBucketTests {
    static let rules = ["r": HoldRules(dedupe: DedupeRule(key: ["detail.id"], window: .seconds(3600)))]

    static func state(_ i: Int64, held: Int = 0, severity: Double? = 5) -> DedupeState {
        DedupeState(lastDelivery: 1_000 + i, severity: severity, heldCount: held, firstSeen: 900 + i, lastSeen: 950 + i)
    }

    static func decode(_ bytes: [UInt8]) -> (routes: [String], entries: [DedupeBucketFormat.Entry])? {
        bytes.withUnsafeBytes { DedupeBucketFormat.decode($0) }
    }

    static func sequence(_ key: [UInt8]) -> UInt32? { key.withUnsafeBytes { DedupeBucketFormat.sequence(ofKey: $0) } }

    static func restore(_ engine: inout HoldEngine, key: [UInt8], value: [UInt8]?) -> Bool {
        key.withUnsafeBytes { k in value.map { $0.withUnsafeBytes { engine.restore(key: k, value: $0) } } ?? engine.restore(key: k, value: nil) }
    }

    static func id(_ engine: inout HoldEngine, _ key: String) -> DedupeID? { engine.dedupeID(key, route: "r") }

    // MARK: Format

    @Test func aBucketRoundTripsWithItsRoutesAndEveryRecordShape() throws {
        let entries = [
            DedupeBucketFormat.Entry(route: 0, high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210, state: Self.state(1)),
            DedupeBucketFormat.Entry(route: 2, high: 1, low: 2, state: DedupeState(lastDelivery: nil, severity: nil, heldCount: 7, firstSeen: -5, lastSeen: 9)),
            DedupeBucketFormat.Entry(route: 0, high: .max, low: 0, state: Self.state(3, held: 1, severity: 8.5)),
        ]
        let routes = ["r", "unused", "route with ünïcode"]
        let bytes = DedupeBucketFormat.encode(routes: routes, entries: entries)
        let decoded = try #require(Self.decode(bytes))
        // Only the routes used are written, re-indexed in order of first use.
        #expect(decoded.routes == ["r", "route with ünïcode"])
        #expect(decoded.entries.map(\.state) == entries.map(\.state))
        #expect(decoded.entries.map { [$0.high, $0.low] } == entries.map { [$0.high, $0.low] })
        #expect(decoded.entries.map { decoded.routes[Int($0.route)] } == ["r", "route with ünïcode", "r"])

        let key = DedupeBucketFormat.key(partition: 11, sequence: 4_000_000_000)
        #expect(key == Array("D\u{0}11\u{0}4000000000".utf8))
        #expect(Self.sequence(key) == 4_000_000_000)
    }

    @Test func hostileBucketsAndKeysAreNotRecords() throws {
        let good = DedupeBucketFormat.encode(routes: ["r"], entries: [
            DedupeBucketFormat.Entry(route: 0, high: 1, low: 2, state: Self.state(1)),
            DedupeBucketFormat.Entry(route: 0, high: 3, low: 4, state: Self.state(2)),
        ])
        #expect(Self.decode(good) != nil)
        // Every truncation but the one at the first entry's end (a whole bucket of one entry).
        let entryEnd = good.count - (2 + 16 + 1 + 38)
        for n in 0..<good.count where n != entryEnd {
            #expect(Self.decode(Array(good.prefix(n))) == nil, "prefix \(n)")
        }
        #expect(Self.decode(good + [0]) == nil)  // a trailing byte
        var wrongVersion = good
        wrongVersion[0] = 2
        #expect(Self.decode(wrongVersion) == nil)
        var routeOutOfRange = good
        routeOutOfRange[1 + 2 + 2 + 1] = 1  // the first entry's route index: 1 of 1 route
        #expect(Self.decode(routeOutOfRange) == nil)
        var recordTooLong = good
        recordTooLong[1 + 2 + 2 + 1 + 2 + 16] = 200  // the first entry's record length
        #expect(Self.decode(recordTooLong) == nil)
        var badRecord = good
        badRecord[1 + 2 + 2 + 1 + 2 + 16 + 1 + 1] = 0x80  // an unknown flag in the first record
        #expect(Self.decode(badRecord) == nil)
        #expect(Self.decode([1, 0xFF, 0xFF]) == nil)  // 65,535 routes announced, none there
        #expect(Self.decode([]) == nil)
        // A record with an implausible time (the engine adds windows to it).
        let farFuture = DedupeBucketFormat.encode(routes: ["r"], entries: [
            DedupeBucketFormat.Entry(route: 0, high: 1, low: 2, state: DedupeState(lastDelivery: .max, severity: 5, heldCount: 0, firstSeen: 0, lastSeen: 0)),
        ])
        #expect(Self.decode(farFuture) == nil)

        for key in ["D\u{0}0\u{0}0", "D\u{0}0\u{0}", "D\u{0}\u{0}5", "D\u{0}0\u{0}4294967295", "D\u{0}0\u{0}99999999999", "D\u{0}x\u{0}5", "D\u{0}0\u{0}5x", "D0\u{0}5"] {
            #expect(Self.sequence(Array(key.utf8)) == nil, "\(key.debugDescription)")
        }
        // The engine skips a bucket that does not decode (counted by the caller), keeping what it held.
        var engine = HoldEngine(rules: Self.rules)
        #expect(Self.restore(&engine, key: DedupeBucketFormat.key(partition: 0, sequence: 1), value: good))
        #expect(!Self.restore(&engine, key: DedupeBucketFormat.key(partition: 0, sequence: 2), value: Array(good.dropLast())))
        #expect(!Self.restore(&engine, key: Array("D\u{0}0\u{0}x".utf8), value: good))
        #expect(engine.keyCounts.dedupe == 2)
    }

    // MARK: Restore

    /// Per-key records of an earlier version and buckets in one partition: in offset order, the
    /// last write of each digest wins; a per-key tombstone written after a bucket (the cleanup
    /// of a superseded per-key record) does not remove the key the bucket holds.
    @Test func restoreOfPerKeyRecordsAndBucketsTakesTheLastWriteOfEachKey() throws {
        var writer = HoldEngine(rules: Self.rules)
        let a = try #require(Self.id(&writer, "a")), b = try #require(Self.id(&writer, "b")), c = try #require(Self.id(&writer, "c"))
        let d = try #require(Self.id(&writer, "d"))
        func perKey(_ id: DedupeID, _ s: DedupeState?) -> (key: [UInt8], value: [UInt8]?) {
            (Array("d\u{0}r\u{0}\(id.hex)".utf8), s.map(DedupeRecordFormat.encode))
        }
        func bucket(_ sequence: UInt32, _ entries: [(DedupeID, DedupeState)]) -> (key: [UInt8], value: [UInt8]?) {
            (DedupeBucketFormat.key(partition: 0, sequence: sequence),
             DedupeBucketFormat.encode(routes: ["r"], entries: entries.map { DedupeBucketFormat.Entry(route: 0, high: $0.0.high, low: $0.0.low, state: $0.1) }))
        }
        let log: [(key: [UInt8], value: [UInt8]?)] = [
            perKey(a, Self.state(1)),  // superseded by bucket 1
            perKey(b, Self.state(2)),
            perKey(d, Self.state(3)),  // superseded by bucket 1, its cleanup never written (a crash)
            bucket(1, [(a, Self.state(10, held: 1)), (b, Self.state(11, held: 1)), (c, Self.state(12)), (d, Self.state(13))]),
            perKey(b, Self.state(20, held: 2)),  // after bucket 1: b's latest
            perKey(a, nil),  // the cleanup of a's per-key record: a stays, as bucket 1 holds it
            bucket(2, [(c, Self.state(30, held: 3))]),
        ]
        var engine = HoldEngine(rules: Self.rules)
        for r in log { #expect(Self.restore(&engine, key: r.key, value: r.value)) }
        #expect(engine.dedupe[a].map(\.persisted) == Self.state(10, held: 1))
        #expect(engine.dedupe[b].map(\.persisted) == Self.state(20, held: 2))
        #expect(engine.dedupe[c].map(\.persisted) == Self.state(30, held: 3))
        #expect(engine.dedupe[d].map(\.persisted) == Self.state(13))
        #expect(engine.keyCounts.dedupe == 4)
        // Bucket 1 holds a and d now (b and c are newer elsewhere); the next bucket is 3.
        #expect(engine.dedupe.liveEntries == [1: 2, 2: 1])
        #expect(engine.openBucket == 3)
        // c's repeat moves it into bucket 3: bucket 2 is left empty and tombstoned after it.
        let item = HoldItem(route: "r", target: "t", stateKey: "", dedupeKey: "c", findingID: nil, title: "", severity: 5, seenAt: 1_100, payload: [])
        let decision = engine.offer(item, now: 1_100)
        #expect(decision == .held(.dedupe))
        let taken = engine.takeChangesIntoBucket()
        #expect(taken.bucketed && taken.records.isEmpty)
        let taken3 = engine.takeBucket()
        let write = try #require(taken3)
        #expect(write.sequence == 3)
        #expect(write.tombstonedBuckets == [2])
        // d's per-key record, superseded by bucket 1, is tombstoned now; b's is b's latest.
        #expect(write.stalePerKeyKeys == [perKey(d, nil).key])
        var restored = HoldEngine(rules: Self.rules)
        for r in log + [(DedupeBucketFormat.key(partition: 0, sequence: 3), write.value)] { #expect(Self.restore(&restored, key: r.key, value: r.value)) }
        #expect(Self.restore(&restored, key: DedupeBucketFormat.key(partition: 0, sequence: 2), value: nil))
        #expect(Self.restore(&restored, key: perKey(d, nil).key, value: nil))
        var live = engine
        let replayed = restored.allRecords().sorted { $0.key < $1.key }, held = live.allRecords().sorted { $0.key < $1.key }
        #expect(replayed == held)
    }

    // MARK: On a real broker

    /// Every delivery succeeds before `deliver` returns: a decision's entry is in the open
    /// bucket when `decideHere` returns, so the buckets' shapes are known.
    final class SynchronousDispatch: HoldDispatch {
        func deliver(route: String, target: String, payload: [UInt8], findingID: String?, event: [UInt8]?, completion: @escaping @Sendable (Bool) -> Void) {
            completion(true)
        }
        func deliver(digest: Digest, payload: [UInt8], completion: @escaping @Sendable (Bool) -> Void) { completion(true) }
    }

    static func item(_ id: String) -> HoldItem {
        HoldItem(route: "r", target: "t", stateKey: "r\u{0}t\u{0}\(id)", dedupeKey: "r\u{0}t\u{0}\"\(id)\"",
                 findingID: id, title: "", severity: 5, seenAt: KafkaHoldOwner.wallClock(), payload: Array("{}".utf8))
    }

    static func changelog(_ broker: TansuBroker, group: String) throws -> [KafkaRecord] {
        let reader = try KafkaTopicReader(config: broker.clientConfig(), topic: "sluice.hold.\(group).changelog", only: [0], logger: Logger(label: "test"))
        defer { reader.close() }
        return try reader.readToEnd(timeoutMs: 30_000)
    }

    /// Keys delivered, then held (their entries move to a newer bucket), then others expired:
    /// each bucket left with nothing live is tombstoned after the bucket that superseded it,
    /// and a restore of the topic holds what the owner holds.
    @Test func aBucketIsTombstonedOnceItsKeysAreSupersededOrExpired() throws {
        let broker = try TansuBroker()
        defer { broker.stop() }
        let (owner, producer) = try ChangelogIntegrityTests.owner(broker, group: "buckets", dispatch: SynchronousDispatch())
        defer { producer.close(timeoutMs: 1_000) }
        owner.restore(0)
        let settled = Atomic<Int>(0)
        func offer(_ ids: [String]) -> Bool {
            let before = settled.load(ordering: .relaxed)
            for id in ids { #expect(owner.decideHere(Self.item(id), partition: 0) { settled.add(1, ordering: .relaxed) }) }
            // The owner thread is not running: write the open bucket as its loop would.
            owner.flushBuckets(lingered: .zero)
            return ChangelogIntegrityTests.waitUntil(seconds: 30) { settled.load(ordering: .relaxed) == before + ids.count && owner.isIdle }
        }
        let first = (0..<10).map { "k\($0)" }
        #expect(offer(first))  // delivered: bucket 1
        #expect(offer(first))  // held: bucket 2 supersedes bucket 1
        #expect(offer(["x0", "x1"]))  // delivered: bucket 3
        owner.fireTimers(now: KafkaHoldOwner.wallClock() + 2 * 3_600_000)  // x0, x1 expired (k* hold a repeat)
        let expiredWritten = ChangelogIntegrityTests.waitUntil(seconds: 30) { owner.isIdle }
        #expect(expiredWritten)
        _ = producer.flush(timeoutMs: 10_000)

        let records = try Self.changelog(broker, group: "buckets")
        let shape = records.map { r -> String in
            let key = String(decoding: r.key ?? [], as: UTF8.self).replacingOccurrences(of: "\u{0}", with: "/")
            return r.value == nil ? "\(key) tombstone" : "\(key) \(r.value.flatMap(Self.decode)?.entries.count ?? -1) entries"
        }
        print("changelog: \(shape)")
        #expect(shape == ["D/0/1 10 entries", "D/0/2 10 entries", "D/0/1 tombstone",
                          "D/0/3 2 entries", "D/0/3 tombstone"])
        var restored = HoldEngine(rules: Self.rules)
        for r in records {
            let key = try #require(r.key)
            let taken = Self.restore(&restored, key: key, value: r.value)
            #expect(taken)
        }
        restored.finishRestore()  // bucket 3's tombstone: x0 and x1 go
        #expect(restored.keyCounts.dedupe == 10)
        let replayed = restored.allRecords().sorted { $0.key < $1.key }
        #expect(replayed == owner.records(of: 0).sorted { $0.key < $1.key })
    }

    /// A crash mid-bucket (the owner's producer closed at once, its queued records dropped,
    /// as kill -9 drops them): every decision settled before it is in the changelog, so the
    /// next owner holds its repeat; only unsettled decisions may be delivered again.
    @Test func aCrashMidBucketLosesNoSettledDecision() throws {
        let broker = try TansuBroker()
        defer { broker.stop() }
        let (owner, producer) = try ChangelogIntegrityTests.owner(broker, group: "crash", dispatch: SynchronousDispatch())
        owner.restore(0)
        let settledKeys = Mutex<Set<String>>([])
        let keys = (0...2_000).map { "c\($0)" }
        func decide(_ range: some Sequence<String>) {
            for key in range { #expect(owner.decideHere(Self.item(key), partition: 0) { _ = settledKeys.withLock { $0.insert(key) } }) }
        }
        // Full buckets (256 entries) are written as they fill; the owner thread, which writes a
        // bucket 5 ms after its first entry, is not running.
        decide(keys.prefix(1_000))
        let someAcknowledged = ChangelogIntegrityTests.waitUntil(seconds: 30) { settledKeys.withLock { $0.count } >= 768 }
        #expect(someAcknowledged)
        decide(keys.dropFirst(1_000))
        // The crash: what settled by now must survive; the rest (the open bucket, writes in
        // flight) may be lost.
        let settledAtCrash = settledKeys.withLock { $0 }
        producer.close(timeoutMs: 0)
        print("settled before the crash: \(settledAtCrash.count) of 2,001 decided")
        #expect(settledAtCrash.count > 0)

        let (next, nextProducer) = try ChangelogIntegrityTests.owner(broker, group: "crash", dispatch: SynchronousDispatch())
        defer { nextProducer.close(timeoutMs: 1_000) }
        next.restore(0)
        var repeatsDelivered = 0
        for key in keys {
            let decision = next.decideLocally(Self.item(key), partition: 0) {}
            if case .deliver(let release) = decision {
                repeatsDelivered += 1
                #expect(!settledAtCrash.contains(key), "a settled decision was lost: \(key)")
                next.completed(release, partition: 0, succeeded: true) {}
            }
        }
        print("repeats delivered again after the crash: \(repeatsDelivered) (unsettled before it: \(2_001 - settledAtCrash.count))")
        #expect(repeatsDelivered <= 2_001 - settledAtCrash.count)
    }
}
