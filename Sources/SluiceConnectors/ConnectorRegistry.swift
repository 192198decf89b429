import SluiceCore
import SluiceHTTP

/// Every connector type Sluice knows. Adding a type is one line here.
public enum ConnectorRegistry {
    public static let types: [ConnectorTypeEntry] = [
        ConnectorTypeEntry(WebhookConnector.self),
        ConnectorTypeEntry(KafkaConnector.self),
        // Chat
        ConnectorTypeEntry(SlackConnector.self),
        ConnectorTypeEntry(MSTeamsConnector.self),
        ConnectorTypeEntry(MattermostConnector.self),
        ConnectorTypeEntry(DiscordConnector.self),
        ConnectorTypeEntry(GoogleChatConnector.self),
        // Paging
        ConnectorTypeEntry(PagerDutyConnector.self),
        ConnectorTypeEntry(OpsgenieConnector.self),
        // Ticketing
        ConnectorTypeEntry(JiraConnector.self),
        ConnectorTypeEntry(ServiceNowConnector.self),
        // SIEM
        ConnectorTypeEntry(SplunkHECConnector.self),
        ConnectorTypeEntry(ElasticsearchConnector.self),
        ConnectorTypeEntry(SyslogConnector.self),
        // Streams and AWS
        ConnectorTypeEntry(SecurityHubConnector.self),
        ConnectorTypeEntry(EventBridgeConnector.self),
        ConnectorTypeEntry(SNSConnector.self),
        ConnectorTypeEntry(SQSConnector.self),
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
    public let templateFormat: PayloadTemplate.Format
    /// The escaping of one instance (see `ConnectorType.templateFormat(for:)`).
    let instanceTemplateFormat: @Sendable (MappingReader) -> PayloadTemplate.Format
    public let defaultTemplate: String?
    public let defaultDigestTemplate: String?
    public let supportsBatching: Bool
    public let defaultConcurrency: Int
    let prepare: @Sendable (_ name: String, _ reader: MappingReader, _ policy: DeliveryPolicy, _ template: PayloadTemplate?, _ location: Diagnostic) -> ConnectorDefinition?

    public init<T: ConnectorType>(_ type: T.Type) {
        kind = T.kind
        summary = T.summary
        payloadFormat = T.payloadFormat
        templateFormat = T.templateFormat
        instanceTemplateFormat = { T.templateFormat(for: $0) }
        defaultTemplate = T.defaultTemplate
        defaultDigestTemplate = T.defaultDigestTemplate
        supportsBatching = T.supportsBatching
        defaultConcurrency = T.defaultConcurrency
        prepare = { name, reader, policy, template, location in
            guard let configuration = T.configuration(from: reader) else { return nil }
            let secrets = SecretScrubber(reader.secretValues)
            var definition = ConnectorDefinition(
                name: name, kind: T.kind, summary: T.summary, payloadFormat: T.payloadFormat, templateFormat: T.templateFormat(for: reader),
                policy: policy, template: template, usesSummary: T.usesSummary, location: location, secrets: secrets,
                needsRunBrokers: T.needsRunBrokers(configuration), aws: (configuration as? any AWSConfigured)?.aws,
                factory: { context in try T.make(name: name, configuration: configuration, context: context) })
            // The type's own digest, escaped as this instance's templates are (a test renders each one).
            definition.digestTemplate = T.defaultDigestTemplate.flatMap { try? PayloadTemplate($0, format: definition.templateFormat) }
            definition.wirePreview = { T.wirePreview(of: $0, configuration: configuration) }
            return definition
        }
    }
}
