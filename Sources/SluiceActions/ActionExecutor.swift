import Logging
import SluiceCore
import SluiceHTTP

/// One kind of response action (`aws.ec2.isolate`, `exec`, …). An executor resolves what it
/// would touch (`target`) before touching it, so the safety layer can refuse, cap, dry-run and
/// audit every action the same way; `execute` then makes one attempt. The playbook runner owns
/// retries, guards, approvals and the audit trail.
///
/// Adding an executor = one file with a type conforming to `ActionExecutor`, one line in
/// `ActionRegistry`, one test.
public protocol ActionExecutor: Sendable {
    /// The name used in playbooks (`action: aws.ec2.isolate`).
    static var kind: String { get }
    /// One line for `sluice actions`.
    static var summary: String { get }
    /// The parameters a step may give; unknown ones are rejected when routes load.
    static var parameters: [ActionParameter] { get }
    /// Whether the action takes a workload off the network (counted by the concurrent-isolation cap).
    static var isIsolation: Bool { get }
    init(context: ActionContext)
    /// The resource the action would change, looked up live when the guards need its tags.
    func target(_ request: ActionRequest) async throws(ActionError) -> ActionTarget
    /// One attempt. Returns the step's output (later steps read it as `steps.<name>.output`).
    func execute(_ request: ActionRequest, target: ActionTarget) async throws(ActionError) -> ActionOutput
    /// The target as the finding and the rendered parameters alone name it — no lookup, no
    /// credentials — and what only `target`'s lookup would add: what dry runs and `sluice test`
    /// show. nil: `target` itself needs no lookup.
    static func plannedTarget(_ request: ActionRequest) throws(ActionError) -> PlannedTarget?
}

extension ActionExecutor {
    public static var isIsolation: Bool { false }
    public static func plannedTarget(_ request: ActionRequest) throws(ActionError) -> PlannedTarget? { nil }
}

/// A target named without a lookup, and what stays unknown until one (`ActionExecutor.plannedTarget`).
public struct PlannedTarget: Sendable {
    public var target: ActionTarget
    /// What a live lookup would settle: the resource's tags (protected-tag guard), its existence.
    public var unresolved: [String]
    public init(_ target: ActionTarget, unresolved: [String] = []) {
        self.target = target
        self.unresolved = unresolved
    }
}

/// A parameter an executor accepts. Values are Mustache templates rendered over the finding and
/// the outputs of earlier steps, then read with the type declared here.
public struct ActionParameter: Sendable {
    public enum Kind: Sendable, Equatable {
        case string, bool, integer, duration
        /// A list of strings (argv, tag keys).
        case list
        /// A mapping of strings (tags, headers, labels).
        case map
    }
    public var name: String
    public var kind: Kind
    public var required: Bool
    /// Never written to the audit trail or the log (`<redacted>` instead).
    public var secret: Bool
    /// Rendered with JSON string escaping (a JSON body template) instead of as plain text.
    public var json: Bool
    /// Rendered as a URL: every value percent-encoded for the component it lands in.
    public var url: Bool
    public var help: String

    public init(_ name: String, _ kind: Kind, required: Bool = false, secret: Bool = false, json: Bool = false, url: Bool = false, help: String) {
        self.name = name
        self.kind = kind
        self.required = required
        self.secret = secret
        self.json = json
        self.url = url
        self.help = help
    }
}

/// Rendered parameter values of one step.
public struct ActionParameters: Sendable {
    public enum Value: Sendable, Equatable {
        case string(String)
        case list([String])
        case map([String: String])
    }
    public var values: [String: Value]

    public init(_ values: [String: Value] = [:]) { self.values = values }

    public func string(_ name: String) -> String? {
        guard case .string(let s)? = values[name], !s.isEmpty else { return nil }
        return s
    }

    public func requiredString(_ name: String) throws(ActionError) -> String {
        guard let s = string(name) else { throw ActionError.permanent("parameter '\(name)' is empty after rendering") }
        return s
    }

    public func bool(_ name: String, default fallback: Bool) throws(ActionError) -> Bool {
        guard let s = string(name) else { return fallback }
        switch s.lowercased() {
        case "true", "yes", "1": return true
        case "false", "no", "0": return false
        default: throw ActionError.permanent("parameter '\(name)' must be true or false, got '\(s)'")
        }
    }

    public func int(_ name: String) throws(ActionError) -> Int? {
        guard let s = string(name) else { return nil }
        guard let v = Int(s) else { throw ActionError.permanent("parameter '\(name)' must be an integer, got '\(s)'") }
        return v
    }

    public func duration(_ name: String) throws(ActionError) -> Duration? {
        guard let s = string(name) else { return nil }
        guard let d = DurationText.parse(s) else { throw ActionError.permanent("parameter '\(name)' must be a duration (10s, 5m), got '\(s)'") }
        return d
    }

    public func list(_ name: String) -> [String] {
        switch values[name] {
        case .list(let l)?: return l
        case .string(let s)? where !s.isEmpty: return [s]
        default: return []
        }
    }

    public func map(_ name: String) -> [String: String] {
        if case .map(let m)? = values[name] { return m }
        return [:]
    }

    /// The values as JSON for the audit trail: secret parameters redacted, map values redacted
    /// unless their key is on the header allow-list (`HTTPHeaderField.visibleNames`), and URLs
    /// shown without user-info and query values.
    public func redacted(_ specs: [ActionParameter]) -> JSON {
        let secrets = Set(specs.filter(\.secret).map(\.name))
        return .object(values.keys.sorted().map { key in
            if secrets.contains(key) { return (key, .string(SecretScrubber.replacement)) }
            switch values[key] ?? .string("") {
            case .string(let s): return (key, .string(HTTPURL(s)?.redacted ?? s))
            case .list(let l): return (key, .array(l.map { .string($0) }))
            case .map(let m):
                return (key, .object(m.sorted { $0.key < $1.key }.map { k, v in
                    (k, .string(HTTPHeaderField.isVisible(k) ? v : SecretScrubber.replacement))
                }))
            }
        })
    }

    /// What the audit hides, as values to scrub from messages too (errors echo them): secret
    /// parameters, map values off the allow-list, URL user-info and query values.
    public func secretValues(_ specs: [ActionParameter]) -> [String] {
        let secrets = Set(specs.filter(\.secret).map(\.name))
        return values.flatMap { key, value -> [String] in
            switch value {
            case .string(let s) where secrets.contains(key): return [s]
            case .string(let s):
                guard let url = HTTPURL(s) else { return [] }
                return (url.userinfo.map { [$0] + $0.split(separator: ":").map(String.init) } ?? []) + url.queryItems.map { $0.value }
            case .list(let l): return secrets.contains(key) ? l : []
            case .map(let m):
                return m.filter { secrets.contains(key) || !HTTPHeaderField.isVisible($0.key) }.flatMap { SecretScrubber.credentialParts($0.value) }
            }
        }
    }
}

/// What a step asks an executor to do.
public struct ActionRequest: Sendable {
    /// The finding as an EventBridge event (bare findings are wrapped), read-only.
    public var finding: JSON
    public var findingID: String
    public var route: String
    public var step: String
    /// `route:finding-id`: names the run in the audit trail and the approval topic.
    public var runID: String
    public var parameters: ActionParameters
    /// The parameters as written, before rendering: executors compare a rendered value with its
    /// template (what the operator wrote) to tell configuration from finding content.
    public var templates: [String: ParameterTemplate] = [:]

    public init(finding: JSON, findingID: String, route: String, step: String, runID: String, parameters: ActionParameters) {
        self.finding = finding
        self.findingID = findingID
        self.route = route
        self.step = step
        self.runID = runID
        self.parameters = parameters
    }

    /// A string at a dotted path of the finding (`detail.resource.instanceDetails.instanceId`).
    public func findingString(_ path: String) -> String? { finding.value(atPath: path)?.stringValue }
}

/// The resource an action would change: what the guards check and the audit names.
public struct ActionTarget: Sendable, Equatable {
    /// `ec2:instance`, `iam:access-key`, `kubernetes:pod`, `process`, `url`…
    public var kind: String
    public var id: String
    public var account: String?
    public var region: String?
    public var namespace: String?
    /// The resource's tags or labels as they are now (protected-tag guard).
    public var tags: [String: String]

    public init(kind: String, id: String, account: String? = nil, region: String? = nil, namespace: String? = nil, tags: [String: String] = [:]) {
        self.kind = kind
        self.id = id
        self.account = account
        self.region = region
        self.namespace = namespace
        self.tags = tags
    }

    public var description: String { namespace.map { "\(kind) \($0)/\(id)" } ?? "\(kind) \(id)" }
}

/// What one attempt did: its output, and whether it changed anything (`false`: already done).
public struct ActionOutput: Sendable {
    public var output: JSON
    public var changed: Bool

    public init(_ output: JSON, changed: Bool = true) {
        self.output = output
        self.changed = changed
    }
}

/// Why an action attempt failed; `retryable` when another attempt may succeed (throttling,
/// 5xx, timeouts, connection errors). Messages name no secret.
public struct ActionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var retryable: Bool

    public init(_ message: String, retryable: Bool) {
        self.message = message
        self.retryable = retryable
    }

    public static func permanent(_ message: String) -> ActionError { ActionError(message, retryable: false) }
    public static func retryable(_ message: String) -> ActionError { ActionError(message, retryable: true) }

    public var description: String { message }
}

/// What executors may use: shared clients, the process environment and the action settings.
public struct ActionContext: Sendable {
    public var http: HTTPClient
    public var environment: [String: String]
    public var settings: ActionSettings
    public var logger: Logger
    /// AWS clients per region, from `settings.aws`.
    public var aws: AWSClients

    public init(http: HTTPClient, environment: [String: String], settings: ActionSettings, logger: Logger) {
        self.http = http
        self.environment = environment
        self.settings = settings
        self.logger = logger
        aws = AWSClients(settings: settings.aws, http: http, environment: environment)
    }
}
