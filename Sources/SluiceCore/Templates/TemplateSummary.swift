/// What a template reads under `sluice` (beside `sluice.hold`): the summary of the finding
/// being rendered (`FindingSummary` in SluiceGuardDuty, for every format). SluiceCore renders
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

    public init(event: JSON, summary: (any TemplateSummary)?) {
        self.event = event
        self.summary = summary
    }
}
