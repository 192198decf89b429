import Foundation
import SluiceCore
import SluiceTestSupport
import Testing

/// Issue 11.2's own case: a bare GuardDuty finding (no EventBridge envelope) was delivered by
/// `run` on a `detail.*` route while `test`, `backtest` and `test-pattern` said it matched nothing,
/// and the reverse for a route on the bare finding's top-level `type`. Every command now reads a
/// bare finding as EventBridge delivers it: `detail.*` matches it, a bare `type` matches nothing.
extension FormatAgreementTests {
    @Test func aBareFindingMatchesTheSameRoutesInEveryCommand() async throws {
        let enveloped = try Self.line("findings.ndjson", 1)  // CryptoCurrency:Runtime/BitcoinTool.B
        let bare = try #require(try JSON.parse(enveloped)["detail"]).serialized()
        try await withRunHarness { harness in
            let cases: [(name: String, pattern: String, matches: Bool)] = [
                ("detail.type", #"{"detail": {"type": [{"prefix": "CryptoCurrency:"}]}}"#, true),
                ("bare type", #"{"type": [{"prefix": "CryptoCurrency:"}]}"#, false),
            ]
            for c in cases {
                let (receiver, config) = try await harness.webhook(routes: "name: r\nmatch: \(c.pattern)\ntargets: [hook]\n")
                let dir = config.directory
                let event = try Self.write(Array(bare.utf8), "bare.json", in: dir)
                let patternFile = try Self.write(Array(c.pattern.utf8), "pattern.json", in: dir)
                let tp = try await CommandRun.result(of: SluiceProcess.binary, ["test-pattern", "--pattern", patternFile.path, "--event", event.path])
                #expect(tp.status == 0 && tp.output.hasPrefix(c.matches ? "true" : "false"), "test-pattern, \(c.name): \(tp.output)")
                let t = try await CommandRun.result(of: SluiceProcess.binary, ["test", "--routes", config.routes, "--connectors", config.connectors,
                                                                               "--event", event.path, "--json"])
                let report = try JSON.parse(t.output.split(separator: "\n").last.map(String.init) ?? "")
                #expect((report["matches"]?.arrayValue?.count ?? -1) == (c.matches ? 1 : 0), "test, \(c.name): \(t.output.prefix(300))")
                let ndjson = try Self.write(Array(bare.utf8) + [0x0A], "bare.ndjson", in: dir)
                let bt = try await CommandRun.result(of: SluiceProcess.binary, ["backtest", "--routes", config.routes, "--events", ndjson.path])
                #expect(bt.output.contains("events matching at least one route: \(c.matches ? 1 : 0);"), "backtest, \(c.name): \(bt.output)")
                let run = try await CommandRun.result(of: SluiceProcess.binary, ["run", "--input", ndjson.path, "--routes", config.routes,
                                                                                 "--connectors", config.connectors, "--log-level", "error"])
                #expect(run.status == 0, "run, \(c.name): \(run.output.prefix(500))")
                #expect(try receiver.receivedFindingIDs() == (c.matches ? ["8f52f18d300e0ed86a90afe715053ba9"] : []), "run, \(c.name)")
            }
        }
    }
}
