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
        // (the lane's retries are the wait; the send-time check runs before each)
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
        let heldAtSend = try await Self.waitUntil(timeout: 60) { Self.held([port]) >= 1 }
        #expect(heldAtSend)
        if !heldAtSend { print(sluice.output.suffix(3000)) }
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

extension StateTests {
    /// A silence with `--notify hook` holds findings on two instances; when it is expired, one
    /// summary goes to the hook for both: "N findings were held by this silence; M are still active".
    @Test func expiredSilenceSendsOneSummaryForAllInstances() async throws {
        let broker = try TansuBroker()
        defer { broker.stop() }
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        try broker.createTopics(["findings", "dlq"], partitions: 3)
        let config = try TestConfig.webhook(receiver.url)
        defer { config.remove() }
        let ids = ["muted-1", "muted-2", "muted-3"]
        // Made before the instances start: each reads the silences topic to its end before consuming.
        let (status, _) = try Self.cli(["silence", "add", "--brokers", broker.bootstrap, "--id", "patch-window",
                                        "--matchers", #"{"detail":{"id":["muted-1","muted-2","muted-3"]}}"#, "--duration", "1h",
                                        "--created-by", "test", "--comment", "patching", "--notify", "hook"])
        #expect(status == 0)
        let ports = [try LoopbackPort.free(), try LoopbackPort.free()]
        let a = try instance(broker, config, group: "summary", metricsPort: ports[0])
        defer { a.stop() }
        let b = try instance(broker, config, group: "summary", metricsPort: ports[1])
        defer { b.stop() }

        // Each finding twice, spread over the partitions (so over both instances): 6 holds, 3 findings.
        let findings = try ids.map { (id: $0, bytes: try Self.finding(id: $0, time: "2025-05-12T08:00:00Z", severity: 5)) }
        try Self.produceShuffled(findings + findings, topic: "findings", partitions: 3, broker: broker)
        #expect(try await Self.waitUntil(timeout: 120) { Self.held(ports) >= 6 })
        #expect(receiver.count == 0)

        #expect(try Self.cli(["silence", "expire", "--brokers", broker.bootstrap, "patch-window"]).0 == 0)
        #expect(try await Self.waitUntil(timeout: 60) { receiver.count >= 1 })
        // Marker: a finding delivered after the summary; still exactly one summary.
        let after = try Self.finding(id: "after-silence", time: "2025-05-12T09:00:00Z", severity: 5)
        try Findings.produce([(id: "after-silence", bytes: after)], to: "findings", broker: broker)
        #expect(try await Self.waitUntil(timeout: 60) { receiver.count >= 2 })
        let summaries = try receiver.records().filter { $0.body.contains("sluice_silence_expired") }
        #expect(summaries.count == 1)
        let summary = try JSONSerialization.jsonObject(with: Data((summaries.first?.body ?? "{}").utf8)) as? [String: Any]
        #expect(summary?["text"] as? String == "Silence patch-window ended: 6 findings were held by this silence; 3 are still active (patching)")
        #expect(a.terminate() == 0)
        #expect(b.terminate() == 0)
    }
}
