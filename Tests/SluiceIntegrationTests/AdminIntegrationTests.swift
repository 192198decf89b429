import Foundation
import SluiceTestSupport
import Testing

/// The admin server of a real `sluice run` — a Tansu broker, a webhook receiver — through
/// plain HTTP, schemathesis against docs/openapi.yaml, and a headless Chromium.
@Suite(.serialized) struct AdminIntegrationTests {
    /// A run consuming `findings` with the admin server on a free loopback port, ready (the
    /// consumer has its partition) when this returns.
    struct Stack {
        let broker: TansuBroker
        let receiver: WebhookReceiver
        let config: TestConfig
        let sluice: SluiceProcess
        let port: Int
        private let harness: RunHarness

        /// `adminToken`: a token of role admin (named `ops`) the server accepts.
        init(adminToken: String? = nil, extra: [String] = [], connector: String? = nil) async throws {
            let harness = RunHarness()
            do {
                broker = try await harness.broker()
                receiver = try await harness.receiver()
                config = try harness.webhookConfig(receiver, extra: connector)
                port = try LoopbackPort.free()
                var tokens: [String] = []
                if let adminToken {
                    let file = config.directory.appendingPathComponent("tokens")
                    try "ops admin \(adminToken)\n".write(to: file, atomically: true, encoding: .utf8)
                    tokens = ["--admin-tokens", file.path]
                }
                sluice = try harness.sluice(broker, group: "admin-\(UUID().uuidString.prefix(6))", config: config,
                                            extra: ["--admin-listen", "127.0.0.1:\(port)"] + tokens + extra)
            } catch {
                harness.stop()
                throw error
            }
            self.harness = harness
            #expect(await LoopbackPort.accepts(port, within: 60))
            // Not ready until the group gave this instance its partition.
            var ready = false
            for _ in 0..<1200 where !ready {
                ready = await LoopbackPort.fetch(port, "/-/ready")?.hasPrefix("HTTP/1.1 200") == true
                if !ready { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(ready, "never ready: \(sluice.output)")
        }

        func stop() { harness.stop() }

        /// `stop()`, returning once everything started is gone.
        func stopAndWait() async { await harness.stopAndWait() }

        /// The raw reply to a POST of `body`.
        func post(_ path: String, body: [UInt8], token: String? = nil) throws -> String {
            try request("POST", path, body: body, token: token)
        }

        /// The body of a GET with a bearer token.
        func get(_ path: String, token: String) throws -> String {
            let reply = try request("GET", path, body: [], token: token)
            return reply.range(of: "\r\n\r\n").map { String(reply[$0.upperBound...]) } ?? ""
        }

        func request(_ method: String, _ path: String, body: [UInt8], token: String?) throws -> String {
            let fd = try #require(LoopbackPort.connect(port))
            defer { close(fd) }
            let auth = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
            let request = Array("\(method) \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\(auth)Content-Length: \(body.count)\r\n\r\n".utf8) + body
            #expect(send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count)
            return String(decoding: LoopbackPort.readResponse(fd) ?? [], as: UTF8.self)
        }

        /// A GET without a token, read on a thread of its own.
        func get(_ path: String) async -> (status: Int, body: String) {
            let reply = await LoopbackPort.fetch(port, path) ?? ""
            let status = Int(reply.split(separator: " ").dropFirst().first ?? "") ?? 0
            let body = reply.range(of: "\r\n\r\n").map { String(reply[$0.upperBound...]) } ?? ""
            return (status, body)
        }
    }

    @Test func aLiveRunServesProbesFeedCountsAndMetrics() async throws {
        let stack = try await Stack()
        try await withCleanup { cleanup in
            cleanup.add { await stack.stopAndWait() }
            #expect(await stack.get("/-/healthy").status == 200)
            let findings = try Findings.unique(5)
            try await Findings.publish(findings, to: "findings", broker: stack.broker)
            try await stack.receiver.waitForCount(5, timeout: 60)

            // Each finding is in the feed with its route, and its target's outcome turns delivered.
            var feed = ""
            for _ in 0..<300 {
                feed = await stack.get("/api/v1/findings?limit=50").body
                if feed.components(separatedBy: "\"hook\":\"delivered\"").count - 1 == 5 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let records = try #require(try JSONSerialization.jsonObject(with: Data(feed.utf8)) as? [[String: Any]])
            let recordIDs = Set(records.compactMap { $0["id"] as? String })
            let findingIDs = Set(findings.map(\.id))
            #expect(recordIDs == findingIDs)
            for record in records {
                #expect(record["routes"] as? [String] == ["all-findings"])
                #expect((record["outcomes"] as? [String: String])?["hook"] == "delivered")
            }

            let routes = try #require(try await JSONSerialization.jsonObject(with: Data(stack.get("/api/v1/routes").body.utf8)) as? [[String: Any]])
            #expect(routes.first?["name"] as? String == "all-findings")
            #expect(routes.first?["matched"] as? Int == 5)
            #expect((routes.first?["delivered"] as? [String: Int])?["hook"] == 5)
            let connectors = try #require(try await JSONSerialization.jsonObject(with: Data(stack.get("/api/v1/connectors").body.utf8)) as? [[String: Any]])
            #expect(connectors.first?["name"] as? String == "hook")
            #expect(connectors.first?["kind"] as? String == "webhook")
            #expect(connectors.first?["breaker"] as? String == "closed")
            #expect(connectors.first?["delivered"] as? Int == 5)
            #expect(connectors.first?["p95Seconds"] as? Double != nil)
            let status = try #require(try await JSONSerialization.jsonObject(with: Data(stack.get("/api/v1/status").body.utf8)) as? [String: Any])
            #expect(status["partitions"] as? [String] == ["findings/0"])
            #expect(status["consumed"] as? Int == 5)
            #expect((status["configHash"] as? String)?.count == 64)

            let metrics = await stack.get("/metrics").body
            #expect(metrics.contains("\nsluice_findings_consumed_total 5\n"))
            #expect(metrics.contains("sluice_deliveries_total{route=\"all-findings\",connector=\"hook\"} 5\n"))
            #expect(metrics.contains("# TYPE sluice_delivery_duration_seconds histogram"))
            #expect(metrics.contains("sluice_delivery_duration_seconds_count{connector=\"hook\"} 5\n"))

            // What `sluice test` prints, from the running configuration.
            let test = try stack.post("/api/v1/test", body: findings[0].bytes)
            #expect(test.hasPrefix("HTTP/1.1 200"))
            #expect(test.contains("\"route\":\"all-findings\""))
            let event = stack.config.directory.appendingPathComponent("event.json")
            try Data(findings[0].bytes).write(to: event)
            let cli = try DeploymentTests.run(SluiceProcess.binary.path, [
                "test", "--event", event.path, "--routes", stack.config.routes, "--connectors", stack.config.connectors, "--json",
            ])
            #expect(cli.status == 0)
            let apiBody = test.range(of: "\r\n\r\n").map { String(test[$0.upperBound...]) } ?? ""
            #expect(apiBody == cli.output.trimmingCharacters(in: .newlines), "the API and `sluice test --json` differ")
            // No token configured: writes are refused.
            #expect(try stack.post("/-/reload", body: []).hasPrefix("HTTP/1.1 401"))
        }
    }

    /// A silence made through the API (operator role, created_by is the token's name) holds the
    /// next matching finding on the running instance, is listed, and once ended through the API
    /// the same finding is delivered again.
    @Test func aSilenceMadeThroughTheAPIHoldsUntilItIsEnded() async throws {
        let token = "silence-op-\(UUID().uuidString)"
        let tokens = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-tokens-\(UUID().uuidString)")
        try "sam operator \(token)\n".write(to: tokens, atomically: true, encoding: .utf8)
        chmod(tokens.path, 0o600)
        defer { try? FileManager.default.removeItem(at: tokens) }
        let stack = try await Stack(extra: ["--admin-tokens", tokens.path])
        try await withCleanup { cleanup in
            cleanup.add { await stack.stopAndWait() }
            let findings = try Findings.unique(2)
            let body = Array(#"{"matchers": "{\"detail\": {\"id\": [\"\#(findings[0].id)\"]}}", "duration": "1h", "comment": "maintenance window"}"#.utf8)

            #expect(try stack.post("/api/v1/silences", body: body).hasPrefix("HTTP/1.1 401"))
            let made = try stack.post("/api/v1/silences", body: body, token: token)
            #expect(made.hasPrefix("HTTP/1.1 201"), "\(made)")
            let madeBody = made.range(of: "\r\n\r\n").map { String(made[$0.upperBound...]) } ?? ""
            let silence = try #require(try JSONSerialization.jsonObject(with: Data(madeBody.utf8)) as? [String: Any])
            #expect(silence["createdBy"] as? String == "sam")
            #expect(silence["status"] as? String == "active")
            let id = try #require(silence["id"] as? String)
            #expect(try stack.get("/api/v1/silences", token: token).contains(id))

            // The silenced finding and one it does not match: the second is delivered, the first is
            // counted as held (a positive marker), and never reaches the receiver.
            try await Findings.publish(findings, to: "findings", broker: stack.broker)
            try await stack.receiver.waitForCount(1, timeout: 60)
            let held = await eventually(within: .seconds(60)) {
                await stack.get("/metrics").body.split(whereSeparator: \.isNewline)
                    .contains { $0.hasPrefix("sluice_held_total{") && $0.contains(#"reason="silenced""#) && $0.hasSuffix(" 1") }
            }
            #expect(held, "the silenced finding was never counted as held")
            #expect(try stack.receiver.receivedFindingIDs() == [findings[1].id])

            let ended = try stack.request("DELETE", "/api/v1/silences?id=\(id)", body: [], token: token)
            #expect(ended.hasPrefix("HTTP/1.1 200") && ended.contains(#""status":"expired""#), "\(ended)")
            try await Findings.publish([findings[0]], to: "findings", broker: stack.broker)
            try await stack.receiver.waitForCount(2, timeout: 60)
            #expect(try Set(stack.receiver.receivedFindingIDs()) == Set(findings.map(\.id)))
        }
    }

    /// Reload through the API and SIGHUP: a good change is swapped in (the connector keeps its
    /// lane), a bad one is refused with its position and the running routes stay.
    @Test func reloadSwapsRoutesAndABadConfigNeverReplacesAGoodOne() async throws {
        let token = "reload-admin-0123456789abcdef"
        let stack = try await Stack(adminToken: token)
        try await withCleanup { cleanup in
            cleanup.add { await stack.stopAndWait() }
            let routes = URL(fileURLWithPath: stack.config.routes)

            #expect(try stack.post("/-/reload", body: []).hasPrefix("HTTP/1.1 401"))
            let same = try stack.post("/-/reload", body: [], token: token)
            #expect(same.hasPrefix("HTTP/1.1 200"), "\(same)")
            #expect(same.contains("\"configVersion\":2"))

            // A bad file: refused with path:line:col, the gauge drops to 0, the old routes keep working.
            try "name: broken\nmatch: {\"source\": [\"aws.guardduty\"]}\ntargets: [hook]\npatern: oops\n"
                .write(to: routes.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)
            let bad = try stack.post("/-/reload", body: [], token: token)
            #expect(bad.hasPrefix("HTTP/1.1 422"), "\(bad)")
            #expect(bad.range(of: #"broken\.yaml:4:1: [^"]*patern"#, options: .regularExpression) != nil, "\(bad)")
            #expect(await stack.get("/metrics").body.contains("\nsluice_config_last_reload_successful 0.0\n"))
            #expect(try stack.get("/api/v1/status", token: token).contains("\"configVersion\":2"))
            try await Findings.publish(try Findings.unique(1), to: "findings", broker: stack.broker)
            try await stack.receiver.waitForCount(1, timeout: 60)
            #expect(stack.receiver.count == 1)

            // Fixed and a second route added: swapped in, both routes deliver through the same lane.
            try FileManager.default.removeItem(at: routes.appendingPathComponent("broken.yaml"))
            try "name: second\nmatch: {\"source\": [\"aws.guardduty\"]}\ntargets: [hook]\n"
                .write(to: routes.appendingPathComponent("second.yaml"), atomically: true, encoding: .utf8)
            let good = try stack.post("/-/reload", body: [], token: token)
            #expect(good.hasPrefix("HTTP/1.1 200"), "\(good)")
            #expect(good.contains("\"restartedConnectors\":[]"))
            #expect(await stack.get("/metrics").body.contains("\nsluice_config_last_reload_successful 1.0\n"))
            let two = try Findings.unique(2).suffix(1).map { $0 }
            try await Findings.publish(two, to: "findings", broker: stack.broker)
            try await stack.receiver.waitForCount(3, timeout: 60)
            let copiesOfTwo = try stack.receiver.receivedFindingIDs().filter { $0 == two[0].id }
            #expect(copiesOfTwo.count == 2)

            // SIGHUP does the same.
            try "name: third\nmatch: {\"source\": [\"aws.guardduty\"]}\ntargets: [hook]\n"
                .write(to: routes.appendingPathComponent("third.yaml"), atomically: true, encoding: .utf8)
            kill(stack.sluice.pid, SIGHUP)
            var reloaded = false
            for _ in 0..<600 where !reloaded {
                reloaded = try stack.get("/api/v1/routes", token: token).contains("\"name\":\"third\"")
                if !reloaded { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(reloaded)
            #expect(try stack.get("/api/v1/status", token: token).contains("\"configVersion\":4"))
        }
    }

    /// A reload applies connector changes: a changed instance gets a new lane (its new URL and
    /// header from the next finding on), a new instance can be targeted at once, one no route
    /// names any more can go; what did not change keeps its lane (`restartedConnectors` says which).
    @Test func aReloadReplacesAChangedConnectorAndAddsANewOne() async throws {
        let token = "reload-connectors-0123456789abcdef"
        let stack = try await Stack(adminToken: token)
        try await withCleanup { cleanup in
            cleanup.add { await stack.stopAndWait() }
            let routes = URL(fileURLWithPath: stack.config.routes)
            let connectors = URL(fileURLWithPath: stack.config.connectors)
            let findings = try Findings.unique(3)

            try await Findings.publish([findings[0]], to: "findings", broker: stack.broker)
            try await stack.receiver.waitForCount(1, timeout: 60)

            // `hook` changed (path and a header), `audit` is new and a second route sends to it.
            try "name: hook\ntype: webhook\nurl: \(stack.receiver.url)/hook-v2\ntimeout: 2s\nheaders: {X-Config: two}\n"
                .write(to: connectors.appendingPathComponent("hook.yaml"), atomically: true, encoding: .utf8)
            try "name: audit\ntype: webhook\nurl: \(stack.receiver.url)/audit\ntimeout: 2s\n"
                .write(to: connectors.appendingPathComponent("audit.yaml"), atomically: true, encoding: .utf8)
            try "name: to-audit\nmatch: {\"source\": [\"aws.guardduty\"]}\ntargets: [audit]\n"
                .write(to: routes.appendingPathComponent("audit.yaml"), atomically: true, encoding: .utf8)
            let reply = try stack.post("/-/reload", body: [], token: token)
            #expect(reply.hasPrefix("HTTP/1.1 200"), "\(reply)")
            #expect(reply.contains("\"restartedConnectors\":[\"audit\",\"hook\"]"), "\(reply)")

            try await Findings.publish([findings[1]], to: "findings", broker: stack.broker)
            try await stack.receiver.waitForCount(3, timeout: 60)
            let second = try stack.receiver.records().filter { $0.header("X-Sluice-Finding-Id") == findings[1].id }
            #expect(Set(second.map(\.path)) == ["/hook-v2", "/audit"], "\(second.map(\.path))")
            let v2Request = second.first { $0.path == "/hook-v2" }
            #expect(v2Request?.header("X-Config") == "two")
            let first = try stack.receiver.records().filter { $0.header("X-Sluice-Finding-Id") == findings[0].id }
            #expect(first.map(\.path) == ["/hook"])

            // `audit` and its route removed; `hook` unchanged keeps its lane.
            try FileManager.default.removeItem(at: routes.appendingPathComponent("audit.yaml"))
            try FileManager.default.removeItem(at: connectors.appendingPathComponent("audit.yaml"))
            let removed = try stack.post("/-/reload", body: [], token: token)
            #expect(removed.hasPrefix("HTTP/1.1 200"), "\(removed)")
            #expect(removed.contains("\"restartedConnectors\":[\"audit\"]"), "\(removed)")
            try await Findings.publish([findings[2]], to: "findings", broker: stack.broker)
            try await stack.receiver.waitForCount(4, timeout: 60)
            let third = try stack.receiver.records().filter { $0.header("X-Sluice-Finding-Id") == findings[2].id }
            #expect(third.map(\.path) == ["/hook-v2"])
            #expect(try stack.get("/api/v1/connectors", token: token).contains("\"name\":\"audit\"") == false)

            // The first playbook, state rule or inhibit rule by a reload: FirstRulesReloadTests.
        }
    }

    /// A delivery retrying in a lane that a reload replaces is not lost: the old lane keeps
    /// retrying it with its old settings until the target answers, while new findings go to the
    /// new lane; nothing is dead-lettered.
    @Test func workInAReplacedLaneFinishesThere() async throws {
        let token = "reload-retry-0123456789abcdef"
        let stack = try await Stack(adminToken: token, connector: "retry: {attempts: 1000, backoff: 50ms, max_backoff: 200ms}")
        try await withCleanup { cleanup in
            cleanup.add { await stack.stopAndWait() }
            let findings = try Findings.unique(2)
            try await stack.receiver.setStatus(503)
            try await Findings.publish([findings[0]], to: "findings", broker: stack.broker)
            for _ in 0..<1200 where try stack.receiver.totalRequests() < 3 { try await Task.sleep(for: .milliseconds(50)) }
            #expect(try stack.receiver.totalRequests() >= 3, "the first finding is being retried")

            try "name: hook\ntype: webhook\nurl: \(stack.receiver.url)/hook-v2\ntimeout: 2s\nretry: {attempts: 1000, backoff: 50ms, max_backoff: 200ms}\n"
                .write(to: URL(fileURLWithPath: stack.config.connectors).appendingPathComponent("hook.yaml"), atomically: true, encoding: .utf8)
            let reply = try stack.post("/-/reload", body: [], token: token)
            #expect(reply.hasPrefix("HTTP/1.1 200") && reply.contains("\"restartedConnectors\":[\"hook\"]"), "\(reply)")
            try await Findings.publish([findings[1]], to: "findings", broker: stack.broker)
            try await stack.receiver.setStatus(200)
            try await stack.receiver.waitForCount(2, timeout: 60)
            let paths = Dictionary(try stack.receiver.records().map { ($0.header("X-Sluice-Finding-Id") ?? "", $0.path) }, uniquingKeysWith: { a, _ in a })
            #expect(paths == [findings[0].id: "/hook", findings[1].id: "/hook-v2"], "\(paths)")
            let deadLettered = await stack.get("/metrics").body.split(separator: "\n").filter { $0.hasPrefix("sluice_dead_letters_total{") && !$0.hasSuffix(" 0") }
            #expect(deadLettered.isEmpty, "\(deadLettered)")
        }
    }

    /// schemathesis (PyPI, in .tools/venv) generates requests from docs/openapi.yaml and checks
    /// every response against it: status codes, content types, schemas.
    @Test func theApiMatchesItsOpenAPIDescription() async throws {
        let stack = try await Stack()
        try await withCleanup { cleanup in
            cleanup.add { await stack.stopAndWait() }
            try await Findings.publish(try Findings.unique(3), to: "findings", broker: stack.broker)
            try await stack.receiver.waitForCount(3, timeout: 60)
            let st = PackagePaths.root.appendingPathComponent(".tools/venv/bin/schemathesis").path
            let spec = PackagePaths.root.appendingPathComponent("docs/openapi.yaml").path
            // The event stream never ends: it is described, not fetched. positive_data_acceptance is
            // left out: it generates events whose strings hold lone UTF-16 surrogates (`"\udad6"`),
            // which the router's decoder rejects on purpose (400), as `sluice run` dead-letters them.
            let (status, output) = try DeploymentTests.run(st, [
                "run", spec, "--url", "http://127.0.0.1:\(stack.port)", "--checks", "all", "--exclude-checks", "positive_data_acceptance",
                "--max-examples", "30",
                "--exclude-path", "/api/v1/events", "--request-timeout", "30", "--no-color", "--seed", "1",
            ], environment: ["SCHEMATHESIS_HOOKS": ""])
            #expect(status == 0, "\(output.suffix(3000))")
            #expect(output.contains("passed") || output.contains("Passed"), "\(output.suffix(3000))")
        }
    }

    /// The dashboard in Debian's headless Chromium through selenium: five findings published
    /// appear within 2 s, the page is keyboard-usable at 1280×800, and a screenshot is kept.
    @Test func theDashboardShowsFindingsLiveInAHeadlessBrowser() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let findings = try Findings.unique(5).map { f in
            // Distinct ids per run, so the page can only show them if this run delivered them.
            (id: "dash-\(f.id)", bytes: Array(String(decoding: f.bytes, as: UTF8.self).replacingOccurrences(of: "\"id\":\"\(f.id)\"", with: "\"id\":\"dash-\(f.id)\"").utf8))
        }
        let input = stack.config.directory.appendingPathComponent("five.ndjson")
        try Data(findings.flatMap { $0.bytes + [0x0A] }).write(to: input)
        let screenshot = PackagePaths.root.appendingPathComponent(".build/test-output/dashboard.png")
        try FileManager.default.createDirectory(at: screenshot.deletingLastPathComponent(), withIntermediateDirectories: true)
        let python = PackagePaths.root.appendingPathComponent(".tools/venv/bin/python").path
        let script = PackagePaths.root.appendingPathComponent("Tests/browser/dashboard_check.py").path
        let (status, output) = try DeploymentTests.run(python, [
            script, "--url", "http://127.0.0.1:\(stack.port)/", "--screenshot", screenshot.path, "--ids", findings.map(\.id).joined(separator: ","),
            "--", SluiceProcess.binary.path, "publish", "--brokers", stack.broker.bootstrap, "--topic", "findings", input.path,
        ])
        print("dashboard check: \(output.trimmingCharacters(in: .whitespacesAndNewlines)); screenshot: \(screenshot.path)")
        #expect(status == 0, "\(output.suffix(3000))")
        #expect(FileManager.default.fileExists(atPath: screenshot.path))
    }
}
