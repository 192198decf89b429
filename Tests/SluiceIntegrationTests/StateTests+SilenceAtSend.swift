import Foundation
import SluiceTestSupport
import Testing

extension StateTests {
    /// A silence created while a finding waits in its lane (the target answers 503, the lane
    /// retries) holds it at its next attempt: it is never delivered, counted as `silenced`, and
    /// its record settles (a clean stop).
    @Test func silenceMadeWhileAFindingWaitsInItsLaneHoldsIt() async throws {
        let broker = try TansuBroker()
        defer { broker.stop() }
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        try broker.createTopics(["findings", "dlq"], partitions: 3)
        let config = try TestConfig.webhook(receiver.url, extra: "retry: {attempts: 1000, backoff: 100ms, max_backoff: 300ms, max_age: 1h}")
        defer { config.remove() }
        try await receiver.setStatus(503)
        let port = try LoopbackPort.free()
        let sluice = try instance(broker, config, group: "silence-at-send", metricsPort: port)
        defer { sluice.stop() }

        let waiting = try Self.finding(id: "waits-in-lane", time: "2025-05-12T08:00:00Z", severity: 5)
        try Findings.produce([(id: "waits-in-lane", bytes: waiting)], to: "findings", broker: broker)
        // Signal: the lane has retried, so the finding was planned before any silence existed.
        #expect(try await waitForMetric(port: port, "sluice_delivery_retries_total", atLeast: 2, timeout: 120) >= 2)
        #expect(Self.held([port]) == 0)

        let (status, _) = try Self.cli(["silence", "add", "--brokers", broker.bootstrap, "--matchers", #"{"detail":{"id":["waits-in-lane"]}}"#,
                                        "--duration", "1h", "--created-by", "test", "--comment", "muted while it waits"])
        #expect(status == 0)
        #expect(try await Self.waitUntil(timeout: 60) { Self.held([port]) >= 1 })
        try await receiver.setStatus(200)

        // A finding the silence does not match is the marker that the lane moves again.
        let other = try Self.finding(id: "not-silenced", time: "2025-05-12T08:05:00Z", severity: 5)
        try Findings.produce([(id: "not-silenced", bytes: other)], to: "findings", broker: broker)
        #expect(try await Self.waitUntil(timeout: 60) { receiver.count >= 1 })
        #expect(try receiver.receivedFindingIDs() == ["not-silenced"])
        let metrics = LoopbackPort.get(port, "/metrics") ?? ""
        #expect(metrics.contains(#"sluice_held_total{route="all-findings",target="hook",reason="silenced"} 1"#))
        #expect(sluice.terminate() == 0)
        #expect(try receiver.receivedFindingIDs() == ["not-silenced"])
    }
}
