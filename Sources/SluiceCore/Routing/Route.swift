/// A route: when a finding matches `match` (and no `suppress` pattern), each target receives it.
/// Loaded from YAML files in `routes/` by `RouteLoader`.
public struct Route: Sendable {
    /// Unique name; a metric label and a dead-letter header.
    public var name: String
    public var description: String?
    /// An EventBridge event pattern (plus Sluice's extensions), as JSON.
    public var match: JSON
    /// Patterns that veto a match (suppression rules, trusted-IP lists).
    public var suppress: [JSON]
    public var targets: [RouteTarget]
    public var enabled: Bool
    /// Evaluation order for first-match routing; routes without one come after, in file order.
    public var order: Int?
    /// When true and this route matches, routes later in order are not evaluated.
    public var stop: Bool
    /// Where the route was defined, for diagnostics.
    public var location: Diagnostic
    /// The route's `playbook:` as written; SluiceActions parses and checks it.
    public var playbook: YAMLNode?
    /// `dedupe`, `throttle`, `group`: applied per target by SluiceState (docs/state.md).
    public var hold = HoldRules()

    public init(
        name: String, description: String? = nil, match: JSON, suppress: [JSON] = [], targets: [RouteTarget],
        enabled: Bool = true, order: Int? = nil, stop: Bool = false,
        location: Diagnostic = Diagnostic(path: "<memory>", message: ""), playbook: YAMLNode? = nil
    ) {
        self.name = name
        self.description = description
        self.match = match
        self.suppress = suppress
        self.targets = targets
        self.enabled = enabled
        self.order = order
        self.stop = stop
        self.location = location
        self.playbook = playbook
    }
}

/// One destination of a route: a connector instance by name, optionally with its own template.
public struct RouteTarget: Sendable {
    /// Name of a connector instance from `connectors/`.
    public var connector: String
    /// Mustache template overriding the connector's default payload.
    public var template: String?
    /// EventBridge-style input transformer: paths map + template.
    public var inputPaths: [String: String]?
    /// Where the target is written (its `targets:` entry), for diagnostics.
    public var location: Diagnostic?

    public init(connector: String, template: String? = nil, inputPaths: [String: String]? = nil, location: Diagnostic? = nil) {
        self.connector = connector
        self.template = template
        self.inputPaths = inputPaths
        self.location = location
    }
}
