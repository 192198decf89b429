import Foundation
import Logging
import Testing
import SluiceKafka
import SluiceTestSupport

/// The `sluice` binary against a real Tansu broker and a real HTTP receiver.
@Suite(.serialized) struct PipelineTests {
    /// Records the decoder must refuse, each with the reason its dead letter must carry
    /// (max_message_bytes 8192 and max_depth 64 in the run configuration).
    static let garbage: [(value: [UInt8]?, reason: String)] = [
        (Array("not json".utf8), "not_json"),
        (Array("{\"truncated\": ".utf8), "not_json"),
        ([0xFF, 0xFE, 0x7B], "invalid_utf8"),
        (Array("[1,2]".utf8), "not_json"),                       // JSON, but not an object
        (nil, "null_payload"),
        (Array("   ".utf8), "empty"),
        (Array(("{\"pad\": \"" + String(repeating: "x", count: 9000) + "\"}").utf8), "too_large"),
        (Array((String(repeating: "[", count: 100) + String(repeating: "]", count: 100)).utf8), "too_deep"),
    ]

    @Test func findingsAreDeliveredAndEveryRejectionIsDeadLetteredWithItsReasonAndHeaders() async throws {
        try await withRunHarness { harness in
            let (broker, receiver, config) = try await harness.brokerAndWebhook()
            let findings = try Findings.examples().map { Array($0.utf8) }
            let producer = try KafkaProducer(config: broker.clientConfig(), logger: Logger(label: "test"))
            // One partition, one producer, each send awaited: offsets follow the order of sending.
            var good = 0
            var offset: Int64 = 0
            var expected: [Int64: (value: [UInt8]?, reason: String, trace: String)] = [:]
            for i in 0..<100 {
                try await producer.send(topic: "findings", value: findings[i % findings.count])
                good += 1
                offset += 1
                if i % 12 == 0, i / 12 < Self.garbage.count {
                    let g = Self.garbage[i / 12]
                    let trace = "trace-\(i)"
                    // An original header is kept; a forged sluice-* header is replaced by Sluice's own.
                    try await producer.send(topic: "findings", value: g.value,
                                            headers: [KafkaHeader("trace-id", trace), KafkaHeader("sluice-reason", "forged")])
                    expected[offset] = (g.value, g.reason, trace)
                    offset += 1
                }
            }
            try await offPool { producer.close() }
            #expect(expected.count == Self.garbage.count)

            let settings = config.directory.appendingPathComponent("sluice.yaml")
            try "max_message_bytes: 8192\nmax_depth: 64\n".write(to: settings, atomically: true, encoding: .utf8)
            let sluice = try harness.sluice(["run", "--config", settings.path, "--brokers", broker.bootstrap, "--topic", "findings", "--group", "it",
                                         "--dead-letter-topic", "dlq", "--routes", config.routes, "--connectors", config.connectors,
                                         "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500", "--log-level", "error"])

            let deadline = Date().addingTimeInterval(60)
            while receiver.count < good, Date() < deadline { try await Task.sleep(for: .milliseconds(200)) }
            #expect(receiver.count == good)
            // Every finding reached the receiver, so every record before them was processed: stop,
            // then read the dead-letter topic to a sentinel (an exact count, not "what came in time").
            #expect(await sluice.terminateAndWait() == 0)

            let letters = try await readTopicToSentinel(broker, topic: "dlq")
            #expect(letters.count == Self.garbage.count)
            let reasons = letters.compactMap { $0.header("sluice-reason") }.sorted()
            let garbageReasons = Self.garbage.map(\.reason).sorted()
            #expect(reasons == garbageReasons)
            for letter in letters {
                let offsetText = try #require(letter.header("sluice-source-offset"))
                let want = try #require(expected[Int64(offsetText) ?? -1], "a dead letter for offset \(offsetText), which was a finding")
                let letterReasons = letter.headers.filter { $0.name == "sluice-reason" }.map(\.stringValue)
                #expect(letterReasons == [want.reason])
                #expect(letter.header("trace-id") == want.trace)
                #expect(letter.header("sluice-source-topic") == "findings")
                #expect(letter.header("sluice-source-partition") == "0")
                #expect(letter.header("sluice-attempts") == "0")
                #expect(letter.header("sluice-route") == nil)
                #expect(letter.header("sluice-error")?.isEmpty == false)
                let failedAt = try #require(letter.header("sluice-failed-at"))
                #expect(ISO8601DateFormatter().date(from: failedAt) != nil, "sluice-failed-at \(failedAt) is ISO 8601")
                #expect(letter.value == want.value, "the original bytes, untouched (\(want.reason))")
            }
        }
    }
}
