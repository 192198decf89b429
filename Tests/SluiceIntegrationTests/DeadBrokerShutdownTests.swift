import Foundation
import SluiceKafka
import SluiceTestSupport
import Testing

/// SIGTERM to `sluice run` after its broker died or froze: the run does not wait forever on
/// librdkafka's final commit and group leave (`KafkaConsumer.close` gives them `closeTimeout`, the
/// handle's destruction 15 s): it exits with status 0, as the README's Shutdown paragraph says,
/// and one line says the last commit did not reach the group (its records are redelivered).
/// Measured here: killed and idle, exit after ~9 s; frozen with 20 deliveries in flight and
/// `--drain-timeout 2s`, ~45 s (30 s of it the dead letters' wait for acks).
@Suite(.serialized) struct DeadBrokerShutdownTests {
    @Test func sigtermAfterTheBrokerDiedExitsWithinItsBound() async throws {
        try await withRunHarness { harness in
            let (broker, receiver, config) = try await harness.brokerAndWebhook()
            let findings = try Findings.unique(20)
            try await Findings.publish(findings, to: "findings", broker: broker)
            let sluice = try harness.sluice(broker, group: "dead-broker", config: config)
            try await receiver.waitForCount(findings.count, timeout: 120)
            #expect(receiver.count >= findings.count, "the run delivered nothing; it said:\n\(sluice.output.suffix(3000))")

            // Frozen, then killed: requests the run sent meanwhile (heartbeats, commits) stay unanswered.
            kill(broker.processIdentifier, SIGSTOP)
            kill(broker.processIdentifier, SIGKILL)
            let started = ContinuousClock.now
            let status = await sluice.terminateAndWait(timeout: 300)
            let took = ContinuousClock.now - started
            let output = sluice.output
            print("SIGTERM with the broker dead: exit \(status) after \(took)")
            #expect(status == 0, "it said:\n\(output.suffix(3000))")
            // The close's bound (30 s at most), the handle's destruction (15 s) and the run's own
            // drain and producer flush (10 s each), with slack: a deadline the code sets, not speed.
            #expect(took < .seconds(120), "it said:\n\(output.suffix(3000))")
            #expect(output.contains("consumer closed without its last commit reaching the group") || output.contains("did not close within its bound"),
                    "no line said the last commit did not happen; it said:\n\(output.suffix(3000))")
        }
    }

    /// The broker frozen (SIGSTOP: alive to the kernel, answering nothing) while deliveries are
    /// in flight: the drain dead-letters them, and the commits of the shutdown go unanswered.
    @Test func sigtermWithTheBrokerFrozenAndWorkInFlightExitsWithinItsBound() async throws {
        try await withRunHarness { harness in
            let (broker, _, config) = try await harness.brokerAndWebhook(
                status: 503, extra: "retry: {attempts: 100000, backoff: 100ms, max_backoff: 1s, max_age: 1h}")
            let findings = try Findings.unique(20)
            try await Findings.publish(findings, to: "findings", broker: broker)
            let port = freeLoopbackPort()
            let sluice = try harness.sluice(broker, group: "frozen-broker", config: config, metricsPort: port, extra: ["--drain-timeout", "2s"])
            // A positive marker: every finding was fetched and failed once (all in flight).
            let retries = try await waitForMetric(port: port, "sluice_delivery_retries_total", atLeast: findings.count, timeout: 180)
            #expect(retries >= findings.count, "the run never tried every finding; it said:\n\(sluice.output.suffix(3000))")

            kill(broker.processIdentifier, SIGSTOP)
            let started = ContinuousClock.now
            let status = await sluice.terminateAndWait(timeout: 300)
            let took = ContinuousClock.now - started
            kill(broker.processIdentifier, SIGKILL)
            let output = sluice.output
            print("SIGTERM with the broker frozen and 20 deliveries in flight: exit \(status) after \(took)")
            #expect(status == 0, "it said:\n\(output.suffix(3000))")
            // --drain-timeout (2 s), the dead letters' wait for acks (30 s), the close's bound (10 s
            // with a 6 s session), the handle's destruction (15 s), the dead-letter producer's flush
            // (10 s): 67 s, with slack. A deadline the code sets, not speed.
            #expect(took < .seconds(120), "it said:\n\(output.suffix(3000))")
            #expect(output.contains("exiting with unsettled work: it will be redelivered"), "it said:\n\(output.suffix(3000))")
            #expect(output.contains("consumer closed without its last commit reaching the group") || output.contains("did not close within its bound"),
                    "no line said the last commit did not happen; it said:\n\(output.suffix(3000))")
        }
    }
}
