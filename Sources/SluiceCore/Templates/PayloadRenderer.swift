/// How one route target turns a finding into its payload: a Mustache template (the route's, the
/// connector instance's, or the connector type's default) or an EventBridge input transformer.
/// No renderer means the finding's own bytes are sent unchanged (the fast path).
public enum PayloadRenderer: Sendable {
    case template(PayloadTemplate)
    case inputTransformer(template: String, paths: [String: String])
    /// `format: ocsf` of the connector instance: the planner converts the finding's normalised
    /// view (SluiceFormats); rendered here (no view at hand) it is the event itself.
    case ocsf(version: String)

    /// The target takes JSON from this renderer, so its output is checked before it is sent.
    public var producesJSON: Bool {
        if case .template(let t) = self { return t.format.isJSON }
        return false
    }

    public func render(_ event: JSON, summary: (any TemplateSummary)?, hold: HoldTemplateContext? = nil) -> [UInt8] {
        switch self {
        case .template(let t): return Array(t.render(event, summary: summary, hold: hold).utf8)
        case .inputTransformer(let template, let paths): return Array(InputTransformer.render(template: template, paths: paths, event: event).utf8)
        case .ocsf: return Array(event.serialized().utf8)
        }
    }

    /// Whether a delivery released after held repeats must be rendered again (`sluice.hold.*`).
    public var readsHold: Bool {
        if case .template(let t) = self { return t.readsHold }
        return false
    }
}

/// `sluice.hold.*` in a template: what dedupe held back before this delivery. Times are RFC 3339
/// UTC, like the finding's own `time`.
public struct HoldTemplateContext: Sendable, Equatable {
    public var heldCount: Int
    public var firstSeen: String
    public var lastSeen: String

    public init(heldCount: Int, firstSeen: String, lastSeen: String) {
        self.heldCount = heldCount
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }

    var templateContext: [String: Any] { ["held_count": heldCount, "first_seen": firstSeen, "last_seen": lastSeen] }
}
