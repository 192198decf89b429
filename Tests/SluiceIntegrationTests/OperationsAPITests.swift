import Foundation
import Logging
import SluiceKafka
import SluiceTestSupport
import Testing

/// Dead letters, replays and approvals through the admin API of a real `sluice run` (Tansu,
/// webhook receivers), and the approvals panel in headless Chromium.
@Suite(.serialized) struct OperationsAPITests {
    static let operatorToken = "op-\(UUID().uuidString)"
    static let viewerToken = "view-\(UUID().uuidString)"

    /// A tokens file: alice operates, victor views.
    static func tokensFile(in dir: URL) throws -> String {
        let path = dir.appendingPathComponent("tokens").path
        try "alice operator \(operatorToken)\nvictor viewer \(viewerToken)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    /// The status code and body of one request to the admin server.
    static func call(_ port: Int, _ method: String, _ path: String, body: String = "", token: String? = nil) throws -> (status: Int, body: String) {
        let fd = try #require(LoopbackPort.connect(port))
        defer { close(fd) }
        let auth = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        let bytes = Array(body.utf8)
        let request = Array("\(method) \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\(auth)Content-Type: application/json\r\nContent-Length: \(bytes.count)\r\n\r\n".utf8) + bytes
        #expect(send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count)
        let text = String(decoding: LoopbackPort.readResponse(fd) ?? [], as: UTF8.self)
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        return (status, text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? "")
    }

    static func object(_ text: String) -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
    static func array(_ text: String) -> [[String: Any]] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]] ?? [] }

    /// Two instances of one group: a replay runs on one; `DELETE /api/v1/replays` on the other is
    /// accepted as a request, and the first stops between two letters within about a second.
    @Test func aReplayIsCancelledFromAnotherInstance() async throws {
        try await withRunHarness { harness in
            let (broker, hook, config) = try await harness.brokerAndWebhook()
            let findings = try Findings.unique(40)
            let producer = try KafkaProducer(config: broker.clientConfig(), logger: .init(label: "test"))
            for f in findings {
                try await producer.send(topic: "dlq", key: Array(f.id.utf8), value: f.bytes, headers: [
                    KafkaHeader("sluice-reason", "retries_exhausted"), KafkaHeader("sluice-route", "all-findings"),
                    KafkaHeader("sluice-connector", "hook"), KafkaHeader("sluice-attempts", "3"),
                ])
            }
            try await offPool { producer.close() }
            let tokens = try Self.tokensFile(in: config.directory)
            let (portA, portB) = (try LoopbackPort.free(), try LoopbackPort.free())
            _ = try harness.sluice(broker, group: "cancel", config: config, extra: ["--admin-listen", "127.0.0.1:\(portA)", "--admin-tokens", tokens])
            _ = try harness.sluice(broker, group: "cancel", config: config, extra: ["--admin-listen", "127.0.0.1:\(portB)", "--admin-tokens", tokens])
            #expect(await LoopbackPort.accepts(portA, within: 60))
            #expect(await LoopbackPort.accepts(portB, within: 60))

            // 40 letters at 4 a second: ten seconds of work, stopped long before its end.
            let start = #"{"name": "slow", "reason": "retries_exhausted", "rate": 4}"#
            var started = (status: 0, body: "")
            for _ in 0..<100 {  // the pipeline answers 503 until it runs
                started = try Self.call(portA, "POST", "/api/v1/replays", body: start, token: Self.operatorToken)
                if started.status != 503 { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(started.status == 202, "\(started)")
            try await hook.waitForCount(2, timeout: 120)
            let asked = try Self.call(portB, "DELETE", "/api/v1/replays?name=slow", token: Self.operatorToken)
            #expect(asked.status == 202, "asked of the instance that does not run it: \(asked)")
            #expect(Self.object(asked.body)["status"] as? String == "running")
            var replay: [String: Any] = [:]
            for _ in 0..<300 {
                replay = Self.array(try Self.call(portA, "GET", "/api/v1/replays", token: Self.viewerToken).body).first { $0["name"] as? String == "slow" } ?? [:]
                if replay["status"] as? String != "running" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(replay["status"] as? String == "cancelled", "\(replay)")
            #expect((replay["processed"] as? Int ?? 40) < 40, "\(replay)")
            // B reads A's final progress record from the topic as its consumer fetches it.
            var again = 0
            for _ in 0..<100 {
                again = try Self.call(portB, "DELETE", "/api/v1/replays?name=slow", token: Self.operatorToken).status
                if again != 202 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(again == 404, "no longer running anywhere")
        }
    }

    @Test func deadLettersAreBrowsedAndReplayedThroughTheAPI() async throws {
        try await withRunHarness { harness in
            let (broker, hook, config) = try await harness.brokerAndWebhook(status: 503, extra: "retry: {attempts: 2, backoff: 10ms, max_backoff: 20ms}")
            let port = try LoopbackPort.free()
            _ = try harness.sluice(broker, group: "ops-api", config: config,
                                   extra: ["--admin-listen", "127.0.0.1:\(port)", "--admin-tokens", try Self.tokensFile(in: config.directory)])
            let findings = try Findings.unique(4)
            try await Findings.publish(findings, to: "findings", broker: broker)
            #expect(try await waitForMetric(port: port, "sluice_dead_letters_total{reason=\"retries_exhausted\"}", atLeast: 4) == 4)

            // Browse: filters, counts by reason, bounded page; a viewer may read.
            var page: [String: Any] = [:]
            for _ in 0..<100 {
                page = Self.object(try Self.call(port, "GET", "/api/v1/dead-letters?reason=retries_exhausted&limit=3", token: Self.viewerToken).body)
                if page["total"] as? Int == 4 { break }
                try await Task.sleep(for: .milliseconds(200))  // the dead letters' acks reach the broker after the metric counts them
            }
            #expect(page["total"] as? Int == 4 && page["inTopic"] as? Int == 4, "\(page)")
            #expect((page["byReason"] as? [String: Int]) == ["retries_exhausted": 4])
            let letters = page["letters"] as? [[String: Any]] ?? []
            #expect(letters.count == 3, "limit bounds the page")
            let allFromHookAfterTwoAttempts = letters.allSatisfy { $0["connector"] as? String == "hook" && $0["route"] as? String == "all-findings" && $0["attempts"] as? Int == 2 }
            #expect(allFromHookAfterTwoAttempts)
            let letterFindingIDs = Set(letters.compactMap { $0["findingId"] as? String })
            let findingIDs = Set(findings.map(\.id))
            #expect(letterFindingIDs.isSubset(of: findingIDs))
            #expect(Self.object(try Self.call(port, "GET", "/api/v1/dead-letters?connector=nope", token: Self.viewerToken).body)["total"] as? Int == 0)
            #expect(try Self.call(port, "GET", "/api/v1/dead-letters?since=yesterday", token: Self.viewerToken).status == 400)

            // Replays are an operator's: a viewer is refused, no token is refused.
            let start = #"{"name": "api-1", "reason": "retries_exhausted", "rate": 100}"#
            #expect(try Self.call(port, "POST", "/api/v1/replays", body: start, token: Self.viewerToken).status == 403)
            #expect(try Self.call(port, "POST", "/api/v1/replays", body: start).status == 401)
            try await hook.reset()
            try await hook.setStatus(204)
            let started = try Self.call(port, "POST", "/api/v1/replays", body: start, token: Self.operatorToken)
            #expect(started.status == 202, "\(started)")
            var replay: [String: Any] = [:]
            for _ in 0..<300 {
                replay = Self.array(try Self.call(port, "GET", "/api/v1/replays", token: Self.viewerToken).body).first { $0["name"] as? String == "api-1" } ?? [:]
                if replay["status"] as? String == "finished" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(replay["status"] as? String == "finished" && replay["delivered"] as? Int == 4 && replay["failed"] as? Int == 0, "\(replay)")
            let received = try hook.records()
            #expect(received.count == 4)
            // Through the running instance's own lane (its rate limit and breaker): counted in its metrics.
            #expect(try await waitForMetric(port: port, "sluice_deliveries_total{route=\"all-findings\",connector=\"hook\"}", atLeast: 4) == 4)
            let allMarkedAPI1 = received.allSatisfy { $0.header("X-Sluice-Replay") == "api-1" }
            #expect(allMarkedAPI1)
            let receivedFindingIDs = Set(received.compactMap { $0.header("X-Sluice-Finding-Id") })
            #expect(receivedFindingIDs == findingIDs)
            // The same replay again delivers nothing twice.
            #expect(try Self.call(port, "POST", "/api/v1/replays", body: start, token: Self.operatorToken).status == 202)
            for _ in 0..<300 {
                replay = Self.array(try Self.call(port, "GET", "/api/v1/replays", token: Self.viewerToken).body).first { $0["name"] as? String == "api-1" } ?? [:]
                if replay["status"] as? String == "finished", replay["alreadyDone"] as? Int == 4 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(replay["alreadyDone"] as? Int == 4 && replay["delivered"] as? Int == 0, "\(replay)")
            #expect(hook.count == 4)
            #expect(try Self.call(port, "DELETE", "/api/v1/replays?name=nothing-runs", token: Self.operatorToken).status == 404)
            let noApprovals = try Self.call(port, "GET", "/api/v1/approvals", token: Self.viewerToken)
            #expect(noApprovals.status == 200 && Self.array(noApprovals.body).isEmpty, "no playbooks here: nothing waits")
            #expect(try Self.call(port, "GET", "/api/v1/dead-letters?limit=1001", token: Self.viewerToken).status == 400)
        }
    }

    /// A reload (SIGHUP) replaces a playbook: runs that start after it use the new steps.
    @Test func aReloadReplacesAPlaybook() async throws {
        let router = try await PlaybookRouter(group: "reload-playbooks") { soar in Self.caseStep(soar, path: "cases") }
        try await withCleanup { cleanup in
            cleanup.add { await router.stopAndWait() }
            let (broker, soar, port, sluice) = (router.broker, router.soar, router.port, router.sluice)
            #expect(await LoopbackPort.accepts(port, within: 60))
            let findings = try Findings.unique(2)
            try await Findings.publish([findings[0]], to: "findings", broker: broker)
            try await soar.waitForCount(1, timeout: 60)

            try router.writeRoute(Self.caseStep(soar.url, path: "cases-v2"))
            kill(sluice.pid, SIGHUP)
            var version = ""
            for _ in 0..<600 where !version.contains("\"configVersion\":2") {
                version = (try? Self.call(port, "GET", "/api/v1/status").body) ?? ""
                if !version.contains("\"configVersion\":2") { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(version.contains("\"configVersion\":2"), "not reloaded: \(sluice.output.suffix(2000))")
            try await Findings.publish([findings[1]], to: "findings", broker: broker)
            try await soar.waitForCount(2, timeout: 60)
            #expect(try soar.records().map(\.path) == ["/cases", "/cases-v2"])
            #expect(try soar.records().last?.body.contains(findings[1].id) == true)
        }
    }

    /// A playbook step waits for approval; an operator approves it in the dashboard; the run goes
    /// on (its http step reaches the receiver) and the audit names the operator's token.
    @Test func approvingAWaitingStepInTheDashboardIsAudited() async throws {
        let router = try await PlaybookRouter(group: "approvals-ui", tokens: true) { soar in
            Self.caseStep(soar, path: "cases") + "\n    requires_approval: {timeout: 10m, default: deny}"
        }
        defer { router.stop() }
        let (broker, soar, port, sluice) = (router.broker, router.soar, router.port, router.sluice)
        #expect(LoopbackPort.waitUntilAccepting(port, timeout: 60))
        let finding = try Findings.unique(1)
        try Findings.produce(finding, to: "findings", broker: broker)
        let waiting = try await Self.waitingRuns(port)
        let run = try #require(waiting.first, "no run waits for approval: \(sluice.output.suffix(2000))")
        let runID = try #require(run["runId"] as? String)
        #expect(run["step"] as? String == "page-soar" && run["defaultDecision"] as? String == "deny" && run["status"] as? String == "pending")
        #expect((run["expiresInSeconds"] as? Int ?? 0) > 500)
        #expect(soar.count == 0, "nothing runs before the approval")
        #expect(try Self.call(port, "POST", "/api/v1/approvals", body: #"{"runId": "\#(runID)", "decision": "approve"}"#, token: Self.viewerToken).status == 403)

        let screenshot = PackagePaths.root.appendingPathComponent(".build/test-output/dashboard-approvals.png")
        try FileManager.default.createDirectory(at: screenshot.deletingLastPathComponent(), withIntermediateDirectories: true)
        let python = PackagePaths.root.appendingPathComponent(".tools/venv/bin/python").path
        let script = PackagePaths.root.appendingPathComponent("Tests/browser/approvals_check.py").path
        let (status, output) = try CommandRun.run(URL(fileURLWithPath: python), [
            script, "--url", "http://127.0.0.1:\(port)/", "--token", Self.operatorToken, "--run", runID,
            "--comment", "checked with the owner", "--screenshot", screenshot.path,
        ])
        print("approvals check: \(output.trimmingCharacters(in: .whitespacesAndNewlines)); screenshot: \(screenshot.path)")
        #expect(status == 0, "\(output.suffix(3000))")

        // The run went on: its step reached the receiver.
        try await soar.waitForCount(1, timeout: 60)
        #expect(try soar.records().first?.body.contains(finding[0].id) == true)
        // The decision is recorded with the token's name and the comment.
        let decided = Self.array(try Self.call(port, "GET", "/api/v1/approvals?all=true", token: Self.viewerToken).body).first { $0["runId"] as? String == runID }
        #expect(decided?["decidedBy"] as? String == "alice" && decided?["comment"] as? String == "checked with the owner", "\(decided ?? [:])")
        // The action audit topic says who approved, and the admin audit log names the token.
        let audit = try await readTopicToSentinel(broker, topic: "sluice.actions.audit")
        let approvedRecord = audit.compactMap { $0.value.map { String(decoding: $0, as: UTF8.self) } }.first { $0.contains("\"approved\"") }
        #expect(approvedRecord?.contains("approved by alice") == true, "\(audit.count) audit records")
        #expect(sluice.output.contains("admin write") && sluice.output.contains("admin.principal=alice") && sluice.output.contains("/api/v1/approvals"),
                "\(sluice.output.suffix(2000))")
    }
}

extension OperationsAPITests {
    /// The runs waiting for approval, once there is one (empty after a minute without).
    static func waitingRuns(_ port: Int) async throws -> [[String: Any]] {
        var waiting: [[String: Any]] = []
        for _ in 0..<600 where waiting.isEmpty {
            waiting = array(try call(port, "GET", "/api/v1/approvals", token: viewerToken).body)
            if waiting.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        }
        return waiting
    }

    /// The playbook step of route `open-case`: an http call to the SOAR receiver at `path`.
    static func caseStep(_ soar: String, path: String) -> String {
        """
          - name: page-soar
            action: http
            params: {url: "\(soar)/\(path)", allow_loopback: true, body: '{"finding": "{{detail.id}}"}'}
        """
    }
}

/// A Tansu broker, a webhook receiver playing the SOAR, and `sluice run --config` with the admin
/// server, audit and approvals topics, and one route `open-case` whose playbook is `playbook`
/// (its steps as YAML list items, given the receiver's URL).
struct PlaybookRouter {
    let broker: TansuBroker
    let soar: WebhookReceiver
    let dir: URL
    let port: Int
    let sluice: SluiceProcess
    private let harness: RunHarness

    init(group: String, tokens: Bool = false, playbook: (String) -> String) async throws {
        let harness = RunHarness()
        do {
            broker = try await harness.broker(topics: ["findings", "dlq", "sluice.actions.audit", "sluice.approvals"])
            soar = try await harness.receiver()
            let config = try harness.config(files: [:])
            dir = config.directory
            try Self.write(route: playbook(soar.url), in: dir)
            try """
                brokers: \(broker.bootstrap)
                topics: [findings]
                group: \(group)
                dead_letter_topic: dlq
                routes: \(config.routes)
                connectors: \(config.connectors)
                kafka: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
                actions: {instance_id: \(group), audit_topic: sluice.actions.audit, approvals_topic: sluice.approvals}
                """.write(to: dir.appendingPathComponent("sluice.yaml"), atomically: true, encoding: .utf8)
            port = try LoopbackPort.free()
            sluice = try harness.sluice(["run", "--config", dir.appendingPathComponent("sluice.yaml").path, "--log-level", "notice",
                                         "--admin-listen", "127.0.0.1:\(port)"] + (tokens ? ["--admin-tokens", try OperationsAPITests.tokensFile(in: dir)] : []))
        } catch {
            harness.stop()
            throw error
        }
        self.harness = harness
    }

    /// Rewrites the route's playbook (for a reload).
    func writeRoute(_ playbook: String) throws { try Self.write(route: playbook, in: dir) }

    private static func write(route playbook: String, in dir: URL) throws {
        try "name: open-case\nmatch: {source: [aws.guardduty]}\nplaybook:\n\(playbook)\n"
            .write(to: dir.appendingPathComponent("routes/case.yaml"), atomically: true, encoding: .utf8)
    }

    func stop() { harness.stop() }

    /// `stop()`, returning once everything started is gone.
    func stopAndWait() async { await harness.stopAndWait() }
}
