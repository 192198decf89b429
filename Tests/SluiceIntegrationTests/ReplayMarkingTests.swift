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
/// them), a Kafka record header, an SQS message attribute; the same for the targets without
/// headers: a Security Hub `ProductFields` entry (moto, read back with GetFindings) and, on a
/// real rsyslogd, an RFC 5424 SD-PARAM and a CEF custom string. A live delivery carries none.
@Suite(.serialized) struct ReplayMarkingTests {
    static let jiraEmail = "secops@example.com"
    static let jiraToken = "atl-TOKEN-replay-1234"
    static let snUser = "svc-sluice"
    static let snPassword = "sn-PASSWORD-replay"

    /// The retry of the targets on moto: its time per call (an unreachable endpoint refuses at once).
    static let motoRetry = "timeout: \(AWSTargets.motoCallTimeout)s\nretry: {attempts: 2, backoff: 10ms, max_backoff: 20ms}\n"

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
                + AWSTargets.credentialsYAML + Self.motoRetry,
        ]
    }

    /// The instances of `unreachable` under `down/` and those of `reachable` under `up/` of `config`; their paths.
    static func write(_ config: TestConfig, unreachable: [String: String], reachable: [String: String]) throws -> (down: String, up: String) {
        for (sub, set) in [("down", unreachable), ("up", reachable)] {
            let dir = config.directory.appendingPathComponent(sub)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for (name, text) in set { try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        }
        return (config.directory.appendingPathComponent("down").path, config.directory.appendingPathComponent("up").path)
    }

    /// 1. `sluice run` with the instances of `down` (every one unreachable) dead-letters each of
    /// `findings` once per target; 2. `sluice dlq replay` named `name` delivers them all to the
    /// same instances in `up`, reachable.
    static func deadLetterAndReplay(_ findings: [(id: String, bytes: [UInt8])], targets: Int, as name: String, harness: RunHarness,
                                    broker: TansuBroker, config: TestConfig, down: String, up: String) async throws {
        try await Findings.publish(findings, to: "findings", broker: broker)
        let sluice = try harness.sluice(["run", "--brokers", broker.bootstrap, "--topic", "findings", "--group", "replay-marking-\(name)",
                                         "--dead-letter-topic", "dlq", "--routes", config.routes, "--connectors", down,
                                         "-X", "session.timeout.ms=6000", "--log-level", "error"])
        let expected = findings.count * targets
        let letters = try await readTopic(broker, topic: "dlq", expect: expected, timeout: 180)
        #expect(letters.count == expected, "\(sluice.output.suffix(2000))")
        #expect(await sluice.terminateAndWait() == 0)

        let replay = try await CommandRun.result(of: SluiceProcess.binary, ["dlq", "replay", "--name", name, "--brokers", broker.bootstrap,
                                                                            "--dead-letter-topic", "dlq", "--routes", config.routes, "--connectors", up])
        #expect(replay.status == 0, "\(replay.output)")
        #expect(replay.output.contains("\(expected) delivered"), "\(replay.output)")
    }

    @Test func aReplayMarksJiraServiceNowKafkaAndSQSDeliveriesAndLiveOnesAreNot() async throws {
        try await withRunHarness { harness in
            let broker = try await harness.broker(topics: ["findings", "dlq", "archive"])
            let jira = try await harness.receiver(vendor: "jira", options: ["flavor": "cloud", "email": Self.jiraEmail, "token": Self.jiraToken, "projects": "SEC"])
            let servicenow = try await harness.receiver(vendor: "servicenow", options: ["user": Self.snUser, "password": Self.snPassword, "token": "unused"])
            let moto = try await MotoServer.startShared()
            let http = HTTPClient()
            harness.onStopOffPool { http.shutdown() }
            let aws = AWSTargets.client(moto, http: http)
            let queue = try await AWSTargets.queue("replay-\(UUID().uuidString.prefix(8).lowercased())", aws: aws)

            let route = "name: all-findings\nmatch: {\"source\": [\"aws.guardduty\"]}\ntargets: [tickets, incidents, archive, triage]\n"
            let dead = "http://127.0.0.1:\(freeLoopbackPort())"  // nothing listens there
            let config = try harness.config(files: ["routes/all.yaml": route])
            let secrets = config.directory
            try Self.jiraToken.write(to: secrets.appendingPathComponent("jira"), atomically: true, encoding: .utf8)
            try Self.snPassword.write(to: secrets.appendingPathComponent("servicenow"), atomically: true, encoding: .utf8)
            let (down, up) = try Self.write(config, unreachable: Self.connectors(jira: dead, servicenow: dead, kafka: "127.0.0.1:\(freeLoopbackPort())",
                                                                                 aws: dead, queue: queue.url, secrets: secrets),
                                            reachable: Self.connectors(jira: jira.url, servicenow: servicenow.url, kafka: broker.bootstrap,
                                                                       aws: moto.endpoint, queue: queue.url, secrets: secrets))

            // 1. and 2.: 3 findings × 4 targets dead-lettered, then replayed.
            let findings = try Findings.unique(4)
            try await Self.deadLetterAndReplay(Array(findings.prefix(3)), targets: 4, as: "mark-1", harness: harness, broker: broker, config: config, down: down, up: up)
            let jiraCalls = try jira.records()
            let snCalls = try servicenow.records()
            #expect(jiraCalls.count >= 3 && snCalls.count >= 3, "a search and a create per finding")
            let jiraMarked = jiraCalls.allSatisfy { $0.header("X-Sluice-Replay") == "mark-1" }
            let jiraShown = jiraCalls.map { "\($0.method) \($0.path) \($0.headers)" }
            #expect(jiraMarked, "\(jiraShown)")
            let snMarked = snCalls.allSatisfy { $0.header("X-Sluice-Replay") == "mark-1" }
            let snShown = snCalls.map { "\($0.method) \($0.path)" }
            #expect(snMarked, "\(snShown)")
            #expect(try jira.violations() == [] && servicenow.violations() == [])
            let replayed = try await readTopic(broker, topic: "archive", expect: 3, timeout: 120)
            #expect(replayed.count == 3)
            let kafkaMarked = replayed.allSatisfy { $0.headers == [KafkaHeader("X-Sluice-Replay", "mark-1")] }
            #expect(kafkaMarked, "\(replayed.map(\.headers))")
            let messages = try await AWSTargets.receive(queue.url, count: 3, aws: aws)
            // Each of the 3 findings, marked; a send retried after a timeout on the loaded machine may
            // leave a second copy of one (at-least-once), so the findings are counted, not the messages.
            let ids = Set(messages.compactMap { m in m["Body"]?.stringValue.flatMap { try? JSON.parse($0) }?.value(atPath: "detail.id")?.stringValue })
            #expect(ids == Set(findings.prefix(3).map(\.id)), "\(messages.count) messages")
            let sqsMarked = messages.allSatisfy { $0["MessageAttributes"]?["X-Sluice-Replay"]?["StringValue"]?.stringValue == "mark-1" }
            #expect(sqsMarked, "\(messages)")

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
            let liveJiraUnmarked = liveJira.allSatisfy { $0.header("X-Sluice-Replay") == nil }
            let liveSNUnmarked = liveSN.allSatisfy { $0.header("X-Sluice-Replay") == nil }
            #expect(liveJiraUnmarked && liveSNUnmarked)
            let all = try await readTopic(broker, topic: "archive", expect: 4, timeout: 120)
            let liveKafkaRecord = all.first { $0.key == Array(findings[3].id.utf8) }
            let liveRecord = try #require(liveKafkaRecord)
            #expect(liveRecord.headers.isEmpty)
            let liveMessages = try await AWSTargets.receive(queue.url, count: 1, aws: aws)
            #expect(liveMessages.count == 1)
            let liveSQSUnmarked = liveMessages.allSatisfy { $0["MessageAttributes"]?["X-Sluice-Replay"] == nil && $0["MessageAttributes"]?["sluice.route"] != nil }
            #expect(liveSQSUnmarked)
        }
    }

    /// Security Hub is called in a region of its own on the shared moto server, so no other
    /// suite's findings (same sample ARNs) overwrite the ones read back here.
    static let securityHubRegion = "ap-northeast-3"

    /// The three instances aimed at the AWS endpoint `aws` and a syslog receiver on TCP `syslogPort`.
    static func headerlessConnectors(aws: String, syslogPort: Int) -> [String: String] {
        let retry = "timeout: 5s\nretry: {attempts: 2, backoff: 10ms, max_backoff: 20ms}\n"
        let syslog = "type: syslog\nhost: 127.0.0.1\nport: \(syslogPort)\nprotocol: tcp\nhostname: sluice-test\n"
        return [
            "securityhub.yaml": "name: hub\ntype: aws-securityhub\nregion: \(securityHubRegion)\nendpoint: \(aws)\n"
                + "batch: {max_items: 10, max_wait: 50ms}\n" + AWSTargets.credentialsYAML + Self.motoRetry,
            "syslog.yaml": "name: siem\n" + syslog + retry,
            "cef.yaml": "name: siem-cef\n" + syslog + "format: cef\n" + retry,
        ]
    }

    /// Every Security Hub finding in `securityHubRegion` by its GuardDuty id (`ProductFields`), through GetFindings' pages.
    static func securityHubFindings(_ moto: MotoServer, http: HTTPClient) async throws -> [String: JSON] {
        let aws = AWSClient(region: securityHubRegion, credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: Secret("x"))),
                            http: http, endpoint: moto.endpoint, timeout: .seconds(AWSTargets.motoCallTimeout))
        var out: [String: JSON] = [:]
        var token: String?
        repeat {
            let body: JSONBuilder = ["MaxResults": 100]
            if let token { body["NextToken"] = .string(token) }
            let page = try await aws.rest(.securityHub, method: "POST", path: "/findings", body: body)
            for f in page["Findings"]?.arrayValue ?? [] {
                if let id = f["ProductFields"]?["guardduty/id"]?.stringValue { out[id] = f }
            }
            token = page["NextToken"]?.stringValue
        } while token?.isEmpty == false
        return out
    }

    @Test func aReplayMarksSecurityHubAndSyslogDeliveriesAndLiveOnesAreNot() async throws {
        try await withRunHarness { harness in
            let broker = try await harness.broker(topics: ["findings", "dlq"])
            let pki = try await TestPKI.make()
            harness.onStop { pki.remove() }
            let rsyslog = try await Rsyslog(pki: pki)
            harness.onStop({ rsyslog.stop() }, andWait: { await rsyslog.stopAndWait() })
            let moto = try await MotoServer.startShared()
            let http = HTTPClient()
            harness.onStopOffPool { http.shutdown() }

            let route = "name: all-findings\nmatch: {\"source\": [\"aws.guardduty\"]}\ntargets: [hub, siem, siem-cef]\n"
            let config = try harness.config(files: ["routes/all.yaml": route])
            // Nothing listens on either port: the AWS calls and the syslog connections are refused.
            let (down, up) = try Self.write(config, unreachable: Self.headerlessConnectors(aws: "http://127.0.0.1:\(freeLoopbackPort())", syslogPort: freeLoopbackPort()),
                                            reachable: Self.headerlessConnectors(aws: moto.endpoint, syslogPort: rsyslog.tcpPort))

            // 1. and 2.: 3 findings × 3 targets dead-lettered, then replayed.
            let findings = try Findings.unique(4)
            try await Self.deadLetterAndReplay(Array(findings.prefix(3)), targets: 3, as: "mark-2", harness: harness, broker: broker, config: config, down: down, up: up)
            let replayedIDs = findings.prefix(3).map(\.id)
            var hub = try await Self.securityHubFindings(moto, http: http)
            for id in replayedIDs {
                let f = try #require(hub[id], "\(id) is not in Security Hub: \(hub.keys.sorted())")
                let productFields = f["ProductFields"].map { "\($0)" } ?? "no ProductFields"
                #expect(f["ProductFields"]?["sluice/replay"]?.stringValue == "mark-2", "\(productFields)")
                #expect(f["ProductFields"]?["sluice/route"]?.stringValue == "all-findings")
            }
            let replayedLines = try await rsyslog.waitForMessages(6, timeout: .seconds(60))
            #expect(replayedLines.count == 6, "\(replayedLines)")
            let json = replayedLines.filter { $0["msg"]?.hasPrefix("{") == true }
            let cef = replayedLines.filter { $0["msg"]?.hasPrefix("CEF:0|") == true }
            #expect(json.count == 3 && cef.count == 3, "\(replayedLines)")
            for id in replayedIDs {
                let inJSON = json.contains { $0["sd"]?.contains("finding_id=\"\(id)\"") == true }
                #expect(inJSON, "no JSON message for \(id): \(json)")
                let inCEF = cef.contains { $0["msg"]?.contains("externalId=\(id)") == true }
                #expect(inCEF, "no CEF message for \(id): \(cef)")
            }
            let jsonMarked = replayedLines.allSatisfy { $0["sd"]?.hasSuffix(" route=\"all-findings\" replay=\"mark-2\"]") == true }
            let replayedSD = replayedLines.map { $0["sd"] ?? "" }
            #expect(jsonMarked, "\(replayedSD)")
            let cefMarked = cef.allSatisfy { $0["msg"]?.hasSuffix(" cs6Label=sluiceReplay cs6=mark-2") == true }
            let cefMessages = cef.map { $0["msg"] ?? "" }
            #expect(cefMarked, "\(cefMessages)")

            // 3. A live delivery of another finding: no marker anywhere.
            let input = config.directory.appendingPathComponent("live.ndjson")
            try Data(findings[3].bytes + [0x0A]).write(to: input)
            let live = try await CommandRun.result(of: SluiceProcess.binary, ["run", "--input", input.path, "--routes", config.routes, "--connectors", up,
                                                                              "--log-level", "error"])
            #expect(live.status == 0, "\(live.output.prefix(2000))")
            hub = try await Self.securityHubFindings(moto, http: http)
            let liveFinding = try #require(hub[findings[3].id], "the live finding is not in Security Hub")
            #expect(liveFinding["ProductFields"]?["sluice/route"]?.stringValue == "all-findings")
            let liveProductFields = liveFinding["ProductFields"].map { "\($0)" } ?? ""
            #expect(liveFinding["ProductFields"]?["sluice/replay"] == nil, "\(liveProductFields)")
            let all = try await rsyslog.waitForMessages(8, timeout: .seconds(60))
            let liveLines = all.filter { $0["sd"]?.contains("finding_id=\"\(findings[3].id)\"") == true }
            #expect(liveLines.count == 2, "\(all)")
            let liveJSONUnmarked = liveLines.allSatisfy { $0["sd"]?.hasSuffix(" route=\"all-findings\"]") == true }
            let liveSD = liveLines.map { $0["sd"] ?? "" }
            #expect(liveJSONUnmarked, "\(liveSD)")
            let liveCEFUnmarked = liveLines.allSatisfy { $0["msg"]?.contains("cs6") == false && $0["msg"]?.contains("sluiceReplay") == false }
            #expect(liveCEFUnmarked, "\(liveLines)")
        }
    }
}
