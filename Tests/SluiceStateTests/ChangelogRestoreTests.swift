import Foundation
import Logging
import SluiceCore
import SluiceKafka
import SluiceTestSupport
import Synchronization
import Testing
@testable import SluiceState

/// Restore on a real broker: every record written before the restore is replayed, however the
/// producer batched them.
@Suite(.serialized) struct ChangelogRestoreTests {
    @Test func readToEndSeesEveryBatchedRecord() throws {
        let broker = try TansuBroker()
        defer { broker.stop() }
        try broker.createTopics(["changelog"], partitions: 2)
        let producer = try KafkaProducer(config: broker.clientConfig(["linger.ms": "50"]), logger: Logger(label: "test"))
        let acked = Atomic<Int>(0)
        for i in 0..<200 {
            try producer.produce(topic: "changelog", partition: Int32(i % 2), key: Array("k\(i)".utf8), value: Array("v\(i)".utf8)) { e in
                if e == nil { acked.add(1, ordering: .relaxed) }
            }
        }
        producer.close(timeoutMs: 30_000)
        #expect(acked.load(ordering: .relaxed) == 200)
        let reader = try KafkaTopicReader(config: broker.clientConfig(), topic: "changelog", only: [1], logger: Logger(label: "test"))
        defer { reader.close() }
        let records = try reader.readToEnd(timeoutMs: 30_000)
        print("partition 1: \(records.count) records, offsets \(records.first?.offset ?? -1)...\(records.last?.offset ?? -1)")
        #expect(records.count == 100)
        #expect(Set(records.compactMap { $0.key.map { String(decoding: $0, as: UTF8.self) } }) == Set((0..<100).map { "k\(2 * $0 + 1)" }))
    }

    /// The owner's restore path on a real broker: records decoded in the consumer's buffers
    /// (large fetches), every batch seen, and bytes that are not records skipped, never trusted.
    @Test func borrowingRestoreTakesEveryRecordAndSkipsForeignBytes() throws {
        let broker = try TansuBroker()
        defer { broker.stop() }
        try broker.createTopics(["changelog"], partitions: 1)
        let producer = try KafkaProducer(config: broker.clientConfig(["linger.ms": "50"]), logger: Logger(label: "test"))
        let acked = Atomic<Int>(0)
        // 500 keys of route "r" (last delivery at 0, in a 1 h window), then 3 foreign records.
        var written: [(key: [UInt8], value: [UInt8]?)] = (0..<500).map { i in
            let hex = String(repeating: "0", count: 29) + String(format: "%03d", i)
            return (Array("d\u{0}r\u{0}\(hex)".utf8), [0x01, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0x40] + [UInt8](repeating: 0, count: 20))
        }
        written += [(Array("d\u{0}r\u{0}nothex".utf8), [0x01]), (Array("zz".utf8), [0x00]), (Array("d\u{0}r\u{0}\(String(repeating: "a", count: 32))".utf8), Array("{not json".utf8))]
        for r in written {
            try producer.produce(topic: "changelog", partition: 0, key: r.key, value: r.value) { e in
                if e == nil { acked.add(1, ordering: .relaxed) }
            }
        }
        producer.close(timeoutMs: 30_000)
        #expect(acked.load(ordering: .relaxed) == written.count)
        let reader = try KafkaTopicReader(config: KafkaHoldOwner.restoreConfig(broker.clientConfig()), topic: "changelog", logger: Logger(label: "test"))
        defer { reader.close() }
        var engine = HoldEngine(rules: ["r": HoldRules(dedupe: DedupeRule(key: ["detail.id"], window: .seconds(3600)))])
        var skipped = 0
        let visited = try reader.readToEnd(timeoutMs: 30_000) { _, key, value in
            guard let key, engine.restore(key: key, value: value) else { skipped += 1; return }
        }
        #expect(visited == 503)
        #expect(skipped == 3)
        #expect(engine.keyCounts.dedupe == 500)
    }
}
