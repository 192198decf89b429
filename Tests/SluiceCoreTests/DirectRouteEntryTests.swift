import Testing
@testable import SluiceCore

/// Posting entries and exclusive children that name a route instead of a state
/// (`CompiledMatcher.directRoute`): entering a final state with one route, nothing after it, no
/// condition to evaluate and no consistency check only sets that route, so the matcher sets it
/// without reading the state's stamp or record (`checkedRoute` when two of the branch's fields
/// may need an array-consistency check). What could go wrong: a route reached by two entries
/// in one event (answered twice, or its count off), a state that must not be direct (an
/// evaluated wildcard, a state with conditions after it, two routes completing in one state),
/// a checked route whose fields sit in arrays, and the exclusion tallies, now numbered by a
/// child's position in its group rather than by state. Every expected answer is written out by hand from
/// EventBridge's rules; the brute-force reference must agree with it too.
@Suite struct DirectRouteEntryTests {
    static func route(_ name: String, _ match: JSON) -> Route {
        Route(name: name, match: match, targets: [RouteTarget(connector: "sink")])
    }

    /// The entries of all posting lists: the routes of direct entries, the routes of checked
    /// ones (`checkedRoute`), and the states of the others.
    static func postedEntries(_ m: CompiledMatcher) -> (routes: [Int32], checked: [Int32], states: [Int32]) {
        var routes: [Int32] = [], checked: [Int32] = [], states: [Int32] = []
        var start = 0
        while start < m.postingEntries.count {
            let end = start + 1 + Int(m.postingEntries[start])
            for entry in m.postingEntries[start + 1..<end] {
                switch entry & 7 {
                case CompiledMatcher.directRoute: routes.append(entry >> 3)
                case CompiledMatcher.checkedRoute: checked.append(m.checkedRoutes[Int(entry >> 3)].route)
                default: states.append(entry >> 3)
                }
            }
            start = end
        }
        return (routes, checked, states)
    }

    /// One route reached through two entries in one event (two listed values in an array, two
    /// `$or` alternatives): it is answered once, and the routes after it are not disturbed.
    @Test func aRouteReachedTwiceIsAnsweredOnce() throws {
        let table = try RouteTable(routes: [
            Self.route("either-account", ["account": ["111", "222"]]),
            Self.route("a-or-b", ["$or": [["a": ["x"]], ["b": ["y"]]]]),
            Self.route("b-only", ["b": ["y"]]),
        ])
        let posted = Self.postedEntries(table.matcher)
        // `b = y` is one state for two routes (route 1's second alternative and route 2): not direct.
        #expect(Set(posted.routes) == [0, 1])
        try RouteAnswers.check(table, [
            (#"{"account":["111","222"],"a":"x","b":"y"}"#, [0, 1, 2]),
            (#"{"account":["222","222"],"b":"y"}"#, [0, 1, 2]),
            (#"{"account":"333","a":"x"}"#, [1]),
            (#"{"a":["x","x"],"b":["z"]}"#, [1]),
        ])
    }

    /// States that must be entered as states: a wildcard found by its literal prefix (its
    /// whole condition is evaluated), a state with a condition after it, a state where two
    /// routes complete. Routes with two fields needing leaves (an account and a type, a pair in
    /// one array) are checked entries: set unless both fields sit in arrays, inconsistently.
    @Test func statesThatDoMoreThanSetOneRouteAreNotDirect() throws {
        let table = try RouteTable(routes: [
            Self.route("prod-eks", ["cluster": [["wildcard": "prod-*-eks"]]]),
            Self.route("account", ["account": ["111"]]),
            Self.route("account-type", ["account": ["111"], "type": ["T"]]),
            Self.route("same-1", ["region": ["eu"]]),
            Self.route("same-2", ["region": ["eu"]]),
            Self.route("k1-v2", ["items": ["k": ["1"], "v": ["2"]]]),
            Self.route("zone", ["zone": ["z1"]]),
        ])
        let posted = Self.postedEntries(table.matcher)
        #expect(posted.routes == [6], "only the one-field route's state just sets its route")
        #expect(posted.checked.sorted() == [2, 5])
        try RouteAnswers.check(table, [
            (#"{"cluster":"prod-a-eks","account":"111","type":"T","region":"eu","zone":"z1"}"#, [0, 1, 2, 3, 4, 6]),
            (#"{"account":["111","222"],"type":["T","U"],"zone":["z2","z1"]}"#, [1, 2, 6]),
            (#"{"cluster":"prod-a-gke","account":"111","type":"U"}"#, [1]),
            (#"{"cluster":"prod-eks","account":"222","type":"T","region":["us","eu"]}"#, [3, 4]),
            (#"{"items":[{"k":"1","v":"9"},{"k":"9","v":"2"}]}"#, []),
            (#"{"items":[{"k":"9","v":"2"},{"k":"1","v":"2"}]}"#, [5]),
            (#"{"items":{"k":["1","9"],"v":"2"}}"#, [5]),
            (#"{"items":[{"k":"1"},{"v":"2"}],"account":"111","type":"T"}"#, [1, 2]),
        ])
    }

    /// Tag routes entered from their key's exclusion index, in two groups (two tag keys) and
    /// with a child where two routes complete (not direct): each group's tallies count its own
    /// leaves only, and both routes of the shared child are answered.
    @Test func exclusiveChildrenInSeveralGroups() throws {
        func tagRoute(_ name: String, key: String, excluding: [String]) -> Route {
            Self.route(name, ["tags": ["key": [.string(key)], "value": [["anything-but": .array(excluding.map { .string($0) })]]]])
        }
        let table = try RouteTable(routes: [
            tagRoute("team-not-1", key: "team", excluding: ["t1"]),
            tagRoute("team-not-1-2", key: "team", excluding: ["t1", "t2"]),
            tagRoute("team-not-1-2-again", key: "team", excluding: ["t2", "t1"]),
            tagRoute("env-not-prod", key: "env", excluding: ["prod"]),
            tagRoute("env-not-dev", key: "env", excluding: ["dev"]),
        ])
        let entries = table.matcher.exclusiveEntries
        #expect(entries.count == 4, "routes 1 and 2 share one child state")
        #expect(entries.filter { $0 & CompiledMatcher.directRoute != 0 }.map { $0 >> 3 }.sorted() == [0, 3, 4])
        func event(_ tags: String) -> String { #"{"tags":\#(tags)}"# }
        try RouteAnswers.check(table, [
            (event(#"[{"key":"team","value":"t1"}]"#), []),
            (event(#"[{"key":"team","value":"t2"}]"#), [0]),
            (event(#"[{"key":"team","value":"t1"},{"key":"team","value":"t2"}]"#), [0]),
            (event(#"[{"key":"team","value":"t1"},{"key":"team","value":"t1"}]"#), []),
            (event(#"[{"key":"team","value":"t3"},{"key":"env","value":"prod"}]"#), [0, 1, 2, 4]),
            (event(#"[{"key":"team","value":"t1"},{"key":"env","value":"prod"}]"#), [4]),
            (event(#"[{"key":"env","value":"prod"},{"key":"env","value":"dev"}]"#), [3, 4]),
            (event(#"[{"key":"env","value":["prod","dev"]}]"#), [3, 4]),
            (event(#"[{"key":"env","value":"dev"}]"#), [3]),
        ])
    }
}
