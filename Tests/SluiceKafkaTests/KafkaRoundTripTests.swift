import Foundation
import Logging
import Testing
import SluiceTestSupport
@testable import SluiceKafka

/// Against a real Tansu broker: produce, consume in a group, commit, and resume from the commit.
@Suite(.serialized) struct KafkaRoundTripTests {
    @Test func produceConsumeCommitAndResume() async throws {
        try LibrdkafkaVersion.check()
        let broker = try await TansuBroker.start()
        try await withCleanup { cleanup in
            cleanup.add { await broker.stopAndWait() }
            try await broker.create(topics: ["rt"], partitions: 2)
            let logger = Logger(label: "test")
            let producer = try KafkaProducer(config: broker.clientConfig(), logger: logger)
            for i in 0..<20 {
                try await producer.send(topic: "rt", key: Array("k\(i)".utf8), value: Array("v\(i)".utf8), headers: [KafkaHeader("h", "\(i)")])
            }
            try await offPool { producer.close() }

            // Blocking polls: each consume runs on a thread of its own (offPool), not on the pool.
            @Sendable func consume(_ n: Int, store: Bool) throws -> [KafkaRecord] {
                let consumer = try KafkaConsumer(
                    config: broker.clientConfig(TansuBroker.consumerTuning.merging(["group.id": "g1"]) { $1 }),
                    topics: ["rt"], logger: logger)
                defer { consumer.close() }
                var got: [KafkaRecord] = []
                let deadline = Date().addingTimeInterval(120)
                while got.count < n, Date() < deadline {
                    if case .record(let r) = consumer.poll(timeoutMs: 200) {
                        got.append(r)
                        if store { consumer.storeOffsets([r.topicPartition: r.offset + 1]) }
                    }
                }
                return got
            }
            let first = try await offPool { try consume(20, store: false) }
            #expect(first.count == 20)
            let distinctValues = Set(first.compactMap { $0.value.map { String(decoding: $0, as: UTF8.self) } })
            #expect(distinctValues.count == 20)
            let allHeaded = first.allSatisfy { $0.headers.first?.name == "h" }
            #expect(allHeaded)
            // Nothing was stored, so a new member of the group starts again from the beginning.
            let second = try await offPool { try consume(20, store: true) }
            #expect(second.count == 20)
            // Everything stored and committed on close: a third member's first record is one produced
            // after it (a positive marker: an empty read would also pass before the group is joined).
            let sentinel = try KafkaProducer(config: broker.clientConfig(), logger: logger)
            try await sentinel.send(topic: "rt", key: Array("sentinel".utf8), value: Array("sentinel".utf8), headers: [])
            sentinel.close()
            let third = try await offPool { try consume(1, store: false) }
            let thirdValues = third.map { String(decoding: $0.value ?? [], as: UTF8.self) }
            #expect(thirdValues == ["sentinel"])
        }
    }
}
