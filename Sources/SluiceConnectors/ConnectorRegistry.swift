import SluiceCore

/// Every connector type Sluice knows. Adding a type is one line here.
public enum ConnectorRegistry {
    public static let types: [ConnectorTypeEntry] = [
        ConnectorTypeEntry(WebhookConnector.self),
        ConnectorTypeEntry(KafkaConnector.self),
    ]

    public static func type(named kind: String) -> ConnectorTypeEntry? {
        types.first { $0.kind == kind }
    }
}

/// A registered connector type, erased so the registry can list them.
public struct ConnectorTypeEntry: Sendable {
    public let kind: String
    public let summary: String
    public let payloadFormat: PayloadFormat
    let prepare: @Sendable (_ name: String, _ reader: MappingReader, _ policy: DeliveryPolicy, _ location: Diagnostic) -> ConnectorDefinition?

    public init<T: ConnectorType>(_ type: T.Type) {
        kind = T.kind
        summary = T.summary
        payloadFormat = T.payloadFormat
        prepare = { name, reader, policy, location in
            guard let configuration = T.configuration(from: reader) else { return nil }
            return ConnectorDefinition(
                name: name, kind: T.kind, summary: T.summary, payloadFormat: T.payloadFormat,
                policy: policy, location: location,
                factory: { context in try T.make(name: name, configuration: configuration, context: context) })
        }
    }
}
