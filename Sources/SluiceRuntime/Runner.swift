import Foundation
import Logging
import ServiceLifecycle
import SluiceActions
import SluiceAdmin
import SluiceConnectors
import SluiceCore
import SluiceHTTP
import SluiceKafka
import SluiceState
import Synchronization
import UnixSignals

/// Everything `sluice run` needs, after flags have overridden the config file.
public struct RunSettings: Sendable {
    public var brokers: String?
    public var topics: [String] = []
    public var group = "sluice"
    /// Static membership and the partition assignor of the source consumer.
    public var membership = ConsumerMembership()
    public var deadLetterTopic: String?
    public var routesDirectory = "routes"
    /// Reload when the route or connector files change (`--watch`; needs the admin server).
    public var watchConfiguration = false
    public var connectorsDirectory = "connectors"
    /// librdkafka properties passed through to every client (`kafka:` map and `-X`).
    public var kafka: [String: String] = [:]
    /// Read NDJSON from this file (`-` = stdin) instead of Kafka.
    public var input: String?
    /// Offline: write dead letters as NDJSON to this file (default: stderr).
    public var deadLetterFile: String?
    /// A connector's failures are logged as a warning at most this often (with the last cause).
    public var failureWarningInterval: Duration = .seconds(10)
    /// A progress line this often; zero: none.
    public var progressInterval: Duration = .seconds(30)
    public var pipeline = PipelineOptions()
    /// Playbook settings (`actions:`): dry run, audit and approvals topics, guards, AWS, Kubernetes.
    public var actions = ActionSettings()
    /// Prefix of the state topics (docs/state.md).
    public var stateTopicPrefix = "sluice."
    /// Partitions of the state repartition and changelog topics (fixed once created).
    public var statePartitions: Int32 = 12
    /// The admin server (probes, `/metrics`, `/api/v1`, dashboard); nil: none.
    public var admin: AdminSettings?
    /// `log_level:` in the file (trace … critical); the `--log-level` flag wins. nil: info.
    public var logLevel: String?
    /// `log_format: json` writes JSON lines (as `--log-json`); `text` (the default) plain lines.
    public var logJSON: Bool?

    /// Log levels `log_level` / `--log-level` accept.
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    public init() {}
}

/// Builds the pipeline from settings and runs it until the input ends or a signal arrives.
public final class Runner: Sendable {
    let settings: RunSettings
    let logger: Logger

    /// Histogram buckets the Prometheus metrics backend must use, by metric name.
    public static let histogramBuckets: [String: [Duration]] = [
        DeliveryLatency.metricName: DeliveryLatency.bounds.map { Duration.seconds($0) },
    ]

    /// Sent in the admin API's status.
    let version: String
    /// `/metrics` copies the run's counters into this registry at scrape time; the executable
    /// bootstraps swift-metrics with a Prometheus factory on the same registry.
    let exporter: MetricsExporter
    /// Conditions `/-/ready` waits for; parts of the runtime (the state module) add theirs.
    public let readiness = Readiness()

    public init(settings: RunSettings, logger: Logger, version: String = "dev", exporter: MetricsExporter = MetricsExporter()) {
        self.settings = settings
        self.logger = logger
        self.version = version
        self.exporter = exporter
    }

    /// Runs to completion. Returns the run's counters.
    public func run(environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> RunStats {
        try LibrdkafkaVersion.check()
        let loaded = try LoadedConfiguration.load(
            routesDirectory: settings.routesDirectory, connectorsDirectory: settings.connectorsDirectory, environment: environment)
        var kafka = KafkaConfig(settings.kafka)
        if let brokers = settings.brokers { kafka["bootstrap.servers"] = brokers }

        // A connector that cannot work in this run stops it here, before any input is read.
        let unusable = loaded.connectorsNeedingBrokers(runHasBrokers: kafka["bootstrap.servers"] != nil)
            + loaded.connectorsMissingAWSPrerequisites(offline: settings.input != nil, environment: environment)
        if !unusable.isEmpty { throw Diagnostics(unusable) }
        if settings.input == nil, settings.deadLetterFile != nil {
            throw RunError("--dead-letter-file is for offline runs (--input); consuming Kafka, dead letters go to --dead-letter-topic")
        }

        let stats = RunStats()
        let stopping = StopSignal()
        let http = HTTPClient()
        defer { http.shutdown() }
        let context = ConnectorContext(http: http, kafka: kafka, environment: environment, logger: logger)

        // The dead-letter producer: required when consuming Kafka, optional offline.
        var dlqProducer: KafkaProducer?
        if settings.deadLetterFile == nil, let topic = settings.deadLetterTopic, kafka["bootstrap.servers"] != nil {
            dlqProducer = try KafkaProducer(config: kafka.forProducer, logger: logger.with("sluice.part", "dead-letter"))
            logger.info("dead letters go to \(topic)")
        } else if settings.input == nil {
            throw KafkaError(.config, "a dead-letter topic is required when consuming Kafka (--dead-letter-topic or dead_letter_topic:)")
        }
        var fallback = FileHandle.standardError
        if let path = settings.deadLetterFile {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
                throw RunError("--dead-letter-file \(path): the directory \(directory) does not exist")
            }
            guard FileManager.default.createFile(atPath: path, contents: nil), let file = FileHandle(forWritingAtPath: path) else {
                throw RunError("cannot create the dead-letter file \(path)")
            }
            fallback = file
        }
        let deadLetters = DeadLetterWriter(
            topic: dlqProducer == nil ? nil : settings.deadLetterTopic, producer: dlqProducer, fallback: fallback, logger: logger,
            stats: stats, stopping: stopping)

        let failureWarningInterval = settings.failureWarningInterval
        @Sendable func makeLane(_ definition: ConnectorDefinition) throws -> DeliveryLane {
            DeliveryLane(name: definition.name, connector: try definition.make(context: context), policy: definition.policy,
                         deadLetters: deadLetters, stats: stats, stopping: stopping, logger: logger,
                         failureWarningInterval: failureWarningInterval)
        }
        var lanesByName: [String: DeliveryLane] = [:]
        for definition in loaded.connectors { lanesByName[definition.name] = try makeLane(definition) }
        // Playbooks (with their approvals, audit and shared caps) are set up here when some route
        // has one, else by the first reload that adds one (RunReload.swift).
        let late = LateServices()
        var playbookParts: [RunPart] = []
        let playbookSetup = PlaybookSetup(settings: settings, kafka: kafka, http: http, environment: environment, deadLetters: deadLetters,
                                          stats: stats, stopping: stopping, logger: logger)
        let playbooks = try playbookSetup.make(loaded, parts: &playbookParts)
        let playbookSlot = LateSlot(playbooks)
        let lanes = LaneSet(lanesByName, definitions: loaded.connectors, fixed: playbooks.map { [$0.lane] } ?? [])
        // Binds each route's targets to the current lanes (after a reload: the new connectors').
        // Every target names a lane: loading checks the names, and a reload makes new lanes first.
        @Sendable func bind(_ loaded: LoadedConfiguration) -> [[BoundTarget]] {
            let current = lanes.current
            let definitionsByName = Dictionary(loaded.connectors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            return loaded.table.routes.enumerated().map { i, route in
                route.targets.enumerated().compactMap { j, t in
                    current[t.connector].map { lane in
                        BoundTarget(lane: lane, renderer: loaded.renderers[i][j], usesSummary: definitionsByName[t.connector]?.usesSummary ?? false,
                                    delivered: stats.deliveryCounter(route: route.name, connector: t.connector),
                                    digestTemplate: definitionsByName[t.connector]?.digestTemplate)
                    }
                } + (loaded.playbooks[route.name] == nil ? [] : playbookSlot.current.map { p in
                    [BoundTarget(lane: p.lane, renderer: nil, usesSummary: false, delivered: stats.deliveryCounter(route: route.name, connector: p.lane.name))]
                } ?? [])
            }
        }
        let targets = bind(loaded)
        let connectorFiles = ConnectorFiles(loaded)
        // The admin server's view of this run; built before the pipeline, which reports to it.
        let pipelineRef = PipelineReference()
        var bridge: AdminBridge?
        if let admin = settings.admin {
            if settings.input == nil { readiness.require(AdminBridge.consumerAssigned) }
            bridge = AdminBridge(
                settings: settings, logger: logger, configuration: loaded,
                configHash: AdminBridge.configHash(directories: [settings.routesDirectory, settings.connectorsDirectory]),
                version: version, stats: stats, lanes: { lanes.byName }, recent: RecentFindings(capacity: admin.recentFindings),
                readiness: readiness, inFlight: { pipelineRef.inFlight }, loopSkips: context.loopSkips)
            bridge?.operations = OperationsBridge(settings: settings, kafka: kafka, approvals: { playbookSlot.current?.approvalStore },
                                                  playbooks: { playbookSlot.current?.runner.playbooks ?? [:] },
                                                  running: { pipelineRef.plan }, logger: logger.with("sluice.part", "operations"))
        }
        // The Hold stage (docs/state.md). Offline, only when a route or an inhibit rule uses it, its
        // state in memory and its clock the findings' time. Consuming Kafka, always: silences can
        // be added at any time (`sluice silence add`), and state is shared through Kafka itself.
        // What only state rules or inhibit rules need (the key owner and its topics, the inhibition
        // feed) is set up when some rule needs it: here, or by the reload that adds the first one.
        let inhibitRules = try HoldRuleLoader.loadInhibitRules(directory: settings.routesDirectory, environment: environment)
        bridge?.inhibitRules.withLock { $0 = inhibitRules }
        let consumingKafka = settings.input == nil && kafka["bootstrap.servers"] != nil
        let hold = consumingKafka || loaded.table.routes.contains { !$0.hold.isEmpty } || !inhibitRules.isEmpty
            ? HoldStage(routes: loaded.table.routes, inhibitRules: inhibitRules, held: stats.held) : nil
        var stateSetup: StateSetup?
        if let hold, consumingKafka {
            let topics = StateTopics(prefix: settings.stateTopicPrefix, group: settings.group, partitions: settings.statePartitions)
            try StateSetup.create(topics, keyed: !hold.rules.isEmpty, inhibit: hold.hasInhibitRules, config: kafka, logger: logger)
            let producer = try KafkaProducer(config: StateTopics.producerConfig(kafka.forProducer), logger: logger.with("sluice.part", "state"))
            stateSetup = StateSetup(settings: settings, kafka: kafka, topics: topics, hold: hold,
                                    forwarder: StateForwarder(producer: producer, topics: topics, logger: logger),
                                    stats: stats, readiness: readiness, pipeline: pipelineRef, environment: environment, logger: logger)
        }
        let forwarder = stateSetup?.forwarder
        // A digest of a route a reload removed still goes out, through its connector's current lane.
        let gateRun = HoldGateRun { route, connector in
            lanes.lane(named: connector).map { current in
                BoundTarget(lane: current.lane, renderer: nil, usesSummary: current.definition?.usesSummary ?? false,
                            delivered: stats.deliveryCounter(route: route, connector: connector),
                            digestTemplate: current.definition?.digestTemplate)
            }
        }
        let routingPlan = RoutingPlan(table: loaded.table, targets: targets, hold: hold, useEventTime: settings.input != nil, forwarder: forwarder,
                                      inhibitRules: inhibitRules, limits: settings.pipeline.decodeLimits, gateRun: gateRun)
        // Kafka-backed state: silences and inhibition sources are read up to their end before the
        // source starts (a silence in force holds from the first record), then followed; the owner
        // of keyed state joins its group only when some route has state rules.
        var stateParts: [RunPart] = []
        var keyOwner: KafkaHoldOwner?
        if let hold, let setup = stateSetup, let gate = routingPlan.gate {
            let forwarder = setup.forwarder
            bridge?.silences = SilencesBridge(hold: hold, producer: forwarder.producer, topic: setup.topics.silences, limits: settings.pipeline.decodeLimits)
            stateParts.append(.closing(name: "state producer") { forwarder.producer.close() })
            stateParts.append(try setup.silencesFeed(gate: gate))
            if hold.hasInhibitRules { stateParts.append(try setup.inhibitFeed()) }
            if !hold.rules.isEmpty {
                let (owner, parts) = try setup.keyOwner(rules: hold.rules, gate: gate)
                setup.adopt(owner)
                keyOwner = owner
                stateParts += parts
            }
        }
        let ownerAtStart = keyOwner
        let ownerRestored: (@Sendable () -> Bool)? = ownerAtStart.map { owner in { @Sendable in owner.isReady } }
        let pipeline = Pipeline(
            plan: routingPlan, lanes: { lanes.all },
            deadLetters: deadLetters, options: settings.pipeline, stats: stats, stopping: stopping, logger: logger, observer: bridge,
            holdRun: gateRun, firstPollAfter: ownerRestored)
        pipelineRef.set(pipeline)
        let reloader = RunReload(
            settings: settings, environment: environment, logger: logger, kafka: kafka,
            connectorFiles: connectorFiles, makeLane: makeLane, lanes: lanes, bind: bind, pipeline: pipeline, stats: stats, gateRun: gateRun,
            bridge: bridge, late: late, state: stateSetup, playbookSetup: playbookSetup,
            hold: LateSlot(hold), owner: LateSlot(keyOwner), inhibitFeedStarted: LateSlot(hold?.hasInhibitRules == true ? true : nil),
            playbooks: playbookSlot)
        let reload: @Sendable () -> Result<AdminBridge.Reloaded, Diagnostics> = { reloader.reload() }
        // One reload at a time (SIGHUP, the API and --watch may ask at once).
        let reloading = Mutex(())
        bridge?.reloader = { reloading.withLock { _ in reload() } }
        logger.info("routing", metadata: [
            "sluice.routes": "\(loaded.table.routes.count)", "sluice.connectors": "\(lanesByName.count)",
            "kafka.version": "\(LibrdkafkaVersion.string)",
        ])

        let source: ThreadService
        var lag: (@Sendable () -> Int64?)?
        var memberID: (@Sendable () -> String?)?
        var commitFailures: (@Sendable () -> [String: Int])?
        if let input = settings.input {
            let handle: FileHandle
            if input == "-" { handle = .standardInput } else {
                guard let h = FileHandle(forReadingAtPath: input) else { throw RunError("cannot open input \(input)") }
                handle = h
            }
            source = ThreadService(name: "source-ndjson", body: { pipeline.run(lines: handle) }, stop: { stopping.stop() })
        } else {
            guard kafka["bootstrap.servers"] != nil else { throw RunError("no brokers: set --brokers or brokers: in the config file") }
            guard !settings.topics.isEmpty else { throw RunError("no topic: set --topic or topics: in the config file") }
            var consumerConfig = kafka
            consumerConfig["group.id"] = settings.group
            for (k, v) in settings.membership.properties(group: settings.group, topics: settings.topics) { consumerConfig[k] = v }
            // Names this instance among the group's members (the admin API's instances).
            if consumerConfig["client.id"] == nil { consumerConfig["client.id"] = Self.defaultClientID() }
            let consumer = try KafkaConsumer(config: consumerConfig, topics: settings.topics, logger: logger.with("sluice.part", "consumer"),
                                             groupStallTimeout: settings.membership.stallTimeout,
                                             leaveGroupOnClose: settings.membership.leaveGroupOnClose)
            logger.info("consuming", metadata: ["kafka.topics": "\(settings.topics.joined(separator: ","))", "kafka.group": "\(settings.group)"])
            lag = { consumer.lag }
            memberID = { consumer.memberID }
            commitFailures = { consumer.commitFailures }
            source = ThreadService(name: "source-kafka", body: { try pipeline.run(consumer: consumer) }, stop: { stopping.stop() })
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let admin = settings.admin, let bridge {
            let access = try AccessControl.load(file: admin.tokensFile, environment: environment)
            let server = try AdminServer(settings: admin, runtime: bridge, access: access, readiness: readiness, recent: bridge.recent,
                                         exporter: exporter, logger: logger.with("sluice.part", "admin"))
            // A server that cannot listen (port taken) ends the run in order, at once: a router
            // whose probes and /metrics are someone else's must not keep running.
            services.append(.init(service: server, failureTerminationBehavior: .gracefullyShutdownGroup))
            // Ignored until the service traps it: a SIGHUP at start-up must not end the process.
            signal(SIGHUP, SIG_IGN)
            services.append(.init(service: HangupReloadService { _ = await bridge.reload() }))
            bridge.lagReader.withLock { $0 = lag }
            bridge.commitFailureReader.withLock { $0 = commitFailures }
            let inspector = memberID == nil ? nil : try KafkaGroupInspector(config: kafka, logger: logger.with("sluice.part", "admin-group"))
            let readMemberID = memberID
            let sampler = AdminSampler(bridge: bridge, inspector: inspector, group: settings.group, memberID: { readMemberID?() },
                                       logger: logger.with("sluice.part", "admin"))
            services.append(.init(service: ThreadService(name: "admin-sampler", body: { sampler.run() }, stop: { sampler.stop() })))
            if settings.watchConfiguration {
                services.append(.init(service: ConfigWatcher(
                    directories: [settings.routesDirectory, settings.connectorsDirectory], interval: .seconds(1),
                    reload: { _ = await bridge.reload() }, logger: logger)))
            }
        }
        // Every long-lived part is a service of one group, started in this order and shut down
        // in reverse: the source drains first (its deliveries still need connectors, the HTTP
        // client and the dead-letter producer, its forwarded items the state producer), then the
        // state owner (it still delivers what it releases) and feeds, the state producer,
        // connectors, playbooks (approval store, audit producer), the HTTP client, the dead-letter
        // producer, and the admin server last, so probes and /metrics answer for the whole drain.
        if let dlqProducer { services.append(.init(service: ClosingService("dead-letter producer") { dlqProducer.close() })) }
        services.append(.init(service: ClosingService("http client") { http.shutdown() }))
        // A playbook lane a reload set up closes here too.
        services.append(.init(service: ClosingService("playbooks") { playbookSlot.current?.close() }))
        services.append(.init(service: ClosingService("connectors") { lanes.shutDownAll() }))
        services += stateParts.map(\.service)
        services += playbookParts.map(\.service)
        // What reloads started stops before what the run started with (it may use it: the owner
        // delivers through the lanes), after the source drained.
        services.append(.init(service: late, successTerminationBehavior: .gracefullyShutdownGroup))
        if settings.progressInterval > .zero {
            services.append(.init(service: ProgressReporter(
                interval: settings.progressInterval, stats: stats, inFlight: { pipelineRef.inFlight }, lag: lag, logger: logger)))
        }
        services.append(.init(service: source, successTerminationBehavior: .gracefullyShutdownGroup))
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        return stats
    }
}

extension Runner {
    /// `sluice-<host>-<pid>`: what the group's member list shows for this instance unless the
    /// config sets `client.id` (client ids allow letters, digits, `.`, `_` and `-`).
    static func defaultClientID() -> String {
        let host = ProcessInfo.processInfo.hostName.utf8.prefix(100).map { b -> Character in
            let c = Character(UnicodeScalar(b))
            return c.isASCII && (c.isLetter || c.isNumber || c == "." || c == "_" || c == "-") ? c : "-"
        }
        return "sluice-\(String(host))-\(ProcessInfo.processInfo.processIdentifier)"
    }
}

public struct RunError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A long-lived part with nothing to run but a resource to release: it waits for the group's
/// graceful shutdown (or its cancellation on an error) and then closes, in the group's order.
struct ClosingService: Service, CustomStringConvertible {
    let description: String
    let close: @Sendable () -> Void

    init(_ name: String, close: @escaping @Sendable () -> Void) {
        description = name
        self.close = close
    }

    func run() async throws {
        try? await gracefulShutdown()
        close()
    }
}

/// SIGHUP reloads routes (with an admin view to report the outcome to): a service of the
/// group, so it stops trapping the signal when the group shuts down.
struct HangupReloadService: Service, CustomStringConvertible {
    let description = "reload on SIGHUP"
    let reload: @Sendable () async -> Void

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() { await reload() }
    }
}

/// The connector files of the running configuration, to tell which instances a reload changes.
final class ConnectorFiles: Sendable {
    private let contents: Mutex<[String: Data]>
    init(_ loaded: LoadedConfiguration) { contents = Mutex(Self.read(loaded)) }

    /// Connectors whose file is new or differs from the running one's, and those no longer there.
    func changes(in fresh: LoadedConfiguration) -> (changed: Set<String>, removed: Set<String>) {
        let running = contents.withLock { $0 }
        let now = Self.read(fresh)
        return (Set(now.filter { running[$0.key] != $0.value }.keys), Set(running.keys).subtracting(now.keys))
    }

    /// The reloaded configuration is the running one now.
    func accept(_ fresh: LoadedConfiguration) { contents.withLock { $0 = Self.read(fresh) } }

    private static func read(_ loaded: LoadedConfiguration) -> [String: Data] {
        Dictionary(loaded.connectors.map { ($0.name, FileManager.default.contents(atPath: $0.location.path) ?? Data()) },
                   uniquingKeysWith: { a, _ in a })
    }
}

/// The pipeline, for the admin view built before it.
final class PipelineReference: Sendable {
    private let pipeline = Mutex<Pipeline?>(nil)
    func set(_ p: Pipeline) { pipeline.withLock { $0 = p } }
    var inFlight: Int { pipeline.withLock { $0?.inFlightCount ?? 0 } }
    /// The running routes, lanes and decode limits, for replays started through the admin API.
    var plan: (RoutingPlan, PipelineOptions)? { pipeline.withLock { p in p.map { ($0.activePlan, $0.options) } } }
    /// The Hold gate of the plan in force.
    var gate: HoldGate? { pipeline.withLock { $0?.activePlan.gate } }
}

/// The key owner's way to the lanes: the gate of the plan in force now (a reload binds routes
/// to targets anew; the first plan's gate would send a changed route's releases nowhere).
struct CurrentHoldDispatch: HoldDispatch {
    let first: HoldGate
    let pipeline: PipelineReference
    var gate: HoldGate { pipeline.gate ?? first }

    func deliver(route: String, target: String, payload: [UInt8], findingID: String?, event: [UInt8]?, completion: @escaping @Sendable (Bool) -> Void) {
        gate.deliver(route: route, target: target, payload: payload, findingID: findingID, event: event, completion: completion)
    }
    func deliver(digest: Digest, payload: [UInt8], completion: @escaping @Sendable (Bool) -> Void) {
        gate.deliver(digest: digest, payload: payload, completion: completion)
    }
    func payload(for release: HoldRelease) -> [UInt8] { gate.payload(for: release) }
    func payload(for digest: Digest) -> [UInt8]? { gate.payload(for: digest) }
}

/// Runs a blocking loop (a source, the state owner, a topic feed) on a thread of its own;
/// graceful shutdown calls `stop`, and the service ends when the loop returns.
final class ThreadService: Service, Sendable, CustomStringConvertible {
    let description: String
    let body: @Sendable () throws -> Void
    let stop: @Sendable () -> Void

    init(name: String, body: @escaping @Sendable () throws -> Void, stop: @escaping @Sendable () -> Void) {
        description = name
        self.body = body
        self.stop = stop
    }

    func run() async throws {
        // The loop cannot see task cancellation: a cancelled group (another service failed) must
        // stop it as a graceful shutdown would, or the group waits for the loop's own end (for a
        // source reading stdin, until the input closes).
        try await withTaskCancellationHandler {
            try await runUntilStopped()
        } onCancel: { [stop] in
            stop()
        }
    }

    private func runUntilStopped() async throws {
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread { [body] in
                    do {
                        try body()
                        continuation.resume()
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                thread.name = "sluice-\(description)"
                thread.start()
            }
        } onGracefulShutdown: { [stop] in
            stop()
        }
    }
}
