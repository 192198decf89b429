import SluiceGuardDuty
import Testing
@testable import SluiceCore

/// Issue 11, point 6: templates are checked before a finding arrives.
@Suite(.guardDutyFindingModel) struct TemplateCheckTests {
    @Test func aTagMissingItsClosingBraceIsRejected() {
        #expect(throws: TemplateError.self) { try PayloadTemplate(#"{"title": "{{detail.title}"}"#, format: .json) }
        let issues = TemplateCheck.syntaxIssues("line one\n  {{detail.title")
        #expect(issues == [TemplateCheck.Issue(line: 2, column: 3, message: "tag `{{detail.title` is never closed with `}}`")])
    }

    @Test func sectionsMustBeClosedInOrder() {
        let issues = TemplateCheck.syntaxIssues("{{#detail.resource}}{{#detail.service}}x{{/detail.resource}}")
        #expect(issues.count == 2, "\(issues)")
        #expect(issues[0].message.contains("{{/detail.resource}} closes {{#detail.service}}"))
        #expect(TemplateCheck.syntaxIssues("{{/x}}").first?.message.contains("not open") == true)
        #expect(TemplateCheck.syntaxIssues("{{#a}}{{b}}{{/a}} {{{c}}} {{&d}} {{! note }}").isEmpty)
    }

    @Test func aJSONTemplateMustRenderJSONForASampleFinding() throws {
        let broken = try PayloadTemplate(#"{"title": {{detail.title}}}"#, format: .json)  // value not quoted
        let issue = try #require(TemplateCheck.jsonIssue(broken, sample: SampleFinding.template))
        #expect(issue.contains("not JSON"))
        let good = try PayloadTemplate(#"{"title": "{{detail.title}}", "severity": {{detail.severity}}}"#, format: .json)
        #expect(TemplateCheck.jsonIssue(good, sample: SampleFinding.template) == nil)
    }

    /// The view is Sluice's own schema (docs/formats.md §2, §9): a misspelt member renders empty
    /// for every format, so it is flagged with the member meant; template-only members, today's
    /// names and `sluice.hold` are fine in templates.
    @Test func aMisspeltViewFieldIsFlaggedWithTheRightName() {
        let issues = TemplateCheck.variableIssues("{{sluice.titel}}\n  {{sluice.resource.nmae}} {{sluice.title.x}}")
        #expect(issues.count == 3, "\(issues)")
        #expect(issues.first?.line == 1 && issues.first?.column == 1)
        #expect(issues.first?.message == "the sluice view has no field `sluice.titel` (did you mean `sluice.title`?), so {{sluice.titel}} renders empty")
        #expect(issues.dropFirst().first?.line == 2 && issues.dropFirst().first?.column == 3)
        #expect(issues.dropFirst().first?.message.contains("(did you mean `sluice.resource.name`?)") == true, "\(issues)")
        let fine = "{{sluice.kubernetes.namespace}} {{sluice.container.image}} {{sluice.host}} {{sluice.workload}} {{sluice.severity_label}} "
            + "{{sluice.severity_score}} {{sluice.process.command_line}} {{sluice.part.index}} {{#sluice.hold}}{{held_count}}{{/sluice.hold}} "
            + "{{sluice.hold.held_count}} {{#sluice.account}}{{sluice.account}}{{/sluice.account}} {{sluice.console_url}} {{{sluice.description}}}"
        #expect(TemplateCheck.variableIssues(fine).isEmpty, "\(TemplateCheck.variableIssues(fine))")
    }

    @Test func aMisspeltFindingFieldIsFlaggedWithTheRightName() {
        let issues = TemplateCheck.variableIssues("{{detail.titel}} {{detail.resource.instanceDetails.instanceId}} {{sluice.title}}")
        #expect(issues.count == 1, "\(issues)")
        #expect(issues[0].column == 1)
        #expect(issues[0].message.contains("{{detail.title}}"), "\(issues[0].message)")
        #expect(TemplateCheck.variableIssues("{{detail.resourceType}}").first?.message.contains("detail.resource.resourceType") == true)
    }
}

/// Issue 11, point 7: why a route did not match.
@Suite struct RouteMissTests {
    let event: JSON = [
        "source": "aws.guardduty",
        "detail": ["severity": 5, "type": "CryptoCurrency:EC2/BitcoinTool.B", "resource": ["resourceType": "Instance"]],
    ]

    func table(_ routes: [(String, JSON, [JSON])]) throws -> RouteTable {
        try RouteTable(routes: routes.map { Route(name: $0.0, match: $0.1, suppress: $0.2, targets: [RouteTarget(connector: "x")]) })
    }

    @Test func firstFailingConditionAndTheEventsValue() throws {
        let t = try table([
            ("high", ["source": ["aws.guardduty"], "detail": ["severity": [["numeric": [">=", 7]]]]], []),
            ("eks", ["detail": ["resource": ["eksClusterDetails": ["name": [["exists": true]]]]]], []),
            ("all", ["source": ["aws.guardduty"]], []),
        ])
        let misses = t.explainMisses(event)
        #expect(misses.map { t.routes[$0.route].name } == ["high", "eks"])
        guard case .condition(let path, let expected, let values) = misses[0].reasons[0] else { Issue.record("\(misses[0])"); return }
        #expect(path == "detail.severity" && expected == ">= 7" && values == [5])
        guard case .condition(let p2, _, let v2) = misses[1].reasons[0] else { Issue.record("\(misses[1])"); return }
        #expect(p2 == "detail.resource.eksClusterDetails.name" && v2.isEmpty)
    }

    @Test func suppressedAndStoppedRoutesSaySo() throws {
        let t = try RouteTable(routes: [
            Route(name: "first", match: ["source": ["aws.guardduty"]], targets: [RouteTarget(connector: "x")], order: 1, stop: true),
            Route(name: "later", match: ["source": ["aws.guardduty"]], targets: [RouteTarget(connector: "x")], order: 2),
            Route(name: "muted", match: ["source": ["aws.guardduty"]], suppress: [["detail": ["severity": [5]]]], targets: [RouteTarget(connector: "x")], order: 0),
        ])
        let misses = t.explainMisses(event)
        #expect(misses.count == 2)
        for m in misses {
            switch (t.routes[m.route].name, m.reasons.first) {
            case ("muted", .suppressed(let k)?): #expect(k == 0)
            case ("later", .stoppedBy(let by)?): #expect(by == "first")
            default: Issue.record("unexpected \(t.routes[m.route].name): \(m.reasons)")
            }
        }
    }
}
