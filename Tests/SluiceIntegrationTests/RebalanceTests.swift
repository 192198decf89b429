import Foundation
import SluiceKafka
import SluiceTestSupport
import Testing

/// Two members of one consumer group on Tansu: the second joins mid-stream, so partitions are
/// revoked from the first while its deliveries are in flight. What it had settled is committed on
/// revocation; what it had not is redelivered by the new owner: nothing is lost, and no more is
/// delivered twice than the in-flight cap.
@Suite(.serialized) struct RebalanceTests {
    @Test func aMemberJoiningMidStreamTakesPartitionsAndNothingIsLost() async throws {
        let broker = try TansuBroker()
        defer { broker.stop() }
        let receiver = try WebhookReceiver(delayMs: 5)
        defer { receiver.stop() }
        try broker.createTopics(["findings"], partitions: 4)
        try broker.createTopics(["dlq"])   // one partition: read to a sentinel
        let findings = try Findings.unique(3000)
        try Findings.produce(findings, to: "findings", broker: broker)
        let cap = 200
        let config = try TestConfig.webhook(receiver.url, extra: "concurrency: 8\nretry: {attempts: 10000, backoff: 50ms, max_backoff: 1s}")
        defer { config.remove() }
        let first = try SluiceProcess(broker: broker, topic: "findings", group: "rebalance", dlq: "dlq", config: config,
                                      extra: ["--max-in-flight", "\(cap)"])
        defer { first.stop() }

        let deadline = Date().addingTimeInterval(90)
        while try receiver.totalRequests() < 300, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        // The target starts failing: the first member's deliveries stay unsettled (in flight,
        // retrying) while the second member joins and takes partitions from it.
        try await receiver.setStatus(503)
        let atJoin = receiver.count
        let port = freeLoopbackPort()
        let second = try SluiceProcess(broker: broker, topic: "findings", group: "rebalance", dlq: "dlq", config: config,
                                       extra: ["--max-in-flight", "\(cap)", "--metrics-listen", "127.0.0.1:\(port)"])
        defer { second.stop() }
        // The positive marker: the second member was assigned partitions and consumed from them.
        let consumedBySecond = try await waitForMetric(port: port, "sluice_findings_consumed_total", atLeast: 1, timeout: 90)
        try await receiver.setStatus(204)

        try await receiver.waitForCount(findings.count, timeout: 180)
        // Clean exits drain: once both have exited every delivery, redeliveries included, arrived.
        #expect(second.terminate() == 0)
        #expect(first.terminate() == 0)
        let received = try receiver.receivedFindingIDs()
        let distinct = Set(received)
        let lost = Set(findings.map(\.id)).subtracting(distinct)
        let duplicates = received.count - distinct.count
        print("rebalance: joined at \(atJoin) received; second member consumed \(consumedBySecond)+; \(received.count) received, lost \(lost.count), duplicates \(duplicates) (cap \(cap))")
        #expect(atJoin < findings.count, "the stream ended before the second member joined")
        #expect(consumedBySecond >= 1)
        #expect(lost.isEmpty)
        #expect(duplicates <= cap, "more redelivered than the in-flight cap: offsets past unsettled work were committed")
        #expect(try await readTopicToSentinel(broker, topic: "dlq").isEmpty)
    }
}
