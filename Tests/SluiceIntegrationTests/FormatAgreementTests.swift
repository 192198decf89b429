import Foundation
import SluiceCore
import SluiceTestSupport
import Testing

/// Issue 11.2 and 14: `run`, `test`, `test-pattern` and `backtest` read events through one
/// decoder, so they accept, reject, split and match the same records the same way. One route on
/// the normalised view (`sluice.severity_id >= 4`) over GuardDuty (enveloped and bare), ASFF
/// (a two-finding Security Hub event, a BatchImportFindings body), OCSF, Falco, a spoofed
/// `sluice` key, invalid UTF-8 and an oversized event. Expected values come from
/// examples/expected-views.json (written by hand from the vendors' documents).
@Suite struct FormatAgreementTests {
    static let pattern = #"{"sluice": {"severity_id": [{"numeric": [">=", 4]}]}}"#

    struct Input {
        var name: String
        var bytes: [UInt8]
        /// nil: rejected; else the ids of the findings that match.
        var matching: [String]?
    }

    static func line(_ file: String, _ n: Int) throws -> String {
        let text = try String(contentsOf: PackagePaths.root.appendingPathComponent("examples/\(file)"), encoding: .utf8)
        return String(text.split(separator: "\n")[n - 1])
    }

    static func inputs() throws -> [Input] {
        let bare = try #require(try JSON.parse(try line("findings.ndjson", 2))["detail"]).serialized()
        let spoofed = "{\"sluice\":{\"severity_id\":6,\"severity\":\"Fatal\"}," + (try line("findings-falco.ndjson", 5)).dropFirst()
        let invalid = Array(#"{"rule":"r","output":"bad "#.utf8) + [0xC3, 0x28] + Array(#"","priority":"Critical"}"#.utf8)
        let oversized = #"{"rule":"big","priority":"Critical","output":""# + String(repeating: "x", count: 1 << 20) + #""}"#
        return [
            Input(name: "guardduty enveloped (sev 8)", bytes: Array(try line("findings.ndjson", 1).utf8), matching: ["8f52f18d300e0ed86a90afe715053ba9"]),
            Input(name: "guardduty bare (sev 8)", bytes: Array(bare.utf8), matching: ["9f3c3626ef317c104cb75a28ed41ddbc"]),
            Input(name: "guardduty low (sev 2)", bytes: Array(try line("findings.ndjson", 9).utf8), matching: []),
            Input(name: "asff custom action, 2 findings (3, 2)", bytes: Array(try line("findings-asff.ndjson", 4).utf8), matching: []),
            Input(name: "asff batch import (4)", bytes: Array(try line("findings-asff.ndjson", 5).utf8),
                  matching: ["ci-image-scanner/payments-api/4.2.0/secret-aws-access-key"]),
            Input(name: "ocsf 2001 fatal (6)", bytes: Array(try line("findings-ocsf.ndjson", 3).utf8), matching: ["ocsf-2001-placeholder"]),
            Input(name: "falco critical (5)", bytes: Array(try line("findings-falco.ndjson", 3).utf8), matching: ["falco-03-placeholder"]),
            Input(name: "falco debug with a spoofed sluice key (1)", bytes: Array(spoofed.utf8), matching: []),
            Input(name: "invalid UTF-8", bytes: invalid, matching: nil),
            Input(name: "oversized", bytes: Array(oversized.utf8), matching: nil),
        ]
    }

    static func write(_ bytes: [UInt8], _ name: String, in dir: URL) throws -> URL {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    @Test func oneRouteOnTheViewMatchesAcrossAllFourFormats() async throws {
        // 14 of the 27 findings have severity_id >= 4 (expected-views.json: GuardDuty 5, ASFF 3,
        // OCSF 3, Falco 3).
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-view-route-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "name: high\nmatch: \(Self.pattern)\ntargets: [hook]\n".write(to: dir.appendingPathComponent("r.yaml"), atomically: true, encoding: .utf8)
        let input = PackagePaths.root.appendingPathComponent("examples/findings-all-formats.ndjson")
        let bt = try await CommandRun.result(of: SluiceProcess.binary, ["backtest", "--routes", dir.path, "--events", input.path])
        #expect(bt.status == 0, "\(bt.output)")
        #expect(bt.output.contains("events: 26 (0 not JSON or too long)"), "\(bt.output)")
        // The two-finding Security Hub event counts twice below: the command says why.
        #expect(bt.output.contains("findings: 27 (a record holding several"), "\(bt.output)")
        #expect(bt.output.contains("events matching at least one route: 14; matching none: 13"), "\(bt.output)")
    }

    /// test-pattern on a two-finding Security Hub event: stdout stays `true`/`false` (first),
    /// and stderr says which finding matched. Severities 3 and 2, in that order
    /// (examples/expected-views.json, asff/04).
    @Test func testPatternSaysWhichFindingOfASplitEventMatched() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-split-pattern-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let event = PackagePaths.root.appendingPathComponent("examples/findings/asff/04-custom-action-two-findings.json").path
        let cases: [(pattern: String, first: String, note: String)] = [
            (#"{"sluice": {"severity_id": [2]}}"#, "true", "matched: finding 2 of 2"),
            (#"{"sluice": {"severity_id": [{"numeric": [">=", 2]}]}}"#, "true", "matched: finding 1 of 2, finding 2 of 2"),
            (#"{"sluice": {"severity_id": [5]}}"#, "false", "matched: none"),
        ]
        for (i, c) in cases.enumerated() {
            let pattern = try Self.write(Array(c.pattern.utf8), "p\(i).json", in: dir)
            let tp = try await CommandRun.result(of: SluiceProcess.binary, ["test-pattern", "--pattern", pattern.path, "--event", event])
            let lines = tp.output.split(separator: "\n").map(String.init)
            #expect(tp.status == 0 && lines.first == c.first, "\(c.pattern): \(tp.output)")
            #expect(lines.dropFirst().first == "note: the event holds 2 findings, matched one by one as run delivers them; \(c.note)", "\(c.pattern): \(tp.output)")
        }
    }

    @Test func everyCommandAgreesOnEveryInput() async throws {
        var inputs = try Self.inputs()
        // The ids of the OCSF and Falco findings, as written by hand in expected-views.json.
        let expected = try JSON.parse(try String(contentsOf: PackagePaths.root.appendingPathComponent("examples/expected-views.json"), encoding: .utf8))
        inputs[5].matching = [try #require(expected["ocsf/03-security-finding-2001-fatal-1.0.json"]?.arrayValue?.first?["id"]?.stringValue)]
        inputs[6].matching = [try #require(expected["falco/03-k8s-drop-and-execute-critical.json"]?.arrayValue?.first?["id"]?.stringValue)]

        try await withRunHarness { harness in
            let (receiver, config) = try await harness.webhook(routes: """
            name: high-any-format
            match: \(Self.pattern)
            targets: [hook]
            """)
            let dir = config.directory
            let patternFile = try Self.write(Array(Self.pattern.utf8), "pattern.json", in: dir)

            // What `test` says the pass-through target gets, finding by finding: `run` must send exactly that.
            var previewed: [String] = []
            for (i, input) in inputs.enumerated() {
                let event = try Self.write(input.bytes, "event-\(i).json", in: dir)
                // test-pattern: true / false, exit 1 when rejected.
                let tp = try await CommandRun.result(of: SluiceProcess.binary, ["test-pattern", "--pattern", patternFile.path, "--event", event.path])
                // test: one report per finding.
                let t = try await CommandRun.result(of: SluiceProcess.binary, ["test", "--routes", config.routes, "--connectors", config.connectors,
                                                                   "--event", event.path, "--json"])
                if let matching = input.matching {
                    #expect(tp.status == 0 && tp.output.hasPrefix(matching.isEmpty ? "false" : "true"), "test-pattern, \(input.name): \(tp.output)")
                    #expect(t.status == 0, "test, \(input.name): \(t.output.prefix(300))")
                    let json = t.output.split(separator: "\n").last.map(String.init) ?? ""
                    let reports = (try? JSON.parse(json)).map { $0.arrayValue ?? [$0] } ?? []
                    let matched = reports.filter { ($0["matches"]?.arrayValue?.isEmpty ?? true) == false }.count
                    #expect(matched == matching.count, "test, \(input.name): \(t.output.prefix(300))")
                    previewed += reports.flatMap { ($0["matches"]?.arrayValue ?? []).flatMap { ($0["targets"]?.arrayValue ?? []).compactMap { $0["payload"]?.stringValue } } }
                } else {
                    #expect(tp.status == 1, "test-pattern, \(input.name): \(tp.output)")
                    #expect(t.status == 1, "test, \(input.name): \(t.output.prefix(300))")
                }
            }

            // backtest and run over all of them as one NDJSON history.
            let ndjson = try Self.write(inputs.flatMap { $0.bytes + [0x0A] }, "all.ndjson", in: dir)
            let wantMatched = inputs.compactMap(\.matching).map(\.count).reduce(0, +)
            let wantRejected = inputs.filter { $0.matching == nil }.count
            let bt = try await CommandRun.result(of: SluiceProcess.binary, ["backtest", "--routes", config.routes, "--events", ndjson.path])
            #expect(bt.status == 0, "backtest: \(bt.output)")
            #expect(bt.output.contains("(\(wantRejected) not JSON or too long)"), "backtest: \(bt.output)")
            #expect(bt.output.contains("events matching at least one route: \(wantMatched);"), "backtest: \(bt.output)")

            let run = try await CommandRun.result(of: SluiceProcess.binary, ["run", "--input", ndjson.path, "--routes", config.routes,
                                                                 "--connectors", config.connectors, "--log-level", "error"])
            let letters = run.output.split(separator: "\n").filter { $0.hasPrefix("{\"reason\"") }
            #expect(letters.count == wantRejected, "run: \(run.output.prefix(2000))")
            let invalidUTF8Letters = letters.filter { $0.contains("\"reason\":\"invalid_utf8\"") }
            #expect(invalidUTF8Letters.count == 1)
            let tooLargeLetters = letters.filter { $0.contains("\"reason\":\"too_large\"") }
            #expect(tooLargeLetters.count == 1)
            let matchingIDs = Set(inputs.compactMap(\.matching).flatMap { $0 })
            #expect(Set(try receiver.receivedFindingIDs()) == matchingIDs)
            #expect(try receiver.receivedFindingIDs().count == wantMatched)
            // The record as it came (a split record: its own finding), never with the view spliced in.
            #expect(previewed.count == wantMatched)
            #expect(try receiver.records().map(\.body).sorted() == previewed.sorted(), "test previews what run sends")
        }
    }
}

extension FormatAgreementTests {
    /// Issue 11.2, one configuration: `test`, `test-pattern` and `backtest` take `--config` (and
    /// `--topic`) as `run` does. A 2 MB Falco finding under `max_message_bytes: 4194304` is matched
    /// by all four (all rejected it but `run` before); without the configuration all four reject
    /// it. A GuardDuty finding read as a `format: falco` topic is rejected by every reader, and
    /// read as an `auto` topic it matches.
    @Test func everyCommandDecodesWithTheRunConfigurationsLimitsAndTopicFormat() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let config = try TestConfig.webhook(receiver.url)
            defer { config.remove() }
            try "name: high-any-format\nmatch: \(Self.pattern)\ntargets: [hook]\n"
                .write(to: URL(fileURLWithPath: config.routes).appendingPathComponent("all.yaml"), atomically: true, encoding: .utf8)
            let dir = config.directory
            let sluiceYAML = dir.appendingPathComponent("sluice.yaml")
            try """
            max_message_bytes: 4194304
            topics:
              - guardduty.findings
              - {topic: falco.alerts, format: falco}
            """.write(to: sluiceYAML, atomically: true, encoding: .utf8)
            let patternFile = try Self.write(Array(Self.pattern.utf8), "pattern.json", in: dir)
            // Falco priority Critical is severity_id 5 (docs/formats.md §4); 2 MB of output.
            let big = #"{"uuid":"big-falco-1","rule":"Big output","priority":"Critical","time":"2025-05-01T12:00:00Z","output":""#
                + String(repeating: "x", count: 2 << 20) + #""}"#
            let bigFile = try Self.write(Array(big.utf8), "big.json", in: dir)
            let guardDuty = try Self.write(Array(try Self.line("findings.ndjson", 1).utf8), "gd.json", in: dir)

            /// What test-pattern, test and backtest say of one file: matched (true), not matched (false) or rejected (nil).
            func verdicts(_ file: URL, _ reading: [String]) async throws -> [String: Bool?] {
                let tp = try await CommandRun.result(of: SluiceProcess.binary, ["test-pattern", "--pattern", patternFile.path, "--event", file.path] + reading)
                let t = try await CommandRun.result(of: SluiceProcess.binary, ["test", "--routes", config.routes, "--connectors", config.connectors,
                                                                               "--event", file.path, "--json"] + reading)
                let bt = try await CommandRun.result(of: SluiceProcess.binary, ["backtest", "--routes", config.routes, "--events", file.path, "--progress", "0"] + reading)
                let testMatched = t.status == 0 ? Optional(t.output.contains("\"high-any-format\"")) : nil
                let backtestMatched: Bool? = bt.output.contains("(1 not JSON or too long)") ? nil
                    : bt.output.contains("events matching at least one route: 1;")
                return ["test-pattern": tp.status == 1 ? nil : Optional(tp.output.hasPrefix("true")),
                        "test": t.status == 1 ? nil : testMatched,
                        "backtest": bt.status == 0 ? backtestMatched : nil]
            }
            let withConfig = ["--config", sluiceYAML.path]
            #expect(try await verdicts(bigFile, withConfig) == ["test-pattern": true, "test": true, "backtest": true])
            #expect(try await verdicts(bigFile, []) == ["test-pattern": nil, "test": nil, "backtest": nil])
            #expect(try await verdicts(guardDuty, withConfig + ["--topic", "falco.alerts"]) == ["test-pattern": nil, "test": nil, "backtest": nil])
            #expect(try await verdicts(guardDuty, withConfig + ["--topic", "guardduty.findings"]) == ["test-pattern": true, "test": true, "backtest": true])
            let unknown = try await CommandRun.result(of: SluiceProcess.binary, ["test-pattern", "--pattern", patternFile.path, "--event", guardDuty.path,
                                                                                 "--topic", "guardduty.findngs"] + withConfig)
            #expect(unknown.status == 1 && unknown.output.contains("guardduty.findngs is not a topic of"), "\(unknown.output)")

            // run, offline, with the same configuration: delivers the 2 MB finding; without it, too_large.
            let run = try await CommandRun.result(of: SluiceProcess.binary, ["run", "--config", sluiceYAML.path, "--input", bigFile.path,
                                                                             "--routes", config.routes, "--connectors", config.connectors, "--log-level", "error"])
            #expect(run.status == 0, "\(run.output.prefix(500))")
            #expect(try receiver.receivedFindingIDs() == ["big-falco-1"])
            let bare = try await CommandRun.result(of: SluiceProcess.binary, ["run", "--input", bigFile.path, "--routes", config.routes,
                                                                              "--connectors", config.connectors, "--log-level", "error"])
            #expect(bare.output.contains("\"reason\":\"too_large\""), "\(bare.output.prefix(500))")
        }
    }
}

/// OCSF out on a real webhook (docs/formats.md §10): `format: ocsf` sends every finding of every
/// input format as a Detection Finding; the reviewed examples come out exactly.
@Suite struct OCSFOutputTests {
    @Test func aWebhookWithFormatOCSFReceivesDetectionFindingsOfEveryFormat() async throws {
        try await withRunHarness { harness in
            let (receiver, config) = try await harness.webhook(extra: "format: ocsf\nretry: {attempts: 3, backoff: 50ms, max_backoff: 200ms}", routes: """
            name: every-format
            match: {"sluice": {"format": ["guardduty", "asff", "ocsf", "falco"]}}
            targets: [hook]
            """)
            let input = PackagePaths.root.appendingPathComponent("examples/findings-all-formats.ndjson")
            let run = try await CommandRun.result(of: SluiceProcess.binary, ["run", "--input", input.path, "--routes", config.routes,
                                                                 "--connectors", config.connectors, "--log-level", "error"])
            #expect(run.status == 0, "\(run.output.prefix(2000))")
            let bodies = try receiver.records().map { try JSON.parse($0.body) }
            #expect(bodies.count == 27, "one delivery per finding (the custom action event holds two)")
            let allDetectionFindings = bodies.allSatisfy { $0["class_uid"] == 2004 && $0["type_uid"] == 200401 && $0["metadata"]?["version"] == "1.1.0" }
            #expect(allDetectionFindings)
            let byID = Dictionary(bodies.compactMap { b in b["finding_info"]?["uid"]?.stringValue.map { ($0, b) } }, uniquingKeysWith: { a, _ in a })
            for example in ["01-ec2-cryptominer.json", "asff-02-inspector-ecr-critical-cve.json", "ocsf-02-edr-detection-critical-1.1.json",
                            "falco-01-k8s-terminal-shell-sidekick.json"] {
                let want = try JSON.parse(try String(contentsOf: PackagePaths.root.appendingPathComponent("examples/ocsf-out/\(example)"), encoding: .utf8))
                let id = try #require(want["finding_info"]?["uid"]?.stringValue)
                let got = try #require(byID[id], "\(example) not delivered")
                #expect(Self.canonical(got) == Self.canonical(want), "\(example): \(got.serialized())")
            }
        }
    }

    static func canonical(_ j: JSON) -> JSON {
        switch j {
        case .object(let m): return .object(m.sorted { $0.key < $1.key }.map { ($0.key, canonical($0.value)) })
        case .array(let a): return .array(a.map(canonical))
        default: return j
        }
    }
}

/// docs/formats.md §7: each finding of a split record is deduplicated and dead-lettered on its
/// own, saying which part.
@Suite struct SplitDeadLetterTests {
    @Test func eachPartIsDeduplicatedByItsOwnViewID() async throws {
        try await withRunHarness { harness in
            let (receiver, config) = try await harness.webhook(routes: """
            name: asff
            match: {"sluice": {"format": ["asff"]}}
            targets: [hook]
            dedupe: {key: [sluice.id], window: 1h}
            """)
            let split = try FormatAgreementTests.line("findings-asff.ndjson", 4)
            let input = config.directory.appendingPathComponent("twice.ndjson")
            try (split + "\n" + split + "\n").write(to: input, atomically: true, encoding: .utf8)
            let run = try await CommandRun.result(of: SluiceProcess.binary, ["run", "--input", input.path, "--routes", config.routes,
                                                                 "--connectors", config.connectors, "--log-level", "error"])
            #expect(run.status == 0, "\(run.output.prefix(2000))")
            // Two findings of different ids: both delivered once; the repeat of the record holds both.
            let want = try JSON.parse(try String(contentsOf: PackagePaths.root.appendingPathComponent("examples/expected-views.json"), encoding: .utf8))
            let ids = (want["asff/04-custom-action-two-findings.json"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
            #expect(ids.count == 2)
            #expect(try receiver.receivedFindingIDs().sorted() == ids.sorted(), "\(run.output.prefix(2000))")
        }
    }

    @Test func eachFailedPartIsDeadLetteredWithItsIndex() async throws {
        try await withRunHarness { harness in
            // 400 is permanent: each part is dead-lettered at once.
            let (receiver, config) = try await harness.webhook(status: 400, routes: """
            name: security-hub
            match: {"source": ["aws.securityhub"]}
            targets: [hook]
            """)
            let input = config.directory.appendingPathComponent("split.ndjson")
            try (try FormatAgreementTests.line("findings-asff.ndjson", 4) + "\n").write(to: input, atomically: true, encoding: .utf8)
            let run = try await CommandRun.result(of: SluiceProcess.binary, ["run", "--input", input.path, "--routes", config.routes,
                                                                 "--connectors", config.connectors, "--log-level", "error"])
            let letters = run.output.split(separator: "\n").filter { $0.hasPrefix("{\"reason\"") }.compactMap { try? JSON.parse(String($0)) }
            #expect(letters.count == 2, "\(run.output.prefix(2000))")
            let partIndices = Set(letters.compactMap { $0["part"]?["index"]?.doubleValue })
            #expect(partIndices == [0, 1])
            let allPermanentPartsOfTwo = letters.allSatisfy { $0["part"]?["count"] == 2 && $0["reason"] == "permanent_error" }
            #expect(allPermanentPartsOfTwo)
            #expect(try receiver.totalRequests() == 2, "one request per finding")
        }
    }
}

/// An inhibit rule that reads the view turns it on by itself: here no route reads `sluice`, and
/// the rule mutes lower-severity Falco alerts of a pod that just had a critical one.
@Suite struct ViewInhibitTests {
    static func falco(_ uuid: String, priority: String, pod: String, time: String) -> String {
        #"{"uuid":"\#(uuid)","rule":"r","priority":"\#(priority)","output":"o","time":"\#(time)","hostname":"n1","#
            + #""output_fields":{"k8s.ns.name":"shop","k8s.pod.name":"\#(pod)"}}"#
    }

    @Test func anInhibitRuleOnTheViewWorksWithoutARouteReadingIt() async throws {
        try await withRunHarness { harness in
            let (receiver, config) = try await harness.webhook(routes: """
            routes:
              - name: falco
                match: {"rule": [{"exists": true}]}
                targets: [hook]
            inhibit:
              - name: critical-pod-mutes-the-rest
                source: {"sluice": {"severity_id": [{"numeric": [">=", 5]}]}}
                target: {"sluice": {"severity_id": [{"numeric": ["<", 5]}]}}
                equal: [sluice.resource.id]
                for: 1h
            """)
            let input = config.directory.appendingPathComponent("falco.ndjson")
            try [Self.falco("a-critical", priority: "Critical", pod: "web-1", time: "2025-06-02T09:00:00Z"),
                 Self.falco("b-same-pod", priority: "Warning", pod: "web-1", time: "2025-06-02T09:00:10Z"),
                 Self.falco("c-other-pod", priority: "Warning", pod: "web-2", time: "2025-06-02T09:00:20Z")]
                .joined(separator: "\n").appending("\n").write(to: input, atomically: true, encoding: .utf8)
            let run = try await CommandRun.result(of: SluiceProcess.binary, ["run", "--input", input.path, "--routes", config.routes,
                                                                              "--connectors", config.connectors, "--log-level", "error"])
            #expect(run.status == 0, "\(run.output.prefix(2000))")
            #expect(try receiver.receivedFindingIDs().sorted() == ["a-critical", "c-other-pod"], "\(run.output.prefix(2000))")
        }
    }
}
