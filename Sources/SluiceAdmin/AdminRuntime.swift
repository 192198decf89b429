/// What the admin server may know of the running router: snapshots, never handles. The runtime
/// implements it; the admin module never reaches into lanes, the tracker or the consumer.
public protocol AdminRuntime: Sendable {
    /// Instances, partitions, lag, config hash and version.
    func status() -> AdminStatus
    /// Every route with its counts.
    func routes() -> [RouteStatus]
    /// Every connector instance with its backlog, in-flight work, breaker and latency.
    func connectors() -> [ConnectorStatus]
    /// The inhibit rules in force.
    func inhibitions() -> [InhibitionStatus]
    /// Counters and gauges for `/metrics`, read at scrape time.
    func metrics() -> MetricsSnapshot
    /// What `sluice test` prints for `event` (a JSON document), with the running configuration.
    func test(event: [UInt8]) -> TestReport
    /// Loads, validates and swaps in the configuration on disk; the old one stays on error.
    func reload() async -> ReloadOutcome
    /// Dead letters, replays and approvals (`OperationsAPI.swift`); nil: those paths answer 503.
    var operations: (any OperationsRuntime)? { get }
    /// Silences (`SilencesAPI.swift`); nil: those paths answer 503.
    var silences: (any SilencesRuntime)? { get }
}

extension AdminRuntime {
    public func inhibitions() -> [InhibitionStatus] { [] }
    public var operations: (any OperationsRuntime)? { nil }
    public var silences: (any SilencesRuntime)? { nil }
}

/// `GET /api/v1/status`.
public struct AdminStatus: Codable, Sendable, Equatable {
    public var version: String
    /// `kafka` or `ndjson`.
    public var source: String
    public var group: String?
    public var topics: [String]
    /// Partitions this instance owns, as `topic/partition`.
    public var partitions: [String]
    /// Records consumed and not yet settled.
    public var inFlight: Int
    public var consumed: Int
    public var unmatched: Int
    public var deadLettered: Int
    /// SHA-256 of the route and connector files the running plan was built from.
    public var configHash: String
    /// Successful loads since start (1 = the first).
    public var configVersion: Int
    public var lastReloadSuccessful: Bool
    public var ready: Bool
    public var startedAt: String
    /// Records behind the end of this instance's partitions (nil: not known yet, or offline).
    public var lag: Int64? = nil
    /// The consumer group's state and members as its coordinator last described them (every
    /// few seconds); nil offline or before the first description.
    public var groupState: String? = nil
    public var instances: [InstanceStatus]? = nil

    public init(version: String, source: String, group: String?, topics: [String], partitions: [String], inFlight: Int,
                consumed: Int, unmatched: Int, deadLettered: Int, configHash: String, configVersion: Int,
                lastReloadSuccessful: Bool, ready: Bool = false, startedAt: String) {
        self.version = version
        self.source = source
        self.group = group
        self.topics = topics
        self.partitions = partitions
        self.inFlight = inFlight
        self.consumed = consumed
        self.unmatched = unmatched
        self.deadLettered = deadLettered
        self.configHash = configHash
        self.configVersion = configVersion
        self.lastReloadSuccessful = lastReloadSuccessful
        self.ready = ready
        self.startedAt = startedAt
    }
}

/// One member of the consumer group: an instance of Sluice.
public struct InstanceStatus: Codable, Sendable, Equatable {
    public var memberID: String
    /// `client.id` (Sluice's default: `sluice-<host>-<pid>`).
    public var clientID: String
    public var host: String
    /// `topic/partition` the group assigned to it; nil when the coordinator did not say (Tansu
    /// 0.6 describes members without their assignment: then only the answering instance has them).
    public var partitions: [String]?
    /// The instance answering this request.
    public var this: Bool

    public init(memberID: String, clientID: String, host: String, partitions: [String]?, this: Bool) {
        self.memberID = memberID
        self.clientID = clientID
        self.host = host
        self.partitions = partitions
        self.this = this
    }
}

/// One route in `GET /api/v1/routes`.
public struct RouteStatus: Codable, Sendable, Equatable {
    public var name: String
    /// Connector instance names this route delivers to (a playbook shows as `playbook`).
    public var targets: [String]
    /// Findings this route matched since start.
    public var matched: Int
    /// Deliveries that succeeded, by connector.
    public var delivered: [String: Int]
    /// Findings a state rule held instead of delivering, by reason (dedupe, throttle, grouped,
    /// inhibited, silenced), summed over the route's targets.
    public var held: [String: Int]
    /// Findings matched per second over the last minute (less just after start); nil until two
    /// samples, a few seconds apart, exist.
    public var matchedPerSecond: Double? = nil

    public init(name: String, targets: [String], matched: Int, delivered: [String: Int], held: [String: Int] = [:]) {
        self.name = name
        self.targets = targets
        self.matched = matched
        self.delivered = delivered
        self.held = held
    }
}

/// One inhibit rule in `GET /api/v1/inhibitions` (route files' `inhibit:` lists).
public struct InhibitionStatus: Codable, Sendable, Equatable {
    public var name: String
    /// The source and target event patterns, as JSON.
    public var source: String
    public var target: String
    /// Paths whose values must be equal on both sides.
    public var equal: [String]
    /// How long a source finding inhibits, in seconds.
    public var forSeconds: Int

    public init(name: String, source: String, target: String, equal: [String], forSeconds: Int) {
        self.name = name
        self.source = source
        self.target = target
        self.equal = equal
        self.forSeconds = forSeconds
    }
}

/// One connector instance in `GET /api/v1/connectors`.
public struct ConnectorStatus: Codable, Sendable, Equatable {
    public var name: String
    public var kind: String
    /// Deliveries queued, running or waiting to retry.
    public var backlog: Int
    /// Attempts running now.
    public var inFlight: Int
    /// `closed`, `open` or `half-open`.
    public var breaker: String
    public var delivered: Int
    /// The last failure's short description (never a secret); nil when none yet.
    public var lastError: String?
    /// 95th percentile of routing-to-delivery seconds (bucket upper bound); nil before a delivery.
    public var p95Seconds: Double?

    public init(name: String, kind: String, backlog: Int, inFlight: Int, breaker: String, delivered: Int,
                lastError: String?, p95Seconds: Double?) {
        self.name = name
        self.kind = kind
        self.backlog = backlog
        self.inFlight = inFlight
        self.breaker = breaker
        self.delivered = delivered
        self.lastError = lastError
        self.p95Seconds = p95Seconds
    }
}

/// Counter and gauge values at one moment, by Prometheus family.
public struct MetricsSnapshot: Sendable {
    /// One value of a family: its labels (bounded sets: route and connector names, reasons) and value.
    public struct Sample: Sendable {
        public var labels: [(String, String)]
        public var value: Int
        public init(labels: [(String, String)] = [], value: Int) {
            self.labels = labels
            self.value = value
        }
    }
    public struct Family: Sendable {
        public var name: String
        public var help: String
        public var samples: [Sample]
        public init(name: String, help: String, samples: [Sample]) {
            self.name = name
            self.help = help
            self.samples = samples
        }
    }
    public var counters: [Family]
    public var gauges: [Family]
    public init(counters: [Family], gauges: [Family]) {
        self.counters = counters
        self.gauges = gauges
    }
}

/// `POST /api/v1/test`: the report `sluice test` prints, as text and as JSON.
public struct TestReport: Sendable {
    /// Nil when the event was not usable (then `error` says why).
    public var json: String?
    public var text: String
    public var error: String?
    public init(json: String?, text: String, error: String? = nil) {
        self.json = json
        self.text = text
        self.error = error
    }
}

/// The result of one reload.
public struct ReloadOutcome: Codable, Sendable, Equatable {
    public var successful: Bool
    /// Problems found, each `path:line:col: message`; the running configuration was kept.
    public var errors: [String]
    public var configHash: String
    public var configVersion: Int
    /// Connector instances whose configuration changed (new lanes); the others kept theirs.
    public var restartedConnectors: [String]

    public init(successful: Bool, errors: [String], configHash: String, configVersion: Int, restartedConnectors: [String] = []) {
        self.successful = successful
        self.errors = errors
        self.configHash = configHash
        self.configVersion = configVersion
        self.restartedConnectors = restartedConnectors
    }
}
