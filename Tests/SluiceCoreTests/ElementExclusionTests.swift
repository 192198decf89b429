import Testing
@testable import SluiceCore

/// Tag routes (`tags.key = K` and `tags.value anything-but [...]`, same element), which the
/// compiled matcher enters from an exclusion index on the key's elements and then skips their
/// consistency check. Every expected answer is written out by hand from EventBridge's rule
/// (both conditions on one array element), and the brute-force reference must agree with it.
@Suite struct ElementExclusionTests {
    static func tagRoute(_ name: String, key: String, excluding: [String], account: String? = nil) -> Route {
        let tags: JSON = ["key": [.string(key)], "value": [["anything-but": .array(excluding.map { .string($0) })]]]
        var match: JSON = ["detail": ["resource": ["instanceDetails": ["tags": tags]]]]
        if let account { match = ["account": [.string(account)], "detail": ["resource": ["instanceDetails": ["tags": tags]]]] }
        return Route(name: name, match: match, targets: [RouteTarget(connector: "sink")])
    }

    static let routes = [
        tagRoute("team-not-1", key: "team", excluding: ["team1"]),
        tagRoute("team-not-2-3", key: "team", excluding: ["team3", "team2"]),
        tagRoute("env-not-prod", key: "env", excluding: ["prod"]),
        tagRoute("account-team-not-1", key: "team", excluding: ["team1"], account: "111111111111"),
        tagRoute("team-not-prod", key: "team", excluding: ["prod"]),
        tagRoute("owner-not-alice", key: "owner", excluding: ["alice"]),
        tagRoute("team-not-1-9", key: "team", excluding: ["team1", "team9"]),
    ]

    static func event(account: String, tags: String) -> String {
        #"{"account":"\#(account)","detail":{"resource":{"instanceDetails":{"tags":\#(tags)}}}}"#
    }

    /// (event, routes expected to match), by hand.
    static let cases: [(String, [Int])] = [
        // The team tag's value is excluded; "prod" sits in another element and does not count.
        (event(account: "111111111111", tags: #"[{"key":"env","value":"prod"},{"key":"team","value":"team1"}]"#), [1, 4]),
        // Two team tags: a route holds when one of them is not in its list.
        (event(account: "222222222222", tags: #"[{"key":"team","value":"team1"},{"key":"team","value":"team2"}]"#), [0, 1, 4, 6]),
        (event(account: "111111111111", tags: #"[{"key":"team","value":"team9"},{"key":"team","value":"team1"}]"#), [0, 1, 3, 4]),
        // Tags as one object, not an array.
        (event(account: "111111111111", tags: #"{"key":"team","value":"team1"}"#), [1, 4]),
        // A value that is not a string is in no list of strings.
        (event(account: "111111111111", tags: #"[{"key":"team","value":7}]"#), [0, 1, 3, 4, 6]),
        // A team tag without a value: nothing to test the lists on in that element.
        (event(account: "111111111111", tags: #"[{"key":"team"},{"key":"env","value":"dev"}]"#), [2]),
        // Values in an array inside the element: one not excluded is enough.
        (event(account: "333333333333", tags: #"[{"key":"team","value":["team1","team5"]}]"#), [0, 1, 4, 6]),
        (event(account: "333333333333", tags: #"[{"key":"team","value":["team1","team9"]},{"key":"owner","value":"bob"}]"#), [0, 1, 4, 5]),
        // No tag with a listed key.
        (event(account: "111111111111", tags: #"[{"key":"Name","value":"team1"}]"#), []),
    ]

    @Test func tagRoutesMatchOnTheKeysElementOnly() throws {
        let table = try RouteTable(routes: Self.routes)
        let parser = JSONParser(maxBytes: 1 << 20, maxDepth: 64)
        let scratch = MatchScratch()
        for (text, expected) in Self.cases {
            let json = try JSON.parse(text)
            #expect(table.referenceMatch(json) == expected, "reference on \(text)")
            let compiled = try parser.parse(Array(text.utf8)) { table.match($0.root, scratch: scratch) }.get()
            #expect(compiled == expected, "compiled on \(text)")
        }
    }

    /// The same routes one at a time (no shared key state): the answers must not depend on the
    /// other routes in the table.
    @Test func eachTagRouteAlone() throws {
        let parser = JSONParser(maxBytes: 1 << 20, maxDepth: 64)
        for (r, route) in Self.routes.enumerated() {
            let table = try RouteTable(routes: [route])
            for (text, expected) in Self.cases {
                let compiled = try parser.parse(Array(text.utf8)) { table.match($0.root) }.get()
                #expect(compiled == (expected.contains(r) ? [0] : []), "route \(route.name) on \(text)")
            }
        }
    }
}
