import Foundation
import Logging
import Testing
import SluiceKafka
import SluiceTestSupport

/// The `sluice` binary against a real Tansu broker and a real HTTP receiver.
@Suite(.serialized) struct PipelineTests {
    static var sluiceBinary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sluice")
    }

    /// A routes/ + connectors/ pair sending every GuardDuty finding to `url`.
    static func config(webhook url: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-it-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("routes"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("connectors"), withIntermediateDirectories: true)
        try """
        name: all-findings
        match: {"source": ["aws.guardduty"]}
        targets: [hook]
        """.write(to: dir.appendingPathComponent("routes/all.yaml"), atomically: true, encoding: .utf8)
        try """
        name: hook
        type: webhook
        url: \(url)/hook
        timeout: 2s
        retry: {attempts: 3, backoff: 50ms, max_backoff: 200ms}
        """.write(to: dir.appendingPathComponent("connectors/hook.yaml"), atomically: true, encoding: .utf8)
        return dir
    }

    static func examples() throws -> [[UInt8]] {
        let text = try String(contentsOf: PackagePaths.root.appendingPathComponent("examples/findings.ndjson"), encoding: .utf8)
        return text.split(separator: "\n").map { Array($0.utf8) }
    }

    @Test func findingsAreDeliveredAndGarbageIsDeadLettered() async throws {
        let broker = try TansuBroker()
        defer { broker.stop() }
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        try broker.createTopics(["findings", "dlq"])
        let findings = try Self.examples()
        let producer = try KafkaProducer(config: broker.clientConfig(), logger: Logger(label: "test"))
        let garbage: [[UInt8]] = [Array("not json".utf8), Array("{\"truncated\": ".utf8), [0xFF, 0xFE, 0x7B], Array("[1,2]".utf8)]
        var good = 0
        for i in 0..<100 {
            try await producer.send(topic: "findings", value: findings[i % findings.count])
            good += 1
            if i % 25 == 0 { try await producer.send(topic: "findings", value: garbage[(i / 25) % garbage.count]) }
        }
        producer.close()

        let dir = try Self.config(webhook: receiver.url)
        let sluice = Process()
        sluice.executableURL = Self.sluiceBinary
        sluice.arguments = ["run", "--brokers", broker.bootstrap, "--topic", "findings", "--group", "it",
                            "--dead-letter-topic", "dlq", "--routes", dir.appendingPathComponent("routes").path,
                            "--connectors", dir.appendingPathComponent("connectors").path,
                            "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500", "--log-level", "error"]
        try sluice.run()
        defer { ChildProcess.stop(sluice) }

        let deadline = Date().addingTimeInterval(60)
        while receiver.count < good, Date() < deadline { try await Task.sleep(for: .milliseconds(200)) }
        #expect(receiver.count == good)

        let letters = try readTopic(broker, topic: "dlq", expect: 4)
        #expect(letters.count == 4)
        let reasons = letters.compactMap { $0.headers.first { $0.name == "sluice-reason" }?.stringValue }
        #expect(Set(reasons).isSubset(of: ["not_json", "invalid_utf8"]))
        #expect(letters.allSatisfy { $0.headers.contains { $0.name == "sluice-source-offset" } })

        kill(sluice.processIdentifier, SIGTERM)
        sluice.waitUntilExit()
        #expect(sluice.terminationStatus == 0)
    }
}
