import Foundation
import SluiceCore
import SluiceGuardDuty
import SluiceHTTP
import Testing

@testable import SluiceConnectors

/// Issue 10 point 1: numbers in a finding or in a target's reply never trap a connector, and
/// configuration numbers out of range are validation errors. Each of these trapped (SIGILL) before.
@Suite struct OutsideNumberTests {
    static let poison = #"""
        {"detail": {"id": "poison", "type": "Execution:Runtime/ReverseShell", "severity": 1e300,
         "accountId": "111122223333", "region": "us-east-1", "updatedAt": "2025-05-12T08:14:37.123Z",
         "resource": {"resourceType": "ECSCluster", "ecsClusterDetails": {"name": "c", "arn": "arn:aws:ecs:us-east-1:111122223333:cluster/c",
                      "activeServicesCount": 1e300, "runningTasksCount": -1e300}},
         "service": {"count": 1e300, "runtimeDetails": {"process": {"name": "sh", "pid": -1e300}}}}}
        """#

    static func summary() throws -> FindingSummary {
        try #require(FindingSummary(event: try JSON.parse(poison)))
    }

    @Test func cefClampsSeverityAndCount() throws {
        let line = SyslogConnector.cef(try Self.summary())
        let fields = line.split(separator: "|", maxSplits: 7, omittingEmptySubsequences: false)
        #expect(fields.count == 8)
        #expect(fields[6] == "10")
        #expect(line.contains(" cnt=9223372036854775807"))
    }

    @Test func splunkHECCodeOutOfRangeIsPermanentNotATrap() {
        let answer = HTTPResponse(status: 400, body: Array(#"{"text": "Invalid data format", "code": 1e300}"#.utf8))
        let outcomes = SplunkHECConnector.classify(.success(answer), count: 2)
        #expect(outcomes.count == 2)
        for outcome in outcomes {
            guard case .permanent(let message) = outcome else { Issue.record("expected permanent, got \(outcome)"); continue }
            #expect(message == "Splunk HEC 400 code 9223372036854775807: Invalid data format")
        }
        // An out-of-range invalid-event-number names no event of the batch.
        let odd = HTTPResponse(status: 400, body: Array(#"{"text": "x", "code": 6, "invalid-event-number": -1e300}"#.utf8))
        #expect(SplunkHECConnector.classify(.success(odd), count: 2).allSatisfy { if case .permanent = $0 { true } else { false } })
        // A 200 whose code is not 0 is not a delivery.
        let twoHundred = HTTPResponse(status: 200, body: Array(#"{"text": "Success", "code": 1e300}"#.utf8))
        #expect(SplunkHECConnector.classify(.success(twoHundred), count: 1).allSatisfy { if case .permanent = $0 { true } else { false } })
    }

    @Test func elasticsearchBulkStatusOutOfRangeIsPermanentNotATrap() {
        let answer = HTTPResponse(status: 200, body: Array(#"""
            {"errors": true, "items": [{"index": {"status": 1e300}}, {"index": {"status": -1e300}}, {"index": {"status": 201}}]}
            """#.utf8))
        let outcomes = ElasticsearchConnector.classify(.success(answer), count: 3)
        #expect(outcomes.count == 3)
        // Not an HTTP status at all: permanent by the one HTTP table (only 408/425/429/5xx retry).
        if case .permanent(let message) = outcomes[0] { #expect(message.hasPrefix("bulk item 9223372036854775807 ")) } else { Issue.record("\(outcomes[0])") }
        if case .permanent(let message) = outcomes[1] { #expect(message.hasPrefix("bulk item -9223372036854775808 ")) } else { Issue.record("\(outcomes[1])") }
        #expect(outcomes[2] == .delivered)
    }

    /// SNS and SQS refuse a whole message whose Number attribute is out of their range (38
    /// digits, 10^-128 to 10^126): such a severity is left out, its label still goes.
    @Test func snsAndSQSSeverityAttributeOutOfRangeIsLeftOut() throws {
        let delivery = Delivery(payload: [], key: nil, findingID: "poison", route: "r", attempt: 1, summary: try Self.summary())
        let attributes = FindingAttributes.of(delivery)
        #expect(!attributes.contains { $0.name == "finding.severity" })
        #expect(attributes.contains { $0.name == "finding.severity_label" && $0.value == "Critical" })
        #expect(FindingAttributes.severityNumber(8.5) == "8.5")
        #expect(FindingAttributes.severityNumber(7) == "7")
        #expect(FindingAttributes.severityNumber(0) == "0")
        #expect(FindingAttributes.severityNumber(1e300) == nil)
        #expect(FindingAttributes.severityNumber(-1e300) == nil)
        #expect(FindingAttributes.severityNumber(1e-200) == nil)
        #expect(FindingAttributes.severityNumber(.nan) == nil)
    }

    @Test func securityHubSeverityAndCountsOutOfRange() throws {
        let mapping = try #require(ASFFMapping(event: try JSON.parse(Self.poison), region: "us-east-1", productARN: nil, accountID: nil, route: "r"))
        let asff = try JSON.parse(String(decoding: mapping.build().serialized(), as: UTF8.self))
        #expect(asff["Severity"]?["Original"]?.stringValue == "1e+300")
        #expect(asff["Severity"]?["Label"]?.stringValue == "CRITICAL")
        let cluster = asff["Resources"]?.arrayValue?.first?["Details"]?["AwsEcsCluster"]
        #expect(cluster?["ActiveServicesCount"]?.doubleValue == Double(Int.max))
        #expect(cluster?["RunningTasksCount"]?.doubleValue == Double(Int.min))
        // Epoch seconds far outside years 1–9999 are dropped, not formatted.
        #expect(ASFFMapping.timestamp(.number(1e300)) == nil)
        #expect(ASFFMapping.timestamp(.number(0)) == "1970-01-01T00:00:00.000Z")
    }

    @Test func configurationNumbersOutOfRangeAreErrorsAtTheirPosition() throws {
        let base = "name: hook\ntype: webhook\nurl: http://127.0.0.1:9/hook\n"
        #expect(SIEMFixtures.problems(base + "timeout: 99999999999999999999s\n") == ["'timeout' is out of range: at most 3650d"])
        #expect(SIEMFixtures.problems(base + "retry: {max_age: 1e300s}\n") == ["'max_age' is out of range: at most 3650d"])
        #expect(SIEMFixtures.problems(base + "rate_limit: 1e-300\n") == ["'rate_limit' must be between 0.001 and 1000000 (attempts per second)"])
        #expect(SIEMFixtures.problems(base + "burst: 1e300\n") == ["'burst' must be between 1 and 1000000"])
        #expect(ByteSizeText.parse("99999999999999GB") == nil)
        #expect(ByteSizeText.parse("-5MB") == nil)
        #expect(ByteSizeText.parse("5MB") == 5 << 20)
        do {
            _ = try SIEMFixtures.definitions(base + "timeout: 99999999999999999999s\n")
            Issue.record("loaded")
        } catch let error as Diagnostics {
            #expect(error.items.map { "\($0.line):\($0.column)" } == ["4:10"])
        }
    }
}
