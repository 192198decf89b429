import SluiceAWS
import SluiceCore

/// `aws-eventbridge`: puts each finding on an EventBridge event bus (`PutEvents`), where rules
/// route it on (Lambda, Step Functions, another account's bus).
///
/// A payload in an EventBridge envelope (a GuardDuty event from Kafka) is unwrapped: its
/// `detail` becomes the event's Detail and its `detail-type` the DetailType unless one is
/// configured, so rules written for GuardDuty's own events (`detail.severity`, `detail.type`)
/// work unchanged; the finding ARN goes into Resources. Any other JSON object is sent as the
/// Detail. `PutEvents` answers per entry: entries failing with `InternalFailure` or
/// `ThrottlingException` are retried, others (`MalformedDetail`, `NotAuthorizedForSourceException`…)
/// are permanent, one by one. Batches hold at most 10 entries and 256 KB. A replayed finding's
/// Detail carries `"sluice-replay": "<name>"` (`ReplayMarking`), a live one never does.
///
/// ```yaml
/// name: security-bus
/// type: aws-eventbridge
/// event_bus: security-findings     # name or ARN; default: the account's default bus
/// source: sluice                   # the events' source; "aws." prefixes are AWS's own
/// detail_type: GuardDuty Finding   # default: the envelope's, else "Sluice Finding"
/// region: eu-west-1                # else from the bus ARN, AWS_REGION, the profile
/// endpoint: http://127.0.0.1:5000  # optional override
/// batch: {max_items: 10, max_wait: 500ms}
/// ```
public final class EventBridgeConnector: BatchingConnector {
    public struct Configuration: Sendable {
        var aws: AWSSettings
        var eventBus: String
        var source: String
        var detailType: String?
    }

    /// PutEvents' limits: 10 entries and 256 KB per call.
    static let maxEntries = 10
    static let maxBytes = 256 * 1024

    let configuration: Configuration
    let client: AWSClient

    init(configuration: Configuration, client: AWSClient) {
        self.configuration = configuration
        self.client = client
    }


    public func deliver(batch: [Delivery], completion: @escaping @Sendable ([DeliveryOutcome]) -> Void) {
        AWSConnectorSupport.attempt(batch: batch, completion: completion, maxItems: Self.maxEntries, maxBytes: Self.maxBytes,
                                    entry: { [self] in entry(for: $0) }, size: { $0.serialized().count }) { [client] (entries) async throws(AWSError) in
            let answer = try await client.json(.eventBridge, operation: "PutEvents", body: ["Entries": JSONBuilder.list(entries)])
            let results = answer["Entries"]?.arrayValue ?? []
            return entries.indices.map { Self.outcome(entry: $0 < results.count ? results[$0] : nil) }
        }
    }

    /// One result entry: an `EventId`, or an `ErrorCode` and `ErrorMessage`.
    static func outcome(entry: JSON?) -> DeliveryOutcome {
        guard let entry else { return .retryable("PutEvents answered without a result for this entry") }
        if let code = entry["ErrorCode"]?.stringValue, !code.isEmpty {
            return .rejectedEntry(code: code, message: entry["ErrorMessage"]?.stringValue ?? "")
        }
        return entry["EventId"] != nil ? .delivered : .retryable("PutEvents answered an entry with neither EventId nor ErrorCode")
    }

    /// The `PutEventsRequestEntry` for one delivery (pure: tested without a server).
    func entry(for delivery: Delivery) -> Result<JSONBuilder, PayloadRejection> {
        guard let event = try? JSON.parse(String(decoding: delivery.payload, as: UTF8.self)), event.objectValue != nil else {
            return .failure(PayloadRejection("EventBridge needs a JSON object as the event detail"))
        }
        let isEnvelope = event["detail"]?.objectValue != nil && event["detail-type"] != nil
        let detail = isEnvelope ? event["detail"] ?? event : event
        let entry: JSONBuilder = [
            "EventBusName": .string(configuration.eventBus),
            "Source": .string(configuration.source),
            "DetailType": .string(configuration.detailType ?? (isEnvelope ? event["detail-type"]?.stringValue : nil) ?? "Sluice Finding"),
            "Detail": .string(ReplayMarking.markedDetail(JSONBuilder(detail), replay: delivery.replay).text),
        ]
        var resources = (event["resources"]?.arrayValue ?? []).compactMap(\.stringValue)
        if resources.isEmpty, let arn = detail["arn"]?.stringValue { resources = [arn] }
        if !resources.isEmpty { entry["Resources"] = JSONBuilder(.array(resources.map(JSON.string))) }
        return .success(entry)
    }
}

extension EventBridgeConnector: ConnectorType {
    public static let kind = "aws-eventbridge"
    public static let summary = "put findings on an Amazon EventBridge event bus (PutEvents)"
    public static let payloadFormat = PayloadFormat.json
    public static let supportsBatching = true

    public static func configuration(from r: MappingReader) -> Configuration? {
        let aws = AWSSettings.read(from: r)
        let bus = r.string("event_bus") ?? "default"
        let source = r.string("source") ?? "sluice"
        let detailType = r.string("detail_type")
        var ok = true
        if source.isEmpty || source.hasPrefix("aws.") {
            r.report(r.at("source").error("source must be non-empty and must not start with 'aws.' (reserved for AWS services)"))
            ok = false
        }
        if let d = detailType, d.isEmpty || d.count > 128 {
            r.report(r.at("detail_type").error("detail_type must be 1 to 128 characters"))
            ok = false
        }
        guard ok, var aws else { return nil }
        if aws.region == nil, bus.hasPrefix("arn:") { aws.region = AWSConnectorSupport.region(ofARN: bus) }
        return Configuration(aws: aws, eventBus: bus, source: source, detailType: detailType)
    }

    public static func make(name: String, configuration: Configuration, context: ConnectorContext) throws -> any Connector {
        EventBridgeConnector(configuration: configuration, client: try AWSConnectorSupport.client(configuration.aws, context: context))
    }
}
