import Foundation
import SluiceTestSupport
import Testing

/// Silences from the dashboard: created from a row of the findings feed after a preview of what
/// they would hold (`POST /api/v1/silences/preview`), listed, and holding the next matching
/// finding, which the feed shows as `held: silenced`.
@Suite(.serialized) struct SilencesDashboardTests {
    @Test func aSilenceMadeFromAFeedRowHoldsTheRepeat() async throws {
        let harness = RunHarness()
        defer { harness.stop() }
        let (broker, receiver, config) = try await harness.brokerAndWebhook()
        // An inhibit rule for the inhibitions panel; its source (a maintenance notice) never comes here.
        try """
        inhibit:
          - name: maintenance-window
            source: {source: [ops.maintenance]}
            target: {source: [aws.guardduty]}
            equal: [account]
            for: 2h
        """.write(to: config.directory.appendingPathComponent("routes/inhibit.yaml"), atomically: true, encoding: .utf8)
        let port = try LoopbackPort.free()
        let sluice = try harness.sluice(broker, group: "silences-ui", config: config,
                                        extra: ["--admin-listen", "127.0.0.1:\(port)", "--admin-tokens", try OperationsAPITests.tokensFile(in: config.directory)])
        #expect(await LoopbackPort.accepts(port, within: 60))

        let finding = try Findings.unique(1).map { f in
            (id: "mute-\(f.id)", bytes: Array(String(decoding: f.bytes, as: UTF8.self).replacingOccurrences(of: "\"id\":\"\(f.id)\"", with: "\"id\":\"mute-\(f.id)\"").utf8))
        }
        try Findings.produce(finding, to: "findings", broker: broker)
        try await receiver.waitForCount(1, timeout: 60)
        #expect(receiver.count == 1)

        // The preview through the API: the finding the feed shows, and nothing written.
        let body = #"{"matchers": "{\"sluice\": {\"id\": [\"\#(finding[0].id)\"]}}"}"#
        let preview = try OperationsAPITests.call(port, "POST", "/api/v1/silences/preview", body: body, token: OperationsAPITests.viewerToken)
        #expect(preview.status == 200, "\(preview.body)")
        let parsed = try JSONSerialization.jsonObject(with: Data(preview.body.utf8)) as? [String: Any]
        #expect(parsed?["matching"] as? Int == 1)
        #expect(((parsed?["findings"] as? [[String: Any]])?.first?["id"] as? String) == finding[0].id)
        #expect(try OperationsAPITests.call(port, "POST", "/api/v1/silences/preview", body: #"{"matchers": "{\"detail\": 1}"}"#,
                                            token: OperationsAPITests.viewerToken).status == 400)
        #expect(try OperationsAPITests.call(port, "GET", "/api/v1/silences", token: OperationsAPITests.viewerToken).body == "[]")
        let inhibitions = try OperationsAPITests.call(port, "GET", "/api/v1/inhibitions", token: OperationsAPITests.viewerToken)
        #expect(inhibitions.status == 200 && inhibitions.body.contains(#""name":"maintenance-window""#) && inhibitions.body.contains(#""forSeconds":7200"#),
                "\(inhibitions.body)")

        let again = config.directory.appendingPathComponent("again.ndjson")
        try Data(finding[0].bytes + [0x0A]).write(to: again)
        let screenshot = PackagePaths.root.appendingPathComponent(".build/test-output/dashboard-silences.png")
        try FileManager.default.createDirectory(at: screenshot.deletingLastPathComponent(), withIntermediateDirectories: true)
        let python = PackagePaths.root.appendingPathComponent(".tools/venv/bin/python").path
        let script = PackagePaths.root.appendingPathComponent("Tests/browser/silences_check.py").path
        let (status, output) = try await CommandRun.result(of: URL(fileURLWithPath: python), [
            script, "--url", "http://127.0.0.1:\(port)/", "--token", OperationsAPITests.operatorToken, "--finding", finding[0].id,
            "--comment", "known scanner", "--screenshot", screenshot.path, "--inhibit-rule", "maintenance-window",
            "--", SluiceProcess.binary.path, "publish", "--brokers", broker.bootstrap, "--topic", "findings", again.path,
        ])
        print("silences check: \(output.trimmingCharacters(in: .whitespacesAndNewlines)); screenshot: \(screenshot.path)")
        #expect(status == 0, "\(output.suffix(3000))")
        // The repeat was held, not delivered: still one request, and the hold is counted.
        let metrics = await LoopbackPort.fetch(port, "/metrics") ?? ""
        #expect(metrics.contains(#"sluice_held_total{route="all-findings",target="hook",reason="silenced"} 1"#), "\(metrics.suffix(2000))")
        #expect(receiver.count == 1)
        #expect(await sluice.terminateAndWait() == 0)
    }

    /// The preview judges the whole finding with the silences' own test: a field the feed row
    /// does not show (the instance, the region, the view's account) matches as it will when the
    /// silence holds; a value the finding does not have matches nothing.
    @Test func thePreviewJudgesEveryFieldOfTheFinding() async throws {
        let harness = RunHarness()
        defer { harness.stop() }
        let (broker, receiver, config) = try await harness.brokerAndWebhook()
        let port = try LoopbackPort.free()
        let sluice = try harness.sluice(broker, group: "silences-preview", config: config,
                                        extra: ["--admin-listen", "127.0.0.1:\(port)", "--admin-tokens", try OperationsAPITests.tokensFile(in: config.directory)])
        #expect(await LoopbackPort.accepts(port, within: 60))
        let finding = try Findings.unique(1)
        try Findings.produce(finding, to: "findings", broker: broker)
        try await receiver.waitForCount(1, timeout: 60)

        // Values read from the finding as produced (test input, not Sluice's view of it).
        let event = try #require(try JSONSerialization.jsonObject(with: Data(finding[0].bytes)) as? [String: Any])
        let detail = try #require(event["detail"] as? [String: Any])
        let account = try #require(detail["accountId"] as? String)
        let region = try #require(event["region"] as? String)
        let instance = try #require(((detail["resource"] as? [String: Any])?["instanceDetails"] as? [String: Any])?["instanceId"] as? String)

        func matching(_ pattern: String) throws -> Int? {
            let body = try JSONSerialization.data(withJSONObject: ["matchers": pattern])
            let reply = try OperationsAPITests.call(port, "POST", "/api/v1/silences/preview", body: String(decoding: body, as: UTF8.self),
                                                    token: OperationsAPITests.viewerToken)
            #expect(reply.status == 200, "\(reply.body)")
            return (try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])?["matching"] as? Int
        }
        #expect(try matching(#"{"detail": {"resource": {"instanceDetails": {"instanceId": ["\#(instance)"]}}}}"#) == 1)
        #expect(try matching(#"{"region": ["\#(region)"], "detail": {"accountId": ["\#(account)"]}}"#) == 1)
        #expect(try matching(#"{"sluice": {"account": ["\#(account)"]}}"#) == 1)
        #expect(try matching(#"{"detail": {"resource": {"instanceDetails": {"instanceId": ["i-not-this-one"]}}}}"#) == 0)
        #expect(await sluice.terminateAndWait() == 0)
    }
}
