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
}
