import Foundation
import SluiceAWS
import SluiceCore
import SluiceHTTP
import SluiceKafka
import SluiceTestSupport
import Testing

/// `X-Sluice-Replay` on every transport a replay delivers through (README, "Marked"): a run whose
/// jira, servicenow, kafka and aws-sqs targets are all unreachable dead-letters every finding;
/// `sluice dlq replay` then delivers them to the same instances, reachable, and each target
/// carries the marker — every Jira and ServiceNow request (their contract receivers record
/// them), a Kafka record header, an SQS message attribute. A live delivery carries none.
@Suite(.serialized) struct ReplayMarkingTests {
    static let jiraEmail = "secops@example.com"
    static let jiraToken = "atl-TOKEN-replay-1234"
    static let snUser = "svc-sluice"
    static let snPassword = "sn-PASSWORD-replay"

    /// The four instances aimed at `jira`, `servicenow`, the brokers `kafka` and the AWS
    /// endpoint `aws`; secrets from files in `secrets`.
    static func connectors(jira: String, servicenow: String, kafka: String, aws: String, queue: String, secrets: URL) -> [String: String] {
        let retry = "timeout: 5s\nretry: {attempts: 2, backoff: 10ms, max_backoff: 20ms}\n"
        return [
            "jira.yaml": "name: tickets\ntype: jira\nurl: \(jira)\nproject: SEC\nemail: \(jiraEmail)\n"
                + "api_token: file:\(secrets.appendingPathComponent("jira").path)\n" + retry,
            "servicenow.yaml": "name: incidents\ntype: servicenow\nurl: \(servicenow)\nusername: \(snUser)\n"
                + "password: file:\(secrets.appendingPathComponent("servicenow").path)\n" + retry,
            // An unreachable broker fails a produce only at message.timeout.ms.
            "kafka.yaml": "name: archive\ntype: kafka\ntopic: archive\nbrokers: \(kafka)\nproperties: {message.timeout.ms: \"1500\"}\n" + retry,
            "sqs.yaml": "name: triage\ntype: aws-sqs\nqueue_url: \(queue)\nregion: \(AWSTargets.region)\nendpoint: \(aws)\n"
                + AWSTargets.credentialsYAML + retry,
        ]
    }

    @Test func aReplayMarksJiraServiceNowKafkaAndSQSDeliveriesAndLiveOnesAreNot() async throws {
        let harness = RunHarness()
        defer { harness.stop() }
        let broker = try await harness.broker(topics: ["findings", "dlq", "archive"])
        let jira = try await harness.receiver(vendor: "jira", options: ["flavor": "cloud", "email": Self.jiraEmail, "token": Self.jiraToken, "projects": "SEC"])
        let servicenow = try await harness.receiver(vendor: "servicenow", options: ["user": Self.snUser, "password": Self.snPassword, "token": "unused"])
        let moto = try await MotoServer.startShared()
        let http = HTTPClient()
        defer { http.shutdown() }
        let aws = AWSTargets.client(moto, http: http)
        let queue = try await AWSTargets.queue("replay-\(UUID().uuidString.prefix(8).lowercased())", aws: aws)

        let route = "name: all-findings\nmatch: {\"source\": [\"aws.guardduty\"]}\ntargets: [tickets, incidents, archive, triage]\n"
        let dead = "http://127.0.0.1:\(freeLoopbackPort())"  // nothing listens there
        var files = ["routes/all.yaml": route]
        let config = try harness.config(files: files)
        let secrets = config.directory
        try Self.jiraToken.write(to: secrets.appendingPathComponent("jira"), atomically: true, encoding: .utf8)
        try Self.snPassword.write(to: secrets.appendingPathComponent("servicenow"), atomically: true, encoding: .utf8)
        let unreachable = Self.connectors(jira: dead, servicenow: dead, kafka: "127.0.0.1:\(freeLoopbackPort())", aws: dead, queue: queue.url, secrets: secrets)
        let reachable = Self.connectors(jira: jira.url, servicenow: servicenow.url, kafka: broker.bootstrap, aws: moto.endpoint, queue: queue.url, secrets: secrets)
        files = [:]
        for (name, text) in unreachable { files["down/\(name)"] = text }
        for (name, text) in reachable { files["up/\(name)"] = text }
        for sub in ["down", "up"] { try FileManager.default.createDirectory(at: config.directory.appendingPathComponent(sub), withIntermediateDirectories: true) }
        for (path, text) in files { try text.write(to: config.directory.appendingPathComponent(path), atomically: true, encoding: .utf8) }
        let down = config.directory.appendingPathComponent("down").path
        let up = config.directory.appendingPathComponent("up").path

        // 1. Every target unreachable: 3 findings × 4 targets dead-lettered.
        let findings = try Findings.unique(4)
        try Findings.produce(Array(findings.prefix(3)), to: "findings", broker: broker)
        let sluice = try harness.sluice(["run", "--brokers", broker.bootstrap, "--topic", "findings", "--group", "replay-marking", "--dead-letter-topic", "dlq",
                                         "--routes", config.routes, "--connectors", down, "-X", "session.timeout.ms=6000", "--log-level", "error"])
        let letters = try await readTopic(broker, topic: "dlq", expect: 12, timeout: 180)
        #expect(letters.count == 12, "\(sluice.output.suffix(2000))")
        #expect(sluice.terminate() == 0)

        // 2. The replay, to the same instances now reachable.
        let replay = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "replay", "--name", "mark-1", "--brokers", broker.bootstrap,
                                                                            "--dead-letter-topic", "dlq", "--routes", config.routes, "--connectors", up])
        #expect(replay.status == 0, "\(replay.output)")
        #expect(replay.output.contains("12 delivered"), "\(replay.output)")
        let jiraCalls = try jira.records()
        let snCalls = try servicenow.records()
        #expect(jiraCalls.count >= 3 && snCalls.count >= 3, "a search and a create per finding")
        #expect(jiraCalls.allSatisfy { $0.header("X-Sluice-Replay") == "mark-1" }, "\(jiraCalls.map { "\($0.method) \($0.path) \($0.headers)" })")
        #expect(snCalls.allSatisfy { $0.header("X-Sluice-Replay") == "mark-1" }, "\(snCalls.map { "\($0.method) \($0.path)" })")
        #expect(try jira.violations() == [] && servicenow.violations() == [])
        let replayed = try await readTopic(broker, topic: "archive", expect: 3, timeout: 120)
        #expect(replayed.count == 3)
        #expect(replayed.allSatisfy { $0.headers == [KafkaHeader("X-Sluice-Replay", "mark-1")] }, "\(replayed.map(\.headers))")
        let messages = try await AWSTargets.receive(queue.url, count: 3, aws: aws)
        #expect(messages.count == 3)
        #expect(messages.allSatisfy { $0["MessageAttributes"]?["X-Sluice-Replay"]?["StringValue"]?.stringValue == "mark-1" }, "\(messages)")

        // 3. A live delivery of another finding: no marker anywhere.
        try await jira.reset()
        try await servicenow.reset()
        let input = config.directory.appendingPathComponent("live.ndjson")
        try Data(findings[3].bytes + [0x0A]).write(to: input)
        let live = try await CommandRun.result(of: SluiceProcess.binary, ["run", "--input", input.path, "--routes", config.routes, "--connectors", up,
                                                                          "--log-level", "error"])
        #expect(live.status == 0, "\(live.output.prefix(2000))")
        let liveJira = try jira.records()
        let liveSN = try servicenow.records()
        #expect(!liveJira.isEmpty && !liveSN.isEmpty)
        #expect(liveJira.allSatisfy { $0.header("X-Sluice-Replay") == nil } && liveSN.allSatisfy { $0.header("X-Sluice-Replay") == nil })
        let all = try await readTopic(broker, topic: "archive", expect: 4, timeout: 120)
        let liveRecord = try #require(all.first { $0.key == Array(findings[3].id.utf8) })
        #expect(liveRecord.headers.isEmpty)
        let liveMessages = try await AWSTargets.receive(queue.url, count: 1, aws: aws)
        #expect(liveMessages.count == 1)
        #expect(liveMessages.allSatisfy { $0["MessageAttributes"]?["X-Sluice-Replay"] == nil && $0["MessageAttributes"]?["sluice.route"] != nil })
    }
}
