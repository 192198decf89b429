import Foundation
import SluiceCore
import SluiceGuardDuty
import Testing

/// Issue 16: GuardDuty knowledge lives in SluiceGuardDuty. SluiceCore alone lints no GuardDuty
/// field; the model registered (as the executable does at start) brings every warning back.
@Suite struct FindingFieldModelRegistrationTests {
    static let route = """
        name: r
        match:
          source: [aws.guardduty]
          detail:
            resourceType: [Instance]
            severity: ["8"]
        targets: [soc]
        """
    static let template = "{{detail.titel}} {{sluice.titel}}"

    static func warnings() -> [String] {
        RouteLoader.loadFile(path: "routes/r.yaml", text: route, environment: [:]).diagnostics.filter(\.isWarning).map(\.description)
    }

    static func templateMessages() -> [String] { TemplateCheck.variableIssues(template).map(\.message) }

    static let sluiceViewIssue = "the sluice view has no field `sluice.titel` (did you mean `sluice.title`?), so {{sluice.titel}} renders empty"

    @Test func theCoreAloneLintsNothingGuardDutySpecific() {
        FindingFieldModels.withModels([]) {
            #expect(Self.warnings() == [])
            // The `sluice` view is Sluice's own schema: the core checks it without any model.
            #expect(Self.templateMessages() == [Self.sluiceViewIssue])
        }
    }

    @Test func registeringTheGuardDutyModelBringsTheWarningsBack() {
        GuardDutyRegistration.register()
        GuardDutyRegistration.register()  // twice changes nothing: one model, one set of warnings
        #expect(FindingFieldModels.current.count == 1)
        let expected = [
            "routes/r.yaml:5:5: warning: route 'r': match: a GuardDuty finding has no field `detail.resourceType` (did you mean detail.resource.resourceType?)",
            "routes/r.yaml:6:16: warning: route 'r': match: `detail.severity` is a number in GuardDuty findings, so the string \"8\" never matches "
                + "(write 8 unquoted, or use {numeric: [\"=\", 8]})",
        ]
        #expect(Self.warnings() == expected)
        #expect(Self.templateMessages() == [
            "a GuardDuty finding has no field `detail.titel`, so {{detail.titel}} renders empty (did you mean {{detail.title}}?)",
            Self.sluiceViewIssue,
        ])
        // A pattern for another source is not GuardDuty's to lint.
        let other = Self.route.replacingOccurrences(of: "aws.guardduty", with: "aws.securityhub")
        #expect(RouteLoader.loadFile(path: "routes/r.yaml", text: other, environment: [:]).diagnostics.filter(\.isWarning).isEmpty)
        // And the dialect registered with it.
        #expect(throws: Never.self) { try Pattern(text: #"{"Criterion":{"severity":{"Gte":7}}}"#) }
    }

    /// A `trusted_ips` suppression without `fields` checks the registered models' remote-address
    /// fields; with no model, the core knows none and says so at the suppression.
    @Test func trustedIPDefaultsComeFromTheRegisteredModel() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-trusted-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "198.51.100.0/24\n".write(to: dir.appendingPathComponent("trusted.txt"), atomically: true, encoding: .utf8)
        try """
            name: net
            match: {source: [aws.guardduty]}
            suppress:
              - trusted_ips: trusted.txt
            targets: [x]
            """.write(to: dir.appendingPathComponent("net.yaml"), atomically: true, encoding: .utf8)
        FindingFieldModels.withModels([]) {
            #expect(RouteLoader.defaultTrustedIPFields == [])
            #expect {
                try RouteLoader.load(directory: dir.path, environment: [:])
            } throws: { error in
                "\(error)".contains("net.yaml:4:5: route 'net': a trusted_ips suppression needs `fields:` here")
            }
        }
        try FindingFieldModels.withModels([GuardDutyFindingModel.fieldModel]) {
            #expect(RouteLoader.defaultTrustedIPFields.first == "detail.service.action.networkConnectionAction.remoteIpDetails.ipAddressV4")
            let table = try RouteTable(routes: try RouteLoader.load(directory: dir.path, environment: [:]))
            let event = #"{"source":"aws.guardduty","detail":{"service":{"action":{"networkConnectionAction":{"remoteIpDetails":{"ipAddressV4":"198.51.100.7"}}}}}}"#
            let parser = JSONParser(maxBytes: 1 << 16, maxDepth: 64)
            let matches = try parser.parse(Array(event.utf8)) { table.match($0.root) }.get()
            #expect(matches.isEmpty, "suppressed: the address is trusted")
        }
    }
}
