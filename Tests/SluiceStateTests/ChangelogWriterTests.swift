import Dispatch
import Foundation
import Logging
import SluiceKafka
import SluiceTestSupport
import Synchronization
import Testing
@testable import SluiceState

/// The changelog writer on a real broker: at most one request per partition in flight, the
/// rest waiting in order and going out together, nothing lost on the way.
@Suite(.serialized) struct ChangelogWriterTests {
    static func record(_ text: String, _ acknowledged: @escaping @Sendable (KafkaError?) -> Void) -> ChangelogWriter.Record {
        .init(key: Array("key".utf8), value: Array(text.utf8), acknowledged: acknowledged)
    }

    static func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    /// Records written behind an unacknowledged one stay with the writer (librdkafka sees one per
    /// partition), then all reach the partition, in the order written.
    @Test func recordsBehindAnUnacknowledgedOneWaitThenFollowInOrder() throws {
        let broker = try TansuBroker()
        defer { broker.stop() }
        try broker.createTopics(["changelog"], partitions: 2)
        // A long linger keeps the first record of each partition unacknowledged while the test looks.
        let producer = try KafkaProducer(config: broker.clientConfig(["linger.ms": "1000"]), logger: Logger(label: "test"))
        defer { producer.close(timeoutMs: 5_000) }
        let writer = ChangelogWriter(producer: producer, topic: "changelog")
        let acknowledged = Atomic<Int>(0)
        let failed = Atomic<Int>(0)
        let count = { @Sendable (error: KafkaError?) in
            if error != nil { failed.add(1, ordering: .relaxed) }
            acknowledged.add(1, ordering: .relaxed)
        }
        for i in 0..<200 { writer.write(Self.record("p0-\(i)", count), partition: 0) }
        for i in 0..<50 { writer.write(Self.record("p1-\(i)", count), partition: 1) }
        let handedOver = producer.outstanding
        let withWriter = writer.outstanding
        #expect(handedOver == 2)  // the first record of each partition
        #expect(withWriter == 250)
        let done = Self.waitUntil(seconds: 60) { acknowledged.load(ordering: .relaxed) == 250 }
        #expect(done)
        #expect(failed.load(ordering: .relaxed) == 0)
        #expect(writer.outstanding == 0)
        let reader = try KafkaTopicReader(config: broker.clientConfig(), topic: "changelog", logger: Logger(label: "test"))
        defer { reader.close() }
        let records = try reader.readToEnd(timeoutMs: 30_000)
        let values = { (p: Int32) in records.filter { $0.partition == p }.map { String(decoding: $0.value ?? [], as: UTF8.self) } }
        #expect(values(0) == (0..<200).map { "p0-\($0)" })
        #expect(values(1) == (0..<50).map { "p1-\($0)" })
    }

    /// Writers on several threads: each thread's records reach the partition in its own order,
    /// every one acknowledged once, and `flush` returns only when none is left.
    @Test func eachThreadsRecordsKeepTheirOrderAndFlushWaitsForAll() throws {
        let broker = try TansuBroker()
        defer { broker.stop() }
        try broker.createTopics(["changelog"], partitions: 1)
        let producer = try KafkaProducer(config: broker.clientConfig(), logger: Logger(label: "test"))
        defer { producer.close(timeoutMs: 5_000) }
        let writer = ChangelogWriter(producer: producer, topic: "changelog")
        let threads = 4, perThread = 300
        let acknowledged = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<perThread {
                writer.write(Self.record("\(t):\(i)") { error in
                    if error == nil { acknowledged.add(1, ordering: .relaxed) }
                }, partition: 0)
            }
        }
        #expect(writer.flush(timeoutMs: 60_000))
        #expect(acknowledged.load(ordering: .relaxed) == threads * perThread)
        #expect(writer.outstanding == 0)
        let reader = try KafkaTopicReader(config: broker.clientConfig(), topic: "changelog", logger: Logger(label: "test"))
        defer { reader.close() }
        let records = try reader.readToEnd(timeoutMs: 30_000)
        #expect(records.count == threads * perThread)
        var next = [Int](repeating: 0, count: threads)
        for r in records {
            let parts = String(decoding: r.value ?? [], as: UTF8.self).split(separator: ":").compactMap { Int($0) }
            guard parts.count == 2, parts[0] < threads else {
                Issue.record("unexpected record \(r.value ?? [])")
                continue
            }
            #expect(parts[1] == next[parts[0]])
            next[parts[0]] = parts[1] + 1
        }
        #expect(next == [Int](repeating: perThread, count: threads))
    }
}
