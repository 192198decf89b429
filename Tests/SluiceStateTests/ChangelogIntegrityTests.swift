import Dispatch
import Foundation
import Logging
import SluiceCore
import SluiceKafka
import SluiceTestSupport
import Synchronization
import Testing
@testable import SluiceState

/// The key owner's changelog on a real broker: one key's records land in the order the engine
/// made them, whichever threads make them, and a write the broker did not take is written again
/// before its record settles.
@Suite(.serialized) struct ChangelogIntegrityTests {
    /// Completes deliveries on other threads, some failed, as the lanes do.
    final class ThreadedDispatch: HoldDispatch {
        let delivered = Atomic<Int>(0)
        let failEvery: Int
        init(failEvery: Int) { self.failEvery = failEvery }
        func deliver(route: String, target: String, payload: [UInt8], findingID: String?, event: [UInt8]?, completion: @escaping @Sendable (Bool) -> Void) {
            let n = delivered.add(1, ordering: .relaxed).newValue
            let ok = failEvery == 0 || n % failEvery != 0
            DispatchQueue.global().async { completion(ok) }
        }
        func deliver(digest: Digest, payload: [UInt8], completion: @escaping @Sendable (Bool) -> Void) {
            DispatchQueue.global().async { completion(true) }
        }
    }

    static let rules = ["r": HoldRules(dedupe: DedupeRule(key: ["detail.id"], window: .seconds(3600)))]

    static func item(_ id: String, severity: Double = 5) -> HoldItem {
        HoldItem(route: "r", target: "t", stateKey: "r\u{0}t\u{0}\(id)", dedupeKey: "r\u{0}t\u{0}\"\(id)\"",
                 findingID: id, title: "finding \(id)", severity: severity, seenAt: KafkaHoldOwner.wallClock(), payload: Array("{}".utf8))
    }

    /// The owner and its changelog producer (the caller closes it before stopping the broker:
    /// a producer left open logs its lost broker for the rest of the test run).
    static func owner(_ broker: TansuBroker, group: String, dispatch: any HoldDispatch, producerSettings: [String: String] = [:]) throws
        -> (KafkaHoldOwner, KafkaProducer) {
        let topics = StateTopics(group: group, partitions: 1)
        try topics.create(inhibit: false, config: broker.clientConfig(), logger: Logger(label: "test"))
        let producer = try KafkaProducer(config: broker.clientConfig(producerSettings), logger: Logger(label: "test"))
        return (try KafkaHoldOwner(topics: topics, rules: rules, kafka: broker.clientConfig(), producer: producer,
                                   dispatch: dispatch, held: HeldCounter(), logger: Logger(label: "test")), producer)
    }

    /// The changelog partition replayed into a fresh engine: what the next owner would hold.
    static func restored(_ broker: TansuBroker, group: String) throws -> (engine: HoldEngine, records: Int) {
        let reader = try KafkaTopicReader(config: broker.clientConfig(), topic: "sluice.hold.\(group).changelog", only: [0], logger: Logger(label: "test"))
        defer { reader.close() }
        var engine = HoldEngine(rules: rules)
        var records = 0
        try reader.readToEnd(timeoutMs: 30_000) { _, key, value in
            if let key, engine.restore(key: key, value: value) { records += 1 }
        }
        return (engine, records)
    }

    static func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    /// Repeats of a few keys offered from several threads while their deliveries settle on
    /// others: every key's changelog record written last is its state, so a restore holds
    /// exactly what the owner held (records produced after the lock could land stale-last).
    @Test func aRestoreHoldsWhatTheOwnerHeldWhateverThreadsWroteTheRecords() throws {
        let broker = try TansuBroker()
        defer { broker.stop() }
        let dispatch = ThreadedDispatch(failEvery: 7)
        let (owner, producer) = try Self.owner(broker, group: "order", dispatch: dispatch)
        defer { producer.close(timeoutMs: 1_000) }
        owner.restore(0)
        let threads = 6, offers = 150, keys = 5
        let settled = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<offers {
                // Raised severities release a repeat at once: more deliveries racing more holds.
                let item = Self.item("k\((i + t) % keys)", severity: i % 10 == 9 ? Double(6 + i % 3) : 5)
                let taken = owner.decideHere(item, partition: 0) { settled.add(1, ordering: .relaxed) }
                #expect(taken)
            }
        }
        let allSettled = Self.waitUntil(seconds: 120) { settled.load(ordering: .relaxed) == threads * offers && owner.isIdle }
        #expect(allSettled)
        let live = owner.records(of: 0)
        #expect(!live.isEmpty)
        let deliveries = dispatch.delivered.load(ordering: .relaxed)
        #expect(deliveries > keys)  // releases raced holds
        let (restored, written) = try Self.restored(broker, group: "order")
        #expect(written >= live.count)
        var restoredEngine = restored
        let replayed = restoredEngine.allRecords().sorted { $0.key < $1.key }
        #expect(replayed == live.sorted { $0.key < $1.key })
    }

    /// A changelog write the broker did not take (broker stopped past `message.timeout.ms`) does
    /// not settle its record: the owner writes the key again, and until a write is acknowledged
    /// the record stays unsettled (its offset uncommitted: a restart reprocesses it). On Tansu
    /// the producer is fenced after such a timeout (librdkafka's epoch bump is refused), so here
    /// the writes keep failing once the broker is back, and the record must stay unsettled.
    @Test func aFailedChangelogWriteIsWrittenAgainAndNeverSettlesUnwritten() throws {
        let broker = try TansuBroker()
        let pid = try #require(Self.pid(of: broker))
        defer {
            _ = kill(pid, SIGCONT)
            broker.stop()
        }
        let dispatch = ThreadedDispatch(failEvery: 0)
        let (owner, producer) = try Self.owner(broker, group: "failed", dispatch: dispatch, producerSettings: ["message.timeout.ms": "1500"])
        defer { producer.close(timeoutMs: 1_000) }
        owner.restore(0)
        #expect(kill(pid, SIGSTOP) == 0)
        let settled = Atomic<Bool>(false)
        let taken = owner.decideHere(Self.item("only"), partition: 0) { settled.store(true, ordering: .releasing) }
        #expect(taken)
        // The delivery succeeded; its record's write times out while the broker is stopped.
        let failed = Self.waitUntil(seconds: 60) { owner.failedWriteCount > 0 }
        #expect(failed)
        let settledWhileFailing = settled.load(ordering: .acquiring)
        #expect(!settledWhileFailing)
        #expect(kill(pid, SIGCONT) == 0)
        // Written again (the key's record as the engine holds it now), and failed again.
        owner.rewriteFailed()
        let rewrites = owner.changelogRewrites.load(ordering: .relaxed)
        #expect(rewrites == 1)
        let failedAgain = Self.waitUntil(seconds: 60) { owner.failedWriteCount > 0 }
        #expect(failedAgain)
        let settledUnwritten = settled.load(ordering: .acquiring)
        #expect(!settledUnwritten)
    }

    /// The Tansu process serving `broker` (to stop and continue it).
    static func pid(of broker: TansuBroker) -> Int32? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry), let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let text = String(decoding: cmdline.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
            if text.contains("tansu"), text.contains("--listener-url tcp://127.0.0.1:\(broker.port) ") { return pid }
        }
        return nil
    }
}

/// The state key's partition is librdkafka's default partitioner's: instances of earlier
/// versions, which let librdkafka choose, agree with this one.
@Suite(.serialized) struct StatePartitionTests {
    /// The source's local path hashes a key's String, the forwarder its bytes: one partition.
    @Test func aKeysStringAndItsBytesHaveOnePartition() {
        let topics = StateTopics(prefix: "sluice.", group: "g", partitions: 12)
        for key in ["", "r\u{0}t\u{0}\"abc\"", "route\u{0}target\u{0}\"é-\u{1F600}\"", String(repeating: "k", count: 300), "\u{0}null"] {
            #expect(topics.partition(forKey: key) == topics.partition(forKey: Array(key.utf8)), "\(key.debugDescription)")
        }
    }

    @Test func crc32HasItsPublishedCheckValue() {
        #expect(StateTopics.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        // Eight bytes a step, then the tail: every length from 0 to 40 against the bitwise
        // definition, on bytes with every bit pattern.
        func bitwise(_ bytes: [UInt8]) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for b in bytes {
                crc ^= UInt32(b)
                for _ in 0..<8 { crc = crc & 1 == 1 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
            }
            return crc ^ 0xFFFF_FFFF
        }
        let bytes = (0..<40).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ 13) } + [0xFF, 0x00, 0x80, 0x7F]
        for n in 0...bytes.count { #expect(StateTopics.crc32(Array(bytes.prefix(n))) == bitwise(Array(bytes.prefix(n))), "length \(n)") }
    }

    @Test func aKeysPartitionIsTheOneLibrdkafkaPicks() throws {
        let broker = try TansuBroker()
        defer { broker.stop() }
        try broker.createTopics(["keyed"], partitions: 7)
        let producer = try KafkaProducer(config: broker.clientConfig(), logger: Logger(label: "test"))
        let keys = (0..<200).map { "route\u{0}target\u{0}dedupe\u{0}\"finding-\($0)\"" }
        for key in keys { try producer.produce(topic: "keyed", key: Array(key.utf8), value: [1]) { _ in } }
        producer.close(timeoutMs: 30_000)
        let reader = try KafkaTopicReader(config: broker.clientConfig(), topic: "keyed", logger: Logger(label: "test"))
        defer { reader.close() }
        let records = try reader.readToEnd(timeoutMs: 30_000)
        #expect(records.count == keys.count)
        let topics = StateTopics(group: "g", partitions: 7)
        for r in records {
            #expect(r.partition == topics.partition(forKey: r.key ?? []))
        }
        #expect(Set(records.map(\.partition)).count == 7)
    }
}
