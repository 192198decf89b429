import Foundation
import SluiceTestSupport
import Testing

/// Smoke tests of the delivery policy through the real binary (`sluice run --input`) and a real
/// HTTP receiver. The exact behaviour (gaps, cooldowns, batches) is `DeliveryLaneStateMachineTests`';
/// here only bounds a broken lane would miss — a loaded machine only makes things slower.
@Suite(.serialized) struct DeliveryPolicyTests {
    /// Runs `sluice run --input` over `findings` with `config`, stopped with `harness`; returns the process.
    static func runOffline(_ findings: [(id: String, bytes: [UInt8])], config: TestConfig, in harness: RunHarness) throws -> SluiceProcess {
        let input = config.directory.appendingPathComponent("findings.ndjson")
        try Data(findings.flatMap { $0.bytes + [0x0A] }).write(to: input)
        return try harness.sluice(["run", "--input", input.path, "--routes", config.routes, "--connectors", config.connectors,
                                   "--log-level", "warning"])
    }

    @Test func rateLimitKeepsTheMinimumGapBetweenRequests() async throws {
        try await withRunHarness { harness in
            let limit = 20
            let (receiver, config) = try await harness.webhook(extra: "rate_limit: \(limit)\nburst: 1")
            let findings = try Findings.unique(61)
            let sluice = try Self.runOffline(findings, config: config, in: harness)

            try await receiver.waitForCount(findings.count, timeout: 60)
            let times = try receiver.records().map(\.receivedMs).sorted()
            #expect(times.count == findings.count)
            // At 20/s with a burst of 1, any 21 consecutive requests span at least one second; 100 ms
            // of slack covers arrival jitter. Unlimited, 61 local requests take a few milliseconds.
            let spans = times.count > limit ? (limit..<times.count).map { times[$0] - times[$0 - limit] } : []
            #expect(spans.count == findings.count - limit)
            let everySpanLongEnough = spans.allSatisfy { $0 >= 900 }
            #expect(everySpanLongEnough, "shortest span of \(limit + 1) requests: \(spans.min() ?? 0) ms")
            #expect(await sluice.terminateAndWait() == 0)
        }
    }

    @Test func openCircuitSpacesTrialsByTheCooldownAndLosesNothing() async throws {
        try await withRunHarness { harness in
            let (receiver, config) = try await harness.webhook(status: 503, extra: """
                concurrency: 1
                retry: {attempts: 1000, backoff: 10ms, max_backoff: 20ms}
                circuit_breaker: {failures: 3, cooldown: 1s}
                """)
            let findings = try Findings.unique(20)
            let sluice = try Self.runOffline(findings, config: config, in: harness)

            // 3 failures open the circuit; attempts 4 and 5 are trials, each at least the 1 s
            // cooldown after the failure before it. Without a breaker the gaps are 10–20 ms retries.
            // Measured between arrivals at the receiver, so a slow start cannot hide a broken breaker.
            let deadline = Date().addingTimeInterval(60)
            while try receiver.totalRequests() < 5, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let arrivals = try receiver.arrivalTimesMs()
            #expect(arrivals.count >= 5)
            if arrivals.count >= 5 {
                let trialGaps = [arrivals[3] - arrivals[2], arrivals[4] - arrivals[3]]
                let everyGapACooldown = trialGaps.allSatisfy { $0 >= 950 }
                #expect(everyGapACooldown, "gaps before the two trials: \(trialGaps) ms")
            }

            try await receiver.setStatus(204)  // the target recovers: the next trial closes the circuit
            try await receiver.waitForCount(findings.count, timeout: 120)
            #expect(Set(try receiver.receivedFindingIDs()) == Set(findings.map(\.id)))
            #expect(await sluice.terminateAndWait() == 0)
        }
    }

    @Test func batchCapableTargetsGetFullBatches() async throws {
        let token = "7c7b5e52-3c36-4f2e-9a71-1f0f4a1e2b3c"
        try await withRunHarness { harness in
            let receiver = try await harness.receiver(vendor: "splunk_hec", options: ["token": token])
            let findings = try Findings.unique(250)
            let config = try harness.config(connector: """
                type: splunk-hec
                url: \(receiver.url)
                token: \(token)
                batch: {max_items: 100, max_wait: 60s}
                """)
            // max_wait far beyond the run: batches go out when full and at the end of input only, so
            // the count does not depend on how fast a loaded machine reads the input (with 300 ms, a
            // slow read sent partial batches). The max_wait path is DeliveryLaneStateMachineTests'.
            let sluice = try Self.runOffline(findings, config: config, in: harness)

            let (events, requests) = try await eventually(within: .seconds(120), every: .milliseconds(200)) {
                let store = try receiver.store() as? [String: Any]
                return ((store?["events"] as? [Any])?.count ?? 0, (store?["requests"] as? NSNumber)?.intValue ?? 0)
            } until: { $0.0 >= findings.count }
            print("batching: \(events) events in \(requests) HEC requests (max_items 100)")
            #expect(events == findings.count)
            #expect(requests == 3, "250 findings at max_items 100 are 3 requests: 100, 100 and the last 50 at the end of input")
            #expect(try receiver.violations().isEmpty)
            #expect(await sluice.terminateAndWait() == 0)
        }
    }
}
