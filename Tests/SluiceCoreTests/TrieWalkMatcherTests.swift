import Testing
@testable import SluiceCore

/// The walk's key test (`TapeWalker.child`): a key is compared with the node's edges first and
/// looked at for dots only when none matched, and the tail of a key longer than eight bytes is
/// compared a word at a time, its last word masked (`paddedTailsEqual`, `edgeKeys` padded).
/// What could go wrong: a dotted key taken for a miss (its first segment short or long, the dot
/// in the first word or after it), a long key taken for an edge it differs from in one byte of
/// its tail (or in the bytes after its end, which must be masked), a key that is a prefix or an
/// extension of an edge. Every expected answer is written out by hand from EventBridge's rules
/// (a dotted key is the path of its segments); the brute-force reference must agree with it too.
@Suite struct TrieKeyMatcherTests {
    static func route(_ name: String, _ match: JSON) -> Route {
        Route(name: name, match: match, targets: [RouteTarget(connector: "sink")])
    }

    /// Long keys (9–40 bytes) against edges of the same length that differ in one byte of the
    /// tail, at every position, and against keys one byte shorter or longer.
    @Test func longKeysMatchOnlyTheirOwnEdge() throws {
        for length in 9...40 {
            let key = String((0..<length).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
            let table = try RouteTable(routes: [Self.route("long", ["o": [key: ["v"]]])])
            var cases: [(event: String, expected: [Int])] = [(#"{"o":{"\#(key)":"v"}}"#, [0])]
            for position in 8..<length {
                var bytes = Array(key.utf8)
                bytes[position] = UInt8(ascii: "Z")
                cases.append((#"{"o":{"\#(String(decoding: bytes, as: UTF8.self))":"v"}}"#, []))
            }
            cases.append((#"{"o":{"\#(key.dropLast())":"v"}}"#, []))
            cases.append((#"{"o":{"\#(key)a":"v"}}"#, []))
            // The edge's key is followed by the next edge's bytes and the padding: neither may count.
            cases.append((#"{"o":{"\#(key)":"v","\#(key.dropLast())":"w"}}"#, [0]))
            try RouteAnswers.check(table, cases)
        }
    }

    /// Dotted keys walk several edges whether the key or one of its segments is short or long,
    /// whether the dot is in the first eight bytes or after them, and whether the plain nested
    /// form comes before or after them in the object.
    @Test func dottedKeysWalkTheirSegments() throws {
        let table = try RouteTable(routes: [
            Self.route("short", ["a": ["b": ["x"]]]),
            Self.route("long-first", ["networkInterfaces": ["privateIpAddress": ["10.0.0.1"]]]),
            Self.route("long-second", ["detail": ["instanceDetails": ["imageId": ["ami-1"]]]]),
            Self.route("deep", ["a": ["c": ["d": ["y"]]]]),
        ])
        try RouteAnswers.check(table, [
            (#"{"a.b":"x"}"#, [0]),
            (#"{"a.b":"z"}"#, []),
            (#"{"networkInterfaces.privateIpAddress":"10.0.0.1"}"#, [1]),
            (#"{"networkInterfaces":{"privateIpAddress":"10.0.0.1"}}"#, [1]),
            (#"{"detail.instanceDetails.imageId":"ami-1"}"#, [2]),
            (#"{"detail":{"instanceDetails.imageId":"ami-1"}}"#, [2]),
            (#"{"detail.instanceDetails":{"imageId":"ami-1"}}"#, [2]),
            (#"{"a":{"c":{"d":"n"}},"a.c.d":"y"}"#, [3]),
            (#"{"a.c":{"d":"y"},"a":{"b":"x"}}"#, [0, 3]),
            (#"{"a":{"b":"q"},"a.b":"x"}"#, [0]),
            // A key that extends a segment is not that segment, dotted or not.
            (#"{"ab":"x","a.bb":"x","aa.b":"x"}"#, []),
            (#"{"networkInterfacesX.privateIpAddress":"10.0.0.1"}"#, []),
            (#"{"detail.instanceDetails.imageIdX":"ami-1"}"#, []),
        ])
    }

    /// A key repeated in one object: every occurrence is a leaf, before and after the others.
    @Test func repeatedKeysAreAllLeaves() throws {
        let table = try RouteTable(routes: [
            Self.route("severity", ["detail": ["severity": [["numeric": [">=", 8]]], "type": ["t"]]]),
        ])
        try RouteAnswers.check(table, [
            (#"{"detail":{"severity":2,"type":"t","severity":9}}"#, [0]),
            (#"{"detail":{"severity":9,"type":"t","severity":2}}"#, [0]),
            (#"{"detail":{"type":"x","severity":9,"type":"t"}}"#, [0]),
            (#"{"detail":{"type":"x","severity":9},"detail":{"type":"t"}}"#, [0]),
        ])
    }
}

/// Groups skipped in `step` when their path has no leaf (`TapeWalker.hasWork`): only groups
/// whose every condition needs a leaf there. A condition that holds on absence (`exists:
/// false`) keeps its group visited; a group after a state reached on another path (an account)
/// is skipped or visited by its own path's leaves, not by that state's.
@Suite struct LeaflessGroupMatcherTests {
    static func route(_ name: String, _ match: JSON) -> Route {
        Route(name: name, match: match, targets: [RouteTarget(connector: "sink")])
    }

    @Test func groupsWithoutLeavesAreSkippedUnlessAbsenceCounts() throws {
        let table = try RouteTable(routes: [
            Self.route("no-region", ["region": [["exists": false]]]),
            Self.route("account-no-region", ["account": ["1"], "region": [["exists": false]]]),
            Self.route("account-region-prefix", ["account": ["1"], "region": [["prefix": "eu-"]]]),
            Self.route("not-us", ["region": [["anything-but": ["us-east-1"]]]]),
            Self.route("cluster", ["name": [["wildcard": "*-prod-*"]]]),
            Self.route("account-severity", ["account": ["1"], "severity": [["numeric": [">", 5]]]]),
        ])
        try RouteAnswers.check(table, [
            (#"{"account":"1"}"#, [0, 1]),
            (#"{"account":"2"}"#, [0]),
            (#"{"account":"1","region":"eu-west-1"}"#, [2, 3]),
            (#"{"account":"1","region":"us-east-1","severity":7}"#, [5]),
            (#"{"account":"1","severity":7,"name":"a-prod-b"}"#, [0, 1, 4, 5]),
            (#"{"name":"a-prod-b","region":null}"#, [3, 4]),
            (#"{}"#, [0]),
        ])
    }
}
