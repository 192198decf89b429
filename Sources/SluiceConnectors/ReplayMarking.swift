import SluiceHTTP

/// Marks what a replay delivers, once per transport, so no connector has to remember:
/// - HTTP: `X-Sluice-Replay: NAME` on every request made for the delivery, through
///   `RequestMarking` (`ReplayMarkingConnector` sets it around each attempt of every connector);
/// - Kafka: a record header of the same name (`KafkaConnector`, the one producer of findings);
/// - SNS and SQS: a message attribute of the same name (`FindingAttributes`, shared by both);
/// - EventBridge's `PutEvents` entries have no attributes or headers: its events are not marked.
/// Replay names are `[A-Za-z0-9._-]{1,64}` (SluiceReplay checks them), valid in all three.
public enum ReplayMarking {
    public static let header = "X-Sluice-Replay"

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
