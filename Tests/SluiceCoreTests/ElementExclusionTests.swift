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

    /// One key's exclusive children of three kinds, interleaved in route order: direct routes
    /// (a list of their own), pairs of routes sharing one list (one state with two routes,
    /// entered) and routes with an account too (a consistency check, entered). The direct ones
    /// are set first without a branch (`GroupSide.directEnd`), the exclusion lists renumbered
    /// to their new positions: a child excluded wrongly or kept wrongly shows here.
    @Test func directAndEnteredChildrenOfOneKey() throws {
        func excluded(_ k: Int) -> [String] {
            switch k % 4 {
            case 0: return ["team\(k % 5)", "solo\(k)"]
            case 1, 2: return ["team\((k / 4) % 5)", "pair\(k / 4)"]
            default: return ["team\((k + 1) % 5)"]
            }
        }
        let routes = (0..<120).map { k in
            Self.tagRoute("r\(k)", key: "team", excluding: excluded(k), account: k % 4 == 3 ? "111111111111" : nil)
        }
        let table = try RouteTable(routes: routes)
        // The key's group has children of both kinds, the direct routes first.
        let m = table.matcher
        let direct = CompiledMatcher.directRoute | CompiledMatcher.evaluate
        let sides = m.groupSides.filter { !$0.exclusive.isEmpty }
        #expect(sides.contains { $0.exclusive.lowerBound < $0.directEnd && $0.directEnd < $0.exclusive.upperBound })
        for side in sides {
            for k in side.exclusive {
                #expect((m.exclusiveEntries[Int(k)] & direct == CompiledMatcher.directRoute) == (k < side.directEnd))
            }
        }
        let parser = JSONParser(maxBytes: 1 << 20, maxDepth: 64)
        let scratch = MatchScratch()
        for account in ["111111111111", "222222222222"] {
            for value in ["team0", "team3", "pair7", "solo8", "other"] {
                let text = Self.event(account: account, tags: #"[{"key":"env","value":"team1"},{"key":"team","value":"\#(value)"}]"#)
                // By hand: a route holds unless the team tag's value is in its list; the
                // account routes need their account too.
                let expected = (0..<120).filter { k in
                    !excluded(k).contains(value) && (k % 4 != 3 || account == "111111111111")
                }
                let json = try JSON.parse(text)
                #expect(table.referenceMatch(json) == expected, "reference on \(text)")
                let compiled = try parser.parse(Array(text.utf8)) { table.match($0.root, scratch: scratch) }.get()
                #expect(compiled == expected, "compiled on \(text)")
            }
        }
    }
}
