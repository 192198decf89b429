import Foundation
import SluiceAWS
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

/// What the OCSF-out and replay-marking tests of the `kafka` and `aws-*` targets share: an AWS
/// client on moto and its queues, and the reviewed OCSF examples.
enum AWSTargets {
    static let region = "eu-north-1"

    /// Keys moto accepts (any do): static, so no developer credentials are ever used.
    static let credentialsYAML = "credentials: {access_key_id: AKIDEXAMPLE, secret_access_key: wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY}\n"

    /// Per call to moto, for the targets' `timeout:` and the tests' own client: moto is one Python
    /// process serving the whole suite one request at a time, at the test run's niceness, and
    /// beside a benchmark a call was seen to take more than 10 s. A send that timed out is sent
    /// again (at-least-once), and a target with few attempts then dead-letters a finding.
    static let motoCallTimeout = 120

    static func client(_ moto: MotoServer, http: HTTPClient) -> AWSClient {
        AWSClient(region: region, credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: Secret("x"))),
                  http: http, endpoint: moto.endpoint, timeout: .seconds(motoCallTimeout))
    }

    /// Creates a queue; returns its URL and ARN.
    static func queue(_ name: String, aws: AWSClient) async throws -> (url: String, arn: String) {
        let created = try await aws.json(.sqs, operation: "CreateQueue", body: ["QueueName": .string(name)])
        let url = try #require(created["QueueUrl"]?.stringValue)
        let attrs = try await aws.json(.sqs, operation: "GetQueueAttributes", body: ["QueueUrl": .string(url), "AttributeNames": ["QueueArn"]])
        return (url, try #require(attrs.value(atPath: "Attributes.QueueArn")?.stringValue))
    }

    /// An SNS topic with a new queue subscribed to it; returns the topic ARN and the queue URL.
    static func topicWithQueue(_ name: String, aws: AWSClient) async throws -> (topic: String, queue: String) {
        let created = try await aws.query(.sns, action: "CreateTopic", parameters: [("Name", name)])
        let topic = try #require(created.text("CreateTopicResult/TopicArn"))
        let queue = try await Self.queue(name, aws: aws)
        _ = try await aws.query(.sns, action: "Subscribe", parameters: [("TopicArn", topic), ("Protocol", "sqs"), ("Endpoint", queue.arn)])
        return (topic, queue.url)
    }

    /// An event bus whose rule sends events of `source` to a new queue; returns the bus and the queue URL.
    static func busWithQueue(_ name: String, source: String, aws: AWSClient) async throws -> (bus: String, queue: String) {
        _ = try await aws.json(.eventBridge, operation: "CreateEventBus", body: ["Name": .string(name)])
        let queue = try await Self.queue(name, aws: aws)
        _ = try await aws.json(.eventBridge, operation: "PutRule", body: [
            "Name": "to-queue", "EventBusName": .string(name), "EventPattern": .string(#"{"source": ["\#(source)"]}"#),
        ])
        _ = try await aws.json(.eventBridge, operation: "PutTargets", body: [
            "Rule": "to-queue", "EventBusName": .string(name), "Targets": [["Id": "queue", "Arn": .string(queue.arn)]],
        ])
        return (name, queue.url)
    }

    /// Receives (and deletes) messages with all their attributes until `count` arrived; the
    /// deadline only bounds a failure. No long poll: the test moto answers one request at a time
    /// (scripts/receivers/moto_server.py), so the wait between empty answers is spent here.
    static func receive(_ url: String, count: Int, aws: AWSClient, timeout: Double = 120) async throws -> [JSON] {
        var out: [JSON] = []
        let deadline = ContinuousClock.now + .seconds(timeout)
        while out.count < count && ContinuousClock.now < deadline {
            let answer = try await aws.json(.sqs, operation: "ReceiveMessage", body: [
                "QueueUrl": .string(url), "MaxNumberOfMessages": 10, "MessageAttributeNames": ["All"],
            ])
            let messages = answer["Messages"]?.arrayValue ?? []
            if messages.isEmpty { try await Task.sleep(for: .milliseconds(200)) }
            for m in messages {
                out.append(m)
                if let handle = m["ReceiptHandle"]?.stringValue {
                    _ = try await aws.json(.sqs, operation: "DeleteMessage", body: ["QueueUrl": .string(url), "ReceiptHandle": .string(handle)])
                }
            }
        }
        return out
    }
}

/// OCSF out end to end on the other targets that offer it (docs/formats.md §10): one offline
/// `sluice run` of every input format to a `kafka` target on Tansu and to `aws-sqs`,
/// `aws-sns` and `aws-eventbridge` targets on moto, all with `format: ocsf`. What each target's
/// consumer reads back is a Detection Finding equal to the reviewed files in examples/ocsf-out
/// (compared as the webhook test compares them), and every one validates against the schema.
@Suite(.serialized) struct OCSFTargetsTests {
    static let examples = ["01-ec2-cryptominer.json", "asff-02-inspector-ecr-critical-cve.json", "ocsf-02-edr-detection-critical-1.1.json",
                           "falco-01-k8s-terminal-shell-sidekick.json"]

    @Test func kafkaSQSSNSAndEventBridgeTargetsCarryTheReviewedDetectionFindings() async throws {
        try await withRunHarness { harness in
            let broker = try await harness.broker(topics: ["ocsf-out"])
            let moto = try await MotoServer.startShared()
            let http = HTTPClient()
            harness.onStopOffPool { http.shutdown() }
            let aws = AWSTargets.client(moto, http: http)
            let suffix = UUID().uuidString.prefix(8).lowercased()
            let sqs = try await AWSTargets.queue("ocsf-sqs-\(suffix)", aws: aws)
            let sns = try await AWSTargets.topicWithQueue("ocsf-sns-\(suffix)", aws: aws)
            let bus = try await AWSTargets.busWithQueue("ocsf-bus-\(suffix)", source: "sluice.ocsf", aws: aws)
            let awsKeys = "endpoint: \(moto.endpoint)\nregion: \(AWSTargets.region)\nformat: ocsf\ntimeout: \(AWSTargets.motoCallTimeout)s\n"
                + AWSTargets.credentialsYAML
            let config = try harness.config(files: [
                "routes/all.yaml": """
                    name: every-format
                    match: {"sluice": {"format": ["guardduty", "asff", "ocsf", "falco"]}}
                    targets: [archive, triage, alerts, bus]
                    """,
                "connectors/archive.yaml": "name: archive\ntype: kafka\ntopic: ocsf-out\nbrokers: \(broker.bootstrap)\nformat: ocsf\n",
                "connectors/triage.yaml": "name: triage\ntype: aws-sqs\nqueue_url: \(sqs.url)\n" + awsKeys,
                "connectors/alerts.yaml": "name: alerts\ntype: aws-sns\ntopic_arn: \(sns.topic)\n" + awsKeys,
                "connectors/bus.yaml": "name: bus\ntype: aws-eventbridge\nevent_bus: \(bus.bus)\nsource: sluice.ocsf\n" + awsKeys,
            ])
            let input = PackagePaths.root.appendingPathComponent("examples/findings-all-formats.ndjson")
            let run = try await CommandRun.result(of: SluiceProcess.binary, ["run", "--input", input.path, "--routes", config.routes,
                                                                             "--connectors", config.connectors, "--log-level", "error"])
            #expect(run.status == 0, "\(run.output.prefix(2000))")

            // What each target's consumer reads: the record value, the message body, the SNS
            // notification's Message, the EventBridge event's detail.
            let records = try await readTopic(broker, topic: "ocsf-out", expect: 27, timeout: 120)
            let kafka = try records.map { try JSON.parse(String(decoding: $0.value ?? [], as: UTF8.self)) }
            let queued = try await AWSTargets.receive(sqs.url, count: 27, aws: aws).map { try JSON.parse(#require($0["Body"]?.stringValue)) }
            let notifications = try await AWSTargets.receive(sns.queue, count: 27, aws: aws).map { try JSON.parse(#require($0["Body"]?.stringValue)) }
            let allNotificationsOfTheTopic = notifications.allSatisfy { $0["Type"]?.stringValue == "Notification" && $0["TopicArn"]?.stringValue == sns.topic }
            #expect(allNotificationsOfTheTopic)
            let published = try notifications.map { try JSON.parse(#require($0["Message"]?.stringValue)) }
            let events = try await AWSTargets.receive(bus.queue, count: 27, aws: aws).map { try JSON.parse(#require($0["Body"]?.stringValue)) }
            let allSluiceFindingEvents = events.allSatisfy { $0["source"]?.stringValue == "sluice.ocsf" && $0["detail-type"]?.stringValue == "Sluice Finding" }
            #expect(allSluiceFindingEvents)
            let details = try events.map { try #require($0["detail"]) }

            for (target, bodies) in [("kafka", kafka), ("aws-sqs", queued), ("aws-sns", published), ("aws-eventbridge", details)] {
                try Self.expectReviewedExamples(in: bodies, target: target)
                try await Self.expectSchemaValid(bodies, target: target)
            }
        }
    }

    /// 27 Detection Findings (one per finding; the custom action event holds two), and the four
    /// reviewed examples among them, equal member for member.
    static func expectReviewedExamples(in bodies: [JSON], target: String) throws {
        // One per finding; a send retried after a timeout on a loaded machine may leave a second
        // copy of one (at-least-once), so the findings are counted, not the messages.
        let uids = Set(bodies.compactMap { $0["finding_info"]?["uid"]?.stringValue })
        #expect(uids.count == 27 && bodies.count >= 27, "\(target): one message per finding (\(bodies.count) messages)")
        #expect(bodies.allSatisfy { $0["class_uid"] == 2004 && $0["type_uid"] == 200401 && $0["metadata"]?["version"] == "1.1.0" }, "\(target)")
        let byID = Dictionary(bodies.compactMap { b in b["finding_info"]?["uid"]?.stringValue.map { ($0, b) } }, uniquingKeysWith: { a, _ in a })
        for example in examples {
            let want = try JSON.parse(try String(contentsOf: PackagePaths.root.appendingPathComponent("examples/ocsf-out/\(example)"), encoding: .utf8))
            let id = try #require(want["finding_info"]?["uid"]?.stringValue)
            let got = try #require(byID[id], "\(target): \(example) not delivered")
            #expect(OCSFOutputTests.canonical(got) == OCSFOutputTests.canonical(want), "\(target), \(example): \(got.serialized())")
        }
    }

    /// Every body through the OCSF schema validator of examples/check-formats.py (as OCSFOutTests
    /// runs it), at the version each one declares.
    static func expectSchemaValid(_ bodies: [JSON], target: String) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-ocsf-\(target)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var files: [String] = []
        for (n, body) in bodies.enumerated() {
            let url = dir.appendingPathComponent("\(n).json")
            try Data(body.serialized().utf8).write(to: url)
            files.append(url.path)
        }
        let script = """
        import importlib.util, json, sys
        spec = importlib.util.spec_from_file_location("check_formats", sys.argv[1])
        cf = importlib.util.module_from_spec(spec); spec.loader.exec_module(cf)
        c = cf.Checker(True)
        if not (c.ocsf and c.jsonschema): print("validator missing"); sys.exit(2)
        for path in sys.argv[2:]:
            c.validate_ocsf(path, json.load(open(path, encoding="utf-8")))
        for e in c.errors: print("error:", e)
        print(c.counts, "errors", len(c.errors))
        sys.exit(1 if c.errors else 0)
        """
        let (status, text) = try await CommandRun.result(of: PackagePaths.root.appendingPathComponent(".tools/venv/bin/python"),
            ["-c", script, PackagePaths.root.appendingPathComponent("examples/check-formats.py").path] + files, in: PackagePaths.root)
        #expect(status == 0, "\(target): \(text.suffix(3000))")
        #expect(text.contains("errors 0"), "\(target): \(text.suffix(3000))")
    }
}
