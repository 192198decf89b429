import SluiceCore
import SluiceHTTP

/// Marks what a replay delivers, once per transport, so no connector has to remember:
/// - HTTP: `X-Sluice-Replay: NAME` on every request made for the delivery, through
///   `RequestMarking` (`ReplayMarkingConnector` sets it around each attempt of every connector);
/// - Kafka: a record header of the same name (`KafkaConnector`, the one producer of findings);
/// - SNS and SQS: a message attribute of the same name (`FindingAttributes`, shared by both);
/// - Security Hub: a `ProductFields` entry `sluice/replay: NAME` in each imported ASFF finding
///   (`marked(_:replay:)`, called by `SecurityHubConnector.asff(for:)`);
/// - syslog: an SD-PARAM `replay="NAME"` in the Sluice SD element and, with `format: cef`, the
///   custom string `cs6=NAME` labelled `cs6Label=sluiceReplay` (`SyslogConnector.makeMessage`);
/// - EventBridge: a top-level member `"sluice-replay": NAME` in each event's Detail
///   (`EventBridgeConnector.entry(for:)`): `PutEvents` entries have no attributes or headers, and
///   a rule on the bus can then tell replays apart (`{"detail": {"sluice-replay": [{"exists": true}]}}`).
/// Replay names are `[A-Za-z0-9._-]{1,64}` (SluiceReplay checks them), valid in all of these.
public enum ReplayMarking {
    public static let header = "X-Sluice-Replay"
    /// The ASFF `ProductFields` key that carries the replay's name.
    public static let productField = "sluice/replay"
    /// ASFF allows at most 50 `ProductFields` entries (AWS Security Hub User Guide, ASFF syntax).
    static let maxProductFields = 50
    /// The RFC 5424 SD-PARAM name and the CEF custom string (with its label) that carry it in syslog.
    static let syslogParameter = "replay"
    static let cefField = (key: "cs6", label: "sluiceReplay")
    /// The member of an EventBridge event's Detail that carries it.
    public static let detailMember = "sluice-replay"

    /// An EventBridge Detail object with `sluice-replay` set to `replay`'s name, or without that
    /// member for live traffic (only Sluice says an event is a replay, never a finding that
    /// brings the member along).
    static func markedDetail(_ detail: JSONBuilder, replay: String?) -> JSONBuilder {
        if let replay {
            detail[detailMember] = .string(replay)
        } else if detail[detailMember] != nil {
            detail[detailMember] = nil
        }
        return detail
    }

    /// `finding` (ASFF) with `ProductFields[sluice/replay]` set to `replay`'s name, or without that
    /// key for live traffic: only Sluice says a finding is a replay, never a payload that already
    /// has the key (a template, a finding imported as it is). An existing map keeps its other
    /// entries in order, the last ones left out when the marker would pass the limit of 50.
    static func marked(_ finding: JSONBuilder, replay: String?) -> JSONBuilder {
        let existing = finding["ProductFields"]
        guard replay != nil || existing?[productField] != nil else { return finding }
        let fields: JSONBuilder = .object()
        if let replay { fields[productField] = .string(replay) }
        if let existing, existing.isObject {
            let kept = existing.keys.filter { $0 != productField }
            for key in kept.prefix(maxProductFields - fields.count) { fields[key] = existing[key] }
        }
        finding["ProductFields"] = fields
        return finding
    }

    /// The replay that all of `deliveries` belong to; nil for live traffic, and nil for a batch
    /// that mixes a replay with live or other deliveries (one request speaks for the whole batch,
    /// and a marker would lie for some).
    static func name(of deliveries: some Collection<Delivery>) -> String? {
        guard let name = deliveries.first?.replay, deliveries.allSatisfy({ $0.replay == name }) else { return nil }
        return name
    }

    static func headers(for deliveries: some Collection<Delivery>) -> [(name: String, value: String)] {
        name(of: deliveries).map { [(header, $0)] } ?? []
    }
}

/// Every connector, as `ConnectorDefinition.make` returns it: an attempt for a replayed delivery
/// runs with the replay's HTTP marking set, so whatever requests the connector makes for it
/// (one POST, or a ticketing connector's search, create and comment) carry `X-Sluice-Replay`.
/// Live deliveries pass straight through.
final class ReplayMarkingConnector: Connector {
    let inner: any Connector

    /// `connector` wrapped, keeping its batching ability.
    static func wrap(_ connector: any Connector) -> any Connector {
        if let batching = connector as? any BatchingConnector { return ReplayMarkingBatchConnector(inner: batching) }
        return ReplayMarkingConnector(inner: connector)
    }

    init(inner: any Connector) { self.inner = inner }

    func deliver(_ delivery: Delivery, completion: @escaping @Sendable (DeliveryOutcome) -> Void) {
        let marking = ReplayMarking.headers(for: CollectionOfOne(delivery))
        guard !marking.isEmpty else { return inner.deliver(delivery, completion: completion) }
        RequestMarking.$headers.withValue(marking) { inner.deliver(delivery, completion: completion) }
    }

    func shutdown() { inner.shutdown() }
}

/// `ReplayMarkingConnector` for a connector that takes batches: marked only when all of the
/// batch belongs to the same replay.
final class ReplayMarkingBatchConnector: BatchingConnector {
    let inner: any BatchingConnector

    init(inner: any BatchingConnector) { self.inner = inner }

    func deliver(batch: [Delivery], completion: @escaping @Sendable ([DeliveryOutcome]) -> Void) {
        let marking = ReplayMarking.headers(for: batch)
        guard !marking.isEmpty else { return inner.deliver(batch: batch, completion: completion) }
        RequestMarking.$headers.withValue(marking) { inner.deliver(batch: batch, completion: completion) }
    }

    func shutdown() { inner.shutdown() }
}
