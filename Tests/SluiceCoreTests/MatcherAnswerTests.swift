import Testing
@testable import SluiceCore

/// The answer is written into the scratch's buffer and copied out (`MatchScratch.selectedRoutes`):
/// answers longer than the buffer's first capacity (64 routes) grow it, a shorter answer after a
/// longer one holds only its own routes, an empty one is empty, and `stop` cuts the copy after
/// its route. One scratch serves every event, as on a decoding thread.
@Suite struct MatcherAnswerTests {
    /// Route i matches team "a" unless i is a multiple of three (then team "b").
    static func routes(count: Int, stopAt: Int? = nil) -> [Route] {
        (0..<count).map { i in
            Route(name: "r\(i)", match: ["team": [i % 3 == 0 ? "b" : "a"]], targets: [RouteTarget(connector: "sink")], stop: i == stopAt)
        }
    }

    @Test func longShortEmptyAndLongAgain() throws {
        let table = try RouteTable(routes: Self.routes(count: 300))
        let teamA = (0..<300).filter { $0 % 3 != 0 }  // 200 routes
        let teamB = (0..<300).filter { $0 % 3 == 0 }  // 100 routes
        try RouteAnswers.check(table, [
            (#"{"team":"a"}"#, teamA),
            (#"{"team":"b"}"#, teamB),
            (#"{"team":"c"}"#, []),
            (#"{"team":["b","a"]}"#, Array(0..<300)),
            (#"{"team":"a"}"#, teamA),
        ])
    }

    @Test func stopCutsTheAnswerAfterItsRoute() throws {
        // Route 151 (team "a") stops: the team-"a" routes up to it; team "b" never reaches it.
        let table = try RouteTable(routes: Self.routes(count: 300, stopAt: 151))
        try RouteAnswers.check(table, [
            (#"{"team":"a"}"#, (0...151).filter { $0 % 3 != 0 }),
            (#"{"team":"b"}"#, (0..<300).filter { $0 % 3 == 0 }),
            (#"{"team":["a","b"]}"#, Array(0...151)),
        ])
    }
}
