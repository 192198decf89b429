import Foundation
import Logging
import ServiceLifecycle
import SluiceActions
import SluiceConnectors
import SluiceCore
import SluiceHTTP
import SluiceKafka
import SluiceState

/// Everything `sluice run` needs, after flags have overridden the config file.
public struct RunSettings: Sendable {
    public var brokers: String?
    public var topics: [String] = []
    public var group = "sluice"
    public var deadLetterTopic: String?
    public var routesDirectory = "routes"
    public var connectorsDirectory = "connectors"
    /// librdkafka properties passed through to every client (`kafka:` map and `-X`).
    public var kafka: [String: String] = [:]
    /// Read NDJSON from this file (`-` = stdin) instead of Kafka.
    public var input: String?
    public var pipeline = PipelineOptions()
    /// Playbook settings (`actions:`): dry run, audit and approvals topics, guards, AWS, Kubernetes.
    public var actions = ActionSettings()
    /// `HOST:PORT` for the Prometheus endpoint (`/metrics`, `/healthz`); nil: none.
    public var metricsListen: String?
    /// Prefix of the state topics (docs/state.md).
    public var stateTopicPrefix = "sluice."
    /// Partitions of the state repartition and changelog topics (fixed once created).
    public var statePartitions: Int32 = 12
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

    public init(settings: RunSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// Runs to completion. Returns the run's counters.
    public func run(environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> RunStats {
        try LibrdkafkaVersion.check()
        let loaded = try LoadedConfiguration.load(
            routesDirectory: settings.routesDirectory, connectorsDirectory: settings.connectorsDirectory, environment: environment)
        var kafka = KafkaConfig(settings.kafka)
        if let brokers = settings.brokers { kafka["bootstrap.servers"] = brokers }

        let stats = RunStats()
        let stopping = StopSignal()
        let http = HTTPClient()
        defer { http.shutdown() }
        let context = ConnectorContext(http: http, kafka: kafka, environment: environment, logger: logger)

        // The dead-letter producer: required when consuming Kafka, optional offline.
        var dlqProducer: KafkaProducer?
        if let topic = settings.deadLetterTopic, kafka["bootstrap.servers"] != nil {
            dlqProducer = try KafkaProducer(config: kafka.forProducer, logger: logger.with("sluice.part", "dead-letter"))
            logger.info("dead letters go to \(topic)")
        } else if settings.input == nil {
            throw KafkaError(.config, "a dead-letter topic is required when consuming Kafka (--dead-letter-topic or dead_letter_topic:)")
        }
        let deadLetters = DeadLetterWriter(
            topic: dlqProducer == nil ? nil : settings.deadLetterTopic, producer: dlqProducer, logger: logger, stats: stats, stopping: stopping)

        var lanesByName: [String: DeliveryLane] = [:]
        for definition in loaded.connectors {
            let connector = try definition.make(context: context)
            lanesByName[definition.name] = DeliveryLane(
                name: definition.name, connector: connector, policy: definition.policy,
                deadLetters: deadLetters, stats: stats, stopping: stopping, logger: logger)
        }
        let definitionsByName = Dictionary(loaded.connectors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let playbooks = try PlaybookLane.make(loaded: loaded, settings: settings.actions, kafka: kafka, http: http, environment: environment,
                                              deadLetters: deadLetters, stats: stats, stopping: stopping, logger: logger)
        let targets = loaded.table.routes.enumerated().map { i, route in
            route.targets.enumerated().map { j, t in
                BoundTarget(lane: lanesByName[t.connector]!, renderer: loaded.renderers[i][j], usesSummary: definitionsByName[t.connector]?.usesSummary ?? false,
                            delivered: stats.deliveryCounter(route: route.name, connector: t.connector))
            } + (loaded.playbooks[route.name] != nil
                ? [BoundTarget(lane: playbooks!.lane, renderer: nil, usesSummary: false, delivered: stats.deliveryCounter(route: route.name, connector: playbooks!.lane.name))]
                : [])
        }
        // The Hold stage (docs/state.md). Offline, only when a route or an inhibit rule uses it, its
        // state in memory and its clock the findings' time. Consuming Kafka, always: silences can
        // be added at any time (`sluice silence add`), and state is shared through Kafka itself.
        let inhibitRules = try HoldRuleLoader.loadInhibitRules(directory: settings.routesDirectory, environment: environment)
        let consumingKafka = settings.input == nil && kafka["bootstrap.servers"] != nil
        let hold = consumingKafka || loaded.table.routes.contains { !$0.hold.isEmpty } || !inhibitRules.isEmpty
            ? HoldStage(routes: loaded.table.routes, inhibitRules: inhibitRules, held: stats.held) : nil
        var forwarder: StateForwarder?
        var stateTopics: StateTopics?
        if hold != nil, consumingKafka {
            let topics = StateTopics(prefix: settings.stateTopicPrefix, group: settings.group, partitions: settings.statePartitions)
            try topics.create(keyed: !(hold?.rules.isEmpty ?? true), inhibit: hold?.hasInhibitRules ?? false, config: kafka, logger: logger)
            let producer = try KafkaProducer(config: kafka.forProducer, logger: logger.with("sluice.part", "state"))
            forwarder = StateForwarder(producer: producer, topics: topics, logger: logger)
            stateTopics = topics
        }
        let routingPlan = RoutingPlan(table: loaded.table, targets: targets, hold: hold, useEventTime: settings.input != nil, forwarder: forwarder)
        // Kafka-backed state: silences and inhibition sources are read up to their end before the
        // source starts (a silence in force holds from the first record), then followed; the owner
        // of keyed state joins its group only when some route has state rules.
        var stateServices: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let hold, let topics = stateTopics, let forwarder, let gate = routingPlan.gate {
            stateServices.append(.init(service: ClosingService("state producer") { forwarder.producer.close() }))
            var followed = [(topics.silences, SilenceRecords.apply)]
            if hold.hasInhibitRules { followed.append((topics.inhibit, InhibitRecords.apply)) }
            for (topic, apply) in followed {
                let feed = try WholeTopicFeed(config: kafka, topic: topic, logger: logger) { apply($0, hold) }
                try feed.catchUp()
                stateServices.append(.init(
                    service: ThreadService(name: "state-feed", body: { feed.follow() }, stop: { feed.stop() }),
                    successTerminationBehavior: .gracefullyShutdownGroup))
            }
            if !hold.rules.isEmpty {
                let owner = try KafkaHoldOwner(
                    topics: topics, rules: hold.rules, kafka: kafka, producer: forwarder.producer,
                    dispatch: gate, held: stats.held, logger: logger.with("sluice.part", "state-owner"))
                let drainTimeout = settings.pipeline.drainTimeout
                // An owner that stops on its own (a partition it cannot restore) ends the run:
                // without that state its keys would deliver repeats.
                stateServices.append(.init(
                    service: ThreadService(name: "state-owner", body: { owner.run(drainTimeout: drainTimeout) }, stop: { owner.stop() }),
                    successTerminationBehavior: .gracefullyShutdownGroup))
            }
        }
        let pipeline = Pipeline(
            plan: routingPlan, lanes: Array(lanesByName.values) + (playbooks.map { [$0.lane] } ?? []),
            deadLetters: deadLetters, options: settings.pipeline, stats: stats, stopping: stopping, logger: logger)
        logger.info("routing", metadata: [
            "sluice.routes": "\(loaded.table.routes.count)", "sluice.connectors": "\(lanesByName.count)",
            "kafka.version": "\(LibrdkafkaVersion.string)",
        ])

        let source: ThreadService
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
            kafka["group.id"] = settings.group
            let consumer = try KafkaConsumer(config: kafka, topics: settings.topics, logger: logger.with("sluice.part", "consumer"))
            logger.info("consuming", metadata: ["kafka.topics": "\(settings.topics.joined(separator: ","))", "kafka.group": "\(settings.group)"])
            source = ThreadService(name: "source-kafka", body: { try pipeline.run(consumer: consumer) }, stop: { stopping.stop() })
        }
        var metrics: MetricsServer?
        if let address = settings.metricsListen {
            let lanes = lanesByName.values.sorted { $0.name < $1.name }
            metrics = try MetricsServer(address: address) { [stats, pipeline] in
                stats.prometheusText(gauges: [
                    ("sluice_in_flight", "Records consumed and not yet settled.", [("", pipeline.inFlightCount)]),
                    ("sluice_lane_pending", "Deliveries queued, running or waiting to retry, by connector.",
                     lanes.map { ("connector=\"\(RunStats.escape($0.name))\"", $0.pending) }),
                ]) + DeliveryLatency.prometheusFamily(lanes.map { ($0.name, $0.latency) })
            }
            logger.info("metrics", metadata: ["sluice.metrics": "http://\(address)/metrics"])
        }
        // Every long-lived part is a service of one group, started in this order and shut down
        // in reverse: the source drains first (its deliveries still need connectors, the HTTP
        // client and the dead-letter producer, its forwarded items the state producer), then the
        // state owner (it still delivers what it releases) and feeds, the state producer, metrics,
        // connectors, playbooks (approval store, audit producer), the HTTP client, and the
        // dead-letter producer last.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let dlqProducer { services.append(.init(service: ClosingService("dead-letter producer") { dlqProducer.close() })) }
        services.append(.init(service: ClosingService("http client") { http.shutdown() }))
        if let playbooks { services.append(.init(service: ClosingService("playbooks") { playbooks.close() })) }
        let connectors = Array(lanesByName.values)
        services.append(.init(service: ClosingService("connectors") { for lane in connectors { lane.connector.shutdown() } }))
        if let metrics { services.append(.init(service: ClosingService("metrics") { metrics.stop() })) }
        services += stateServices
        services.append(.init(service: source, successTerminationBehavior: .gracefullyShutdownGroup))
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        return stats
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
