import Testing
@testable import SluiceCore

/// The answer read out of the route bitmap in one pass (`TapeWalker.finish`): each word's
/// suppressible routes verified on the way (`unsuppressed`), the others written in route order,
/// then `stop` applied as they are copied out (`MatchScratch.selectedRoutes`; not searched for
/// when no route stops). What could go wrong: a word skipped or read twice at the bounds (routes
/// 63/64 and 127/128, the last route of tables of 1, 64 and 65), a suppressed route left in the
/// answer or its word's other routes lost with it, a route set twice listed twice, the routes of
/// an earlier event left over. Every expected answer is derived by hand from the patterns; the
/// brute-force reference must agree with it too.
@Suite struct AnswerPassMatcherTests {
    static func route(_ name: String, _ match: JSON, suppress: [JSON] = [], stop: Bool = false) -> Route {
        Route(name: name, match: match, suppress: suppress, targets: [RouteTarget(connector: "sink")], stop: stop)
    }

    /// Route i matches its own id, and every route matches `all`.
    static func numbered(_ count: Int) throws -> RouteTable {
        try RouteTable(routes: (0..<count).map { i in
            route("r\(i)", ["$or": [["id": [.number(Double(i))]], ["all": [true]]]])
        })
    }

    @Test(arguments: [1, 63, 64, 65, 128, 129, 300])
    func wordBoundaries(count: Int) throws {
        let table = try Self.numbered(count)
        let edges = [0, 62, 63, 64, 65, 127, 128, 129, 191, 192, 299]
        try RouteAnswers.check(table, [
            (#"{"id":[0,62,63,64,65,127,128,129,191,192,299]}"#, edges.filter { $0 < count }),
            (#"{"all":true}"#, Array(0..<count)),
            (#"{"id":\#(count - 1)}"#, [count - 1]),
            (#"{"id":\#(count)}"#, []),
            (#"{"id":[63,64],"all":true}"#, Array(0..<count)),
            (#"{"id":[128]}"#, count > 128 ? [128] : []),
        ])
    }

    /// Words holding 0 to 9 routes (word w holds w of them, 7 apart, the last at 63 in the
    /// fullest), then the same words in reverse: a word's first four routes are written
    /// whether or not it has them and counted only if it does (`TapeWalker.finish`), the
    /// rest by a loop. A slot counted for a missing route, or a fifth route lost, shows here.
    @Test func wordsHoldingZeroToNineRoutes() throws {
        let table = try Self.numbered(640)
        func ids(_ holding: (Int) -> Int) -> [Int] {
            (0..<10).flatMap { w in (0..<holding(w)).map { j in w * 64 + 63 - 7 * j } }.sorted()
        }
        let rising = ids { $0 }, falling = ids { 9 - $0 }, single = [5 * 64 + 63]
        func event(_ ids: [Int]) -> String { #"{"id":[\#(ids.map(String.init).joined(separator: ","))]}"# }
        try RouteAnswers.check(table, [
            (event(rising), rising),
            (event(falling), falling),
            (event(single), single),
            (#"{"all":true}"#, Array(0..<640)),
            (event(rising), rising),
        ])
    }

    /// A route reached through two posting lists (two `$or` alternatives on different paths) and
    /// through a broad state's run is listed once, among routes spanning five words.
    @Test func aRouteReachedTwiceIsListedOnce() throws {
        var routes: [Route] = []
        for k in 0..<300 {
            switch k % 3 {
            case 0: routes.append(Self.route("either-\(k)", ["$or": [["a": ["x"]], ["b": ["y"]]]]))
            case 1: routes.append(Self.route("a-\(k)", ["a": ["x"]]))
            default: routes.append(Self.route("broad-\(k)", ["$or": [["role": ["TARGET"], "archived": [false]], ["b": ["y"]]]]))
            }
        }
        let table = try RouteTable(routes: routes)
        try RouteAnswers.check(table, [
            (#"{"a":"x","b":"y"}"#, Array(0..<300)),
            (#"{"a":"x","b":"y","role":"TARGET","archived":false}"#, Array(0..<300)),
            (#"{"b":"y"}"#, (0..<300).filter { $0 % 3 != 1 }),
            (#"{"role":"TARGET","archived":false}"#, (0..<300).filter { $0 % 3 == 2 }),
            (#"{"a":["x","x"]}"#, (0..<300).filter { $0 % 3 != 2 }),
        ])
    }

    /// A tag route excluded by its `anything-but` list still matches through its other `$or`
    /// alternative, set before the exclusive children are (the account is a root value).
    @Test func anExcludedAlternativeKeepsARouteSetEarlier() throws {
        var routes: [Route] = []
        for k in 0..<130 {
            let tags: JSON = ["key": ["team"], "value": [["anything-but": [.string("team\(k % 5)")]]]]
            routes.append(Self.route("tag-or-account-\(k)", ["$or": [["tags": tags], ["account": [.string("a\(k % 2)")]]]]))
        }
        let table = try RouteTable(routes: routes)
        try RouteAnswers.check(table, [
            (#"{"tags":[{"key":"team","value":"team3"}]}"#, (0..<130).filter { $0 % 5 != 3 }),
            (#"{"tags":[{"key":"team","value":"team3"}],"account":"a1"}"#, (0..<130).filter { $0 % 5 != 3 || $0 % 2 == 1 }),
            (#"{"account":"a0"}"#, (0..<130).filter { $0 % 2 == 0 }),
        ])
    }

    /// Suppressions on every fifth and every seventh route of 200 broad ones (every word has
    /// some): the suppressed routes leave the answer, their neighbours stay, and they are
    /// listed apart in route order (`matchReportingSuppressed`).
    @Test func suppressionsRemoveRoutesFromTheirWords() throws {
        let sandbox: JSON = ["env": ["sandbox"]]
        let archived: JSON = ["archived": [true]]
        let routes = (0..<200).map { k in
            Self.route("r\(k)", ["team": ["a"]], suppress: (k % 5 == 0 ? [sandbox] : []) + (k % 7 == 0 ? [archived] : []))
        }
        let table = try RouteTable(routes: routes)
        let all = Array(0..<200)
        let fifth = all.filter { $0 % 5 == 0 }, seventh = all.filter { $0 % 7 == 0 }
        let cases: [(String, suppressed: [Int])] = [
            (#"{"team":"a"}"#, []),
            (#"{"team":"a","env":"sandbox"}"#, fifth),
            (#"{"team":"a","archived":true}"#, seventh),
            (#"{"team":"a","env":["prod","sandbox"],"archived":true}"#, all.filter { $0 % 5 == 0 || $0 % 7 == 0 }),
            (#"{"team":"a","env":"prod"}"#, []),
        ]
        try RouteAnswers.check(table, cases.map { text, suppressed in (text, all.filter { !suppressed.contains($0) }) })
        try Self.checkSuppressed(table, cases.map { ($0.0, $0.suppressed) })
    }

    /// A suppressed `stop` route does not stop the answer; the first unsuppressed one does, and
    /// the suppressed routes after it are still reported.
    @Test func stopAfterSuppressions() throws {
        let routes = (0..<150).map { k in
            Self.route("r\(k)", ["team": ["a"]], suppress: k == 70 || k == 140 ? [["env": ["sandbox"]]] : [], stop: k == 70 || k == 100)
        }
        let table = try RouteTable(routes: routes)
        try RouteAnswers.check(table, [
            (#"{"team":"a"}"#, Array(0...70)),
            (#"{"team":"a","env":"sandbox"}"#, (0...100).filter { $0 != 70 }),
            (#"{"team":"b"}"#, []),
        ])
        try Self.checkSuppressed(table, [
            (#"{"team":"a"}"#, []),
            (#"{"team":"a","env":"sandbox"}"#, [70, 140]),
        ])
    }

    /// `matchReportingSuppressed`'s suppressed list, through one scratch for every event.
    static func checkSuppressed(_ table: RouteTable, _ cases: [(event: String, suppressed: [Int])], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let parser = JSONParser(maxBytes: 1 << 20, maxDepth: 64)
        let scratch = MatchScratch()
        for (text, expected) in cases {
            let reported = try parser.parse(Array(text.utf8)) { table.matchReportingSuppressed($0.root, scratch: scratch).suppressed }.get()
            #expect(reported == expected, "suppressed on \(text)", sourceLocation: sourceLocation)
        }
    }
}
