import SluiceAWS
import SluiceCore

/// `aws-sqs`: sends each finding to an Amazon SQS queue (`SendMessage`, JSON protocol), for
/// workers that pull at their own pace.
///
/// Messages carry the same finding attributes as `aws-sns` (`finding.severity`, `finding.type`,
/// `finding.id`…). On a FIFO queue (`.fifo`) the message group id and deduplication id are the
/// finding id, so updates of one finding are consumed in order and a retried send is dropped by
/// SQS within its five-minute deduplication window. A missing queue (`QueueDoesNotExist`) or a
/// denied send is permanent; throttling and 5xx are retried.
///
/// ```yaml
/// name: triage-queue
/// type: aws-sqs
/// queue_url: https://sqs.eu-west-1.amazonaws.com/111122223333/triage   # required; gives the region
/// message_group_id: findings       # FIFO queues: one fixed group instead of one per finding
/// delay_seconds: 0                 # standard queues: 0..900
/// endpoint: http://127.0.0.1:5000  # optional override
/// ```
public final class SQSConnector: Connector {
    public struct Configuration: Sendable {
        var aws: AWSSettings
        var queueURL: String
        var messageGroupID: String?
        var delaySeconds: Int?
        var isFIFO: Bool { queueURL.hasSuffix(".fifo") }
    }

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

    /// The SendMessage request for one delivery (pure: tested without a server).
    func request(for delivery: Delivery) -> JSONBuilder {
        let body: JSONBuilder = ["QueueUrl": .string(configuration.queueURL), "MessageBody": .string(String(decoding: delivery.payload, as: UTF8.self))]
        let attributes: JSONBuilder = .object()
        for a in FindingAttributes.of(delivery) {
            attributes[a.name] = ["DataType": .string(a.type), "StringValue": .string(a.value)]
        }
        body["MessageAttributes"] = attributes
        if configuration.isFIFO {
            let id = delivery.findingID ?? delivery.summary?.id
            body.put("MessageGroupId", configuration.messageGroupID ?? id ?? "sluice")
            if let id, !id.isEmpty { body.put("MessageDeduplicationId", String(id.prefix(128))) }
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

    public static func configuration(from r: MappingReader) -> Configuration? {
        let aws = AWSSettings.read(from: r)
        let url = r.string("queue_url", required: true)
        let group = r.string("message_group_id")
        let delay = r.int("delay_seconds", min: 0)
        guard var aws, let url else { return nil }
        guard url.hasPrefix("https://") || url.hasPrefix("http://"), url.split(separator: "/").count >= 4 else {
            r.report(r.node("queue_url")!.error("queue_url must be a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)"))
            return nil
        }
        if group != nil && !url.hasSuffix(".fifo") {
            r.report(r.node("message_group_id")!.error("message_group_id is for FIFO queues (names ending in .fifo)"))
            return nil
        }
        if let delay, delay > 900 || url.hasSuffix(".fifo") {
            r.report(r.node("delay_seconds")!.error("delay_seconds is 0..900, for standard queues only (FIFO queues set it per queue)"))
            return nil
        }
        if aws.region == nil { aws.region = SQSConnector.region(ofQueueURL: url) }
        return Configuration(aws: aws, queueURL: url, messageGroupID: group, delaySeconds: delay)
    }

    public static func make(name: String, configuration: Configuration, context: ConnectorContext) throws -> any Connector {
        SQSConnector(configuration: configuration, client: try AWSConnectorSupport.client(configuration.aws, context: context))
    }
}
