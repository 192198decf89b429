import Testing
@testable import SluiceCore

/// Numeric ranges and CIDR blocks are looked up in flat index sets (`IntervalIndexSet`):
/// several groups' indexes (two severity ranges, a pid range below `process`, a level range
/// below a type's state, IPv4 and IPv6 blocks) sit side by side and must each answer for their
/// own routes, on answers kept, dropped or changed by the caller between events (one scratch).
/// Every expected answer is written out by hand.
@Suite struct IntervalGroupsThroughMatcherTests {
    static func route(_ name: String, _ match: JSON) -> Route {
        Route(name: name, match: match, targets: [RouteTarget(connector: "sink")])
    }

    static let routes = [
        route("high", ["severity": [["numeric": [">=", 7]]]]),
        route("low", ["severity": [["numeric": ["<", 4]]]]),
        route("private-10", ["ip": [["cidr": "10.0.0.0/8"]]]),
        route("private-192", ["ip": [["cidr": "192.168.0.0/16"]]]),
        route("v6-doc", ["ip": [["cidr": "2001:db8::/32"]]]),
        route("pid", ["process": ["pid": [["numeric": [">", 100, "<=", 200]]]]]),
        route("type-and-level", ["type": ["a"], "level": [["numeric": [">", 1]]]]),
    ]

    static func answers(_ events: [String]) throws -> [[Int]] {
        let table = try RouteTable(routes: routes)
        let parser = JSONParser(maxBytes: 1 << 20, maxDepth: 64)
        let scratch = MatchScratch()
        return try events.map { text in try parser.parse(Array(text.utf8)) { table.match($0.root, scratch: scratch) }.get() }
    }

    /// Every answer is kept while the next events are matched: none may change.
    @Test func heldAnswersAreLeftAlone() throws {
        let answers = try Self.answers([
            #"{"severity":8,"ip":"10.1.2.3"}"#,
            #"{"severity":2,"ip":"192.168.7.7"}"#,
            #"{"severity":5,"ip":"11.0.0.1"}"#,
            #"{"severity":9.5,"ip":["10.0.0.1","192.168.0.1"],"process":{"pid":150}}"#,
            #"{"ip":"2001:db8::1","process":{"pid":201},"type":"a","level":2}"#,
            #"{"ip":"2001:db9::1","process":{"pid":100},"type":"b","level":2}"#,
        ])
        #expect(answers == [[0, 2], [1, 3], [], [0, 2, 3, 5], [4, 6], []])
    }

    /// Answers dropped as soon as they are read: each is still right, a longer one after a
    /// shorter one and the other way round.
    @Test func droppedAnswersAreReusedAndStillRight() throws {
        let table = try RouteTable(routes: Self.routes)
        let parser = JSONParser(maxBytes: 1 << 20, maxDepth: 64)
        let scratch = MatchScratch()
        let cases: [(String, [Int])] = [
            (#"{"severity":1,"ip":"10.9.9.9"}"#, [1, 2]),
            (#"{"severity":9.5,"ip":["10.0.0.1","192.168.0.1"],"process":{"pid":150}}"#, [0, 2, 3, 5]),
            (#"{"severity":7}"#, [0]),
            (#"{"severity":6}"#, []),
            (#"{"ip":"2001:db8::1","process":{"pid":101},"type":"a","level":1}"#, [4, 5]),
        ]
        for _ in 0..<3 {
            for (text, expected) in cases {
                let count = try parser.parse(Array(text.utf8)) { table.match($0.root, scratch: scratch) == expected ? 1 : 0 }.get()
                #expect(count == 1, "\(text)")
            }
        }
    }

    /// An answer the caller changes (copy on write) does not change the next one.
    @Test func aChangedAnswerDoesNotLeakIntoTheNext() throws {
        let table = try RouteTable(routes: Self.routes)
        let parser = JSONParser(maxBytes: 1 << 20, maxDepth: 64)
        let scratch = MatchScratch()
        var first = try parser.parse(Array(#"{"severity":8,"ip":"10.1.2.3"}"#.utf8)) { table.match($0.root, scratch: scratch) }.get()
        first.append(99)
        let second = try parser.parse(Array(#"{"severity":3}"#.utf8)) { table.match($0.root, scratch: scratch) }.get()
        #expect(first == [0, 2, 99])
        #expect(second == [1])
    }
}
