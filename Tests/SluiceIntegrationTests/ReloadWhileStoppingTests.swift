import Foundation
import Logging
import SluiceKafka
import SluiceTestSupport
import Testing

/// Issue 13 (docs/state.md, "Reload"): a reload that arrives while the run stops is refused with
/// "the run is stopping" — through the API and through SIGHUP, during the drain of a SIGTERM —
/// and the run still ends as a SIGTERM ends it: exit 0, every finding delivered, the commit at
/// the settled work and never past it.
@Suite(.serialized) struct ReloadWhileStoppingTests {
    @Test func aReloadDuringTheDrainIsRefusedAndTheRunStillStopsCleanly() async throws {
        try await withRunHarness { harness in
            // Retried for as long as the drain lasts: the test decides when the target recovers.
            let (broker, receiver, config) = try await harness.brokerAndWebhook(extra: "retry: {attempts: 100000, backoff: 50ms, max_backoff: 500ms}")
            let group = "reload-while-stopping"
            let (sluice, port) = try FirstRulesReloadTests.start(harness, broker: broker, config: config, group: group,
                                                                 extra: ["--drain-timeout", "300s"])
            let ready = try await StateTests.waitUntil(timeout: 120) { await FirstRulesReloadTests.ready(port) }
            #expect(ready, "\(sluice.output.suffix(2000))")
            let findings = try Findings.unique(7)
            let p0 = TopicPartition("findings", 0)
            func committed() async throws -> Int64? { try await offPool { try Self.committedNow(group: group, p0, broker) } }

            // Two findings delivered and committed first: the commit has a value to stay at.
            try await Findings.publish(Array(findings.prefix(2)), to: "findings", broker: broker)
            try await receiver.waitForCount(2, timeout: 60)
            let twoCommitted = try await StateTests.waitUntil(timeout: 60) { try Self.committedNow(group: group, p0, broker) == 2 }
            #expect(twoCommitted)
            // The target now refuses: five more stay in flight, each tried at least once (the marker).
            try await receiver.setStatus(503)
            try await Findings.publish(Array(findings.dropFirst(2)), to: "findings", broker: broker)
            let retriesUnderway = try await StateTests.waitUntil(timeout: 60) { try receiver.totalRequests() >= 2 + 5 }
            #expect(retriesUnderway)

            kill(sluice.pid, SIGTERM)
            #expect(try await RebalanceTests.waitForLog(sluice, "draining in-flight work", timeout: 60), "\(sluice.output.suffix(2000))")
            // A configuration that would start a state owner, were it taken now.
            try StateTests.writeRoute(config, state: "dedupe: {key: [detail.id], window: 1h}")
            let reply = try FirstRulesReloadTests.reload(port)
            #expect(reply.hasPrefix("HTTP/1.1 422") && reply.contains("the run is stopping"), "\(reply) \(sluice.output.suffix(2000))")
            kill(sluice.pid, SIGHUP)
            let refusedTwice = try await StateTests.waitUntil(timeout: 60) {
                sluice.output.components(separatedBy: "\n").filter { $0.contains("reload failed") && $0.contains("the run is stopping") }.count >= 2
            }
            #expect(refusedTwice, "the SIGHUP's reload is refused too: \(sluice.output.suffix(3000))")
            let status = try FirstRulesReloadTests.status(port)
            #expect(status["configVersion"] as? Int == 1, "\(status)")
            #expect(status["lastReloadSuccessful"] as? Bool == false, "\(status)")
            // Still draining, nothing settled since: the commit stays where the settled work ends.
            #expect(sluice.process.isRunning)
            #expect(try await committed() == 2, "offsets past unsettled work were committed")

            try await receiver.setStatus(204)
            #expect(await sluice.process.waitForExit(timeout: 120), "the drain never ended: \(sluice.output.suffix(3000))")
            #expect(sluice.process.terminationStatus == 0, "\(sluice.output.suffix(3000))")
            let delivered = try receiver.receivedFindingIDs()
            #expect(Set(delivered) == Set(findings.map(\.id)), "nothing lost")
            #expect(delivered.count == 7, "nothing delivered twice: \(delivered)")
            #expect(try await committed() == 7, "the drain committed every settled finding")
            #expect(!sluice.output.contains("state restored"), "no part of the refused configuration ran")
        }
    }

    /// The group's committed offset of `partition`, read without joining the group.
    static func committedNow(group: String, _ partition: TopicPartition, _ broker: TansuBroker) throws -> Int64? {
        try KafkaGroupInspector.committed(group: group, [partition], config: broker.clientConfig(), logger: Logger(label: "test"))[partition]
    }
}
