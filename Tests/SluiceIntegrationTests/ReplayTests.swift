import Foundation
import Logging
import SluiceKafka
import SluiceTestSupport
import Testing

/// `sluice dlq list` and `sluice dlq replay` through the real binary, a real Tansu broker and real
/// receivers: one route sends every finding to `hook` (failing) and `other` (healthy), so the
/// dead letters name `hook`, and a replay must go to `hook` only, once, whatever how often it runs.
@Suite(.serialized) struct ReplayTests {
    /// routes/all.yaml → [hook, other], each a webhook to its own receiver.
    static func config(_ harness: RunHarness, hook: String, other: String) throws -> TestConfig {
        var files = ["routes/all.yaml": """
            name: all-findings
            match: {"source": ["aws.guardduty"]}
            targets: [hook, other]
            """]
        for (name, url) in [("hook", hook), ("other", other)] {
            files["connectors/\(name).yaml"] = "name: \(name)\ntype: webhook\nurl: \(url)/\(name)\ntimeout: 2s\nretry: {attempts: 2, backoff: 10ms, max_backoff: 20ms}\n"
        }
        return try harness.config(files: files)
    }

    @Test func replayRedeliversToTheFailedTargetOnlyAndOnceAcrossReruns() async throws {
        try await withRunHarness { harness in
            let broker = try await harness.broker()
            let hook = try await harness.receiver(status: 503)
            let other = try await harness.receiver()
            let findings = try Findings.unique(5)
            try await Findings.publish(findings, to: "findings", broker: broker)
            let config = try Self.config(harness, hook: hook.url, other: other.url)
            let (routes, connectors) = (config.routes, config.connectors)
            let port = freeLoopbackPort()
            let sluice = try harness.sluice(["run", "--brokers", broker.bootstrap, "--topic", "findings", "--group", "replay", "--dead-letter-topic", "dlq",
                                             "--routes", routes, "--connectors", connectors, "-X", "session.timeout.ms=6000",
                                             "--log-level", "warning", "--metrics-listen", "127.0.0.1:\(port)"])
            #expect(try await waitForMetric(port: port, "sluice_dead_letters_total{reason=\"retries_exhausted\"}", atLeast: 5) == 5)
            #expect(await sluice.terminateAndWait() == 0)
            #expect(other.count == 5)

            try await hook.reset()
            try await hook.setStatus(204)
            let common = ["--brokers", broker.bootstrap, "--dead-letter-topic", "dlq", "--routes", routes, "--connectors", connectors]

            let list = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "list"] + common)
            #expect(list.status == 0, "\(list.output)")
            #expect(list.output.contains("5 dead letters (of 5 in dlq)"), "\(list.output)")
            #expect(list.output.contains("retries_exhausted: 5"), "\(list.output)")
            let none = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "list", "--connector", "other"] + common)
            #expect(none.output.contains("0 dead letters"), "\(none.output)")

            let dry = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "replay", "--name", "first", "--dry-run"] + common)
            #expect(dry.status == 0, "\(dry.output)")
            #expect(dry.output.contains("all-findings → hook"), "\(dry.output)")
            #expect(hook.count == 0, "a dry run delivers nothing")

            let first = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "replay", "--name", "first", "--rate", "50/s"] + common)
            #expect(first.status == 0, "\(first.output)")
            #expect(first.output.contains("replay first: 5/5 letters, 5 delivered, 0 already done, 0 failed, 0 skipped (finished)"), "\(first.output)")
            let replayed = try hook.records()
            #expect(replayed.count == 5)
            let replayNames = Set(replayed.compactMap { $0.header("X-Sluice-Replay") })
            #expect(replayNames == ["first"])
            let replayedIDs = Set(replayed.compactMap { $0.header("X-Sluice-Finding-Id") })
            let findingIDs = Set(findings.map(\.id))
            #expect(replayedIDs == findingIDs)
            #expect(other.count == 5, "the target that did not fail got nothing again")

            let again = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "replay", "--name", "first"] + common)
            #expect(again.status == 0, "\(again.output)")
            #expect(again.output.contains("0 delivered, 5 already done"), "\(again.output)")
            #expect(hook.count == 5, "running the same replay again delivers nothing twice")

            // --reroute: every target of every matching route, under another name.
            let rerouted = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "replay", "--name", "all", "--reroute"] + common)
            #expect(rerouted.status == 0, "\(rerouted.output)")
            #expect(hook.count == 10 && other.count == 10)
            let lastFiveMarkedAll = try other.records().suffix(5).allSatisfy { $0.header("X-Sluice-Replay") == "all" }
            #expect(lastFiveMarkedAll)
        }
    }

    @Test func aFailingReplayIsRecordedAndTheNextRunRetriesOnlyWhatFailed() async throws {
        try await withRunHarness { harness in
            let broker = try await harness.broker(topics: ["dlq"])
            let hook = try await harness.receiver(status: 503)
            let other = try await harness.receiver()
            // Dead letters as the router writes them (the header contract in the README), two of them.
            let findings = try Findings.unique(2)
            let producer = try KafkaProducer(config: broker.clientConfig(), logger: .init(label: "test"))
            for f in findings {
                try await producer.send(topic: "dlq", key: Array(f.id.utf8), value: f.bytes, headers: [
                    KafkaHeader("sluice-reason", "permanent_error"), KafkaHeader("sluice-route", "all-findings"),
                    KafkaHeader("sluice-connector", "hook"), KafkaHeader("sluice-attempts", "1"), KafkaHeader("sluice-failed-at", "2026-12-06T10:00:00Z"),
                ])
            }
            try await offPool { producer.close() }
            let config = try Self.config(harness, hook: hook.url, other: other.url)
            let common = ["--brokers", broker.bootstrap, "--dead-letter-topic", "dlq", "--routes", config.routes, "--connectors", config.connectors]
            let failing = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "replay", "--name", "retry-me"] + common)
            #expect(failing.status == 1, "failures exit 1: \(failing.output)")
            #expect(failing.output.contains("0 delivered, 0 already done, 2 failed"), "\(failing.output)")
            #expect(try hook.totalRequests() == 4, "two attempts each, as hook's retry policy says")

            try await hook.setStatus(204)
            let retried = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "replay", "--name", "retry-me"] + common)
            #expect(retried.status == 0, "\(retried.output)")
            #expect(retried.output.contains("2 delivered, 0 already done, 0 failed"), "\(retried.output)")
            #expect(hook.count == 2 && other.count == 0)

            // Time window: letters written before --since are left alone.
            let late = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "replay", "--name", "late", "--since", "2026-12-06T11:00:00Z"] + common)
            #expect(late.output.contains("replay late: 0/0 letters"), "\(late.output)")

            // Every other selection flag reaches the filter: each one that names what these letters
            // are keeps both, each that names something else keeps none (dry runs: nothing is sent).
            let selections: [(flags: [String], kept: Int)] = [
                (["--reason", "permanent_error", "--route", "all-findings", "--connector", "hook", "--until", "2026-12-06T11:00:00Z"], 2),
                (["--reason", "retries_exhausted"], 0),
                (["--route", "another-route"], 0),
                (["--connector", "other"], 0),
                (["--until", "2026-12-06T09:00:00Z"], 0),
                (["--filter", #"{"detail": {"id": ["\#(findings[0].id)"]}}"#], 1),
            ]
            for (i, selection) in selections.enumerated() {
                let dry = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "replay", "--name", "select-\(i)", "--dry-run"] + selection.flags + common)
                #expect(dry.status == 0, "\(selection.flags): \(dry.output)")
                #expect(dry.output.contains("replay select-\(i): \(selection.kept)/\(selection.kept) letters"), "\(selection.flags): \(dry.output)")
            }
            let one = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "replay", "--name", "select-5", "--dry-run"] + selections[5].flags + common)
            #expect(one.output.contains("finding=\(findings[0].id)") && !one.output.contains("finding=\(findings[1].id)"), "\(one.output)")
            #expect(hook.count == 2, "dry runs deliver nothing")
            let bad = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "replay", "--name", "a b"] + common)
            #expect(bad.status != 0 && bad.output.contains("--name"), "\(bad.output)")
        }
    }
}

/// A dead-lettered playbook run is not run again by a replay: the replay asks for a fresh
/// approval, once, and nothing acts until someone approves it.
@Suite(.serialized) struct PlaybookReplayTests {
    @Test func replayingAPlaybookLetterParksAFreshApprovalAndRunsNothing() async throws {
        try await withRunHarness { harness in
            let broker = try await harness.broker(topics: ["dlq", "sluice.approvals"])
            let soar = try await harness.receiver()
            let config = try harness.config(files: ["routes/case.yaml": """
                name: open-case
                match: {source: [aws.guardduty]}
                playbook:
                  - name: page-soar
                    action: http
                    params: {url: "\(soar.url)/cases", allow_loopback: true}
                """])
            let finding = try Findings.unique(1)[0]
            let producer = try KafkaProducer(config: broker.clientConfig(), logger: .init(label: "test"))
            try await producer.send(topic: "dlq", key: Array(finding.id.utf8), value: finding.bytes, headers: [
                KafkaHeader("sluice-reason", "retries_exhausted"), KafkaHeader("sluice-route", "open-case"),
                KafkaHeader("sluice-connector", "playbooks"), KafkaHeader("sluice-attempts", "3"),
            ])
            try await offPool { producer.close() }
            let common = ["--brokers", broker.bootstrap, "--dead-letter-topic", "dlq", "--routes", config.routes, "--connectors", config.connectors]
            let first = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "replay", "--name", "pb"] + common)
            #expect(first.status == 0, "\(first.output)")
            #expect(first.output.contains("0 delivered, 0 already done, 1 awaiting approval, 0 failed"), "\(first.output)")
            let listed = try await CommandRun.result(of: SluiceProcess.binary, ["approvals", "list", "--brokers", broker.bootstrap])
            #expect(listed.output.contains("open-case:\(finding.id):replay:pb  pending  step=page-soar"), "\(listed.output)")
            #expect(listed.output.contains("default=deny"), "\(listed.output)")
            let again = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "replay", "--name", "pb"] + common)
            #expect(again.output.contains("0 delivered, 1 already done"), "\(again.output)")
            let runs = try await CommandRun.result(of: SluiceProcess.binary, ["approvals", "list", "--all", "--brokers", broker.bootstrap])
            #expect(runs.output.components(separatedBy: ":replay:pb").count - 1 == 1, "one request, however often the replay runs: \(runs.output)")
            #expect(try soar.totalRequests() == 0, "nothing acts before an approval")
        }
    }
}

/// A dead letter names one finding of a split record (`sluice-part-index`): a replay decodes the
/// letter as the pipeline does and redelivers that finding alone, rendered from its own view.
@Suite(.serialized) struct SplitReplayTests {
    @Test func aSplitRecordsLetterReplaysItsFailedFindingAloneRenderedFromItsView() async throws {
        try await withRunHarness { harness in
            let broker = try await harness.broker(topics: ["dlq"])
            let hook = try await harness.receiver()
            let config = try harness.config(files: [
                "routes/hub.yaml": "name: hub\nmatch: {sluice: {format: [asff]}}\ntargets: [hook]\n",
                "connectors/hook.yaml": """
                    name: hook
                    type: webhook
                    url: \(hook.url)/hook
                    template: '{"id": "{{sluice.id}}", "title": "{{sluice.title}}"}'
                    """,
            ])
            // Security Hub's custom action with two GuardDuty findings; the second one failed.
            let record = try FormatAgreementTests.line("findings-asff.ndjson", 4)
            let producer = try KafkaProducer(config: broker.clientConfig(), logger: .init(label: "test"))
            try await producer.send(topic: "dlq", key: nil, value: Array(record.utf8), headers: [
                KafkaHeader("sluice-reason", "retries_exhausted"), KafkaHeader("sluice-route", "hub"), KafkaHeader("sluice-connector", "hook"),
                KafkaHeader("sluice-attempts", "3"), KafkaHeader("sluice-part-index", "1"), KafkaHeader("sluice-part-count", "2"),
            ])
            try await offPool { producer.close() }
            let common = ["--brokers", broker.bootstrap, "--dead-letter-topic", "dlq", "--routes", config.routes, "--connectors", config.connectors]
            let replay = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "replay", "--name", "split"] + common)
            #expect(replay.status == 0, "\(replay.output)")
            #expect(replay.output.contains("1 delivered, 0 already done"), "\(replay.output)")
            let id = "arn:aws:guardduty:us-east-1:111122223333:detector/2cb4e6f8a0c1d3e5f7a9b1c3d5e7f9a1/finding/24aa2d4ab3408ea7d42d27c6b0a6789f"
            let received = try hook.records()
            #expect(received.count == 1)
            #expect(received.first?.body == #"{"id": "\#(id)", "title": "198.51.100.201 is performing SSH brute force attacks against i-0f9e8d7c6b5a43210."}"#)
            #expect(received.first?.header("X-Sluice-Finding-Id") == id)
            #expect(received.first?.header("X-Sluice-Replay") == "split")
        }
    }
}

/// `sluice dlq replay --help` says where each transport carries the replay's mark, EventBridge's
/// Detail member included (it said "nowhere" after that marker had shipped).
@Suite struct ReplayHelpTests {
    @Test func theHelpNamesTheMarkOfEveryTransport() throws {
        let help = try CommandRun.run(SluiceProcess.binary, ["dlq", "replay", "--help"])
        #expect(help.status == 0, "\(help.output)")
        let text = help.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for mark in ["X-Sluice-Replay: NAME", "record header on kafka", "aws-sns and aws-sqs", "`sluice/replay: NAME` on aws-securityhub",
                     #"`replay="NAME"`"#, "cs6Label=sluiceReplay", #"aws-eventbridge (no headers or attributes) a top-level member `"sluice-replay": NAME`"#] {
            #expect(text.contains(mark), "missing \(mark): \(text)")
        }
        #expect(!text.contains("nowhere"), "\(text)")
    }
}
