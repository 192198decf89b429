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
}
