import Foundation
import SluiceTestSupport
import Testing

extension StateTests {
    /// `sluice silence add` for an hour, run off the cooperative pool; its exit status.
    static func addSilence(_ broker: TansuBroker, matchers: String, comment: String) async throws -> Int32 {
        try await Self.cli(["silence", "add", "--brokers", broker.bootstrap, "--matchers", matchers,
                            "--duration", "1h", "--created-by", "test", "--comment", comment]).0
    }

    /// A silence created while a finding waits in its lane (the target answers 503, the lane
    /// retries) holds it at its next attempt: it is never delivered, counted as `silenced`, and
    /// its record settles (a clean stop).
    @Test func silenceMadeWhileAFindingWaitsInItsLaneHoldsIt() async throws {
        try await withCleanup { cleanup in
            let (broker, receiver) = try await Self.brokerAndReceiver(stoppedBy: cleanup)
            let config = try TestConfig.webhook(receiver.url, extra: "retry: {attempts: 1000, backoff: 100ms, max_backoff: 300ms, max_age: 1h}")
            // (the lane's retries are the wait; the send-time check runs before each)
            defer { config.remove() }
            try await receiver.setStatus(503)
            let port = try LoopbackPort.free()
            let sluice = try instance(broker, config, group: "silence-at-send", metricsPort: port)
            cleanup.add { await sluice.stopAndWait() }

            let waiting = try Self.finding(id: "waits-in-lane", time: "2025-05-12T08:00:00Z", severity: 5)
            try await Findings.publish([(id: "waits-in-lane", bytes: waiting)], to: "findings", broker: broker)
            // Signal: the lane has retried, so the finding was planned before any silence existed.
            #expect(try await waitForMetric(port: port, "sluice_delivery_retries_total", atLeast: 2, timeout: 120) >= 2)
            #expect(await Self.held([port]) == 0)

            #expect(try await Self.addSilence(broker, matchers: #"{"detail":{"id":["waits-in-lane"]}}"#, comment: "muted while it waits") == 0)
            let heldAtSend = try await Self.waitUntil(timeout: 60) { await Self.held([port]) >= 1 }
            #expect(heldAtSend)
            if !heldAtSend { print(sluice.output.suffix(3000)) }
            try await receiver.setStatus(200)

            // A finding the silence does not match is the marker that the lane moves again.
            let other = try Self.finding(id: "not-silenced", time: "2025-05-12T08:05:00Z", severity: 5)
            try await Findings.publish([(id: "not-silenced", bytes: other)], to: "findings", broker: broker)
            let firstDelivered = try await Self.waitUntil(timeout: 60) { receiver.count >= 1 }
            #expect(firstDelivered)
            #expect(try receiver.receivedFindingIDs() == ["not-silenced"])
            let metrics = await LoopbackPort.fetch(port, "/metrics") ?? ""
            #expect(metrics.contains(#"sluice_held_total{route="all-findings",target="hook",reason="silenced"} 1"#))
            #expect(await sluice.terminateAndWait() == 0)
            #expect(try receiver.receivedFindingIDs() == ["not-silenced"])
        }
    }
}

extension StateTests {
    /// A silence on the normalised view (`sluice.product`) holds Falco and OCSF findings that
    /// wait in their lane: the send-time check decodes them as the planner does. The Falco event
    /// was planned before any silence existed (the lane reads its record's bytes again); the OCSF
    /// one after the first silence (the lane reads the planned event, which carries the view even
    /// though no route reads `sluice`).
    @Test func silenceOnTheViewHoldsFalcoAndOCSFFindingsWaitingInTheirLane() async throws {
        try await withCleanup { cleanup in
            let (broker, receiver) = try await Self.brokerAndReceiver(stoppedBy: cleanup)
            let config = try TestConfig.webhook(receiver.url, extra: "retry: {attempts: 1000, backoff: 100ms, max_backoff: 300ms, max_age: 1h}")
            defer { config.remove() }
            // Routes that do not read `sluice`: the view comes from the decoder, not from a route.
            try """
            routes:
              - {name: all-findings, match: {"source": ["aws.guardduty"]}, targets: [hook]}
              - {name: runtime, match: {"rule": [{"exists": true}]}, targets: [hook]}
              - {name: detections, match: {"class_uid": [2004]}, targets: [hook]}
            """.write(toFile: config.routes + "/all.yaml", atomically: true, encoding: .utf8)
            try await receiver.setStatus(503)
            let port = try LoopbackPort.free()
            let sluice = try instance(broker, config, group: "silence-view-at-send", metricsPort: port)
            cleanup.add { await sluice.stopAndWait() }

            let falco = Array(#"{"uuid":"falco-waits","output":"shell in container","priority":"Warning","rule":"Terminal shell in container","time":"2025-05-20T03:31:12Z","output_fields":{"container.id":"c1"}}"#.utf8)
            try await Findings.publish([(id: "falco-waits", bytes: falco)], to: "findings", broker: broker)
            #expect(try await waitForMetric(port: port, "sluice_delivery_retries_total", atLeast: 2, timeout: 120) >= 2)
            #expect(await Self.held([port]) == 0)
            #expect(try await Self.addSilence(broker, matchers: #"{"sluice":{"product":["Falco"]}}"#, comment: "runtime alerts muted") == 0)
            let oneHeld = try await Self.waitUntil(timeout: 60) { await Self.held([port]) >= 1 }
            #expect(oneHeld)

            let ocsf = Array(#"{"class_uid":2004,"activity_id":1,"severity_id":4,"time":1747711781077,"metadata":{"version":"1.6.0","product":{"name":"Inspector-Test","vendor_name":"Test"}},"finding_info":{"uid":"ocsf-waits","title":"a detection that waits"}}"#.utf8)
            let retriesBefore = try await waitForMetric(port: port, "sluice_delivery_retries_total", atLeast: 0)
            try await Findings.publish([(id: "ocsf-waits", bytes: ocsf)], to: "findings", broker: broker)
            #expect(try await waitForMetric(port: port, "sluice_delivery_retries_total", atLeast: retriesBefore + 2, timeout: 120) >= retriesBefore + 2)
            #expect(await Self.held([port]) == 1)
            #expect(try await Self.addSilence(broker, matchers: #"{"sluice":{"product":["Inspector-Test"]}}"#, comment: "detections muted") == 0)
            let twoHeld = try await Self.waitUntil(timeout: 60) { await Self.held([port]) >= 2 }
            #expect(twoHeld)
            try await receiver.setStatus(200)

            // Marker: a GuardDuty finding neither silence matches is delivered, and only it.
            let marker = try Self.finding(id: "guardduty-marker", time: "2025-05-20T04:00:00Z", severity: 5)
            try await Findings.publish([(id: "guardduty-marker", bytes: marker)], to: "findings", broker: broker)
            let summaryDelivered = try await Self.waitUntil(timeout: 60) { receiver.count >= 1 }
            #expect(summaryDelivered)
            #expect(try receiver.receivedFindingIDs() == ["guardduty-marker"])
            let metrics = await LoopbackPort.fetch(port, "/metrics") ?? ""
            #expect(metrics.contains(#"sluice_held_total{route="runtime",target="hook",reason="silenced"} 1"#))
            #expect(metrics.contains(#"sluice_held_total{route="detections",target="hook",reason="silenced"} 1"#))
            #expect(await sluice.terminateAndWait() == 0)
            #expect(try receiver.receivedFindingIDs() == ["guardduty-marker"])
        }
    }
}

extension StateTests {
    /// A silence with `--notify hook` holds findings on two instances; when it is expired, one
    /// summary goes to the hook for both: "N findings were held by this silence; M are still active".
    @Test func expiredSilenceSendsOneSummaryForAllInstances() async throws {
        try await withCleanup { cleanup in
            let (broker, receiver) = try await Self.brokerAndReceiver(stoppedBy: cleanup)
            let config = try TestConfig.webhook(receiver.url)
            defer { config.remove() }
            let ids = ["muted-1", "muted-2", "muted-3"]
            // Made before the instances start: each reads the silences topic to its end before consuming.
            let (status, _) = try await Self.cli(["silence", "add", "--brokers", broker.bootstrap, "--id", "patch-window",
                                                  "--matchers", #"{"detail":{"id":["muted-1","muted-2","muted-3"]}}"#, "--duration", "1h",
                                                  "--created-by", "test", "--comment", "patching", "--notify", "hook"])
            #expect(status == 0)
            let ports = [try LoopbackPort.free(), try LoopbackPort.free()]
            let a = try instance(broker, config, group: "summary", metricsPort: ports[0])
            cleanup.add { await a.stopAndWait() }
            let b = try instance(broker, config, group: "summary", metricsPort: ports[1])
            cleanup.add { await b.stopAndWait() }

            // Each finding twice, spread over the partitions (so over both instances): 6 holds, 3 findings.
            let findings = try ids.map { (id: $0, bytes: try Self.finding(id: $0, time: "2025-05-12T08:00:00Z", severity: 5)) }
            try await Self.produceShuffled(findings + findings, topic: "findings", partitions: 3, broker: broker)
            let sixHeld = try await Self.waitUntil(timeout: 120) { await Self.held(ports) >= 6 }
            #expect(sixHeld)
            #expect(receiver.count == 0)

            #expect(try await Self.cli(["silence", "expire", "--brokers", broker.bootstrap, "patch-window"]).0 == 0)
            let firstDelivered = try await Self.waitUntil(timeout: 60) { receiver.count >= 1 }
            #expect(firstDelivered)
            // Marker: a finding delivered after the summary; still exactly one summary.
            let after = try Self.finding(id: "after-silence", time: "2025-05-12T09:00:00Z", severity: 5)
            try await Findings.publish([(id: "after-silence", bytes: after)], to: "findings", broker: broker)
            let summaryDelivered = try await Self.waitUntil(timeout: 60) { receiver.count >= 2 }
            #expect(summaryDelivered)
            let summaries = try receiver.records().filter { $0.body.contains("sluice_silence_expired") }
            #expect(summaries.count == 1)
            let summary = try JSONSerialization.jsonObject(with: Data((summaries.first?.body ?? "{}").utf8)) as? [String: Any]
            #expect(summary?["text"] as? String == "Silence patch-window ended: 6 findings were held by this silence; 3 are still active (patching)")
            #expect(await a.terminateAndWait() == 0)
            #expect(await b.terminateAndWait() == 0)
        }
    }
}
