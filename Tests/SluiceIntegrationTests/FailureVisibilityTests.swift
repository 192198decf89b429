import Foundation
import SluiceTestSupport
import Testing

/// Failures you can see (issue 11, point 4), through the real binary and a real receiver: a
/// rate-limited warning per connector with the cause at the default log level, dead letters that
/// keep the target's last answer, a periodic progress line, and `--summary` by route and connector.
@Suite struct FailureVisibilityTests {
    static func rows(_ output: String) -> [[String]] {
        output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
    }

    /// A target that answers 503 to all 12 attempts (4 findings × 3): one warning with the cause
    /// within the (long) interval, standing for the first failure; every dead letter carries the
    /// 503; the summary counts by route and by connector are exact.
    @Test func aRefusingTargetWarnsOncePerIntervalAndDeadLettersCarryItsAnswer() async throws {
        try await withRunHarness { harness in
            let (receiver, config) = try await harness.webhook(status: 503, extra: "retry: {attempts: 3, backoff: 10ms, max_backoff: 20ms}")
            let run = try await OfflineRun(try Findings.unique(4), config: config, extra: ["--summary", "--failure-warning-interval", "1h"])
            #expect(run.status == 2, "\(run.output)")
            #expect(try receiver.totalRequests() == 12)
            let warnings = run.output.split(separator: "\n").filter { $0.contains("deliveries failing") }
            #expect(warnings.count == 1, "\(run.output)")
            #expect(warnings.first?.contains("connector.name=hook") == true, "\(warnings)")
            #expect(warnings.first?.contains("503") == true, "the warning names the cause: \(warnings)")
            #expect(warnings.first?.contains("sluice.failures=1") == true, "\(warnings)")

            let letters = run.deadLetters
            #expect(letters.count == 4)
            let allRetriesExhausted = letters.allSatisfy { $0["reason"] as? String == "retries_exhausted" }
            #expect(allRetriesExhausted)
            let allAfterThreeAttempts = letters.allSatisfy { ($0["attempts"] as? NSNumber)?.intValue == 3 }
            #expect(allAfterThreeAttempts)
            let allCarry503 = letters.allSatisfy { ($0["error"] as? String)?.contains("503") == true }
            #expect(allCarry503, "\(letters)")

            let rows = Self.rows(run.output)
            #expect(rows.contains(["route", "delivered", "suppressed", "held", "dead-lettered"]), "\(run.output)")
            #expect(rows.contains(["all-findings", "0", "0", "0", "4"]), "\(run.output)")
            #expect(rows.contains(["connector", "delivered", "held", "dead-lettered"]), "\(run.output)")
            #expect(rows.contains(["hook", "0", "0", "4"]), "\(run.output)")
        }
    }

    /// A suppression that vetoes one finding of three: `--summary` counts it under its route as
    /// suppressed, the other two as delivered, and the target got exactly those two.
    @Test func theSummaryCountsSuppressedFindings() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let config = try TestConfig.webhook(receiver.url)
            defer { config.remove() }
            let findings = try Findings.unique(3)
            try """
            name: all-findings
            match: {"source": ["aws.guardduty"]}
            suppress:
              - {"detail": {"id": ["\(findings[1].id)"]}}
            targets: [hook]
            """.write(to: URL(fileURLWithPath: config.routes).appendingPathComponent("all.yaml"), atomically: true, encoding: .utf8)
            let run = try await OfflineRun(findings, config: config, extra: ["--summary"])
            #expect(run.status == 0, "\(run.output)")
            #expect(Set(try receiver.receivedFindingIDs()) == [findings[0].id, findings[2].id])
            let rows = Self.rows(run.output)
            #expect(rows.contains(["route", "delivered", "suppressed", "held", "dead-lettered"]), "\(run.output)")
            #expect(rows.contains(["all-findings", "2", "1", "0", "0"]), "\(run.output)")
            #expect(rows.contains(["hook", "2", "0", "0"]), "\(run.output)")
        }
    }

    /// Input ends while deliveries still wait to retry a refusing target: the drain deadline
    /// dead-letters them as `shutdown`, and the record keeps the target's last real answer.
    @Test func aDeadLetterAtShutdownKeepsTheLastRealError() async throws {
        try await withRunHarness { harness in
            let (receiver, config) = try await harness.webhook(status: 503, extra: "retry: {attempts: 100, backoff: 30s, max_backoff: 60s}")
            let deadFile = config.directory.appendingPathComponent("dead.ndjson")
            let run = try harness.stdinRun(config, extra: ["--dead-letter-file", deadFile.path, "--drain-timeout", "0s"])
            run.send(try Findings.unique(1).map(\.bytes))
            let deadline = Date().addingTimeInterval(120)
            while try receiver.totalRequests() < 1, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(await run.finish() == 2, "\(run.output)")
            let letters = try OfflineRun.records(deadFile)
            #expect(letters.count == 1, "\(run.output)")
            #expect(letters.first?["reason"] as? String == "shutdown")
            let error = letters.first?["error"] as? String ?? ""
            #expect(error.contains("503") && !error.hasPrefix("shutdown before"), "\(error)")
            #expect(!run.output.contains("redelivered"), "\(run.output)")
        }
    }

    /// Consuming Kafka, the progress line carries the consumer lag: with the target down and the
    /// in-flight cap at 2, most of the 10 records wait in the topic, and consumed + lag is the
    /// topic's 10; once the target is back, everything is delivered and the lag is 0.
    @Test func theProgressLineOfAKafkaRunShowsTheLag() async throws {
        try await withRunHarness { harness in
            let (broker, receiver, config) = try await harness.brokerAndWebhook(status: 503, extra: "retry: {attempts: 100000, backoff: 100ms, max_backoff: 500ms, max_age: 1h}")
            try await Findings.publish(try Findings.unique(10), to: "findings", broker: broker)
            let sluice = try harness.sluice([
                "run", "--brokers", broker.bootstrap, "--topic", "findings", "--group", "lag", "--dead-letter-topic", "dlq",
                "--routes", config.routes, "--connectors", config.connectors, "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
                "--max-in-flight", "2", "--progress-interval", "200ms",
            ])
            func progress() -> [(consumed: Int, delivered: Int, lag: Int)] {
                sluice.output.split(separator: "\n").filter { $0.hasSuffix("progress") }.compactMap { line in
                    var fields: [String: Int] = [:]
                    for word in line.split(separator: " ") {
                        let kv = word.split(separator: "=", maxSplits: 1)
                        if kv.count == 2, let n = Int(kv[1]) { fields[String(kv[0])] = n }
                    }
                    guard let c = fields["sluice.consumed"], let d = fields["sluice.delivered"], let l = fields["kafka.lag"] else { return nil }
                    return (c, d, l)
                }
            }
            var deadline = Date().addingTimeInterval(120)
            while !progress().contains(where: { $0.lag > 0 && $0.consumed + $0.lag == 10 }), Date() < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            let lagShown = progress().contains { $0.lag > 0 && $0.consumed + $0.lag == 10 }
            #expect(lagShown, "\(sluice.output.suffix(3000))")
            try await receiver.setStatus(204)
            deadline = Date().addingTimeInterval(120)
            while !progress().contains(where: { $0.delivered == 10 && $0.lag == 0 }), Date() < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            let caughtUpShown = progress().contains { $0.consumed == 10 && $0.delivered == 10 && $0.lag == 0 }
            #expect(caughtUpShown, "\(sluice.output.suffix(3000))")
            #expect(await sluice.terminateAndWait() == 0)
        }
    }

    /// A long run reports progress on its own: consumed, delivered, dead-lettered, held, in flight.
    @Test func aLongRunPrintsAProgressLine() async throws {
        try await withRunHarness { harness in
            let (_, config) = try await harness.webhook()
            let run = try harness.stdinRun(config, extra: ["--progress-interval", "200ms"])
            run.send(try Findings.unique(2).map(\.bytes))
            let seen = try await run.waitForLine(containing: ["progress", "sluice.consumed=2", "sluice.delivered=2", "sluice.dead_lettered=0", "sluice.held=0"])
            #expect(seen, "\(run.output)")
            #expect(await run.finish() == 0, "\(run.output)")
        }
    }
}
