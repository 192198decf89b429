import Foundation
import Logging
import SluiceKafka
import SluiceTestSupport
import Testing

extension StateTests {
    /// Issue 12's test: two instances, a cap of 3 actions per hour, 10 matching findings spread
    /// over both → 3 actions in all (the http executor calls a local receiver), 7 refusals audited.
    @Test func hourlyCapCountsAcrossTwoInstances() async throws {
        try await withCleanup { cleanup in
            let (broker, receiver) = try await Self.brokerAndReceiver(stoppedBy: cleanup)
            try await broker.create(topics: ["sluice.actions.audit", "sluice.approvals"], partitions: 1)
            let config = try TestConfig.webhook(receiver.url)
            defer { config.remove() }
            try """
            name: all-findings
            match: {"source": ["aws.guardduty"]}
            playbook:
              steps:
                - name: open-case
                  action: http
                  params: {url: "\(receiver.url)/case", allow_loopback: true}
            """.write(to: config.directory.appendingPathComponent("routes/all.yaml"), atomically: true, encoding: .utf8)
            let runConfig = config.directory.appendingPathComponent("sluice.yaml")
            try "actions:\n  guards:\n    max_per_hour: {default: 3}\n".write(to: runConfig, atomically: true, encoding: .utf8)

            let ports = [try LoopbackPort.free(), try LoopbackPort.free()]
            let instances = try ports.map { port in
                try SluiceProcess(broker: broker, topic: "findings", group: "caps", dlq: "dlq", config: config,
                                  extra: ["--config", runConfig.path, "--metrics-listen", "127.0.0.1:\(port)"])
            }
            cleanup.add { for i in instances { await i.stopAndWait() } }
            // Both consuming before the findings come: each gets some partitions.
            for port in ports { #expect(try await Self.waitUntilReady(port)) }
            try await Self.produceShuffled(try Findings.unique(10), topic: "findings", partitions: 3, broker: broker)

            // Signal: all ten runs audited their step (succeeded or refused).
            var results: [String] = []
            let decided = try await Self.waitUntil(timeout: 120) {
                results = try await Self.auditResults(broker)
                return results.count >= 10
            }
            print("caps across two instances: \(results.sorted()) ; \(receiver.count) requests")
            #expect(decided)
            let succeeded = results.filter { $0 == "succeeded" }
            #expect(succeeded.count == 3)
            let refused = results.filter { $0 == "refused" }
            #expect(refused.count == 7)
            #expect(receiver.count == 3)
            for i in instances { #expect(await i.terminateAndWait() == 0) }
            #expect(receiver.count == 3)
        }
    }

    /// `result` of every record in the audit topic (read on a thread of its own).
    static func auditResults(_ broker: TansuBroker) async throws -> [String] {
        try await offPool {
            let reader = try KafkaTopicReader(config: broker.clientConfig(), topic: "sluice.actions.audit", logger: Logger(label: "test"))
            defer { reader.close() }
            return try reader.readToEnd(timeoutMs: 60_000).compactMap { r in
                r.value.flatMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }?["result"] as? String
            }
        }
    }

    /// Waits until the instance's `/-/ready` answers 200 (its consumer has partitions).
    static func waitUntilReady(_ port: Int, timeout: Double = 120) async throws -> Bool {
        try await waitUntil(timeout: timeout) { await LoopbackPort.fetch(port, "/-/ready")?.hasPrefix("HTTP/1.1 200") == true }
    }
}
