import Foundation
import Logging
import SluiceTestSupport
import Testing
@testable import SluiceKafka

/// librdkafka's consumer close can block forever once its broker is gone (librdkafka issues
/// #4674, #3954, #4131); `KafkaConsumer.close` gives it `closeTimeout`, then leaves the handle to
/// a thread of its own with a warning, and the process goes on.
///
/// The hangs on demand, found with a C program against librdkafka 2.8 and Tansu (a group member
/// that consumed and stored offsets; "hang" = still blocked after 40 s; killed = SIGKILL, frozen =
/// SIGSTOP):
/// - broker killed, destroy without close: returned within 0-8 s (3 runs);
/// - broker killed, close (the revocation commits synchronously): returned after ~6.5 s, the
///   revocation's commit answered `_WAIT_COORD` (2 runs); with a synchronous commit first: same;
/// - async commit sent, broker killed, destroy without close: returned within 0.6-6 s (3 runs);
/// - **async commit sent and unanswered, broker killed, then close: blocked > 40 s in 4 runs of
///   4** (gdb: the app thread waits in `rd_kafka_commit` for a result inside the revocation
///   callback inside `rd_kafka_consumer_close`; it also blocked without the revocation's commit);
/// - **broker frozen, async commit sent, destroy without close: 60 s** (`socket.timeout.ms`) with
///   `rdk:main` at 100% CPU in `rd_kafka_cgrp_serve` and the app thread in
///   `rd_kafka_destroy_app` — #4674's signature; 2 runs of 2.
/// The tests freeze the broker before the commit, so that the commit is in flight for sure.
@Suite(.serialized) struct ConsumerHangTests {
    /// Slack over a bound the implementation sets: the test checks the deadline holds, not speed.
    static let slack: Duration = .seconds(30)

    @Test func closeWithTheBrokerKilledMidCommitReturnsWithinItsBoundAndTheProcessGoesOn() async throws {
        try LibrdkafkaVersion.check()
        let log = CommitFailureTests.CapturedLog()
        let broker = try await TansuBroker.start()
        try await withCleanup { cleanup in
            cleanup.add { await broker.stopAndWait() }
            try await Self.fill(broker, records: 10)

            let consumer = try Self.member(of: broker, group: "hang", logger: log.logger)
            let (consumed, closeTook) = try await offPool { () throws -> (Int, Duration) in
                let (consumed, next) = Self.consume(consumer, atLeast: 3, store: false)
                // Frozen, the broker takes the commit request and never answers it; then it dies.
                // Stored only now: auto-commit cannot have sent these offsets before the freeze.
                kill(broker.processIdentifier, SIGSTOP)
                consumer.storeOffsets(next)
                consumer.commitAsync()
                kill(broker.processIdentifier, SIGKILL)
                let started = ContinuousClock.now
                consumer.close()
                return (consumed, ContinuousClock.now - started)
            }
            #expect(consumed >= 3)
            // The close was still blocked in librdkafka at its bound: given up, with the warning.
            #expect(log.contains("did not close within its bound", "librdkafka issues #4674"))
            #expect(closeTook >= consumer.closeTimeout)
            #expect(closeTook < consumer.closeTimeout + Self.slack)

            // The process goes on: a new member on a fresh broker consumes, commits and closes cleanly.
            let freshLog = CommitFailureTests.CapturedLog()
            let fresh = try await TansuBroker.start()
            cleanup.add { await fresh.stopAndWait() }
            try await Self.fill(fresh, records: 3)
            let member = try Self.member(of: fresh, group: "after", logger: freshLog.logger)
            let read = try await offPool { () -> Int in
                defer { member.close() }
                return Self.consume(member, atLeast: 3, store: true).count
            }
            #expect(read == 3)
            #expect(!freshLog.contains("did not close within its bound"))
            #expect(!freshLog.contains("final commit failed"))
            #expect(freshLog.contains("consumer closed", "kafka.close_ms"))
            #expect(!freshLog.contains("without its last commit"))
            let reader = try Self.member(of: fresh, group: "after", logger: freshLog.logger)
            let committed = try await offPool { () throws -> [TopicPartition: Int64] in
                defer { reader.close() }
                return try reader.committed([TopicPartition("findings", 0)])
            }
            #expect(committed[TopicPartition("findings", 0)] == 3)
        }
    }

    @Test func destroyWithTheBrokerFrozenMidCommitReturnsWithinItsBound() async throws {
        try LibrdkafkaVersion.check()
        let log = CommitFailureTests.CapturedLog()
        let broker = try await TansuBroker.start()
        try await withCleanup { cleanup in
            cleanup.add { await broker.stopAndWait() }
            try await Self.fill(broker, records: 10)
            let (consumed, destroyTook) = try await offPool { () throws -> (Int, Duration) in
                var consumer: KafkaConsumer? = try Self.member(of: broker, group: "hang-destroy", logger: log.logger)
                let (consumed, next) = consumer.map { Self.consume($0, atLeast: 3, store: false) } ?? (0, [:])
                kill(broker.processIdentifier, SIGSTOP)
                consumer?.storeOffsets(next)  // after the freeze: the commit below is sure to be in flight
                consumer?.commitAsync()
                let started = ContinuousClock.now
                consumer = nil  // not closed: the handle is destroyed without a group leave
                return (consumed, ContinuousClock.now - started)
            }
            // The spinning handle is left to its thread; killing the broker lets it end.
            kill(broker.processIdentifier, SIGKILL)
            #expect(consumed >= 3)
            // The bound holds either way. Whether librdkafka hangs depends on the commit having left
            // before the destroy (on a loaded machine it may not have: the destroy then returns at
            // once, seen in a fresh-clone `make test`); when it hung, the bound cut it and said so.
            #expect(destroyTook < .seconds(RDKafkaClient.consumerDestroyWait) + Self.slack)
            if destroyTook >= .seconds(RDKafkaClient.consumerDestroyWait) {
                #expect(log.contains("did not shut down within", "librdkafka issue #4674"))
                print("destroy with the broker frozen mid-commit: hung, cut at the bound after \(destroyTook)")
            } else {
                #expect(!log.contains("did not shut down within"))
                print("destroy with the broker frozen mid-commit: librdkafka did not hang this time (\(destroyTook)); the bound was not needed")
            }
        }
    }

    /// A topic `findings` of one partition holding `records` records.
    static func fill(_ broker: TansuBroker, records: Int) async throws {
        try await broker.create(topics: ["findings"])
        try await withCleanup { cleanup in
            let producer = try KafkaProducer(config: broker.clientConfig(), logger: Logger(label: "test.producer"))
            cleanup.addOffPool { producer.close() }
            for i in 0..<records { try await producer.send(topic: "findings", value: Array("finding \(i)".utf8)) }
        }
    }

    static func member(of broker: TansuBroker, group: String, logger: Logger) throws -> KafkaConsumer {
        try KafkaConsumer(config: broker.clientConfig(TansuBroker.consumerTuning.merging(["group.id": group]) { $1 }),
                          topics: ["findings"], logger: logger)
    }

    /// Polls until `count` records came, or 120 s went by (a failure guard only: the caller
    /// asserts the count): how many, and the offsets that commit them (stored already if `store`).
    static func consume(_ consumer: KafkaConsumer, atLeast count: Int, store: Bool) -> (count: Int, next: [TopicPartition: Int64]) {
        var got = 0
        var next: [TopicPartition: Int64] = [:]
        let deadline = ContinuousClock.now + .seconds(120)
        while got < count, ContinuousClock.now < deadline {
            if case .record(let r) = consumer.poll(timeoutMs: 200) {
                got += 1
                next[r.topicPartition] = r.offset + 1
                if store { consumer.storeOffsets([r.topicPartition: r.offset + 1]) }
            }
        }
        return (got, next)
    }
}
