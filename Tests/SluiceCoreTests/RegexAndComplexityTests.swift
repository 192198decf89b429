import Testing
@testable import SluiceCore

@Suite struct RegexAndComplexityTests {
    func r(_ pattern: String, _ value: String) throws -> Bool { try RegexPattern(pattern).matches(value.utf8) }

    @Test func regexSyntax() throws {
        #expect(try r("abc", "xxabcxx"))
        #expect(try !r("^abc$", "xxabcxx"))
        #expect(try r("^a(b|c)*d$", "abcbcd"))
        #expect(try r("^[a-f0-9]{8}-", "deadbeef-1"))
        #expect(try !r("^[a-f0-9]{8}-", "deadbee-1"))
        #expect(try r("^\\d+\\.\\d+$", "8.90"))
        #expect(try r("^[^/]+$", "no-slash"))
        #expect(try !r("^[^/]+$", "a/b"))
        #expect(try r("x{2,3}y", "axxxy"))
        #expect(try r("^é+$", "ééé"))
        #expect(try r("^(?:ab)?c$", "c"))
        #expect(try r("a.c", "a€c"))
        #expect(throws: PatternError.self) { try RegexPattern("a{3,1}") }
        #expect(throws: PatternError.self) { try RegexPattern("\\1") }
        #expect(throws: PatternError.self) { try RegexPattern("a{1000}{1000}") }
    }

    /// The classic catastrophic-backtracking pattern runs in linear time here.
    @Test func noCatastrophicBacktracking() throws {
        let evil = try RegexPattern("^(a+)+$")
        let value = String(repeating: "a", count: 5_000) + "b"
        #expect(!evil.matches(value.utf8))
        let nested = try RegexPattern("^(a|aa)*c$")
        #expect(!nested.matches((String(repeating: "a", count: 5_000) + "b").utf8))
    }

    func table(_ patterns: [JSON]) throws(Diagnostics) -> RouteTable {
        try RouteTable(routes: patterns.enumerated().map { Route(name: "route-\($0.offset)", match: $0.element, targets: [RouteTarget(connector: "c")]) })
    }

    @Test func rejectsTooManyStars() {
        let w = String(repeating: "*a", count: 20)
        do {
            _ = try table([["detail": ["name": [["wildcard": .string(w)]]]]])
            Issue.record("accepted")
        } catch {
            #expect(error.items.count == 1)
            #expect(error.items[0].message.contains("route 'route-0'"))
            #expect(error.items[0].message.contains("detail.name"))
            #expect(error.items[0].message.contains(w))
        }
    }

    @Test func rejectsTooManyOverlappingWildcards() throws {
        let many: [JSON] = (0..<300).map { i in ["detail": ["cluster": [["wildcard": .string("*-\(i)-*")]]]] }
        #expect(throws: Diagnostics.self) { try table(many) }
        // Distinct literal prefixes do not pile up.
        let distinct: [JSON] = (0..<2000).map { i in ["detail": ["cluster": [["wildcard": .string("team\(i)-*-eks")]]]] }
        #expect(try table(distinct).routes.count == 2000)
    }

    @Test func theSameWildcardInManyRoutesCountsOnce() throws {
        // One condition, matched once per event however many routes repeat it.
        let repeated: [JSON] = (0..<2000).map { i in ["detail": ["cluster": [["wildcard": .string("*-\(i % 20)-*")]]]] }
        #expect(try table(repeated).routes.count == 2000)
    }
}
