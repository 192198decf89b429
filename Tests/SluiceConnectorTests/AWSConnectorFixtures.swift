import Foundation
import Logging
import SluiceAWS
@testable import SluiceConnectors
import SluiceCore
import SluiceGuardDuty
import SluiceHTTP
import SluiceKafka
import SluiceTestSupport
import Testing

/// What the AWS connector tests share: sample findings as deliveries, connectors made from
/// YAML the way `sluice run` makes them, and moto calls to read the state afterwards.
enum AWSFixtures {
    /// The sample GuardDuty findings (examples/findings/*.json), in file order.
    static func findings() throws -> [(name: String, event: JSON, bytes: [UInt8])] {
        let dir = PackagePaths.root.appendingPathComponent("examples/findings")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }.sorted()
        return try files.map { file in
            let data = try Data(contentsOf: dir.appendingPathComponent(file))
            return (file, try JSON.parse(String(decoding: data, as: UTF8.self)), Array(data))
        }
    }

    /// A delivery as the lane hands it to a connector with no template: the event's bytes, its
    /// finding id as key, and the summary.
    static func delivery(_ bytes: [UInt8], route: String = "test-route") throws -> Delivery {
        let event = try JSON.parse(String(decoding: bytes, as: UTF8.self))
        let summary = FindingSummary(event: event)
        return Delivery(payload: bytes, key: summary.map { Array($0.id.utf8) }, findingID: summary?.id, route: route, summary: summary)
    }

    static func deliveries() throws -> [Delivery] { try findings().map { try delivery($0.bytes) } }

    /// Keys moto accepts (any do); static, so no developer credentials are ever used.
    static let credentialsYAML = """
        credentials:
          access_key_id: AKIDEXAMPLE
          secret_access_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
        """

    /// Loads one instance from YAML through `ConnectorLoader` and makes it live; the type's own
    /// connector (unwrapped from the secret scrubber) so tests can reach its internals.
    static func connector(_ yaml: String, http: HTTPClient, environment: [String: String] = [:]) throws -> any Connector {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("connector-\(UUID().uuidString.prefix(8)).yaml")
        try Data(yaml.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let definitions: [ConnectorDefinition]
        do { definitions = try ConnectorLoader.load(path: file.path, environment: environment) } catch {
            throw HarnessError("invalid connector YAML: \(error.items.map(\.description).joined(separator: "; "))")
        }
        let context = ConnectorContext(http: http, kafka: KafkaConfig(), environment: environment, logger: Logger(label: "test.aws"))
        return SecretScrubbingConnector.unwrap(try definitions[0].make(context: context))
    }

    /// Per call to moto: one Python process serving the whole suite one request at a time, at
    /// the test run's niceness; beside a benchmark a call was seen to take more than 10 s. The
    /// tests here check what is sent and how answers are classified, not the time moto takes.
    static let motoCallTimeout = 120

    /// An instance of `type` aimed at `endpoint` (moto, a receiver) with the test keys; `keys`
    /// are the type's own YAML lines.
    static func connector(_ type: String, _ keys: String, endpoint: String, http: HTTPClient) throws -> any Connector {
        try connector("name: test-\(type)\ntype: \(type)\nendpoint: \(endpoint)\ntimeout: \(motoCallTimeout)s\n\(keys)\n\(credentialsYAML)", http: http)
    }

    /// The diagnostics a YAML instance gets from `sluice validate`.
    static func problems(_ yaml: String) throws -> [String] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("connector-\(UUID().uuidString.prefix(8)).yaml")
        try Data(yaml.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        do {
            _ = try ConnectorLoader.load(path: file.path, environment: [:])
            return []
        } catch { return error.items.map(\.message) }
    }

    static func moto(_ moto: MotoServer, http: HTTPClient, region: String) -> AWSClient {
        AWSClient(region: region, credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: Secret("x"))),
                  http: http, endpoint: moto.endpoint, timeout: .seconds(motoCallTimeout))
    }

    /// Creates a queue and returns its URL and ARN.
    static func queue(_ name: String, attributes: JSONBuilder = .object(), aws: AWSClient) async throws -> (url: String, arn: String) {
        let created = try await aws.json(.sqs, operation: "CreateQueue", body: ["QueueName": .string(name), "Attributes": attributes])
        let url = try #require(created["QueueUrl"]?.stringValue)
        let attrs = try await aws.json(.sqs, operation: "GetQueueAttributes", body: ["QueueUrl": .string(url), "AttributeNames": ["QueueArn"]])
        return (url, try #require(attrs.value(atPath: "Attributes.QueueArn")?.stringValue))
    }

    /// Every message in the queue (deleted as read), with all attributes. moto puts a message in
    /// the queue within the call that sends it (SQS, and SNS and EventBridge fan-out alike), so
    /// once the sends have returned, the first empty answer means the queue is drained: there is
    /// no deadline to miss, and a message too many is counted. No long poll: the test moto answers
    /// one request at a time (scripts/receivers/moto_server.py).
    static func drain(_ url: String, aws: AWSClient) async throws -> [JSON] {
        var out: [JSON] = []
        while true {
            let answer = try await aws.json(.sqs, operation: "ReceiveMessage", body: [
                "QueueUrl": .string(url), "MaxNumberOfMessages": 10,
                "MessageAttributeNames": ["All"], "MessageSystemAttributeNames": ["All"], "AttributeNames": ["All"],
            ])
            let messages = answer["Messages"]?.arrayValue ?? []
            if messages.isEmpty { return out }
            for m in messages {
                out.append(m)
                if let handle = m["ReceiptHandle"]?.stringValue {
                    _ = try await aws.json(.sqs, operation: "DeleteMessage", body: ["QueueUrl": .string(url), "ReceiptHandle": .string(handle)])
                }
            }
        }
    }

    // Awaiting attempts (names kept inside AWSFixtures so other test files can define their own).

    static func attempt(_ connector: any Connector, _ delivery: Delivery) async -> DeliveryOutcome {
        await withCheckedContinuation { k in connector.deliver(delivery) { k.resume(returning: $0) } }
    }

    static func attempt(_ connector: any Connector, batch: [Delivery]) async throws -> [DeliveryOutcome] {
        let batching = try #require(connector as? any BatchingConnector)
        return await withCheckedContinuation { k in batching.deliver(batch: batch) { k.resume(returning: $0) } }
    }

    /// "delivered", "retryable" or "permanent", for compact expectations.
    static func kind(_ outcome: DeliveryOutcome) -> String {
        switch outcome {
        case .delivered: return "delivered"
        case .retryable: return "retryable"
        case .permanent: return "permanent"
        }
    }

    static func message(_ outcome: DeliveryOutcome) -> String {
        switch outcome {
        case .delivered: return "delivered"
        case .retryable(let m, _), .permanent(let m): return m
        }
    }
}
