import SluiceCore
import SluiceGuardDuty

/// A route's response playbook: ordered steps, each an executor with templated parameters,
/// an optional `when` condition, retry, failure handling and an optional approval gate.
/// Parsed and checked by `PlaybookLoader` from the route's `playbook:` node.
public struct Playbook: Sendable {
    public var route: String
    /// Per-route dry run: log and audit what would be done, do nothing.
    public var dryRun: Bool
    public var steps: [PlaybookStep]

    public init(route: String, dryRun: Bool = false, steps: [PlaybookStep]) {
        self.route = route
        self.dryRun = dryRun
        self.steps = steps
    }
}

public struct PlaybookStep: Sendable {
    public enum FailurePolicy: String, Sendable {
        /// End the run; the finding is dead-lettered with the step's error.
        case stop
        /// Record the failure and go on with the next step.
        case `continue`
        /// Run this step's `compensate` steps, then end the run.
        case compensate
    }

    public var name: String
    /// Executor kind (`aws.ec2.isolate`).
    public var action: String
    public var parameters: [String: ParameterTemplate]
    public var when: StepCondition?
    public var retry: StepRetry
    public var onFailure: FailurePolicy
    public var compensation: [PlaybookStep]
    public var approval: ApprovalGate?

    public init(name: String, action: String, parameters: [String: ParameterTemplate] = [:], when: StepCondition? = nil,
                retry: StepRetry = StepRetry(), onFailure: FailurePolicy = .stop, compensation: [PlaybookStep] = [], approval: ApprovalGate? = nil) {
        self.name = name
        self.action = action
        self.parameters = parameters
        self.when = when
        self.retry = retry
        self.onFailure = onFailure
        self.compensation = compensation
        self.approval = approval
    }
}

/// Attempts of one step, with exponential backoff between them (a retryable error only).
public struct StepRetry: Sendable {
    public var attempts: Int
    public var backoff: Duration
    /// Written in the step (`retry:`): its attempts are all the step gets. Without it, a
    /// retryable failure of an unchanged run is left to the delivery lane's retries.
    public var declared: Bool
    public init(attempts: Int = 1, backoff: Duration = .seconds(1), declared: Bool = false) {
        self.attempts = attempts
        self.backoff = backoff
        self.declared = declared
    }

    func delay(after attempt: Int) -> Duration { backoff * (1 << min(attempt - 1, 10)) }
}

/// `requires_approval`: the run waits for `sluice approvals approve|deny`; after `timeout`
/// the declared default applies.
public struct ApprovalGate: Sendable {
    public var timeout: Duration
    /// What a timeout decides.
    public var approveOnTimeout: Bool
    public init(timeout: Duration = .seconds(3600), approveOnTimeout: Bool = false) {
        self.timeout = timeout
        self.approveOnTimeout = approveOnTimeout
    }
}

/// A parameter's value as written: a template, or a list / map of templates.
public enum ParameterTemplate: Sendable {
    case string(PayloadTemplate)
    case list([PayloadTemplate])
    case map([String: PayloadTemplate])

    func render(_ context: JSON, summary: FindingSummary?) -> ActionParameters.Value {
        switch self {
        case .string(let t): return .string(t.render(context, summary: summary))
        case .list(let l): return .list(l.map { $0.render(context, summary: summary) })
        case .map(let m): return .map(m.mapValues { $0.render(context, summary: summary) })
        }
    }
}

/// A `when` condition: an event pattern over the finding and `steps.<name>.output`, compiled by
/// the route matcher (one-route `RouteTable`).
public struct StepCondition: Sendable {
    public let pattern: JSON
    let table: RouteTable

    public init(pattern: JSON) throws(Diagnostics) {
        self.pattern = pattern
        table = try RouteTable(routes: [Route(name: "when", match: pattern, targets: [])])
    }

    /// Whether `context` (the finding with `steps` added) matches.
    public func matches(_ context: JSON) -> Bool {
        let parser = JSONParser(maxBytes: 16 << 20, maxDepth: 256)
        let result = parser.parse(context.serialized()) { doc in !table.match(doc.root).isEmpty }
        if case .success(let matched) = result { return matched }
        return false
    }
}
