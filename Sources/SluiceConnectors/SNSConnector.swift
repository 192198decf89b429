import SluiceAWS
import SluiceCore

/// `aws-sns`: publishes each finding to an Amazon SNS topic (`Publish`), for email, SMS,
/// Lambda or SQS subscribers; with `batch:`, ten at a time (`PublishBatch`), each entry
/// settled on its own.
///
/// Each message carries attributes describing the finding (`finding.severity` as a Number,
/// `finding.severity_label`, `finding.type`, `finding.account`, `finding.region`, `finding.id`,
/// `sluice.route`; `X-Sluice-Replay` when a dead-letter replay sends it), so subscription filter
/// policies can pick what they receive. On a FIFO topic
/// (`.fifo`) the message group and deduplication ids are the finding id: updates of one finding
/// stay in order, and a retried delivery is not published twice. A missing topic or a denied
/// publish is permanent; throttling and 5xx are retried.
///
/// ```yaml
/// name: security-alerts
/// type: aws-sns
/// topic_arn: arn:aws:sns:eu-west-1:111122223333:security-alerts   # required; gives the region
/// subject: true                    # "[High] <title>" as the Subject (email subscribers); default true
/// message_group_id: findings       # FIFO topics: one fixed group instead of one per finding
/// endpoint: http://127.0.0.1:5000  # optional override
/// batch: {max_items: 10, max_wait: 200ms}
/// ```
public final class SNSConnector: BatchingConnector {
    public struct Configuration: Sendable {
        var aws: AWSSettings
        var topicARN: String
        var subject: Bool
        var messageGroupID: String?
        var isFIFO: Bool { topicARN.hasSuffix(".fifo") }
    }

    /// PublishBatch's limits: 10 messages and 256 KB per call.
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
            _ = try await client.query(.sns, action: "Publish", parameters: [("TopicArn", configuration.topicARN)] + message(for: delivery))
        }
    }

    public func deliver(batch: [Delivery], completion: @escaping @Sendable ([DeliveryOutcome]) -> Void) {
        AWSConnectorSupport.attempt(batch: batch, completion: completion, maxItems: Self.maxEntries, maxBytes: Self.maxBytes,
                                    entry: { [self] in .success(message(for: $0)) },
                                    size: { $0.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count } }) { [self] (messages) async throws(AWSError) in
            var parameters = [("TopicArn", configuration.topicARN)]
            for (i, m) in messages.enumerated() {
                let prefix = "PublishBatchRequestEntries.member.\(i + 1)."
                parameters.append((prefix + "Id", String(i)))
                parameters += m.map { (prefix + $0.0, $0.1) }
            }
            return Self.batchOutcomes(try await client.query(.sns, action: "PublishBatch", parameters: parameters), count: messages.count)
        }
    }

    /// Per-entry results of PublishBatch (`Successful`, `Failed` with `SenderFault`).
    static func batchOutcomes(_ answer: XMLTree, count: Int) -> [DeliveryOutcome] {
        let successful = Set(answer.all("PublishBatchResult/Successful/member").compactMap { $0.text("Id") })
        var failed: [String: AWSConnectorSupport.EntryFailure] = [:]
        for f in answer.all("PublishBatchResult/Failed/member") {
            guard let id = f.text("Id") else { continue }
            failed[id] = .init(code: f.text("Code") ?? "Failed", message: f.text("Message") ?? "", senderFault: f.text("SenderFault") == "true")
        }
        return AWSConnectorSupport.outcomes(count: count, successful: successful, failed: failed)
    }

    /// One message's parameters, the same in Publish and in a PublishBatch entry (pure: tested without a server).
    func message(for delivery: Delivery) -> [(String, String)] {
        var p = [("Message", String(decoding: delivery.payload, as: UTF8.self))]
        if configuration.subject, let s = delivery.summary {
            p.append(("Subject", Self.subject("[\(s.severityLabel.rawValue)] \(s.title)")))
        }
        for (n, a) in FindingAttributes.of(delivery).enumerated() {
            let prefix = "MessageAttributes.entry.\(n + 1)"
            p += [("\(prefix).Name", a.name), ("\(prefix).Value.DataType", a.type), ("\(prefix).Value.StringValue", a.value)]
        }
        if configuration.isFIFO {
            let ids = AWSConnectorSupport.fifoIDs(delivery, fixedGroup: configuration.messageGroupID)
            p += [("MessageGroupId", ids.group), ("MessageDeduplicationId", ids.deduplication)]
        }
        return p
    }

    /// SNS subjects: under 100 characters, no line breaks or control characters.
    static func subject(_ text: String) -> String {
        let clean = String(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : Character($0) })
        return clean.count < 100 ? clean : String(clean.prefix(98)) + "…"
    }
}

extension SNSConnector: ConnectorType {
    public static let kind = "aws-sns"
    public static let summary = "publish findings to an Amazon SNS topic (FIFO topics grouped by finding)"
    public static let payloadFormat = PayloadFormat.json
    public static let usesSummary = true
    public static let supportsBatching = true

    public static func configuration(from r: MappingReader) -> Configuration? {
        let aws = AWSSettings.read(from: r)
        let topic = r.string("topic_arn", required: true)
        let subject = r.bool("subject") ?? true
        let group = r.string("message_group_id")
        guard var aws, let topic else { return nil }
        guard topic.hasPrefix("arn:"), topic.split(separator: ":").count == 6, let region = AWSConnectorSupport.region(ofARN: topic) else {
            r.report(r.at("topic_arn").error("topic_arn must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)"))
            return nil
        }
        if group != nil && !topic.hasSuffix(".fifo") {
            r.report(r.at("message_group_id").error("message_group_id is for FIFO topics (names ending in .fifo)"))
            return nil
        }
        if aws.region == nil { aws.region = region }
        return Configuration(aws: aws, topicARN: topic, subject: subject, messageGroupID: group)
    }

    public static func make(name: String, configuration: Configuration, context: ConnectorContext) throws -> any Connector {
        SNSConnector(configuration: configuration, client: try AWSConnectorSupport.client(configuration.aws, context: context))
    }
}
