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
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        // The target fails from the start: the first member fills its in-flight cap with
        // deliveries that stay unsettled (retrying) while the second member joins and takes
        // partitions from it. Then the target recovers. Nothing depends on the machine's speed.
        let receiver = try await WebhookReceiver.start(status: 503)
        defer { receiver.stop() }
        try await broker.create(topics: ["findings"], partitions: 4)
        try await broker.create(topics: ["dlq"])   // one partition: read to a sentinel
        let findings = try Findings.unique(3000)
        try Findings.produce(findings, to: "findings", broker: broker)
        let cap = 200
        let config = try TestConfig.webhook(receiver.url, extra: "concurrency: 8\nretry: {attempts: 100000, backoff: 50ms, max_backoff: 1s}")
        defer { config.remove() }
        let firstPort = freeLoopbackPort()
        let first = try SluiceProcess(broker: broker, topic: "findings", group: "rebalance", dlq: "dlq", config: config,
                                      extra: ["--max-in-flight", "\(cap)", "--metrics-listen", "127.0.0.1:\(firstPort)"])
        defer { first.stop() }
        let inFlightAtJoin = try await waitForMetric(port: firstPort, "sluice_in_flight", atLeast: cap, timeout: 90)

        let port = freeLoopbackPort()
        let second = try SluiceProcess(broker: broker, topic: "findings", group: "rebalance", dlq: "dlq", config: config,
                                       extra: ["--max-in-flight", "\(cap)", "--metrics-listen", "127.0.0.1:\(port)"])
        defer { second.stop() }
        // The positive marker: the second member was assigned partitions and consumed from them.
        let consumedBySecond = try await waitForMetric(port: port, "sluice_findings_consumed_total", atLeast: 1, timeout: 90)
        try await receiver.setStatus(204)

        try await receiver.waitForCount(findings.count, timeout: 180)
        // Clean exits drain: once both have exited every delivery, redeliveries included, arrived.
        #expect(await second.terminateAndWait() == 0)
        #expect(await first.terminateAndWait() == 0)
        let received = try receiver.receivedFindingIDs()
        let distinct = Set(received)
        let lost = Set(findings.map(\.id)).subtracting(distinct)
        let duplicates = received.count - distinct.count
        print("rebalance: \(inFlightAtJoin) in flight on the first member when the second joined; second member consumed \(consumedBySecond)+; \(received.count) received, lost \(lost.count), duplicates \(duplicates) (cap \(cap))")
        #expect(inFlightAtJoin == cap, "the first member held its cap of unsettled deliveries when the second joined")
        #expect(consumedBySecond >= 1)
        #expect(lost.isEmpty)
        #expect(duplicates <= cap, "more redelivered than the in-flight cap: offsets past unsettled work were committed")
        #expect(try await readTopicToSentinel(broker, topic: "dlq").isEmpty)
    }
}
