import Foundation
import Logging
import SluiceCore
import SluiceKafka
import SluiceTestSupport
import Testing

/// Other finding formats through the real binary, a real Tansu broker and a real receiver
/// (issue 14): the split of a two-finding Security Hub event settles its record only once both
/// findings have, and a Falco event on a `format: falco` topic is routed on the normalised view.
@Suite(.serialized) struct FormatPipelineTests {
    static func fixture(_ name: String) throws -> [UInt8] {
        // One line, as a producer would send it (the fixture files are pretty-printed).
        let text = try String(contentsOf: PackagePaths.root.appendingPathComponent("examples/findings/\(name)"), encoding: .utf8)
        return Array(text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ").utf8)
    }

    /// Hand-written ids from examples/expected-views.json.
    static func expectedIDs(_ name: String) throws -> [String] {
        let json = try JSON.parse(try String(contentsOf: PackagePaths.root.appendingPathComponent("examples/expected-views.json"), encoding: .utf8))
        return (json[name]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
    }

    static func waitFor(_ receiver: WebhookReceiver, ids: Set<String>, timeout: Double = 90) async throws -> [String] {
        try await eventually(within: .seconds(timeout), every: .milliseconds(200)) {
            try receiver.records().filter { $0.body.isEmpty == false }.compactMap { $0.header("X-Sluice-Finding-Id") }
        } until: { ids.isSubset(of: Set($0)) }
    }

    @Test func aTwoFindingSecurityHubEventIsDeliveredTwiceAndCommittedOnlyAfterBoth() async throws {
        try await withRunHarness { harness in
            let (broker, receiver, config) = try await harness.brokerAndWebhook(extra: "retry: {attempts: 1000, backoff: 100ms, max_backoff: 200ms}")
            try config.writeRoutes("""
            routes:
              - name: security-hub
                match: {"sluice": {"format": ["asff"], "via": ["securityhub"]}}
                targets: [hook]
              - name: guardduty
                match: {"source": ["aws.guardduty"]}
                targets: [hook]
            """)
            let split = try Self.expectedIDs("asff/04-custom-action-two-findings.json")
            #expect(split.count == 2)
            let producer = try KafkaProducer(config: broker.clientConfig(), logger: Logger(label: "test"))
            harness.onStopOffPool { producer.close() }
            try await producer.send(topic: "findings", value: try Self.fixture("asff/04-custom-action-two-findings.json"))

            // The first finding is accepted, the other answered 503 until the receiver changes its mind.
            try await receiver.setStatus(200, acceptUpTo: 1)
            let first = try harness.sluice(broker, group: "split", config: config)
            // One delivered (recorded), then at least two refused attempts of the other (counted).
            let deadline = Date().addingTimeInterval(90)
            while try receiver.totalRequests() < 3, Date() < deadline { try await Task.sleep(for: .milliseconds(200)) }
            #expect(try receiver.totalRequests() >= 3, "\(first.output)")
            #expect(receiver.count == 1, "exactly one finding of the two delivered before the crash")
            await first.killHardAndWait()  // no drain, no commit beyond what was settled

            // Redelivered as a whole: one finding settled is not the record settled.
            try await receiver.reset()
            let second = try harness.sluice(broker, group: "split", config: config)
            let again = try await Self.waitFor(receiver, ids: Set(split))
            #expect(Set(again) == Set(split), "both findings again after the crash: \(again)\n\(second.output)")
            #expect(await second.terminateAndWait() == 0)

            // Both settled: committed. A restart delivers only what is new.
            try await receiver.reset()
            let guardDuty = try Findings.unique(1)[0]
            try await producer.send(topic: "findings", key: Array(guardDuty.id.utf8), value: guardDuty.bytes)
            let third = try harness.sluice(broker, group: "split", config: config)
            let after = try await Self.waitFor(receiver, ids: [guardDuty.id])
            #expect(await third.terminateAndWait() == 0)
            #expect(after == [guardDuty.id], "the split record was committed once both findings settled: \(after)")
        }
    }

    @Test func aFalcoEventOnAFalcoTopicIsRoutedOnTheViewAndOtherRecordsAreDeadLettered() async throws {
        try await withRunHarness { harness in
            let (broker, receiver, config) = try await harness.brokerAndWebhook(topics: ["falco", "dlq"])
            try config.writeRoutes("""
            name: falco-critical
            match: {"sluice": {"format": ["falco"], "severity_id": [{"numeric": [">=", 5]}]}}
            targets: [hook]
            """)
            let settings = config.directory.appendingPathComponent("sluice.yaml")
            try """
            brokers: \(broker.bootstrap)
            topics:
              - {topic: falco, format: falco}
            group: falco
            dead_letter_topic: dlq
            kafka: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
            """.write(to: settings, atomically: true, encoding: .utf8)
            let falco = try Self.fixture("falco/03-k8s-drop-and-execute-critical.json")
            let notFalco = try Findings.unique(1)[0].bytes
            let producer = try KafkaProducer(config: broker.clientConfig(), logger: Logger(label: "test"))
            try await producer.send(topic: "falco", value: falco)
            try await producer.send(topic: "falco", value: notFalco)
            try await offPool { producer.close() }

            let sluice = try harness.sluice(["run", "--config", settings.path, "--routes", config.routes, "--connectors", config.connectors,
                                         "--log-level", "warning"])
            let id = try #require(try Self.expectedIDs("falco/03-k8s-drop-and-execute-critical.json").first)
            let seen = try await Self.waitFor(receiver, ids: [id])
            #expect(seen == [id], "\(sluice.output)")
            // Passed through as it came.
            #expect(try receiver.records().first?.body == String(decoding: falco, as: UTF8.self))
            // The marker for the dead letter: a clean exit settles every record read, the dead
            // letter's write acknowledged (read right after the delivery, it could still be in flight).
            #expect(await sluice.terminateAndWait() == 0)
            let letters = try await readTopicToSentinel(broker, topic: "dlq")
            #expect(letters.count == 1)
            #expect(letters.first?.header("sluice-reason") == "format")
            #expect(letters.first?.value == notFalco)
        }
    }

    /// POST /api/v1/test of a running instance judges a two-finding Security Hub event finding by
    /// finding, as `sluice test` does: one report each, each with its own routes.
    @Test func theTestAPIJudgesASplitRecordFindingByFinding() async throws {
        try await withRunHarness { harness in
            let (broker, _, config) = try await harness.brokerAndWebhook()
            try config.writeRoutes("""
            routes:
              - name: medium
                match: {"sluice": {"severity_id": [3]}}
                targets: [hook]
              - name: low
                match: {"sluice": {"severity_id": [2]}}
                targets: [hook]
            """)
            let port = try LoopbackPort.free()
            let sluice = try harness.sluice(broker, group: "api-split", config: config, extra: ["--admin-listen", "127.0.0.1:\(port)"])
            #expect(await LoopbackPort.accepts(port, within: 120), "\(sluice.output)")
            let body = try Self.fixture("asff/04-custom-action-two-findings.json")
            let reply = try await offPool { () -> String in
                guard let fd = LoopbackPort.connect(port) else { throw HarnessError("cannot connect to the admin port") }
                defer { close(fd) }
                let request = Array("POST /api/v1/test HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
                guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { throw HarnessError("short send") }
                return String(decoding: LoopbackPort.readResponse(fd) ?? [], as: UTF8.self)
            }
            #expect(reply.hasPrefix("HTTP/1.1 200"), "\(reply.prefix(300))")
            let json = try JSON.parse(reply.range(of: "\r\n\r\n").map { String(reply[$0.upperBound...]) } ?? "")
            let reports = json.arrayValue ?? []
            #expect(reports.count == 2, "\(json.serialized().prefix(500))")
            let matchedRoutes = reports.map { ($0["matches"]?.arrayValue ?? []).compactMap { $0["route"]?.stringValue } }
            #expect(matchedRoutes == [["medium"], ["low"]])
        }
    }
}
