import SluiceCore
import SluiceGuardDuty
import Testing

/// GuardDuty criteria in a route file: read as criteria where the dialect is in effect, and a
/// located error — never a field name that silently never matches — where it is not.
@Suite struct CriteriaDialectTests {
    static let path = "routes/high.yaml"
    static let file = """
        name: high-severity
        match: {"Criterion": {"severity": {"GreaterThanOrEqual": 7}}}
        targets: [hook]
        """

    static func matches(_ table: RouteTable, severity: Double) throws -> Bool {
        let event = #"{"source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{"id":"f1","severity":\#(severity)}}"#
        let parser = JSONParser(maxBytes: 1 << 16, maxDepth: 64)
        return try !parser.parse(Array(event.utf8)) { doc in table.match(doc.root) }.get().isEmpty
    }

    @Test func aRouteFileWithCriteriaLoadsAndMatchesWhereTheDialectIsInEffect() throws {
        try PatternDialects.withDialects([GuardDutyCriteria.dialect]) {
            let loaded = RouteLoader.loadFile(path: Self.path, text: Self.file, environment: [:])
            #expect(loaded.diagnostics.map(\.description) == [])
            let table = try RouteTable(routes: loaded.routes)
            #expect(try Self.matches(table, severity: 8))
            #expect(try Self.matches(table, severity: 7))
            #expect(try !Self.matches(table, severity: 6.9))
        }
    }

    @Test func aRouteFileWithCriteriaIsALocatedErrorWhereTheDialectIsNotRegistered() throws {
        PatternDialects.withDialects([]) {
            let loaded = RouteLoader.loadFile(path: Self.path, text: Self.file, environment: [:])
            #expect(loaded.routes.isEmpty)
            #expect(loaded.diagnostics.map(\.description) == [
                "routes/high.yaml:2:8: route 'high-severity': match: Criterion: GuardDuty filter criteria are a pattern dialect "
                    + "this process has not registered (PatternDialects.register); read as a field name, it would never match",
            ])
            #expect(throws: PatternError.self) { try Pattern(text: #"{"FindingCriteria":{"Criterion":{"severity":{"Gt":4}}}}"#) }
        }
    }

    @Test(arguments: [
        (#"{"Criterion":{"severity":{"Gte":7}},"source":["aws.guardduty"]}"#, "Criterion: GuardDuty criteria must be the only key of their pattern (not mixed with EventBridge fields)"),
        (#"{"Criterion":["x"]}"#, "Criterion: must be an object of field criteria"),
        (#"{"FindingCriteria":{"severity":{"Gte":7}}}"#, "FindingCriteria: must be an object holding one `Criterion` object"),
    ])
    func criteriaInAShapeTheDialectCannotReadAreAnError(pattern: String, message: String) {
        _ = PatternDialects.withDialects([GuardDutyCriteria.dialect]) {
            #expect(throws: PatternError(message)) { try Pattern(text: pattern) }
        }
    }

    // Issue 14 / s9: a keyword below the top of a pattern. A whole branch of a top-level `$or` is
    // read in the dialect; under a field it is an error at the keyword, registered or not.

    static let orFile = """
        name: either
        match:
          $or:
            - Criterion: {severity: {GreaterThanOrEqual: 7}}
            - detail: {type: ["Recon:EC2/PortProbeUnprotectedPort"]}
        targets: [hook]
        """

    static func matches(_ table: RouteTable, severity: Double, type: String) throws -> Bool {
        let event = #"{"source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{"id":"f1","severity":\#(severity),"type":"\#(type)"}}"#
        let parser = JSONParser(maxBytes: 1 << 16, maxDepth: 64)
        return try !parser.parse(Array(event.utf8)) { doc in table.match(doc.root) }.get().isEmpty
    }

    @Test func criteriaAsABranchOfATopLevelOrAreReadWhereTheDialectIsInEffect() throws {
        try PatternDialects.withDialects([GuardDutyCriteria.dialect]) {
            try FindingFieldModels.withModels([GuardDutyFindingModel.fieldModel]) {
                let loaded = RouteLoader.loadFile(path: "routes/either.yaml", text: Self.orFile, environment: [:])
                #expect(loaded.diagnostics.map(\.description) == [])
                let table = try RouteTable(routes: loaded.routes)
                #expect(try Self.matches(table, severity: 8, type: "Backdoor:EC2/C&CActivity.B"))  // the criteria branch
                #expect(try Self.matches(table, severity: 2, type: "Recon:EC2/PortProbeUnprotectedPort"))  // the other branch
                #expect(try !Self.matches(table, severity: 6.9, type: "Backdoor:EC2/C&CActivity.B"))
            }
            // FindingCriteria too, and beside other top-level fields (they hold in every branch).
            let pattern = try Pattern(text: #"{"source":["aws.guardduty"],"$or":[{"FindingCriteria":{"Criterion":{"severity":{"Gt":4}}}},{"detail":{"type":["x"]}}]}"#)
            let branchPaths = pattern.branches.map { $0.fields.map(\.path) }
            #expect(branchPaths == [["detail.severity", "source"], ["detail.type", "source"]])
        }
    }

    @Test func criteriaAsABranchOfATopLevelOrAreALocatedErrorWhereTheDialectIsNotRegistered() {
        PatternDialects.withDialects([]) {
            let loaded = RouteLoader.loadFile(path: "routes/either.yaml", text: Self.orFile, environment: [:])
            #expect(loaded.routes.isEmpty)
            #expect(loaded.diagnostics.map(\.description) == [
                "routes/either.yaml:4:7: route 'either': match: Criterion: GuardDuty filter criteria are a pattern dialect "
                    + "this process has not registered (PatternDialects.register); read as a field name, it would never match",
            ])
        }
    }

    @Test(arguments: [[GuardDutyCriteria.dialect], []] as [[any PatternDialect]])
    func criteriaUnderAFieldAreALocatedErrorRegisteredOrNot(dialects: [any PatternDialect]) {
        let underField = """
            name: nested
            match:
              source: [aws.guardduty]
              detail:
                Criterion: {severity: {Gte: 7}}
            targets: [hook]
            """
        let inFieldOr = """
            name: nested-or
            match:
              detail:
                $or:
                  - type: [x]
                  - FindingCriteria: {Criterion: {severity: {Gte: 7}}}
            targets: [hook]
            """
        PatternDialects.withDialects(dialects) {
            FindingFieldModels.withModels([GuardDutyFindingModel.fieldModel]) {
                let a = RouteLoader.loadFile(path: "routes/nested.yaml", text: underField, environment: [:])
                #expect(a.routes.isEmpty)
                #expect(a.diagnostics.map(\.description) == [
                    "routes/nested.yaml:5:5: route 'nested': match: detail.Criterion: GuardDuty filter criteria can only be "
                        + "a whole pattern or a whole branch of a top-level $or, not under a field",
                ])
                let b = RouteLoader.loadFile(path: "routes/nested-or.yaml", text: inFieldOr, environment: [:])
                #expect(b.routes.isEmpty)
                #expect(b.diagnostics.map(\.description) == [
                    "routes/nested-or.yaml:6:9: route 'nested-or': match: detail.FindingCriteria: GuardDuty filter criteria can only be "
                        + "a whole pattern or a whole branch of a top-level $or, not under a field",
                ])
            }
            #expect(throws: PatternError("detail.Criterion: GuardDuty filter criteria can only be a whole pattern or a whole branch of a top-level $or, not under a field")) {
                try Pattern(text: #"{"detail":{"Criterion":{"type":{"Equals":["x"]}}}}"#)
            }
        }
    }
}
