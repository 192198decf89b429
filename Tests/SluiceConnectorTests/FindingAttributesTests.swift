@testable import SluiceConnectors
import SluiceCore
import SluiceGuardDuty
import Testing

/// SNS/SQS message attributes carry the normalised view's severity_id and format when the
/// finding has a view (docs/formats.md §9), beside today's GuardDuty-scale `finding.severity`.
@Suite struct FindingAttributesTests {
    @Test func theViewsSeverityIDAndFormatAreAttributes() {
        let summary = FindingSummary(
            id: "f1", title: "Drop and execute new binary in container", description: "", type: "syscall", severity: 9, severityScore: nil,
            account: "", region: "", count: 1, firstSeen: "", lastSeen: "", resourceType: "KubernetesPod", resourceSummary: "",
            resourceID: "", process: nil, isRuntime: true, consoleURL: "", view: ["format": "falco", "severity_id": 5])
        let attributes = FindingAttributes.of(Delivery(payload: [], findingID: "f1", route: "r", summary: summary))
        let byName = Dictionary(uniqueKeysWithValues: attributes.map { ($0.name, ($0.type, $0.value)) })
        #expect(byName["finding.severity_id"]?.0 == "Number" && byName["finding.severity_id"]?.1 == "5")
        #expect(byName["finding.format"]?.0 == "String" && byName["finding.format"]?.1 == "falco")
        #expect(byName["finding.severity"]?.1 == "9" && byName["finding.severity_label"]?.1 == "Critical")
        #expect(attributes.count <= 10, "SNS takes at most 10 message attributes")
    }

    /// A replay marks SNS and SQS messages with `X-Sluice-Replay`, first, within the 10-attribute
    /// limit: a finding that fills all ten loses the last descriptive one; a live one is unmarked.
    @Test func aReplayedMessageIsMarkedFirstAndStaysWithinTenAttributes() {
        let summary = FindingSummary(
            id: "f2", title: "Crypto miner", description: "", type: "CryptoCurrency:EC2/BitcoinTool.B!DNS", severity: 8, severityScore: nil,
            account: "123456789012", region: "eu-west-1", count: 1, firstSeen: "", lastSeen: "", resourceType: "Instance", resourceSummary: "",
            resourceID: "", process: nil, isRuntime: false, consoleURL: "", view: ["format": "guardduty", "severity_id": 4])
        var delivery = Delivery(payload: [], findingID: "f2", route: "r", summary: summary)
        let live = FindingAttributes.of(delivery).map(\.name)
        #expect(live == ["sluice.route", "finding.id", "finding.type", "finding.severity", "finding.severity_label", "finding.severity_id",
                         "finding.format", "finding.account", "finding.region", "finding.resource_type"])
        delivery.replay = "incident-42"
        let replayed = FindingAttributes.of(delivery)
        #expect(replayed.count == 10, "SNS and SQS take at most 10 message attributes")
        #expect(replayed.first?.name == "X-Sluice-Replay" && replayed.first?.type == "String" && replayed.first?.value == "incident-42")
        #expect(replayed.dropFirst().map(\.name) == Array(live.prefix(9)))
    }
}
