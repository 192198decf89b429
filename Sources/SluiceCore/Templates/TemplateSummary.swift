/// What a template reads under `sluice` (beside `sluice.hold`): the summary of the finding
/// being rendered (the format layer's summary, for every format). SluiceCore renders
/// it without knowing any finding format.
public protocol TemplateSummary: Sendable {
    /// Mustache context: `title`, `severity`, `resource_summary`, the normalised view's fields, …
    var templateContext: [String: Any] { get }
}

/// A finding to render a template for when checking it (`TemplateCheck.jsonIssue`): the format
/// layer's sample, with its summary.
public struct TemplateSample: Sendable {
    public var event: JSON
    public var summary: (any TemplateSummary)?
    /// What the sample is, as messages name it ("… rendered for a sample \(kind) …").
    public var kind: String

    public init(event: JSON, summary: (any TemplateSummary)?, kind: String = "finding") {
        self.event = event
        self.summary = summary
        self.kind = kind
    }
}
