import SluiceHTTP

/// The one place every connector's outcome passes through on its way to logs, metrics and the
/// dead-letter topic: its message is scrubbed of the instance's configured secrets. A target
/// that echoes the token it refused (a 401 body, an error naming the routing key) cannot leak it,
/// whichever connector family reported it. `ConnectorDefinition.make` wraps every connector.
final class SecretScrubbingConnector: Connector {
    let inner: any Connector
    let scrubber: SecretScrubber

    /// `connector` wrapped, keeping its batching ability; unchanged when there is nothing to scrub.
    static func wrap(_ connector: any Connector, secrets: SecretScrubber) -> any Connector {
        if secrets.isEmpty { return connector }
        if let batching = connector as? any BatchingConnector { return SecretScrubbingBatchConnector(inner: batching, scrubber: secrets) }
        return SecretScrubbingConnector(inner: connector, scrubber: secrets)
    }

    /// The type's own connector inside the framework's wrappers (this one, `ReplayMarkingConnector`):
    /// for tests of a type's pure parts.
    static func unwrap(_ connector: any Connector) -> any Connector {
        let inner = (connector as? SecretScrubbingConnector)?.inner ?? (connector as? SecretScrubbingBatchConnector)?.inner ?? connector
        return (inner as? ReplayMarkingConnector)?.inner ?? (inner as? ReplayMarkingBatchConnector)?.inner ?? inner
    }

    init(inner: any Connector, scrubber: SecretScrubber) {
        self.inner = inner
        self.scrubber = scrubber
    }

    func deliver(_ delivery: Delivery, completion: @escaping @Sendable (DeliveryOutcome) -> Void) {
        let scrubber = self.scrubber
        inner.deliver(delivery) { completion($0.scrubbed(by: scrubber)) }
    }

    func shutdown() { inner.shutdown() }
}

/// `SecretScrubbingConnector` for a connector that takes batches.
final class SecretScrubbingBatchConnector: BatchingConnector {
    let inner: any BatchingConnector
    let scrubber: SecretScrubber

    init(inner: any BatchingConnector, scrubber: SecretScrubber) {
        self.inner = inner
        self.scrubber = scrubber
    }

    func deliver(batch: [Delivery], completion: @escaping @Sendable ([DeliveryOutcome]) -> Void) {
        let scrubber = self.scrubber
        inner.deliver(batch: batch) { completion($0.map { $0.scrubbed(by: scrubber) }) }
    }

    func shutdown() { inner.shutdown() }
}
