import Testing
@testable import SluiceCore

/// Routes set in runs (`RouteRun`): a state's completing routes (`TapeWalker.setRoutes`, their
/// word bounds from the first and last, so `terminalRoutes` must be ascending per state) and a
/// tag state's exclusive children that are direct routes (`visitExclusive`, entering the others
/// in between). What could go wrong: the answer's bounds missing a word (a route lost), a route
/// twice in one run or set before by another entry listed twice, a run's registers overwritten
/// by an `enter` in the middle of it. Every expected answer is
/// derived by hand from the patterns; the brute-force reference must agree with it too.
@Suite struct RouteRunMatcherTests {
    static func route(_ name: String, _ match: JSON) -> Route {
        Route(name: name, match: match, targets: [RouteTarget(connector: "sink")])
    }

    @Test func terminalRoutesAscendPerState() throws {
        var routes: [Route] = []
        for k in 0..<300 {
            // Three broad patterns interleaved, so each state's routes span many words.
            switch k % 3 {
            case 0: routes.append(Self.route("role-\(k)", ["role": ["TARGET"], "archived": [false]]))
            case 1: routes.append(Self.route("twice-\(k)", ["$or": [["role": ["TARGET"], "archived": [false]], ["flag": [true]]]]))
            default: routes.append(Self.route("type-\(k)", ["type": [["prefix": "Recon:"]]]))
            }
        }
        let table = try RouteTable(routes: routes)
        let m = table.matcher
        for s in 0..<m.states.count {
            let state = m.states[s]
            let run = m.terminalRoutes[Int(state.terminalStart)..<Int(state.terminalEnd)]
            #expect(zip(run, run.dropFirst()).allSatisfy { $0 <= $1 }, "state \(s)")
        }
        let broad = (0..<300).filter { $0 % 3 != 2 }
        try RouteAnswers.check(table, [
            (#"{"role":"TARGET","archived":false}"#, broad),
            (#"{"role":"TARGET","archived":false,"flag":true,"type":"Recon:x"}"#, Array(0..<300)),
            (#"{"type":"Recon:x"}"#, (0..<300).filter { $0 % 3 == 2 }),
            (#"{"flag":true}"#, (0..<300).filter { $0 % 3 == 1 }),
            (#"{"role":"ACTOR"}"#, []),
        ])
    }

    /// A route whose two `$or` alternatives are one branch twice: both complete in one state.
    @Test func aRouteTwiceInOneRunIsCountedOnce() throws {
        let table = try RouteTable(routes: [
            Self.route("same-twice", ["$or": [["a": ["x"]], ["a": ["x"]]]]),
            Self.route("other", ["a": ["x"]]),
            Self.route("b", ["b": ["y"]]),
        ])
        try RouteAnswers.check(table, [
            (#"{"a":"x"}"#, [0, 1]),
            (#"{"a":"x","b":"y"}"#, [0, 1, 2]),
            (#"{"b":"y"}"#, [2]),
        ])
    }

    /// Tag routes (a key and an `anything-but` list of values) are direct exclusive children;
    /// routes with a condition after the tag are states entered in the middle of the run; an
    /// account route sets some of the same routes' words first.
    @Test func exclusiveRunsAroundEnteredStates() throws {
        var routes: [Route] = []
        for k in 0..<200 {
            let tags: JSON = ["key": ["team"], "value": [["anything-but": [.string("team\(k % 7)")]]]]
            switch k % 4 {
            case 0: routes.append(Self.route("tag-\(k)", ["tags": tags]))
            case 1: routes.append(Self.route("tag-region-\(k)", ["tags": tags, "region": ["eu"]]))
            case 2: routes.append(Self.route("account-\(k)", ["account": ["1"]]))
            default: routes.append(Self.route("tag-wild-\(k)", ["tags": tags, "name": [["wildcard": "*-prod"]]]))
            }
        }
        let table = try RouteTable(routes: routes)
        func expected(team: Int?, region: Bool, account: Bool, prod: Bool) -> [Int] {
            (0..<200).filter { k in
                switch k % 4 {
                case 0: return team.map { $0 != k % 7 } ?? false
                case 1: return region && (team.map { $0 != k % 7 } ?? false)
                case 2: return account
                default: return prod && (team.map { $0 != k % 7 } ?? false)
                }
            }
        }
        try RouteAnswers.check(table, [
            (#"{"tags":[{"key":"team","value":"team3"}]}"#, expected(team: 3, region: false, account: false, prod: false)),
            (#"{"tags":[{"key":"team","value":"team3"}],"region":"eu","account":"1","name":"a-prod"}"#,
             expected(team: 3, region: true, account: true, prod: true)),
            (#"{"tags":[{"key":"env","value":"team3"},{"key":"team","value":"team9"}],"region":"eu"}"#,
             expected(team: 9, region: true, account: false, prod: false)),
            (#"{"account":"1"}"#, expected(team: nil, region: false, account: true, prod: false)),
        ])
    }
}
