import SluiceAWS
import SluiceCore
import SluiceHTTP

/// `aws-sqs`: sends each finding to an Amazon SQS queue (`SendMessage`, JSON protocol), for
/// workers that pull at their own pace; with `batch:`, ten at a time (`SendMessageBatch`), each
/// entry settled on its own (failed for the sender's fault: permanent; for AWS's: retried).
///
/// Messages carry the same finding attributes as `aws-sns` (`finding.severity`, `finding.type`,
/// `finding.id`…, and `X-Sluice-Replay` when a dead-letter replay sends it). On a FIFO queue
/// (`.fifo`) the message group id and deduplication id are the finding id, so updates of one
/// finding are consumed in order and a retried send is dropped by SQS within its five-minute
/// deduplication window. A missing queue (`QueueDoesNotExist`) or a
/// denied send is permanent; throttling and 5xx are retried.
///
/// ```yaml
/// name: triage-queue
/// type: aws-sqs
/// queue_url: https://sqs.eu-west-1.amazonaws.com/111122223333/triage   # required; gives the region
/// message_group_id: findings       # FIFO queues: one fixed group instead of one per finding
/// delay_seconds: 0                 # standard queues: 0..900
/// endpoint: http://127.0.0.1:5000  # optional override
/// batch: {max_items: 10, max_wait: 200ms}
/// ```
public final class SQSConnector: BatchingConnector {
    public struct Configuration: Sendable {
        var aws: AWSSettings
        var queueURL: String
        var messageGroupID: String?
        var delaySeconds: Int?
        var isFIFO: Bool { queueURL.hasSuffix(".fifo") }
    }

    /// SendMessageBatch's limits: 10 messages and 256 KB per call.
    static let maxEntries = 10
    static let maxBytes = 256 * 1024

    let configuration: Configuration
    let client: AWSClient

    init(configuration: Configuration, client: AWSClient) {
        self.configuration = configuration
        self.client = client
    }

    public func deliver(_ delivery: Delivery, completion: @escaping @Sendable (DeliveryOutcome) -> Void) {
        AWSConnectorSupport.attempt(completion) { [self] () async throws(AWSError) in
            _ = try await client.json(.sqs, operation: "SendMessage", body: request(for: delivery))
        }
    }

    public func deliver(batch: [Delivery], completion: @escaping @Sendable ([DeliveryOutcome]) -> Void) {
        AWSConnectorSupport.attempt(batch: batch, completion: completion, maxItems: Self.maxEntries, maxBytes: Self.maxBytes,
                                    entry: { [self] in .success(request(for: $0)) }, size: { $0.serialized().count }) { [self] (messages) async throws(AWSError) in
            let entries = JSONBuilder.array()
            for (i, m) in messages.enumerated() {
                m["QueueUrl"] = nil
                m["Id"] = .string(String(i))
                entries.append(m)
            }
            let answer = try await client.json(.sqs, operation: "SendMessageBatch", body: ["QueueUrl": .string(configuration.queueURL), "Entries": entries])
            return Self.batchOutcomes(answer, count: messages.count)
        }
    }

    /// Per-entry results of SendMessageBatch (`Successful`, `Failed` with `SenderFault`).
    static func batchOutcomes(_ answer: JSON, count: Int) -> [DeliveryOutcome] {
        let successful = Set((answer["Successful"]?.arrayValue ?? []).compactMap { $0["Id"]?.stringValue })
        var failed: [String: AWSConnectorSupport.EntryFailure] = [:]
        for f in answer["Failed"]?.arrayValue ?? [] {
            guard let id = f["Id"]?.stringValue else { continue }
            failed[id] = .init(code: f["Code"]?.stringValue ?? "Failed", message: f["Message"]?.stringValue ?? "", senderFault: f["SenderFault"]?.boolValue ?? false)
        }
        return AWSConnectorSupport.outcomes(count: count, successful: successful, failed: failed)
    }

    /// The SendMessage request for one delivery (pure: tested without a server).
    func request(for delivery: Delivery) -> JSONBuilder {
        let body: JSONBuilder = ["QueueUrl": .string(configuration.queueURL), "MessageBody": .string(String(decoding: delivery.payload, as: UTF8.self))]
        let attributes: JSONBuilder = .object()
        for a in FindingAttributes.of(delivery) {
            attributes[a.name] = ["DataType": .string(a.type), "StringValue": .string(a.value)]
        }
        body["MessageAttributes"] = attributes
        if configuration.isFIFO {
            let ids = AWSConnectorSupport.fifoIDs(delivery, fixedGroup: configuration.messageGroupID)
            body.put("MessageGroupId", ids.group)
            body.put("MessageDeduplicationId", ids.deduplication)
        } else if let delay = configuration.delaySeconds {
            body["DelaySeconds"] = .int(delay)
        }
        return body
    }

    /// The region in a queue URL: `sqs.<region>.amazonaws.com` or the legacy `<region>.queue.amazonaws.com`.
    static func region(ofQueueURL url: String) -> String? {
        guard let hostStart = url.range(of: "://")?.upperBound else { return nil }
        let host = url[hostStart...].prefix { $0 != "/" && $0 != ":" }
        let labels = host.split(separator: ".")
        if labels.count >= 4, labels[0] == "sqs" { return String(labels[1]) }
        if labels.count >= 4, labels[1] == "queue" { return String(labels[0]) }
        return nil
    }
}

extension SQSConnector: ConnectorType {
    public static let kind = "aws-sqs"
    public static let summary = "send findings to an Amazon SQS queue (FIFO queues grouped by finding)"
    public static let payloadFormat = PayloadFormat.json
    public static let usesSummary = true
    public static let supportsBatching = true

    public static func configuration(from r: MappingReader) -> Configuration? {
        let aws = AWSSettings.read(from: r)
        let url = r.string("queue_url", required: true)
        let group = r.string("message_group_id")
        let delay = r.int("delay_seconds", min: 0)
        guard var aws, let url else { return nil }
        guard let parsed = HTTPURL(url), parsed.pathSegments.filter({ !$0.isEmpty }).count >= 2 else {
            r.report((r.node["queue_url"] ?? r.node).error("queue_url must be a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)"))
            return nil
        }
        if group != nil && !url.hasSuffix(".fifo") {
            r.report(r.at("message_group_id").error("message_group_id is for FIFO queues (names ending in .fifo)"))
            return nil
        }
        if let delay, delay > 900 || url.hasSuffix(".fifo") {
            r.report(r.at("delay_seconds").error("delay_seconds is 0..900, for standard queues only (FIFO queues set it per queue)"))
            return nil
        }
        if aws.region == nil { aws.region = SQSConnector.region(ofQueueURL: url) }
        return Configuration(aws: aws, queueURL: url, messageGroupID: group, delaySeconds: delay)
    }

    public static func make(name: String, configuration: Configuration, context: ConnectorContext) throws -> any Connector {
        SQSConnector(configuration: configuration, client: try AWSConnectorSupport.client(configuration.aws, context: context))
    }
}
