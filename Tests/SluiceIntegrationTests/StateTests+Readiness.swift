import Foundation
import Logging
import SluiceKafka
import SluiceTestSupport
import Synchronization
import Testing

extension StateTests {
    /// `/-/ready` is false while the owner replays its changelog and true only once every assigned
    /// partition is restored: the changelog is written first (60,000 dedupe keys, in the record
    /// format of docs/state.md), then an instance starts and is probed until it turns ready.
    @Test func readyOnlyAfterAChangelogOfManyKeysIsRestored() async throws {
        try await withCleanup { cleanup in
            let group = "ready"
            let (broker, receiver, config) = try await Self.dedupeOnThreePartitions(group: group, stoppedBy: cleanup)
            defer { config.remove() }

            // Keys `d \0 route \0 target \0 "<detail.id>"`, each delivered a minute ago: the window holds repeats.
            let keys = 60_000
            let now = Int64(Date().timeIntervalSince1970 * 1000) - 60_000
            // Produced, and the producer's acknowledgements waited for, on a thread of its own.
            let failures = try await offPool {
                let producer = try KafkaProducer(config: broker.clientConfig(["linger.ms": "20"]), logger: Logger(label: "test"))
                let failures = Atomic<Int>(0)
                for i in 0..<keys {
                    let key = Array("d\u{0}all-findings\u{0}hook\u{0}\"restored-\(i)\"".utf8)
                    let value = Array(#"{"l":\#(now),"s":5,"h":0,"f":\#(now),"z":\#(now)}"#.utf8)
                    try producer.produce(topic: "sluice.hold.\(group).changelog", partition: Int32(i % 3), key: key, value: value) { error in
                        if error != nil { failures.add(1, ordering: .relaxed) }
                    }
                }
                producer.close(timeoutMs: 120_000)
                return failures.load(ordering: .relaxed)
            }
            #expect(failures == 0)

            let port = try LoopbackPort.free()
            let sluice = try Self.jsonLoggingRun(broker, group: group, config: config, metricsPort: port, stoppedBy: cleanup)
            var sawNotReady = false
            let ready = await eventually(within: .seconds(180), every: .milliseconds(20)) {
                // The whole HTTP response: status line, headers, body.
                guard let response = await LoopbackPort.fetch(port, "/-/ready") else { return false }
                if response.hasPrefix("HTTP/1.1 200") { return true }
                if response.contains("not ready") && response.contains("state.restored") { sawNotReady = true }
                return false
            }
            // The moment it turned ready, every key had been replayed.
            let restoredLog = Self.restoredRecords(sluice.output)
            print("ready after restoring \(restoredLog) changelog records; not ready seen before: \(sawNotReady)")
            #expect(ready)
            #expect(sawNotReady)
            #expect(restoredLog == keys)

            // And the state is in force: a restored key's finding is held, not delivered.
            let repeatOf = try Self.finding(id: "restored-7", time: "2025-05-12T08:00:00Z", severity: 5)
            try await Findings.publish([(id: "restored-7", bytes: repeatOf)], to: "findings", broker: broker)
            let held = try await Self.waitUntil(timeout: 60) { await Self.held([port]) >= 1 }
            #expect(held)
            #expect(receiver.count == 0)
            #expect(await sluice.terminateAndWait() == 0)
        }
    }

    /// The sum of `sluice.state.records` over the "state restored" log lines (JSON logs).
    /// A broker (`findings`, `dlq`, and the changelog and repartition topics of `group`, three
    /// partitions each), a webhook receiver, and a config whose route dedupes on `detail.id` for an hour.
    static func dedupeOnThreePartitions(group: String, stoppedBy cleanup: Cleanup) async throws -> (TansuBroker, WebhookReceiver, TestConfig) {
        let (broker, receiver) = try await brokerAndReceiver(stoppedBy: cleanup)
        try await broker.create(topics: ["sluice.hold.\(group).changelog", "sluice.hold.\(group).repartition"], partitions: 3)
        return (broker, receiver, try config(receiver, state: "dedupe: {key: [detail.id], window: 1h}"))
    }

    /// `sluice run` on those three state partitions, logging JSON at info, with its admin server on `metricsPort`.
    static func jsonLoggingRun(_ broker: TansuBroker, group: String, config: TestConfig, metricsPort port: Int, stoppedBy cleanup: Cleanup) throws -> SluiceProcess {
        let sluice = try SluiceProcess(broker: broker, topic: "findings", group: group, dlq: "dlq", config: config,
                                       extra: ["--state-partitions", "3", "--metrics-listen", "127.0.0.1:\(port)", "--log-json", "--log-level", "info"])
        cleanup.add { await sluice.stopAndWait() }
        return sluice
    }

    static func restoredRecords(_ log: String) -> Int {
        log.split(separator: "\n").reduce(0) { sum, line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  o.values.contains(where: { ($0 as? String) == "state restored" }),
                  let n = (o["sluice.state.records"] as? String).flatMap({ Int($0) }) else { return sum }
            return sum + n
        }
    }
}
