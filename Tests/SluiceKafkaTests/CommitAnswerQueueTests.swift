import Foundation
import SluiceTestSupport
import Synchronization
import Testing
@testable import SluiceKafka

/// The answers to `commitAsync()` go to a queue of their own, served by `serveCommitAnswers()`:
/// the source loop, holding at its in-flight cap, takes no record (no consumer poll) and must
/// still learn that a commit went through, since work awaiting a confirmation counts against the
/// cap (`OffsetTracker.awaitingConfirmation`). On librdkafka's mock cluster.
@Suite(.serialized) struct CommitAnswerQueueTests {
    @Test func anAsyncCommitsAnswerIsServedWithoutAConsumerPoll() async throws {
        try LibrdkafkaVersion.check()
        let log = CommitFailureTests.CapturedLog()
        let cluster = try await CommitFailureTests.clusterWithTenFindings(log)
        let p0 = TopicPartition("findings", 0)

        let (beforeServing, answered, awaitingAsked, awaitingAfter, committed) = try await offPool {
            () throws -> (Int, OffsetCommitAnswer?, Int, Int, Int64?) in
            let consumer = try KafkaConsumer(
                config: KafkaConfig(["bootstrap.servers": cluster.bootstrapServers, "group.id": "answers", "enable.auto.commit": "false",
                                     "session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]),
                topics: ["findings"], logger: log.logger)
            defer { consumer.close() }
            let answers = Mutex<[OffsetCommitAnswer]>([])
            consumer.onCommitAnswered { answer in answers.withLock { $0.append(answer) } }
            var tracker = OffsetTracker()
            var read = 0
            let deadline = Date().addingTimeInterval(60)  // only a broken consumer gets near it
            while read < 10, Date() < deadline {
                if case .record(let r) = consumer.poll(timeoutMs: 100) {
                    _ = tracker.settle(tracker.track(p0, offset: r.offset))
                    read += 1
                }
            }
            tracker.markCommitted()
            let asked = tracker.awaitingConfirmation
            consumer.storeOffsets(tracker.takeAdvanced())
            consumer.commitAsync()
            // Long enough for the mock coordinator to answer: the answer waits in its queue.
            Thread.sleep(forTimeInterval: 0.5)
            let before = answers.withLock { $0.count }
            var answer: OffsetCommitAnswer?
            while answer == nil, Date() < deadline {
                consumer.serveCommitAnswers()
                answer = answers.withLock { $0.first }
                if answer == nil { Thread.sleep(forTimeInterval: 0.01) }
            }
            if let answer { tracker.commitAnswered(committed: answer.committed, refused: answer.refused) }
            return (before, answer, asked, tracker.awaitingConfirmation, try consumer.committed([p0])[p0])
        }
        #expect(awaitingAsked == 10, "ten settled records await the commit's confirmation")
        #expect(beforeServing == 0, "nothing reaches the handler before the queue is served")
        #expect(answered?.committed[p0] == 10, "the answer confirms offset 10 without a consumer poll")
        #expect(awaitingAfter == 0, "the confirmation ends the wait")
        #expect(committed == 10)
    }
}
