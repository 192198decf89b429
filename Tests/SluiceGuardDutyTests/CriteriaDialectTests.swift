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
}
