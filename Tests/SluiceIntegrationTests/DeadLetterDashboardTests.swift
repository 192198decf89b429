import Foundation
import SluiceTestSupport
import Testing

/// The dashboard's "dead letters by reason" panel in headless Chromium (Tests/browser/replay_check.py)
/// over a real `sluice run`: letters dead-lettered by a target that refused them for good, a viewer
/// whose Replay is refused, then an operator whose Replay reaches the target, healthy again.
@Suite(.serialized) struct DeadLetterDashboardTests {
    @Test func theReplayButtonReplaysAReasonsLettersForAnOperatorOnly() async throws {
        let harness = RunHarness()
        defer { harness.stop() }
        // 400 is permanent: each finding is dead-lettered after one attempt, reason permanent_error.
        let (broker, hook, config) = try await harness.brokerAndWebhook(status: 400)
        let findings = try Findings.unique(3)
        try Findings.produce(findings, to: "findings", broker: broker)
        let port = try LoopbackPort.free()
        let sluice = try harness.sluice(broker, group: "replay-ui", config: config,
                                        extra: ["--admin-listen", "127.0.0.1:\(port)", "--admin-tokens", try OperationsAPITests.tokensFile(in: config.directory)])
        #expect(await LoopbackPort.accepts(port, within: 60))
        let counted = try await waitForMetric(port: port, "sluice_dead_letters_total{reason=\"permanent_error\"}", atLeast: findings.count)
        #expect(counted == findings.count, "it said:\n\(sluice.output.suffix(3000))")

        // A viewer presses Replay: asked for an operator token, has none, is refused; nothing starts.
        let refused = try await Self.check(port, token: OperationsAPITests.viewerToken, expect: "refused", count: findings.count,
                                           screenshot: "dashboard-replay-refused.png")
        #expect(refused.status == 0, "\(refused.output.suffix(3000))")
        #expect(refused.output.contains("Replay refused (HTTP 403): role operator or higher is required."), "\(refused.output.suffix(3000))")
        #expect(OperationsAPITests.array(try OperationsAPITests.call(port, "GET", "/api/v1/replays", token: OperationsAPITests.viewerToken).body).isEmpty)

        // The target is healthy again, and slow: the request that starts the replay waits for the
        // first delivery across a re-render of the panel. An operator presses Replay.
        try await hook.reset()
        try await hook.setStatus(204, delayMs: 5_000)
        let started = try await Self.check(port, token: OperationsAPITests.operatorToken, expect: "started", count: findings.count,
                                           screenshot: "dashboard-replay.png")
        #expect(started.status == 0, "\(started.output.suffix(3000))")
        let name = try #require(OperationsAPITests.object(started.output.split(separator: "\n").last.map(String.init) ?? "")["name"] as? String,
                                "no replay name in the note: \(started.output.suffix(3000))")
        try await hook.waitForCount(findings.count, timeout: 60)
        let received = try hook.records()
        #expect(received.count == findings.count)
        #expect(received.allSatisfy { $0.header("X-Sluice-Replay") == name }, "\(received.map { $0.header("X-Sluice-Replay") ?? "-" })")
        #expect(Set(received.compactMap { $0.header("X-Sluice-Finding-Id") }) == Set(findings.map(\.id)))
        // One replay, to its end: the press on the re-rendered button while the first request was
        // pending sent nothing (replay_check.py: disabled_while_pending, and no 409 note).
        var replays: [[String: Any]] = []
        for _ in 0..<300 {
            replays = OperationsAPITests.array(try OperationsAPITests.call(port, "GET", "/api/v1/replays", token: OperationsAPITests.viewerToken).body)
            if replays.first?["status"] as? String == "finished" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(replays.count == 1 && replays.first?["name"] as? String == name, "\(replays)")
        #expect(replays.first?["status"] as? String == "finished" && replays.first?["delivered"] as? Int == findings.count, "\(replays)")
        // The replay's ledger and topic creation are producer handles of the run's one `kafka:` map:
        // they leave out its consumer properties instead of warning about each.
        #expect(!sluice.output.contains("is a consumer property"), "\(sluice.output.suffix(3000))")
        #expect(await sluice.terminateAndWait() == 0)
    }

    /// replay_check.py against the dashboard on `port` signed in with `token`.
    static func check(_ port: Int, token: String, expect: String, count: Int, screenshot: String) async throws -> (status: Int32, output: String) {
        let shot = PackagePaths.root.appendingPathComponent(".build/test-output/\(screenshot)")
        try FileManager.default.createDirectory(at: shot.deletingLastPathComponent(), withIntermediateDirectories: true)
        let python = PackagePaths.root.appendingPathComponent(".tools/venv/bin/python")
        let script = PackagePaths.root.appendingPathComponent("Tests/browser/replay_check.py").path
        let result = try await CommandRun.result(of: python, [
            script, "--url", "http://127.0.0.1:\(port)/", "--token", token, "--reason", "permanent_error", "--count", "\(count)",
            "--expect", expect, "--screenshot", shot.path,
        ])
        print("replay check (\(expect)): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines)); screenshot: \(shot.path)")
        return result
    }
}
