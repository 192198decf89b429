import Foundation
import Logging
import SluiceActions
import SluiceAdmin
import SluiceCore
import SluiceHTTP
import SluiceKafka
import SluiceState
import Synchronization

/// A part of the run that the start or a later reload sets up (the Hold stage offline, the key
/// owner, the playbook lane), read by the closures built at start.
final class LateSlot<Value: Sendable>: Sendable {
    private let value: Mutex<Value?>
    init(_ value: Value?) { self.value = Mutex(value) }
    var current: Value? { value.withLock { $0 } }
    func set(_ new: Value) { value.withLock { $0 = new } }
}

extension RunPart {
    /// Undoes parts made for a reload that failed before they started: closes what is to be
    /// closed; a loop told to stop first runs to its end at once and releases what it holds
    /// (a feed its reader, the owner its consumer).
    static func discard(_ parts: [RunPart]) {
        for part in parts.reversed() {
            switch part {
            case .closing(_, let close): close()
            case .loop(_, let body, let stop):
                stop()
                body()
            }
        }
    }
}

/// The Kafka-backed parts of the Hold stage of a run consuming Kafka (docs/state.md), built at
/// start for the rules the run starts with, or by the reload that adds the first state rule or
/// inhibit rule. Each builder creates its part and returns it unstarted: the caller starts it
/// (a service of the run's group, or `LateServices`) only once everything else it needs exists.
struct StateSetup: Sendable {
    let settings: RunSettings
    let kafka: KafkaConfig
    let topics: StateTopics
    let hold: HoldStage
    let forwarder: StateForwarder
    let stats: RunStats
    let readiness: Readiness
    let pipeline: PipelineReference
    let environment: [String: String]
    let logger: Logger

    /// Creates the state topics that are missing: the silences topic always, the keyed ones
    /// (repartition, changelog) and the inhibition topic when asked. A name Kafka would refuse
    /// (legal: 1 to 249 of `a-z A-Z 0-9 . _ -`; the consumer group is part of it) is refused here,
    /// before any topic is created, with the name and the rule it breaks.
    static func create(_ topics: StateTopics, keyed: Bool, inhibit: Bool, config: KafkaConfig, logger: Logger) throws {
        let names = [topics.silences] + (keyed ? [topics.repartition, topics.changelog] : []) + (inhibit ? [topics.inhibit] : [])
        try checkNames(names)
        try topics.create(keyed: keyed, inhibit: inhibit, config: config, logger: logger)
    }

    /// Throws for the first of `names` that is not a legal Kafka topic name.
    static func checkNames(_ names: [String]) throws {
        for name in names {
            let legal = name.utf8.allSatisfy { b in
                (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || b == 0x2E || b == 0x5F || b == 0x2D
            }
            guard legal, (1...249).contains(name.utf8.count), name != ".", name != ".." else {
                throw RunError("state topic '\(name)' cannot be created: a Kafka topic name is 1 to 249 characters of "
                    + "a-z, A-Z, 0-9, '.', '_' and '-' (it is made of state.topic_prefix and the consumer group)")
            }
        }
    }

    /// The silences feed, read to its end: silences, and their expiry summaries (the reports and
    /// the choice of sender go through the silences topic).
    func silencesFeed(gate: HoldGate) throws -> RunPart {
        let summaries = SilenceSummaries()
        let tick = gate.silenceSummaryTick(summaries, topic: topics.silences, producer: forwarder.producer, logger: logger)
        return try feed(topics.silences, tick: tick) { r, stage in
            if let key = r.key, summaries.apply(key: key, value: r.value, now: HoldGate.wallClock()) { return }
            SilenceRecords.apply(r, to: stage)
        }
    }

    /// The inhibition sources' feed, read to its end.
    func inhibitFeed() throws -> RunPart {
        try feed(topics.inhibit, tick: nil, apply: InhibitRecords.apply)
    }

    private func feed(_ topic: String, tick: (@Sendable () -> Void)?, apply: @escaping @Sendable (KafkaRecord, HoldStage) -> Void) throws -> RunPart {
        let hold = hold
        let feed = try WholeTopicFeed(config: kafka, topic: topic, logger: logger, tick: tick) { apply($0, hold) }
        try feed.catchUp()
        return .loop(name: "state-feed", body: { feed.follow() }, stop: { feed.stop() })
    }

    /// The owner of keyed state with `rules`, not started: its changelog producer (a connection
    /// of its own, so the repartition acknowledgements the source waits for never queue behind
    /// changelog writes) and its loop, which restores each assigned partition before deciding
    /// any of its keys. It releases through the gate of the plan in force.
    func keyOwner(rules: [String: HoldRules], gate: HoldGate) throws -> (KafkaHoldOwner, [RunPart]) {
        let changelogProducer = try KafkaProducer(config: StateTopics.changelogProducerConfig(kafka.forProducer),
                                                  logger: logger.with("sluice.part", "state-changelog"))
        let owner: KafkaHoldOwner
        do {
            owner = try KafkaHoldOwner(
                topics: topics, rules: rules, kafka: kafka, producer: changelogProducer,
                dispatch: CurrentHoldDispatch(first: gate, pipeline: pipeline), held: stats.held,
                logger: logger.with("sluice.part", "state-owner"),
                restored: { [readiness] in readiness.set(KafkaHoldOwner.readinessCondition, met: $0) })
        } catch {
            changelogProducer.close()
            throw error
        }
        let drainTimeout = settings.pipeline.drainTimeout
        return (owner, [
            .closing(name: "state changelog producer") { changelogProducer.close() },
            .loop(name: "state-owner", body: { owner.run(drainTimeout: drainTimeout) }, stop: { owner.stop() }),
        ])
    }

    /// Makes `owner` the run's, before its loop starts: `/-/ready` is false until it restored its
    /// partitions, and the source decides a key here when this instance owns its partition and
    /// restored it (else the item crosses the repartition topic to its owner, which restores first).
    func adopt(_ owner: KafkaHoldOwner) {
        readiness.require(KafkaHoldOwner.readinessCondition)
        // SLUICE_STATE_LOCAL_DECISIONS=off forwards every item (to measure).
        if environment["SLUICE_STATE_LOCAL_DECISIONS"] != "off" { _ = forwarder.localOwner.owner.storeIfNil(owner) }
    }
}

/// The playbook lane of a run, built at start when some route has a playbook, or by the reload
/// that adds the first one: approvals (the approvals topic, followed), the audit producer, and,
/// consuming Kafka, the caps shared by the group's instances (the guard ledger, read to its end
/// before the first action, then followed).
struct PlaybookSetup: Sendable {
    let settings: RunSettings
    let kafka: KafkaConfig
    let http: HTTPClient
    let environment: [String: String]
    let deadLetters: DeadLetterWriter
    let stats: RunStats
    let stopping: StopSignal
    let logger: Logger

    /// nil when `loaded` has no playbook. `parts` gains the guard ledger's, to be started by the caller.
    func make(_ loaded: LoadedConfiguration, parts: inout [RunPart]) throws -> PlaybookLane? {
        guard !loaded.playbooks.isEmpty else { return nil }
        var budget: (any ActionBudget)?
        var ledgerParts: [RunPart] = []
        if settings.input == nil, kafka["bootstrap.servers"] != nil {
            let topics = StateTopics(prefix: settings.stateTopicPrefix, group: settings.group, partitions: settings.statePartitions)
            try StateSetup.checkNames([topics.guards])
            try topics.createGuards(config: kafka, logger: logger)
            let producer = try KafkaProducer(config: kafka.forProducer, logger: logger.with("sluice.part", "guards"))
            do {
                let ledger = try KafkaGuardLedger(config: kafka, topic: topics.guards, caps: SharedActionBudget.caps(settings.actions.guards),
                                                  producer: producer, logger: logger.with("sluice.part", "guards"))
                try ledger.catchUp()
                budget = SharedActionBudget(ledger: ledger)
                ledgerParts = [.closing(name: "guard producer") { producer.close() },
                               .loop(name: "guard-ledger", body: { ledger.feed.follow() }, stop: { ledger.feed.stop() })]
            } catch {
                producer.close()
                throw error
            }
        }
        do {
            let lane = try PlaybookLane.make(loaded: loaded, settings: settings.actions, kafka: kafka, http: http, environment: environment,
                                             deadLetters: deadLetters, stats: stats, stopping: stopping, logger: logger, budget: budget,
                                             // Consuming Kafka, a decided run is resumed by the member owning its partition now.
                                             approvalsGroup: settings.input == nil ? settings.group + ".approvals" : nil)
            parts += ledgerParts
            return lane
        } catch {
            RunPart.discard(ledgerParts)
            throw error
        }
    }
}
