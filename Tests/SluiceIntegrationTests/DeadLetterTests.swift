import Foundation
import SluiceKafka
import SluiceTestSupport
import Testing

/// The dead letters a delivery can end in, through the real binary, a real Tansu broker and a
/// real failing receiver: `retries_exhausted` after the last attempt, and `shutdown` when SIGTERM's
/// drain deadline passes with retries pending. (Decoder rejections: `PipelineTests`;
/// `permanent_error`: `AtLeastOnceTests`.)
@Suite(.serialized) struct DeadLetterTests {
    @Test func theLastFailedAttemptDeadLettersAsRetriesExhausted() async throws {
        try await withRunHarness { harness in
            let (broker, receiver, config) = try await harness.brokerAndWebhook(status: 503, extra: "retry: {attempts: 3, backoff: 10ms, max_backoff: 20ms}")
            let findings = try Findings.unique(5)
            try await Findings.publish(findings, to: "findings", broker: broker)
            let port = freeLoopbackPort()
            let sluice = try harness.sluice(broker, group: "exhausted", config: config, metricsPort: port)

            let counted = try await waitForMetric(port: port, "sluice_dead_letters_total{reason=\"retries_exhausted\"}", atLeast: findings.count)
            #expect(counted == findings.count)
            #expect(await sluice.terminateAndWait() == 0)
            #expect(try receiver.totalRequests() == findings.count * 3, "three attempts each, no more")

            let letters = try await readTopicToSentinel(broker, topic: "dlq")
            #expect(letters.count == findings.count)
            let byID = Dictionary(uniqueKeysWithValues: findings.map { ($0.id, $0.bytes) })
            for letter in letters {
                #expect(letter.header("sluice-reason") == "retries_exhausted")
                #expect(letter.header("sluice-attempts") == "3")
                #expect(letter.header("sluice-route") == "all-findings")
                #expect(letter.header("sluice-connector") == "hook")
                #expect(letter.header("sluice-error")?.contains("503") == true, "\(letter.header("sluice-error") ?? "-")")
                #expect(letter.header("sluice-source-topic") == "findings")
                #expect(letter.header("sluice-source-partition") == "0")
                let original = letter.key.flatMap { byID[String(decoding: $0, as: UTF8.self)] }
                #expect(letter.value == original)
            }
        }
    }

    @Test func sigtermDeadLettersPendingRetriesAtTheDrainDeadlineAndExitsCleanly() async throws {
        try await withRunHarness { harness in
            let (broker, receiver, config) = try await harness.brokerAndWebhook(status: 503, extra: "retry: {attempts: 100, backoff: 600s, max_backoff: 600s}")
            let findings = try Findings.unique(5)
            try await Findings.publish(findings, to: "findings", broker: broker)
            // Retry-After: 600 (within max_backoff, so honoured exactly, no jitter): at SIGTERM every
            // delivery waits for its second attempt, ten minutes away — far beyond the 60 s that
            // `terminateAndWait` grants before SIGKILL, so a drain that waited for it cannot exit 0.
            try await receiver.setStatus(503, retryAfter: 600)
            let port = freeLoopbackPort()
            let sluice = try harness.sluice(broker, group: "drain", config: config, metricsPort: port, extra: ["--drain-timeout", "1s"])

            // Every finding failed once and waits to retry (the positive marker), then SIGTERM.
            #expect(try await waitForMetric(port: port, "sluice_delivery_retries_total", atLeast: findings.count) == findings.count)
            let stopped = ContinuousClock.now
            // Exit 0 within terminateAndWait's 60 s (else SIGKILL, status 9) and `shutdown` dead
            // letters below: the drain ended at its deadline, not at the retry ten minutes later.
            #expect(await sluice.terminateAndWait() == 0)
            let took = ContinuousClock.now - stopped
            #expect(took >= .milliseconds(900), "the drain waited \(took), not its 1 s deadline")
            #expect(try receiver.totalRequests() == findings.count, "no second attempt was made")

            let letters = try await readTopicToSentinel(broker, topic: "dlq")
            #expect(letters.count == findings.count)
            let allShutdown = letters.allSatisfy { $0.header("sluice-reason") == "shutdown" }
            #expect(allShutdown)
            let allAfterOneAttempt = letters.allSatisfy { $0.header("sluice-attempts") == "1" }
            #expect(allAfterOneAttempt)
            let allFromHookOnAllFindings = letters.allSatisfy { $0.header("sluice-connector") == "hook" && $0.header("sluice-route") == "all-findings" }
            #expect(allFromHookOnAllFindings)

            // Dead letters settle their records: a new member of the group starts after them.
            let okReceiver = try await harness.receiver()
            try await Findings.publish(try Findings.unique(1), to: "findings", broker: broker)
            let second = try harness.sluice(broker, group: "drain", config: try harness.webhookConfig(okReceiver))
            try await okReceiver.waitForCount(1, timeout: 60)
            #expect(await second.terminateAndWait() == 0)
            #expect(okReceiver.count == 1, "the five dead-lettered findings were committed, not redelivered")
        }
    }
}
