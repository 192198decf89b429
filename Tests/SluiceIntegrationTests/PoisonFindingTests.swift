import Foundation
import SluiceGuardDuty
import SluiceKafka
import SluiceTestSupport
import Testing

/// Issue 10 point 1, end to end: a finding built to trap a numeric conversion (count, pid and
/// severity of ±1e300) is published to a real broker between ordinary findings. It used to stop
/// `sluice run` with SIGILL before its offset was committed, so the router crash-looped on it.
@Suite(.serialized) struct PoisonFindingTests {
    /// `line` with its first `"key":<number>` replaced by `"key":<value>`.
    static func replacingNumber(_ key: String, with value: String, in line: String) throws -> String {
        let regex = try NSRegularExpression(pattern: "\"\(key)\":-?[0-9.eE+]+")
        let range = try #require(regex.firstMatch(in: line, range: NSRange(line.startIndex..., in: line))?.range)
        return (line as NSString).replacingCharacters(in: range, with: "\"\(key)\":\(value)")
    }

    @Test func aPoisonFindingIsDeliveredClampedAndTheRecordsAfterItFlow() async throws {
        try await withRunHarness { harness in
            let (broker, receiver, config) = try await harness.brokerAndWebhook()
            // A template that reads the summary, so count, pid and severity go through FindingSummary.
            try """
            name: all-findings
            match: {"source": ["aws.guardduty"]}
            targets:
              - connector: hook
                template: '{"id": "{{sluice.id}}", "count": {{sluice.count}}, "pid": "{{#sluice.process}}{{pid}}{{/sluice.process}}", "cef_severity": "{{sluice.severity_label}}"}'
            """.write(toFile: config.routes + "/all.yaml", atomically: true, encoding: .utf8)

            // 02-ec2-reverse-shell is a runtime finding: it has service.count, a process pid and severity.
            let sampleWithPID = try Findings.examples().first { $0.contains("\"pid\":") }
            let sample = try #require(sampleWithPID)
            var poison = try Self.replacingNumber("count", with: "1e300", in: sample)
            poison = try Self.replacingNumber("pid", with: "-1e300", in: poison)
            poison = try Self.replacingNumber("severity", with: "1e300", in: poison)
            let before = try Findings.unique(3)
            let after = try Findings.unique(13).suffix(10)
            let poisonRecord = (id: "poison", bytes: Array(poison.utf8))
            try await Findings.publish(before + [poisonRecord] + Array(after), to: "findings", broker: broker)

            let sluice = try harness.sluice(broker, group: "poison", config: config)
            try await receiver.waitForCount(14, timeout: 90)
            let bodies = try receiver.records().map(\.body)
            #expect(bodies.count == 14)
            let delivered = bodies.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            let notJSON = bodies.filter { !$0.hasPrefix("{") }
            #expect(delivered.count == 14, "every body is JSON: \(notJSON)")
            let ids = Set(delivered.compactMap { $0["id"] as? String })
            #expect(ids.isSuperset(of: after.map(\.id)), "the records after the poison are delivered")
            #expect(ids.isSuperset(of: before.map(\.id)))
            let clampedFinding = delivered.first { ($0["count"] as? NSNumber)?.int64Value == Int64.max }
            let clamped = try #require(clampedFinding)
            #expect(clamped["pid"] as? String == String(Int.min))
            #expect(clamped["cef_severity"] as? String == "Critical")
            #expect(sluice.process.isRunning, "the router keeps running")
            #expect(await sluice.terminateAndWait() == 0)
        }
    }
}
