import Foundation
import SluiceGuardDuty
import SluiceTestSupport
import Testing
@testable import SluiceCore

/// Issue 11, point 5: every error in one pass, each where it is; hints for misplaced keys;
/// `.json` route files loaded; an empty routes directory is a warning.
@Suite struct ValidationReportTests {
    func diagnostics(_ text: String) -> [Diagnostic] {
        RouteLoader.loadFile(path: "routes/x.yaml", text: text, environment: [:]).diagnostics
    }

    @Test func everyPatternErrorAtItsOperator() {
        let d = diagnostics(
            """
            name: two-bad-operators
            match:
              source: [aws.guardduty]
              detail:
                severity: [{numeric: [">=", "x"]}]
                type: [{prefix: 5}]
            suppress:
              - {"detail": {"service": {"resourceRole": []}}}
            targets: [soc]
            """)
        #expect(d.map { "\($0.line):\($0.column)" } == ["5:17", "6:13", "8:45"], "\(d)")
        #expect(d[0].message.contains("Value of >= must be numeric"))
        #expect(d[1].message.contains("prefix match pattern must be a string"))
        #expect(d[2].message.contains("suppress") && d[2].message.contains("Empty arrays"))
    }

    @Test func errorsInsideOrAlternativesAreLocatedToo() {
        let d = diagnostics(
            """
            name: or
            match:
              $or:
                - detail: {severity: [{numeric: ["~", 1]}]}
                - source: [{suffix: []}]
            targets: [soc]
            """)
        #expect(d.map(\.line) == [4, 5], "\(d)")
    }

    @Test func aPatternErrorNoPartExplainsStaysAtMatch() {
        // Too few alternatives in `$or`: only the whole pattern says so.
        let d = diagnostics("name: r\nmatch:\n  $or:\n    - {source: [a]}\ntargets: [soc]\n")
        #expect(d.count == 1)
        #expect(d[0].line == 4 || d[0].line == 3, "\(d)")
    }

    @Test func knownKeyInTheWrongPlaceSaysWhereItBelongs() {
        let d = diagnostics("name: r\nmatch: {source: [a]}\ntargets: [soc]\ndry_run: true\n")
        #expect(d.count == 1)
        #expect(d[0].line == 4 && d[0].column == 1)
        #expect(d[0].message.contains("`dry_run` belongs under `playbook:`"), "\(d[0].message)")
    }

    @Test func typoOfARouteKeySuggestsIt() {
        let d = diagnostics("name: r\nmatch: {source: [a]}\ntarget: [soc]\n")
        #expect(d.contains { $0.message.contains("unknown route key 'target': did you mean 'targets'?") }, "\(d)")
        let t = diagnostics("name: r\nmatch: {source: [a]}\ntargets:\n  - connector: soc\n    templte: x\n")
        #expect(t.contains { $0.line == 5 && $0.message.contains("did you mean 'template'?") }, "\(t)")
        #expect(RouteKeys.hint(for: "dryRun", known: RouteLoader.routeKeys)?.contains("belongs under `playbook:`") == true)
    }

    @Test func aBadRouteDoesNotHideTheOthersInItsFile() {
        let file = RouteLoader.loadFile(path: "routes/x.yaml", text: """
            routes:
              - name: bad
                match: {source: []}
                targets: [soc]
              - name: good
                match: {source: [aws.guardduty]}
                targets: [soc]
            """, environment: [:])
        #expect(file.routes.map(\.name) == ["good"])
        #expect(file.rejected.map(\.name) == ["bad"])
        #expect(file.rejected[0].targets[0].location?.line == 4)
    }

    @Test func jsonRouteFilesAreLoadedAndAnEmptyDirectoryWarns() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("routes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = RouteLoader.loadReport(directory: dir.path)
        #expect(empty.routes.isEmpty)
        #expect(empty.diagnostics.count == 1 && empty.diagnostics[0].isWarning, "\(empty.diagnostics)")
        #expect(empty.diagnostics[0].description.contains("warning: no routes"))
        try #"{"name": "from-json", "match": {"source": ["aws.guardduty"]}, "targets": ["soc"]}"#
            .write(to: dir.appendingPathComponent("a.json"), atomically: true, encoding: .utf8)
        let loaded = try RouteLoader.load(directory: dir.path)
        #expect(loaded.map(\.name) == ["from-json"])
    }
}

/// Issue 11, point 7: the GuardDuty route lint — warnings, each at its key or value.
@Suite(.guardDutyFindingModel) struct GuardDutyRouteLintTests {
    func warnings(_ match: String) -> [Diagnostic] {
        RouteLoader.loadFile(path: "routes/x.yaml", text: "name: r\nmatch:\n" + match + "targets: [soc]\n", environment: [:])
            .diagnostics.filter(\.isWarning)
    }

    @Test func pathThatAFindingCannotHave() {
        let w = warnings("  source: [aws.guardduty]\n  detail:\n    resourceType: [Instance]\n")
        #expect(w.count == 1)
        #expect(w[0].line == 5 && w[0].column == 5)
        #expect(w[0].message.contains("no field `detail.resourceType`") && w[0].message.contains("detail.resource.resourceType"), "\(w[0].message)")
    }

    @Test func stringWhereTheFindingHasANumber() {
        let w = warnings("  source: [aws.guardduty]\n  detail:\n    severity: [\"8\", 9]\n")
        #expect(w.count == 1 && w[0].line == 5 && w[0].column == 16, "\(w)")
        #expect(w[0].message.contains("`detail.severity` is a number"))
    }

    @Test func operatorObjectNotInsideAList() {
        let w = warnings("  source: [aws.guardduty]\n  detail:\n    severity: {numeric: [\">=\", 7]}\n")
        #expect(w.count == 1 && w[0].line == 5, "\(w)")
        #expect(w[0].message.contains("must be inside a list"))
    }

    /// Routes on the `sluice` view (issue 11.6, 14): a member the view does not have, or one only
    /// templates have, never matches — a warning at its key, whatever the source.
    @Test func viewFieldsThatNeverMatchAreLocated() {
        let typo = warnings("  sluice:\n    severty_id: [{numeric: [\">=\", 4]}]\n")
        #expect(typo.count == 1 && typo[0].line == 4 && typo[0].column == 5, "\(typo)")
        #expect(typo.first?.message == "route 'r': match: the sluice view has no field `sluice.severty_id` (did you mean `sluice.severity_id`?)", "\(typo)")
        let templateOnly = warnings("  source: [aws.guardduty]\n  sluice:\n    kubernetes:\n      namespace: [shop]\n    host: [web-1]\n")
        #expect(templateOnly.count == 2, "\(templateOnly)")
        #expect(templateOnly.first?.line == 5 && templateOnly.first?.column == 5, "\(templateOnly)")
        #expect(templateOnly.first?.message.contains("`sluice.kubernetes` is a template-only member of the view (docs/formats.md §9): routes never match it") == true)
        #expect(templateOnly.last?.message.contains("`sluice.host` is a template-only member") == true, "\(templateOnly)")
        // A dotted key is a path too.
        let dotted = warnings("  sluice.resource.nmae: [web]\n")
        #expect(dotted.count == 1 && dotted[0].message.contains("(did you mean `sluice.resource.name`?)"), "\(dotted)")
        // The routing view, with a GuardDuty source: no warning from either lint.
        #expect(warnings("  source: [aws.guardduty]\n  sluice:\n    severity_id: [{numeric: [\">=\", 4]}]\n    resource: {type: [Instance]}\n    process: {name: [xmrig]}\n    part: {count: [2]}\n").isEmpty)
        #expect(warnings("  $or:\n    - sluice: {severity: [High]}\n    - sluice: {product: [Falco]}\n").isEmpty)
    }

    @Test func correctRoutesAndOtherSourcesAreQuiet() {
        #expect(warnings("  source: [aws.guardduty]\n  detail:\n    severity: [{numeric: [\">=\", 7]}]\n    resource: {resourceType: [Instance]}\n    service: {additionalInfo: {anything: [x]}}\n").isEmpty)
        #expect(warnings("  source: [aws.securityhub]\n  detail:\n    resourceType: [x]\n").isEmpty)
    }

    /// The model is checked against the fixtures, not against itself: every field of every
    /// GuardDuty sample finding is a path the lint accepts.
    @Test func everyFieldOfTheSampleFindingsIsInTheModel() throws {
        let dir = PackagePaths.root.appendingPathComponent("examples/findings")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
        #expect(files.count >= 9)
        for file in files {
            let event = try JSON.parse(String(contentsOfFile: dir.appendingPathComponent(file).path, encoding: .utf8))
            for leaf in ReferenceMatcher.flatten(event) {
                let path = leaf.path.split(separator: ".").map(String.init)
                #expect(GuardDutyFindingModel.shape(at: path) != nil, "\(file): \(leaf.path)")
            }
        }
    }
}
