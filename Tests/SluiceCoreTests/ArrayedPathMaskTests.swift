import Testing
@testable import SluiceCore

/// The compiled matcher skips a branch's array-consistency check when fewer than two of its
/// paths have leaves in arrays on the event, read from a 64-bit mask of arrayed paths (one bit
/// per path id modulo 64); a final state with one route sets that route on entry under the same
/// rule. These cases pin the rule down where it could go wrong: two fields in one array whose
/// elements disagree, and two paths of one branch that share a bit of the mask (ids 0 and 64).
/// Every expected answer is written out by hand from EventBridge's rule (the fields of one
/// branch must hold in the same array element), and the brute-force reference must agree.
@Suite struct ArrayedPathMaskTests {
    static func route(_ name: String, _ match: JSON) -> Route {
        Route(name: name, match: match, targets: [RouteTarget(connector: "sink")])
    }

    static func answers(_ routes: [Route], _ events: [String]) throws -> [(reference: [Int], compiled: [Int])] {
        let table = try RouteTable(routes: routes)
        let parser = JSONParser(maxBytes: 1 << 20, maxDepth: 64)
        let scratch = MatchScratch()
        return try events.map { text in
            let reference = table.referenceMatch(try JSON.parse(text))
            let compiled = try parser.parse(Array(text.utf8)) { table.match($0.root, scratch: scratch) }.get()
            return (reference, compiled)
        }
    }

    /// One route, two fields in the same array: its final state is entered with nothing after
    /// it, and the route is set there only if the elements agree.
    @Test func aFinalStateWithTwoArrayedFieldsStillChecksTheElements() throws {
        let routes = [Self.route("k1-v2", ["items": ["k": ["1"], "v": ["2"]]])]
        let events = [
            #"{"items":[{"k":"1","v":"2"}]}"#,  // one element holds both
            #"{"items":[{"k":"1","v":"9"},{"k":"9","v":"2"}]}"#,  // each in another element
            #"{"items":{"k":"1","v":"2"}}"#,  // no array: nothing to check
            #"{"items":[{"k":"1"}],"other":[1]}"#,  // v missing
        ]
        let expected: [[Int]] = [[0], [], [0], []]
        for (k, answer) in try Self.answers(routes, events).enumerated() {
            #expect(answer.reference == expected[k], "reference on \(events[k])")
            #expect(answer.compiled == expected[k], "compiled on \(events[k])")
        }
    }

    /// Paths 0 (`items.k`) and 64 (`items.v`) share bit 0 of the mask: with both in one array
    /// the mask shows one bit, so the branch must be checked whatever the mask says.
    @Test func twoPathsSharingAMaskBitAreAlwaysChecked() throws {
        var routes = [Self.route("k1", ["items": ["k": ["1"]]])]
        for n in 1..<64 { routes.append(Self.route("filler-\(n)", ["f\(n)": ["x"]])) }
        routes.append(Self.route("k1-v2", ["items": ["k": ["1"], "v": ["2"]]]))
        let table = try RouteTable(routes: routes)
        #expect(table.matcher.pathNames.firstIndex(of: "items.k") == 0)
        #expect(table.matcher.pathNames.firstIndex(of: "items.v") == 64)
        let events = [
            #"{"items":[{"k":"1","v":"2"}]}"#,
            #"{"items":[{"k":"1","v":"9"},{"k":"9","v":"2"}]}"#,
            #"{"items":[{"k":"1","v":"9"},{"k":"9","v":"2"}],"f3":"x"}"#,
        ]
        let expected: [[Int]] = [[0, 64], [0], [0, 3]]
        for (k, answer) in try Self.answers(routes, events).enumerated() {
            #expect(answer.reference == expected[k], "reference on \(events[k])")
            #expect(answer.compiled == expected[k], "compiled on \(events[k])")
        }
    }
}
