import Foundation
import SluiceKafka
import SluiceTestSupport
import Testing

/// Issue 13 (docs/state.md, "Reload"): a reload whose state topics the *broker* refuses — as a
/// cluster with a topic-creation policy or an authorizer does (`KafkaRefusingProxy` makes Tansu
/// answer POLICY_VIOLATION to CreateTopics; Tansu has no policy of its own, and librdkafka's mock
/// cluster serves no CreateTopics) — fails with the broker's reason and changes nothing: the
/// configuration version stays, no owner starts, deliveries go on as before, and the same reload
/// succeeds once the broker accepts (the failed attempt left nothing half-built in its way).
@Suite(.serialized) struct ReloadRefusedTopicsTests {
    static let policyReason = "topic creation is closed by policy no-new-topics-7f3a"

    @Test func aReloadWhoseTopicsTheBrokerRefusesChangesNothing() async throws {
        try await withRunHarness { harness in
            let proxy = try KafkaRefusingProxy()
            harness.onStop { proxy.stop() }
            let broker = try await TansuBroker.start(advertisedPort: proxy.port)
            harness.onStop({ broker.stop() }, andWait: { await broker.stopAndWait() })
            proxy.forward(to: broker.port)
            try await broker.create(topics: ["findings", "dlq"], partitions: 3)
            let (receiver, config) = try await harness.webhook()
            try StateTests.writeRoute(config, state: "")
            let group = "refused-topics"
            let (sluice, port) = try FirstRulesReloadTests.start(harness, broker: broker, config: config, group: group)
            let ready = try await StateTests.waitUntil(timeout: 120) { await FirstRulesReloadTests.ready(port) }
            #expect(ready, "\(sluice.output.suffix(2000))")
            let findings = try Findings.unique(2)
            try await StateTests.produceShuffled([findings[0]], topic: "findings", partitions: 3, broker: broker)
            try await receiver.waitForCount(1, timeout: 60)

            proxy.refuseCreateTopics((KafkaRefusingProxy.policyViolation, Self.policyReason))
            try StateTests.writeRoute(config, state: "dedupe: {key: [detail.id], window: 1h}")
            let reply = try FirstRulesReloadTests.reload(port)
            #expect(reply.hasPrefix("HTTP/1.1 422"), "\(reply)")
            #expect(reply.contains("cannot be created") && reply.contains(Self.policyReason), "the broker's reason is returned: \(reply)")
            // The broker was asked (and refused): Sluice's own name check passed.
            #expect(proxy.refusedTopics.contains("sluice.hold.\(group).repartition"), "\(proxy.refusedTopics)")
            let status = try FirstRulesReloadTests.status(port)
            #expect(status["lastReloadSuccessful"] as? Bool == false, "\(status)")
            #expect(status["configVersion"] as? Int == 1, "\(status)")
            #expect(await FirstRulesReloadTests.ready(port), "no owner was adopted: readiness waits for no restore")

            // The configuration it had still runs: no dedupe, each copy delivered, nothing held.
            try await StateTests.produceShuffled([findings[0], findings[0]], topic: "findings", partitions: 3, broker: broker)
            try await receiver.waitForCount(3, timeout: 60)
            #expect(receiver.count == 3)
            #expect(await StateTests.held([port]) == 0)
            #expect(!sluice.output.contains("state restored"), "no owner started: \(sluice.output.suffix(2000))")

            // The broker accepts again: the same reload now builds everything (nothing of the failed
            // attempt stood in its way) and dedupe holds the copies.
            proxy.refuseCreateTopics(nil)
            let second = try FirstRulesReloadTests.reload(port)
            #expect(second.hasPrefix("HTTP/1.1 200"), "\(second) \(sluice.output.suffix(2000))")
            let restored = try await StateTests.waitUntil(timeout: 120) { await FirstRulesReloadTests.ready(port) && sluice.output.contains("state restored") }
            #expect(restored, "\(sluice.output.suffix(3000))")
            try await StateTests.produceShuffled(Array(repeating: findings[1], count: 3), topic: "findings", partitions: 3, broker: broker)
            let decided = try await StateTests.waitUntil(timeout: 120) { await StateTests.held([port]) >= 2 && receiver.count >= 4 }
            let heldNow = await StateTests.held([port])
            #expect(decided, "\(receiver.count) deliveries, \(heldNow) held: \(sluice.output.suffix(3000))")
            let copiesOfSecond = try receiver.receivedFindingIDs().filter { $0 == findings[1].id }
            #expect(copiesOfSecond.count == 1)
            #expect(await sluice.terminateAndWait() == 0, "\(sluice.output.suffix(3000))")
        }
    }
}
