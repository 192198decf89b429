import Testing
@testable import SluiceCore

/// Wildcards with no literal prefix are found through a window of their longest literal
/// segment (`CompiledMatcher.substringTable`), then evaluated. Expected answers written by hand.
@Suite struct WildcardWindowIndexTests {
    static let wildcards = [
        "*team7-*-eks",  // 0: window "team7-"
        "*-prod-eks",  // 1: window "-prod-ek" (segment longer than eight bytes)
        "*-a*",  // 2: two-byte window
        "*verylongsegment-name*",  // 3: window "verylong", the segment must still be whole
        "*x",  // 4: one-byte segment: evaluated, not indexed
        "*é-*",  // 5: UTF-8 window
        "*team7-*-prod",  // 6: the same window as route 0
    ]

    static func table() throws -> RouteTable {
        try RouteTable(routes: wildcards.enumerated().map { k, w in
            Route(name: "w\(k)", match: ["name": [["wildcard": .string(w)]]], targets: [RouteTarget(connector: "c")])
        })
    }

    @Test(arguments: [
        (#"{"name":"team7-prod-eks"}"#, [0, 1]),
        (#"{"name":"xteam7-y-prod"}"#, [6]),
        (#"{"name":"team17-a-eks"}"#, [2]),
        (#"{"name":"my-verylongsegment-name-x"}"#, [3, 4]),
        (#"{"name":"verylongsegment-nam"}"#, []),
        (#"{"name":["nope","café-1"]}"#, [5]),
        (#"{"name":7}"#, []),
        (#"{"name":"team7-"}"#, []),
        (#"{"name":"a-prod-eks"}"#, [1]),
        (#"{"other":"team7-prod-eks"}"#, []),
    ] as [(String, [Int])])
    func wildcardsFoundByTheirLongestSegment(event: String, expected: [Int]) throws {
        let table = try Self.table()
        let parser = JSONParser(maxBytes: 1 << 16, maxDepth: 16)
        let got = try parser.parse(Array(event.utf8)) { table.match($0.root) }.get()
        #expect(got == expected)
        #expect(table.referenceMatch(try JSON.parse(event)) == expected)
    }
}
