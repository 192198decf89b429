import Foundation
import SluiceTestSupport
import Testing

/// Per-instance delivery policy, through the real binary (`sluice run --input`) and a real
/// HTTP receiver: the rate limit holds the measured rate to the limit, and an open circuit
/// stops hammering a failing target without dropping anything.
@Suite(.serialized) struct DeliveryPolicyTests {
    /// Runs `sluice run --input` over `findings` with `config`; returns the process.
    static func runOffline(_ findings: [(id: String, bytes: [UInt8])], config: TestConfig) throws -> SluiceProcess {
        let input = config.directory.appendingPathComponent("findings.ndjson")
        try Data(findings.flatMap { $0.bytes + [0x0A] }).write(to: input)
        return try SluiceProcess(["run", "--input", input.path, "--routes", config.routes, "--connectors", config.connectors,
                                  "--log-level", "warning"])
    }

    @Test func rateLimitHoldsTheMeasuredRateWithinFivePercent() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let limit = 20.0
        let findings = try Findings.unique(61)
        let config = try TestConfig.webhook(receiver.url, extra: "rate_limit: \(Int(limit))\nburst: 1")
        defer { config.remove() }
        let sluice = try Self.runOffline(findings, config: config)
        defer { sluice.stop() }

        try await receiver.waitForCount(findings.count, timeout: 30)
        let times = try receiver.records().map(\.receivedMs).sorted()
        #expect(times.count == findings.count)
        guard let first = times.first, let last = times.last, last > first else { return }
        let measured = Double(times.count - 1) / (Double(last - first) / 1000)
        print("rate limit \(limit)/s: \(times.count) requests in \(last - first) ms = \(String(format: "%.2f", measured))/s")
        #expect(abs(measured - limit) / limit <= 0.05, "measured \(measured)/s against a limit of \(limit)/s")
        #expect(sluice.terminate() == 0)
    }

    @Test func openCircuitStopsAttemptsAndLosesNothing() async throws {
        let receiver = try WebhookReceiver(status: 503)
        defer { receiver.stop() }
        let findings = try Findings.unique(20)
        let config = try TestConfig.webhook(receiver.url, extra: """
            concurrency: 1
            retry: {attempts: 1000, backoff: 10ms, max_backoff: 20ms}
            circuit_breaker: {failures: 3, cooldown: 1s}
            """)
        defer { config.remove() }
        let sluice = try Self.runOffline(findings, config: config)
        defer { sluice.stop() }

        // Without the breaker, 3.5 s of 10–20 ms retries would be well over 100 attempts. With
        // it: 3 failures, then one trial per 1 s cooldown. The sleep is measured, not assumed:
        // under the suite's parallel load a task may wake well after 3.5 s.
        let started = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(3500))
        let attemptsWhileFailing = try receiver.totalRequests()
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("circuit breaker: \(attemptsWhileFailing) attempts in \(String(format: "%.1f", seconds)) s against a failing target (3 failures open it for 1 s)")
        #expect(attemptsWhileFailing >= 3)
        #expect(attemptsWhileFailing <= 3 + Int(seconds.rounded(.up)) + 2, "at most one trial per cooldown, with slack for start-up")

        try await receiver.setStatus(204)  // the target recovers: the next trial closes the circuit
        try await receiver.waitForCount(findings.count, timeout: 20)
        #expect(Set(try receiver.receivedFindingIDs()) == Set(findings.map(\.id)))
        #expect(sluice.terminate() == 0)
    }

    @Test func batchCapableTargetsGetFullBatches() async throws {
        let token = "7c7b5e52-3c36-4f2e-9a71-1f0f4a1e2b3c"
        let receiver = try WebhookReceiver(vendor: "splunk_hec", options: ["token": token])
        defer { receiver.stop() }
        let findings = try Findings.unique(250)
        let config = try TestConfig(connector: """
            type: splunk-hec
            url: \(receiver.url)
            token: \(token)
            batch: {max_items: 100, max_wait: 300ms}
            """)
        defer { config.remove() }
        let sluice = try Self.runOffline(findings, config: config)
        defer { sluice.stop() }

        let deadline = Date().addingTimeInterval(30)
        var events = 0
        var requests = 0
        while Date() < deadline {
            let store = try receiver.store() as? [String: Any]
            events = (store?["events"] as? [Any])?.count ?? 0
            requests = (store?["requests"] as? NSNumber)?.intValue ?? 0
            if events >= findings.count { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        print("batching: \(events) events in \(requests) HEC requests (max_items 100)")
        #expect(events == findings.count)
        #expect(requests == 3, "250 findings at max_items 100 are 3 requests: 100, 100 and the last 50 after max_wait")
        #expect(try receiver.violations().isEmpty)
        #expect(sluice.terminate() == 0)
    }
}
