import Foundation
import SluiceTestSupport
import Testing

/// `sluice.hold.*` in templates: the delivery dedupe releases after held repeats carries how many
/// were held and when the key was first and last seen.
extension StateTests {
    /// A route target whose webhook template prints `sluice.hold.*` when there is something to print.
    static let holdTemplate = #"'{"id":"{{detail.id}}"{{#sluice.hold}},"held":{{held_count}},"first":"{{first_seen}}","last":"{{last_seen}}"{{/sluice.hold}}}'"#

    static func holdConfig(_ receiver: WebhookReceiver, state: String) throws -> TestConfig {
        let config = try TestConfig.webhook(receiver.url)
        try """
        name: all-findings
        match: {"source": ["aws.guardduty"]}
        targets:
          - connector: hook
            template: \(holdTemplate)
        \(state)
        """.write(to: config.directory.appendingPathComponent("routes/all.yaml"), atomically: true, encoding: .utf8)
        return config
    }

    /// The first sample finding with its id, `time`, `updatedAt` and severity replaced.
    static func finding(id: String, time: String, severity: Double) throws -> [UInt8] {
        var json = try JSONSerialization.jsonObject(with: Data(try Findings.examples()[0].utf8)) as! [String: Any]
        var detail = json["detail"] as! [String: Any]
        detail["id"] = id
        detail["updatedAt"] = time
        detail["severity"] = severity
        json["detail"] = detail
        json["time"] = time
        return Array(try JSONSerialization.data(withJSONObject: json))
    }

    /// Offline, on the findings' own clock: four sightings of one id, a 1 h window. The first is
    /// delivered, the next two held, the fourth (2 h later) delivered with held_count 2.
    @Test func dedupeReleaseRendersHoldFieldsOffline() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let config = try Self.holdConfig(receiver, state: "dedupe: {key: [detail.id], window: 1h}")
            defer { config.remove() }
            let times = ["2025-05-12T08:00:00Z", "2025-05-12T08:10:00Z", "2025-05-12T08:20:00Z", "2025-05-12T10:00:00Z"]
            let lines = try times.map { try Self.finding(id: "hold-1", time: $0, severity: 5) + [0x0A] }
            let input = config.directory.appendingPathComponent("findings.ndjson")
            try Data(lines.flatMap { $0 }).write(to: input)
            let (status, _) = try await Self.cli(["run", "--input", input.path, "--routes", config.routes, "--connectors", config.connectors,
                                            "--log-level", "warning"])
            #expect(status == 0)
            let bodies = try receiver.records().map(\.body)
            #expect(bodies == [
                #"{"id":"hold-1"}"#,
                #"{"id":"hold-1","held":2,"first":"2025-05-12T08:00:00Z","last":"2025-05-12T10:00:00Z"}"#,
            ])
        }
    }

    /// On Tansu, through the repartition topic and the key's owner: three repeats held, then a
    /// severity increase is delivered at once and carries held_count 3.
    @Test func dedupeReleaseRendersHoldFieldsThroughTheOwner() async throws {
        try await withCleanup { cleanup in
            let (broker, receiver) = try await Self.brokerAndReceiver(stoppedBy: cleanup)
            let config = try Self.holdConfig(receiver, state: "dedupe: {key: [detail.id], window: 1h}")
            defer { config.remove() }
            let port = try LoopbackPort.free()
            let sluice = try instance(broker, config, group: "holdtpl", metricsPort: port)
            cleanup.add { await sluice.stopAndWait() }

            let low = try Self.finding(id: "hold-2", time: "2025-05-12T08:00:00Z", severity: 5)
            try await Findings.publish([(id: "hold-2", bytes: low)], to: "findings", broker: broker)
            let firstDelivered = try await Self.waitUntil(timeout: 120) { receiver.count >= 1 }
            #expect(firstDelivered)
            try await Findings.publish(Array(repeating: (id: "hold-2", bytes: low), count: 3), to: "findings", broker: broker)
            let threeHeld = try await Self.waitUntil(timeout: 60) { await Self.held([port]) >= 3 }
            #expect(threeHeld)
            let high = try Self.finding(id: "hold-2", time: "2025-05-12T08:30:00Z", severity: 8)
            try await Findings.publish([(id: "hold-2", bytes: high)], to: "findings", broker: broker)
            let secondDelivered = try await Self.waitUntil(timeout: 60) { receiver.count >= 2 }
            #expect(secondDelivered)

            let bodies = try receiver.records().map(\.body)
            #expect(bodies.first == #"{"id":"hold-2"}"#)
            // The owner's clock (wall time) dates the sightings: only their form and order are known.
            let second = try JSONSerialization.jsonObject(with: Data((bodies.dropFirst().first ?? "").utf8)) as? [String: Any]
            #expect(second?["held"] as? Int == 3)
            let f = ISO8601DateFormatter()
            let first = (second?["first"] as? String).flatMap(f.date(from:))
            let last = (second?["last"] as? String).flatMap(f.date(from:))
            if let first, let last { #expect(first <= last) } else { Issue.record("first/last are not RFC 3339: \(bodies)") }
            #expect(await sluice.terminateAndWait() == 0)
            #expect(receiver.count == 2)
        }
    }
}

extension StateTests {
    /// A route's `digest_template` renders its throttle digest: five findings, two delivered,
    /// three in the digest flushed at end of input (offline, the findings' own clock).
    @Test func routeDigestTemplateRendersTheDigest() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let config = try Self.config(receiver, state: """
                throttle: {key: [source], limit: 2, per: 30d}
                digest_template: '{"total":{{total}},"more":{{more}},"ids":"{{#findings}}{{id}} {{severity_label}};{{/findings}}","bands":"{{#severities}}{{count}} {{label}};{{/severities}}"}'
                """)
            defer { config.remove() }
            let severities: [Double] = [5, 5, 8, 2, 5]
            let lines = try severities.enumerated().map { i, s in
                try Self.finding(id: "d-\(i + 1)", time: "2025-05-12T08:0\(i):00Z", severity: s) + [0x0A]
            }
            let input = config.directory.appendingPathComponent("findings.ndjson")
            try Data(lines.flatMap { $0 }).write(to: input)
            let (status, _) = try await Self.cli(["run", "--input", input.path, "--routes", config.routes, "--connectors", config.connectors,
                                            "--log-level", "warning"])
            #expect(status == 0)
            let digests = try receiver.records().filter { $0.header("X-Sluice-Finding-Id") == nil }.map(\.body)
            #expect(digests == [#"{"total":3,"more":0,"ids":"d-3 High;d-4 Low;d-5 Medium;","bands":"1 High;1 Medium;1 Low;"}"#])
        }
    }
}
