import Testing
@testable import SluiceCore

/// The automaton root's whole-value conditions (an account, a type, a severity, a flag) are
/// served from the atom table during the walk: one probe per leaf gives its atom and the root's
/// posting list for it, and the postings are entered at the start of the step, once every leaf
/// is recorded. What could go wrong: a path with several leaves (the state must not be taken for
/// "entered once"), an evaluated condition or an array-consistency check that reads a leaf the
/// walk records after the root's value, numbers and literals (looked up by their word), and a
/// root path that also has prefixes or ranges (still looked up in the root's visit). Every
/// expected answer is written out by hand from EventBridge's rules; the brute-force reference
/// must agree with it too.
@Suite struct RootValueTableTests {
    static func route(_ name: String, _ match: JSON) -> Route {
        Route(name: name, match: match, targets: [RouteTarget(connector: "sink")])
    }

    static func check(_ routes: [Route], _ cases: [(event: String, expected: [Int])]) throws {
        try RouteAnswers.check(try RouteTable(routes: routes), cases)
    }

    /// Root values on a path with several leaves (an array of accounts): each value's states
    /// are entered, a value repeated in the array matches its route once.
    @Test func severalLeavesAtARootPath() throws {
        let routes = [Self.route("a1", ["account": ["111"]]), Self.route("a2", ["account": ["222"]]), Self.route("a3", ["account": ["333"]])]
        try Self.check(routes, [
            (#"{"account":["111","222"]}"#, [0, 1]),
            (#"{"account":["222","222","222"]}"#, [1]),
            (#"{"account":"333"}"#, [2]),
            (#"{"account":["444"],"other":"111"}"#, []),
        ])
    }

    /// A root value whose route goes on to a condition evaluated on a leaf the walk records
    /// after it (the `anything-but` on `z`, written after or before `a` in the document).
    @Test func laterConditionsSeeLeavesRecordedAfterTheRootValue() throws {
        let routes = [Self.route("a-not-q", ["a": ["x"], "z": [["anything-but": ["q"]]]])]
        try Self.check(routes, [
            (#"{"a":"x","z":"w"}"#, [0]),
            (#"{"a":"x","z":"q"}"#, []),
            (#"{"z":"w","a":"x"}"#, [0]),
            (#"{"z":"q","a":"x"}"#, []),
            (#"{"a":"x"}"#, []),  // anything-but needs the field to be there
        ])
    }

    /// A root value in an array element, with a second field in the same element: the
    /// consistency check must see the whole event (the elements after the root value's).
    @Test func arrayConsistencyAfterARootValue() throws {
        let routes = [Self.route("k1-v2", ["items": ["k": ["1"], "v": ["2"]]]), Self.route("k1", ["items": ["k": ["1"]]])]
        try Self.check(routes, [
            (#"{"items":[{"k":"1","v":"2"}]}"#, [0, 1]),
            (#"{"items":[{"k":"1","v":"9"},{"k":"9","v":"2"}]}"#, [1]),
            (#"{"items":[{"k":"9","v":"2"},{"k":"1","v":"2"}]}"#, [0, 1]),
        ])
    }

    /// Numbers (integer and floating forms of one value), booleans and null at the root.
    @Test func numbersAndLiteralsAtTheRoot() throws {
        let routes = [Self.route("sev5", ["severity": [5]]), Self.route("flag", ["flag": [true]]), Self.route("none", ["n": [nil]])]
        try Self.check(routes, [
            (#"{"severity":5,"flag":true,"n":null}"#, [0, 1, 2]),
            (#"{"severity":5.0,"flag":false,"n":"null"}"#, [0]),
            (#"{"severity":5.5,"flag":"true","n":0}"#, []),
        ])
    }

    /// One root path with exact values, a prefix, a numeric range and an `anything-but`: the
    /// exact values come from the walk, the rest from the root's visit of the same path.
    @Test func aRootPathWithValuesPrefixesAndRanges() throws {
        let routes = [
            Self.route("abc", ["t": ["abc"]]),
            Self.route("ab-prefix", ["t": [["prefix": "ab"]]]),
            Self.route("over-3", ["t": [["numeric": [">", 3]]]]),
            Self.route("not-abc", ["t": [["anything-but": ["abc"]]]]),
        ]
        try Self.check(routes, [
            (#"{"t":"abc"}"#, [0, 1]),
            (#"{"t":"abd"}"#, [1, 3]),
            (#"{"t":4}"#, [2, 3]),
            (#"{"t":["abc",2]}"#, [0, 1, 3]),
            (#"{"u":"abc"}"#, []),
        ])
    }

    /// The same value at a root path and below another state (`b = 2` then `a = 1`, and `a = 1`
    /// alone): the leaf's atom found in the walk serves the inner group too.
    @Test func aRootValueAlsoLookedUpBelowTheRoot() throws {
        var routes = [Self.route("a1", ["a": ["1"]])]
        // Many distinct `b` values make `b` the more selective field: `b = 2, a = 1` leads with `b`.
        for n in 0..<20 { routes.append(Self.route("b\(n)-a1", ["b": [.string("\(n)")], "a": ["1"]])) }
        try Self.check(routes, [
            (#"{"a":"1","b":"2"}"#, [0, 3]),
            (#"{"b":"2","a":"2"}"#, []),
            (#"{"b":"19","a":"1"}"#, [0, 20]),
        ])
    }
}
