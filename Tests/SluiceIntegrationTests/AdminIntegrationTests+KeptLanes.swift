import Foundation
import SluiceTestSupport
import Testing

/// A reload keeps the lane of a connector whose file did not change: its open breaker stays open
/// (a new lane would start closed and send to a target known to be down). `restartedConnectors`
/// is the server's own account; the breaker is what a rebuilt lane could not fake.
extension AdminIntegrationTests {
    @Test func anUnchangedConnectorKeepsItsLaneAndOpenBreakerAcrossAReload() async throws {
        let token = "kept-lanes-\(UUID().uuidString.prefix(8))"
        // Three failures open the breaker; the cooldown outlasts the test, so it stays open.
        let settings = "retry: {attempts: 1000, backoff: 10ms, max_backoff: 20ms}\ncircuit_breaker: {failures: 3, cooldown: 10m}"
        let stack = try await Stack(adminToken: token, connector: settings)
        try await withCleanup { cleanup in
            cleanup.add { await stack.stopAndWait() }
            let routes = URL(fileURLWithPath: stack.config.routes)
            let connectors = URL(fileURLWithPath: stack.config.connectors)

            try await stack.receiver.setStatus(503)
            try await Findings.publish(try Findings.unique(1), to: "findings", broker: stack.broker)
            func breaker() throws -> String? {
                let body = try stack.get("/api/v1/connectors", token: token)
                return body.firstMatch(of: #/"breaker":"([a-z-]+)"/#).map { String($0.output.1) }
            }
            var state = try breaker()
            for _ in 0..<1200 where state != "open" {
                try await Task.sleep(for: .milliseconds(100))
                state = try breaker()
            }
            #expect(state == "open", "the breaker never opened: \(state ?? "no breaker in /api/v1/connectors")")

            // A route is added; hook.yaml is untouched: the same lane, its breaker still open.
            try "name: second\nmatch: {\"source\": [\"aws.guardduty\"]}\ntargets: [hook]\n"
                .write(to: routes.appendingPathComponent("second.yaml"), atomically: true, encoding: .utf8)
            let kept = try stack.post("/-/reload", body: [], token: token)
            #expect(kept.hasPrefix("HTTP/1.1 200") && kept.contains("\"restartedConnectors\":[]"), "\(kept)")
            #expect(try breaker() == "open")

            // The check can tell: a changed hook.yaml gets a new lane, whose breaker starts closed.
            try "name: hook\ntype: webhook\nurl: \(stack.receiver.url)/hook\ntimeout: 30s\nheaders: {X-Config: two}\n\(settings)\n"
                .write(to: connectors.appendingPathComponent("hook.yaml"), atomically: true, encoding: .utf8)
            let replaced = try stack.post("/-/reload", body: [], token: token)
            #expect(replaced.hasPrefix("HTTP/1.1 200") && replaced.contains("\"restartedConnectors\":[\"hook\"]"), "\(replaced)")
            #expect(try breaker() == "closed")
        }
    }
}
