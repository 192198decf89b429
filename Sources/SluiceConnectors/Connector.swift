import Logging
import SluiceCore
import SluiceGuardDuty
import SluiceHTTP
import SluiceKafka
import Synchronization

/// A named connector instance from `connectors/`: delivers rendered payloads to one target.
///
/// A connector does one attempt per `deliver` call and classifies the result; the framework
/// (`DeliveryLane`) owns retries, backoff, concurrency, dead-lettering, metrics and logs.
/// Adding a connector type = one file with a type conforming to `ConnectorType`, one line in
/// `ConnectorRegistry`, one test file, one example under `connectors/`.
public protocol Connector: AnyObject, Sendable {
    /// Makes one delivery attempt and calls `completion` exactly once, from any thread.
    func deliver(_ delivery: Delivery, completion: @escaping @Sendable (DeliveryOutcome) -> Void)
    /// Releases resources; in-flight attempts complete or fail first.
    func shutdown()
}

extension Connector {
    public func shutdown() {}
}

/// A connector whose target takes many payloads in one request (Splunk HEC, Elasticsearch
/// `_bulk`). With `batch:` set on the instance, its lane groups deliveries and calls this
/// instead of `deliver`; each item gets its own outcome, so one rejected item is dead-lettered
/// alone and the others are settled.
public protocol BatchingConnector: Connector {
    /// One attempt for the whole batch; `completion` receives one outcome per delivery, in order.
    func deliver(batch: [Delivery], completion: @escaping @Sendable ([DeliveryOutcome]) -> Void)
}

extension BatchingConnector {
    /// Without `batch:` (or for a lone delivery) a batch connector sends a batch of one.
    public func deliver(_ delivery: Delivery, completion: @escaping @Sendable (DeliveryOutcome) -> Void) {
        deliver(batch: [delivery]) { completion($0.first ?? .retryable("the connector returned no outcome")) }
    }
}

/// A connector type: its name in `type:`, a one-line description, a pure validating parse of
/// its own keys (unknown keys are rejected by the reader), and a factory for live instances.
public protocol ConnectorType: SendableMetatype {
    associatedtype Configuration: Sendable
    static var kind: String { get }
    static var summary: String { get }
    /// The content type of payloads this connector sends.
    static var payloadFormat: PayloadFormat { get }
    /// How template values are escaped for this target: by default JSON string escaping for
    /// JSON payloads, none for text; a target with markup of its own adds its escaping (Slack).
    static var templateFormat: PayloadTemplate.Format { get }
    /// The escaping of one instance, when it depends on the instance's keys (Jira Cloud sends
    /// plain text, Data Center wiki markup); by default `templateFormat`.
    static func templateFormat(for reader: MappingReader) -> PayloadTemplate.Format
    /// Reads and checks the type's keys, reporting problems on `reader`. nil when invalid.
    static func configuration(from reader: MappingReader) -> Configuration?
    /// Creates the live connector (clients, connections). Called by `sluice run`, never by `validate`.
    static func make(name: String, configuration: Configuration, context: ConnectorContext) throws -> any Connector
    /// The Mustache template that renders a finding for this target when neither the route nor
    /// the instance (`template:`) gives one; nil sends the finding's bytes unchanged. Templates see
    /// the event and the finding summary as `sluice.*` (see `FindingSummary`).
    static var defaultTemplate: String? { get }
    /// The Mustache template of a digest (a throttle period's overflow, a group) in this target's
    /// native shape; nil sends the generic JSON digest. Rendered with the instance's escaping from
    /// the digest's fields (`Digest.templateContext`); a route's `digest_template:` replaces it.
    static var defaultDigestTemplate: String? { get }
    /// Whether `Delivery.summary` must be filled (the connector reads severity, title, id).
    static var usesSummary: Bool { get }
    /// Whether `make` returns a `BatchingConnector` (allows the `batch:` key).
    static var supportsBatching: Bool { get }
    /// Attempts in flight at once when the instance does not say (`concurrency:`).
    static var defaultConcurrency: Int { get }
    /// Whether this instance can only work with the brokers of the run (`--brokers`): a run
    /// without them stops before reading input, and `validate` warns.
    static func needsRunBrokers(_ configuration: Configuration) -> Bool
    /// What goes on the wire for `delivery` when the target wraps the payload in a frame of its
    /// own (a syslog line, a HEC event object, `_bulk` lines), for `sluice test` to show what is
    /// sent; nil when the payload is sent as it is.
    static func wirePreview(of delivery: Delivery, configuration: Configuration) -> String?
}

extension ConnectorType {
    public static var templateFormat: PayloadTemplate.Format { payloadFormat == .json ? .json : .text }
    public static func templateFormat(for reader: MappingReader) -> PayloadTemplate.Format { templateFormat }
    public static var defaultTemplate: String? { nil }
    public static var defaultDigestTemplate: String? { nil }
    public static func wirePreview(of delivery: Delivery, configuration: Configuration) -> String? { nil }
    public static var usesSummary: Bool { false }
    public static var supportsBatching: Bool { false }
    public static var defaultConcurrency: Int { 64 }
    public static func needsRunBrokers(_ configuration: Configuration) -> Bool { false }
}

/// How values are escaped when a template renders a payload for a connector.
public enum PayloadFormat: Sendable {
    case json
    case text
}

/// One payload for one target of one matched route.
public struct Delivery: Sendable {
    public var payload: [UInt8]
    /// Partitioning / dedupe key: the finding id when there is one.
    public var key: [UInt8]?
    public var findingID: String?
    public var route: String
    /// 1 for the first attempt.
    public var attempt: Int
    /// The finding, summarised, when the connector type or a template asked for it.
    public var summary: FindingSummary?
    /// The finding's place in a record that held several (a split Security Hub event): its dead
    /// letter says which part failed (docs/formats.md §7). nil for one-finding records.
    public var part: (index: Int, count: Int)?
    /// Why the payload is not what the target takes (a JSON template that rendered invalid JSON
    /// for this finding): the lane dead-letters it as `render_failed` without an attempt.
    public var renderFailure: String?
    /// The replay this delivery belongs to (`sluice dlq replay --name`); nil for live traffic.
    /// Targets see it as `X-Sluice-Replay` (see `ReplayMarking`), so a receiver can tell a replay
    /// from a repeat.
    public var replay: String?
    /// Set when this delivery is a digest (a throttle period's overflow or a group): its facts as
    /// digest templates see them (`total`, `findings`, `severities`, `headline`, …). Connectors
    /// whose vendor has a shape of its own for such a message (CEF, ASFF) build it from these.
    public var digest: JSON?

    public init(payload: [UInt8], key: [UInt8]? = nil, findingID: String? = nil, route: String, attempt: Int = 1, summary: FindingSummary? = nil) {
        self.payload = payload
        self.key = key
        self.findingID = findingID
        self.route = route
        self.attempt = attempt
        self.summary = summary
    }
}

/// The result of one delivery attempt, as the connector classifies it.
public enum DeliveryOutcome: Sendable, Equatable {
    case delivered
    /// Worth another attempt (429, 5xx, timeouts, connection errors); `retryAfter` when the
    /// target said how long to wait.
    case retryable(String, retryAfter: Duration? = nil)
    /// Will never succeed as sent (4xx other than 408/429, a payload the target rejects).
    case permanent(String)
}

extension DeliveryOutcome {
    /// The delivery outcome of an HTTP result classified by `HTTPOutcome`.
    public init(_ outcome: HTTPOutcome) {
        switch outcome {
        case .success: self = .delivered
        case .retryable(let message, let retryAfter): self = .retryable(message, retryAfter: retryAfter)
        case .permanent(let message): self = .permanent(message)
        }
    }

    /// The same outcome with `scrubber`'s secrets removed from its message.
    public func scrubbed(by scrubber: SecretScrubber) -> DeliveryOutcome {
        switch self {
        case .delivered: return self
        case .retryable(let message, let retryAfter): return .retryable(scrubber.scrub(message), retryAfter: retryAfter)
        case .permanent(let message): return .permanent(scrubber.scrub(message))
        }
    }
}

/// What a connector may use: shared clients and the process environment.
public struct ConnectorContext: Sendable {
    public var http: HTTPClient
    /// librdkafka properties for producers (brokers, security), from the run configuration.
    public var kafka: KafkaConfig
    public var environment: [String: String]
    public var logger: Logger
    /// The instance's per-attempt timeout (its `timeout:` key), set for each instance.
    public var timeout: Duration = DeliveryPolicy().timeout
    /// Where loop guards count what they skip (`sluice_skipped_loop_total`).
    public var loopSkips = LoopSkipCounter()

    public init(http: HTTPClient, kafka: KafkaConfig, environment: [String: String], logger: Logger) {
        self.http = http
        self.kafka = kafka
        self.environment = environment
        self.logger = logger
    }
}

/// Findings a connector settled without sending because they came from its own target (the
/// `aws-securityhub` loop guard, docs/formats.md §8), by connector instance: the metric
/// `sluice_skipped_loop_total{connector}`. One per run, shared by every instance.
public final class LoopSkipCounter: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    public init() {}

    /// Makes `connector`'s series exist at 0 (alerts and rate() see it before the first skip).
    public func register(_ connector: String) { counts.withLock { if $0[connector] == nil { $0[connector] = 0 } } }

    public func add(_ n: Int, connector: String) { counts.withLock { $0[connector, default: 0] += n } }

    public var snapshot: [String: Int] { counts.withLock { $0 } }
}

/// A payload the target would reject whatever the attempt (not JSON, not a finding): the
/// delivery is permanent and goes to the dead-letter topic.
struct PayloadRejection: Error, Sendable {
    let message: String
    init(_ message: String) { self.message = message }
    init(message: String) { self.message = message }
}
