import Foundation
import SluiceTestSupport
import Testing

/// A dedupe release renders the view of any input format, as the first delivery does: it was
/// rendered from a GuardDuty-only reading of the finding, so a Falco finding's release went out
/// with `{{sluice.title}}` and `{{sluice.format}}` empty.
extension StateTests {
    @Test func aFalcoReleaseRendersTheViewAsTheFirstDeliveryDid() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let config = try TestConfig.webhook(receiver.url)
            defer { config.remove() }
            let template = #"'{"t":"{{sluice.title}}","f":"{{sluice.format}}","s":"{{sluice.severity}}"{{#sluice.hold}},"held":{{held_count}}{{/sluice.hold}}}'"#
            try """
            name: all-findings
            match: {"sluice": {"format": ["falco"]}}
            targets:
              - connector: hook
                template: \(template)
            dedupe: {key: [sluice.id], window: 1h}
            """.write(to: config.directory.appendingPathComponent("routes/all.yaml"), atomically: true, encoding: .utf8)
            // Four sightings of one Falco event (one uuid) on its own clock: the first delivered, two
            // held, the fourth (2 h later) delivered with held_count 2.
            let sample = try JSONSerialization.jsonObject(
                with: Data(contentsOf: PackagePaths.root.appendingPathComponent("examples/findings/falco/01-k8s-terminal-shell-sidekick.json"))) as! [String: Any]
            let times = ["2025-05-20T03:31:12Z", "2025-05-20T03:41:12Z", "2025-05-20T03:51:12Z", "2025-05-20T05:31:12Z"]
            let lines = try times.map { time -> Data in
                var event = sample
                event["time"] = time
                return try JSONSerialization.data(withJSONObject: event) + Data([0x0A])
            }
            let input = config.directory.appendingPathComponent("falco.ndjson")
            try lines.reduce(Data(), +).write(to: input)
            let (status, output) = try await Self.cli(["run", "--input", input.path, "--routes", config.routes, "--connectors", config.connectors,
                                                 "--log-level", "warning"])
            #expect(status == 0, "\(output)")
            let bodies = try receiver.records().map(\.body)
            // Falco's Notice is Low (docs/formats.md §4); the rule is the title.
            #expect(bodies == [
                #"{"t":"Terminal shell in container","f":"falco","s":"Low"}"#,
                #"{"t":"Terminal shell in container","f":"falco","s":"Low","held":2}"#,
            ], "\(bodies)")
        }
    }
}
