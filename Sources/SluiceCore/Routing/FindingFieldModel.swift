/// The shape of one product's findings (which paths exist, which are numbers or strings), for
/// the checks that warn before a finding arrives: a route path the findings cannot have, a
/// string where they hold a number, a template variable that renders empty. SluiceCore knows
/// no product: the layer that knows one registers its model at start
/// (`FindingFieldModels.register`), as pattern dialects are registered.
public protocol FindingFieldModel: Sendable {
    /// The product as warnings name it: "a \(productName) finding has no field …".
    var productName: String { get }
    /// `source` values that mark a route pattern as written for these findings.
    var sources: Set<String> { get }
    /// The top-level key templates read these findings under (`detail`): a template variable
    /// below it is checked against the model.
    var templateRoot: String { get }
    /// The shape at a dotted path of the matched event; `.open` below a structure the model does
    /// not describe; nil when these findings cannot have that path.
    func shape(at path: [String]) -> FindingFieldShape?
    /// The member names of a structure the model describes (for "did you mean" on a typo).
    func members(ofStructure name: String) -> [String]?
    /// Every dotted path ending in `key`, at most `limit` (for "did you mean …?").
    func paths(endingWith key: String, limit: Int) -> [String]
    /// The dotted paths of the remote addresses these findings carry: what a `trusted_ips`
    /// suppression checks unless it names its `fields`.
    var remoteAddressFields: [String] { get }
}

/// The shape of a field in a `FindingFieldModel`.
public indirect enum FindingFieldShape: Sendable, Equatable {
    case string, number, bool
    case structure(String)
    case list(FindingFieldShape)
    /// Not described: every path below is accepted.
    case open

    /// Lists are transparent in event patterns and templates: a path goes through them.
    public var element: FindingFieldShape {
        if case .list(let inner) = self { return inner.element }
        return self
    }
}

/// The finding models the route lint and the template check read.
public enum FindingFieldModels {
    private static let registry = ProcessRegistry<any FindingFieldModel>()

    /// Adds `model` (once per type: registering again changes nothing).
    public static func register(_ model: any FindingFieldModel) { registry.register(model) }

    /// Runs `body` with exactly `models` in effect (on this task and the tasks it starts),
    /// whatever the process registered: a test of either path says what it reads.
    public static func withModels<T>(_ models: [any FindingFieldModel], _ body: () throws -> T) rethrows -> T {
        try registry.with(models, body)
    }

    /// The async form of `withModels`, for test scopes.
    public static func withModels<T>(
        _ models: [any FindingFieldModel], isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
    ) async rethrows -> T {
        try await registry.with(models, isolation: isolation, body)
    }

    /// The models in effect.
    public static var current: [any FindingFieldModel] { registry.current }

    /// The models in effect for a pattern whose `source` is one of `sources`.
    static func models(forSources sources: [String]) -> [any FindingFieldModel] {
        current.filter { model in sources.contains(where: model.sources.contains) }
    }

    /// The models templates read under `root`.
    static func models(forTemplateRoot root: String) -> [any FindingFieldModel] {
        current.filter { $0.templateRoot == root }
    }
}
