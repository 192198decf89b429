import Crypto
import Foundation
import Logging
import SluiceAdmin
import SluiceConnectors
import SluiceCore
import SluiceFormats
import SluiceGuardDuty
import SluiceKafka
import Synchronization

/// Reports what became of one target of one finding in the feed: (part, connector, outcome).
typealias FeedReport = @Sendable (_ part: Int, _ connector: String, _ outcome: String) -> Void

/// What the pipeline tells the admin server as it works; called on the source thread.
protocol PipelineObserver: Sendable {
    /// A record was planned onto `deliveries` (grouped by route) — empty when nothing matched.
    /// Returns how to report each target's outcome (by the finding's part of the record: 0 unless
    /// split) when the record is in the feed.
    @discardableResult
    func routed(_ record: SourceRecord, deliveries: [(route: String, target: BoundTarget, delivery: Delivery)]) -> FeedReport?
    func assignmentChanged(_ partitions: Set<TopicPartition>)
}

/// The runtime's side of `AdminRuntime`: snapshots of counters, lanes and the feed. The admin
/// module sees only these values; this is the one place that reads lanes for it.
final class AdminBridge: AdminRuntime, PipelineObserver {
    /// Findings entering the feed per second, at most: the feed is for eyes, and decoding every
    /// record a second time at 100k+/s would cost the router a tenth of its CPU. Counts are exact.
    static let feedPerSecond = 200

    let settings: RunSettings
    let logger: Logger
    let stats: RunStats
    let recent: RecentFindings
    let readiness: Readiness
    /// The configuration in force, its hash and load count, and whether the last reload worked.
    private let config: Mutex<(loaded: LoadedConfiguration, hash: String, version: Int, lastOK: Bool)>
    var configuration: LoadedConfiguration { config.withLock { $0.loaded } }
    /// What a reload put in place: the configuration, and the connectors given new lanes.
    struct Reloaded: Sendable {
        var configuration: LoadedConfiguration
        var restartedConnectors: [String]
    }
    /// Set by the runner: validates the files on disk and swaps them in, or says why not.
    private let reloadHook = Mutex<(@Sendable () -> Result<Reloaded, Diagnostics>)?>(nil)
    var reloader: (@Sendable () -> Result<Reloaded, Diagnostics>)? {
        get { reloadHook.withLock { $0 } }
        set { reloadHook.withLock { $0 = newValue } }
    }
    /// Dead letters, replays and approvals; set by the runner once the playbooks exist.
    private let operationsHook = Mutex<(any OperationsRuntime)?>(nil)
    var operations: (any OperationsRuntime)? {
        get { operationsHook.withLock { $0 } }
        set { operationsHook.withLock { $0 = newValue } }
    }
    /// Silences; set by the runner when state is kept in Kafka.
    private let silencesHook = Mutex<(any SilencesRuntime)?>(nil)
    var silences: (any SilencesRuntime)? {
        get { silencesHook.withLock { $0 } }
        set { silencesHook.withLock { $0 = newValue } }
    }
    let startedAt = Date().formatted(.iso8601)
    let version: String
    /// The current connectors' lanes (a reload may replace some), in name order.
    private let lanes: @Sendable () -> [DeliveryLane]
    /// Per-route counters; a reload adds the new routes' (and keeps the old ones' counts).
    private let matched: Mutex<[String: DeliveryCounter]>
    private let inFlight: @Sendable () -> Int
    /// What connectors' loop guards skipped (`sluice_skipped_loop_total`).
    private let loopSkips: LoopSkipCounter?
    private let partitions = Mutex<[String]>([])
    /// The run's inhibit rules (`inhibit:` lists of the route files), set by the runner.
    let inhibitRules = Mutex<[InhibitRule]>([])
    private let feedBudget = Mutex((second: Int64(0), used: 0))
    /// Route counts sampled every few seconds over the last minute, for rates (`AdminSampler`).
    private let routeSamples = Mutex<[(at: ContinuousClock.Instant, matched: [String: Int])]>([])
    /// The consumer group as last described, with this instance's member id then.
    private let group = Mutex<(description: KafkaGroupDescription, me: String?)?>(nil)
    /// This instance's consumer lag; set once the consumer exists.
    let lagReader = Mutex<(@Sendable () -> Int64?)?>(nil)
    /// The consumer's refused or failed offset commits by reason; set once the consumer exists.
    let commitFailureReader = Mutex<(@Sendable () -> [String: Int])?>(nil)
    /// Reads the feed's findings (at most `feedPerSecond` records a second).
    private let feedDecoder: Mutex<FindingDecoder>

    init(settings: RunSettings, logger: Logger, configuration: LoadedConfiguration, configHash: String, version: String, stats: RunStats,
         lanes: @escaping @Sendable () -> [DeliveryLane], recent: RecentFindings, readiness: Readiness, inFlight: @escaping @Sendable () -> Int,
         loopSkips: LoopSkipCounter? = nil) {
        self.loopSkips = loopSkips
        self.settings = settings
        self.logger = logger
        self.config = Mutex((configuration, configHash, 1, true))
        self.version = version
        self.stats = stats
        self.lanes = lanes
        self.matched = Mutex(Dictionary(configuration.table.routes.map { ($0.name, DeliveryCounter()) }, uniquingKeysWith: { a, _ in a }))
        self.recent = recent
        self.readiness = readiness
        self.inFlight = inFlight
        self.feedDecoder = Mutex(FindingDecoder(limits: settings.pipeline.decodeLimits))
    }

    // MARK: PipelineObserver

    func routed(_ record: SourceRecord, deliveries: [(route: String, target: BoundTarget, delivery: Delivery)]) -> FeedReport? {
        // Called for every record: no allocation here, only for the few that enter the feed.
        if !deliveries.isEmpty {
            matched.withLock { counters in
                var previous: String?
                for d in deliveries where d.route != previous {
                    previous = d.route
                    counters[d.route]?.increment()
                }
            }
        }
        guard takeFeedSlot(), let value = record.value else { return nil }
        let source = record.topic.map { "\($0)/\(record.partition)@\(record.offset)" } ?? "line \(record.offset)"
        // One row per finding (a split Security Hub record is several), each read through the one
        // decoder, so every format shows its id, title, type and severity. Only the few fields the
        // feed shows; anything odd in the record stays out of it.
        let findings = feedFindings(value)
        var sequences: [Int] = []
        for (part, finding) in findings.enumerated() {
            let mine = deliveries.filter { ($0.delivery.part?.index ?? 0) == part }
            var names: [String] = []
            for d in mine where names.last != d.route { names.append(d.route) }
            let outcomes = Dictionary(mine.map { ($0.target.lane.name, "pending") }, uniquingKeysWith: { a, _ in a })
            let s = finding.summary
            sequences.append(recent.append(FindingRecord(
                source: findings.count > 1 ? "\(source) #\(part + 1)" : source,
                id: s.flatMap { $0.id.isEmpty ? nil : $0.id }, type: s.flatMap { $0.type.isEmpty ? nil : $0.type },
                severity: s.flatMap { $0.severity.isFinite ? $0.severity : nil }, routes: names, outcomes: outcomes,
                finding: finding.bytes, title: s.flatMap { $0.title.isEmpty ? nil : $0.title },
                severityLabel: finding.severityLabel, format: finding.format)))
        }
        return { [recent, sequences] part, connector, outcome in
            guard part >= 0, part < sequences.count else { return }
            recent.update(sequence: sequences[part], connector: connector, outcome: outcome)
        }
    }

    /// The findings of a record for the feed: each one's summary, severity label, format and own
    /// bytes (the silence preview judges them); one row without a summary when it does not decode.
    private func feedFindings(_ value: [UInt8]) -> [(summary: FindingSummary?, severityLabel: String?, format: String?, bytes: [UInt8])] {
        feedDecoder.withLock { decoder in
            var out: [(summary: FindingSummary?, severityLabel: String?, format: String?, bytes: [UInt8])] = []
            decoder.decode(value) { f in
                let view = f.view()
                out.append((f.materialized().summary, view?.severity, view?.format.rawValue, f.ownBytes ?? value))
            }
            return out.isEmpty ? [(nil, nil, nil, value)] : out
        }
    }

    private func takeFeedSlot() -> Bool {
        let second = coarseMilliseconds() / 1000
        return feedBudget.withLock { budget in
            if budget.second != second { budget = (second, 0) }
            guard budget.used < Self.feedPerSecond else { return false }
            budget.used += 1
            return true
        }
    }

    func assignmentChanged(_ parts: Set<TopicPartition>) {
        partitions.withLock { $0 = parts.map { "\($0.topic)/\($0.partition)" }.sorted() }
        readiness.set(Self.consumerAssigned, met: !parts.isEmpty)
    }

    static let consumerAssigned = "consumer.assigned"

    // MARK: AdminRuntime

    func status() -> AdminStatus {
        let s = stats.snapshot
        let (configHash, configVersion, lastOK) = config.withLock { ($0.hash, $0.version, $0.lastOK) }
        var status = AdminStatus(
            version: version, source: settings.input == nil ? "kafka" : "ndjson", group: settings.input == nil ? settings.group : nil,
            topics: settings.input == nil ? settings.topics : [], partitions: partitions.withLock { $0 }, inFlight: inFlight(),
            consumed: s.consumed, unmatched: s.unmatched, deadLettered: s.deadLettered.values.reduce(0, +),
            configHash: configHash, configVersion: configVersion, lastReloadSuccessful: lastOK, startedAt: startedAt)
        status.lag = lagReader.withLock { $0 }?()
        if let (description, me) = group.withLock({ $0 }) {
            status.groupState = description.state
            status.instances = description.members.map { member in
                let this = member.memberID == me
                // A coordinator that leaves the assignment out (Tansu 0.6): this instance knows its own.
                let partitions = member.partitions.isEmpty ? (this ? status.partitions : nil) : member.partitions
                return InstanceStatus(memberID: member.memberID, clientID: member.clientID, host: member.host, partitions: partitions, this: this)
            }
        }
        return status
    }

    /// The sampler's tick: route counts for rates (a minute of them kept).
    func sampleRoutes(now: ContinuousClock.Instant = .now) {
        let counts = matched.withLock { $0.mapValues(\.value) }
        routeSamples.withLock { samples in
            samples.append((now, counts))
            samples.removeAll { now - $0.at > .seconds(65) }
        }
    }

    /// The sampler's tick: the group as its coordinator describes it, and this member's id.
    func groupDescribed(_ description: KafkaGroupDescription, me: String?) {
        group.withLock { $0 = (description, me) }
    }

    /// Per-route matches per second between the oldest sample of the last minute and now.
    private func routeRates() -> [String: Double] {
        guard let oldest = routeSamples.withLock({ $0.first }) else { return [:] }
        let elapsed = ContinuousClock.now - oldest.at
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        guard seconds >= 1 else { return [:] }
        var rates: [String: Double] = [:]
        let counts: [String: Int] = matched.withLock { $0.mapValues(\.value) }
        for (route, count) in counts {
            rates[route] = (Double(count - (oldest.matched[route] ?? 0)) / seconds * 10).rounded() / 10
        }
        return rates
    }

    func routes() -> [RouteStatus] {
        let delivered = stats.snapshot.deliveredByPair
        let configuration = configuration
        let matched = matched.withLock { $0 }
        var held: [String: [String: Int]] = [:]
        for (label, count) in stats.held.snapshot { held[label.route, default: [:]][label.reason.rawValue, default: 0] += count }
        let rates = routeRates()
        return configuration.table.routes.map { route in
            var byConnector: [String: Int] = [:]
            for (pair, count) in delivered where pair.route == route.name { byConnector[pair.connector, default: 0] += count }
            var targets = route.targets.map(\.connector)
            if configuration.playbooks[route.name] != nil { targets.append("playbook") }
            var status = RouteStatus(name: route.name, targets: targets, matched: matched[route.name]?.value ?? 0, delivered: byConnector,
                                     held: held[route.name] ?? [:])
            status.matchedPerSecond = rates[route.name]
            return status
        }
    }

    func inhibitions() -> [InhibitionStatus] {
        inhibitRules.withLock { $0 }.map {
            InhibitionStatus(name: $0.name, source: $0.source.serialized(), target: $0.target.serialized(), equal: $0.equal,
                             forSeconds: Int($0.duration.components.seconds))
        }
    }

    func connectors() -> [ConnectorStatus] {
        let delivered = stats.snapshot.deliveredByPair
        let kinds = config.withLock { c in Dictionary(c.loaded.connectors.map { ($0.name, $0.kind) }, uniquingKeysWith: { a, _ in a }) }
        return lanes().map { lane in
            let health = lane.health
            return ConnectorStatus(
                name: lane.name, kind: kinds[lane.name] ?? "playbook", backlog: health.backlog, inFlight: health.inFlight,
                breaker: health.breaker, delivered: delivered.filter { $0.key.connector == lane.name }.values.reduce(0, +),
                lastError: health.lastError, p95Seconds: lane.latency.quantile(0.95))
        }
    }

    /// Every dead-letter reason, in the exposition's order (sorted once, not per scrape).
    private static let deadLetterReasons = DeadLetterReason.allCases.map(\.rawValue).sorted()

    /// Today's metric names and labels (see deploy/grafana and deploy/prometheus).
    func metrics() -> MetricsSnapshot {
        let s = stats.snapshot
        typealias Family = MetricsSnapshot.Family
        return MetricsSnapshot(
            counters: [
                Family(name: "sluice_findings_consumed_total", help: "Records taken from the source.", samples: [.init(value: s.consumed)]),
                Family(name: "sluice_findings_unmatched_total", help: "Records no route matched.", samples: [.init(value: s.unmatched)]),
                Family(name: "sluice_deliveries_total", help: "Deliveries that succeeded, by route and connector.",
                       samples: s.deliveredByPair.sorted { ($0.key.route, $0.key.connector) < ($1.key.route, $1.key.connector) }
                           .map { .init(labels: [("route", $0.key.route), ("connector", $0.key.connector)], value: $0.value) }),
                Family(name: "sluice_dead_letters_total", help: "Records or deliveries written to the dead-letter topic, by reason.",
                       // Every reason from the start at 0, so rate() and alerts see a series before the first one.
                       samples: Self.deadLetterReasons.map { .init(labels: [("reason", $0)], value: s.deadLettered[$0] ?? 0) }),
                Family(name: "sluice_delivery_retries_total", help: "Delivery attempts that failed and were scheduled again.",
                       samples: [.init(value: s.retries)]),
                Family(name: "sluice_skipped_loop_total",
                       help: "Findings a connector settled without sending because they came from its own target (Security Hub loop guard), by connector.",
                       samples: (loopSkips?.snapshot ?? [:]).sorted { $0.key < $1.key }.map { .init(labels: [("connector", $0.key)], value: $0.value) }),
                Family(name: "sluice_kafka_commit_failures_total",
                       help: "Offset commits the group refused or that failed, by reason (e.g. illegal_generation, rebalance_in_progress): their work is repeated if its partitions move.",
                       samples: (commitFailureReader.withLock { $0 }?() ?? [:]).sorted { $0.key < $1.key }.map { .init(labels: [("reason", $0.key)], value: $0.value) }),
                Family(name: "sluice_held_total", help: "Findings held by a state rule, by route, target and reason.",
                       samples: stats.held.snapshot.map {
                           .init(labels: [("route", $0.label.route), ("target", $0.label.target), ("reason", $0.label.reason.rawValue)], value: $0.count)
                       }),
            ],
            gauges: [
                Family(name: "sluice_in_flight", help: "Records consumed and not yet settled.", samples: [.init(value: inFlight())]),
                Family(name: "sluice_lane_pending", help: "Deliveries queued, running or waiting to retry, by connector.",
                       samples: lanes().map { .init(labels: [("connector", $0.name)], value: $0.pending) }),
                Family(name: "sluice_config_last_reload_successful", help: "1 when the last configuration load succeeded.",
                       samples: [.init(value: config.withLock { $0.lastOK } ? 1 : 0)]),
            ])
    }

    func test(event: [UInt8]) -> TestReport {
        // The same decode-and-normalise as `sluice run`, and the same output as `sluice test`: a
        // split record is judged finding by finding (a JSON array, one report per finding).
        let events: [RouteTestReport.Decoded]
        switch RouteTestReport.decode(event) {
        case .success(let decoded):
            guard !decoded.isEmpty else { return TestReport(json: nil, text: "", error: "the event holds no finding") }
            events = decoded
        case .failure(let rejection):
            return TestReport(json: nil, text: "", error: "the body is rejected as \(rejection.reason): \(rejection.detail)")
        }
        let configuration = configuration
        let reports = events.map { e in
            RouteTestReport(event: e.event, eventText: e.event.serialized(), original: e.original, table: configuration.table,
                            configuration: configuration, connectorsNote: nil)
        }
        if reports.count == 1 { return TestReport(json: reports[0].json.serialized(), text: reports[0].text, error: nil) }
        let text = reports.enumerated().map { "finding \($0.offset + 1) of \(reports.count):\n\($0.element.text)" }.joined(separator: "\n\n")
        return TestReport(json: JSON.array(reports.map(\.json)).serialized(), text: text, error: nil)
    }

    func reload() async -> ReloadOutcome {
        guard let reloader else {
            return config.withLock { ReloadOutcome(successful: false, errors: ["reload is not available"], configHash: $0.hash, configVersion: $0.version) }
        }
        let hash = Self.configHash(directories: [settings.routesDirectory, settings.connectorsDirectory])
        switch reloader() {
        case .success(let reloaded):
            let fresh = reloaded.configuration
            matched.withLock { counters in
                for route in fresh.table.routes where counters[route.name] == nil { counters[route.name] = DeliveryCounter() }
            }
            let version = config.withLock { c in
                c = (fresh, hash, c.version + 1, true)
                return c.version
            }
            logger.notice("configuration reloaded", metadata: ["sluice.config_hash": "\(hash)", "sluice.config_version": "\(version)"])
            return ReloadOutcome(successful: true, errors: [], configHash: hash, configVersion: version,
                                 restartedConnectors: reloaded.restartedConnectors)
        case .failure(let diagnostics):
            let (hash, version) = config.withLock { c in
                c.lastOK = false
                return (c.hash, c.version)
            }
            for d in diagnostics.items { logger.error("reload rejected: the running configuration stays", metadata: ["sluice.problem": "\(d.description)"]) }
            return ReloadOutcome(successful: false, errors: diagnostics.items.map(\.description), configHash: hash, configVersion: version)
        }
    }

    /// SHA-256 over the route and connector files (names and contents, in name order).
    static func configHash(directories: [String]) -> String {
        var hasher = SHA256()
        for directory in directories {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
            for name in names where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
                hasher.update(data: Array("\(directory)/\(name)\u{0}".utf8))
                hasher.update(data: FileManager.default.contents(atPath: "\(directory)/\(name)") ?? Data())
            }
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
