import Foundation
import Logging
import SluiceCore
import SluiceKafka
import Synchronization

/// How the owner of a state key sends what it releases: through the target's delivery lane
/// (retries, breaker, dead-letter topic). `completion(true)` once delivered, `false` once
/// dead-lettered.
public protocol HoldDispatch: Sendable {
    /// `event` is the finding's JSON when the item carries it (checked against silences at send time).
    func deliver(route: String, target: String, payload: [UInt8], findingID: String?, event: [UInt8]?, completion: @escaping @Sendable (Bool) -> Void)
    /// A digest due on a timer, with its payload (from `payload(for:)`): the connector also gets
    /// the digest's facts, for a vendor shape of its own.
    func deliver(digest: Digest, payload: [UInt8], completion: @escaping @Sendable (Bool) -> Void)
    /// The payload of a release: rendered again when it carries `sluice.hold.*` for a template that reads them.
    func payload(for release: HoldRelease) -> [UInt8]
    /// The payload of a digest: the route's `digest_template`, else the target's default digest;
    /// nil when silences hold every finding it would list (then it is not sent).
    func payload(for digest: Digest) -> [UInt8]?
}

extension HoldDispatch {
    public func payload(for release: HoldRelease) -> [UInt8] { release.item.payload }
    public func payload(for digest: Digest) -> [UInt8]? { Array(digest.json.serialized().utf8) }
}

/// Owns the state keys of the repartition partitions Kafka assigns to this instance
/// (consumer group `<group>.hold`). On assignment it replays the partition's changelog before
/// taking any record of it; then each record is decided by that partition's `HoldEngine`, its
/// state written to the changelog (explicit partition: the same number), and its offset
/// committed once that write is acknowledged. Timers (group flushes, throttle period ends) are
/// fields of the state records, re-armed by the replay. See docs/state.md.
public final class KafkaHoldOwner: Sendable {
    struct State: Sendable {
        var engines = PartitionEngines()
        var lastExpiry: EpochMillis = 0
    }

    public let topics: StateTopics
    /// The rules new engines start with (a reload changes them, and those of the running engines).
    private let rules: Mutex<[String: HoldRules]>
    let kafka: KafkaConfig
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    let dispatch: any HoldDispatch
    let held: HeldCounter
    let logger: Logger
    /// The engines, taken by the owner thread, the delivery reports of the lanes and timers; the
    /// offsets have a lock of their own (the changelog's acknowledgements settle them). With one
    /// lock for both, taken seven times per record by three threads, a profile of the dedupe leg
    /// (perf, main's build, 8 s) had 12% of the router's samples in the Mutex's slow path and 3%
    /// more in the kernel's rt_mutex scheduling: a contended Mutex sleeps, and on a loaded machine
    /// its holder is often preempted. A record now takes the engines' lock twice (decide; outcome
    /// and record) and the offsets' lock twice (track; settle).
    private let state = Mutex(State())
    private let offsets = Mutex(OffsetTracker())
    /// Changelog writes the broker refused (or that timed out), waiting to be written again.
    private let failedWrites = Mutex<[FailedWrite]>([])
    /// Decisions taken by the local fast path and from repartition records (logs, tests, bench).
    public let decidedLocally = Atomic<Int>(0)
    public let decidedFromRepartition = Atomic<Int>(0)
    /// Changelog writes that failed and were written again (tests, logs).
    public let changelogRewrites = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let restoredOnce = Atomic<Bool>(false)
    private let pendingWork = Atomic<Int>(0)
    /// Keys restored at the last assignment, and how long that took (for logs and the bench).
    public let lastRestore = Mutex<(records: Int, seconds: Double)>((0, 0))

    /// Told false when an assignment starts restoring and true once every assigned partition is
    /// restored: the runtime's `/-/ready` condition `state.restored`.
    let restored: (@Sendable (Bool) -> Void)?
    public static let readinessCondition = "state.restored"

    public init(topics: StateTopics, rules: [String: HoldRules], kafka: KafkaConfig, producer: KafkaProducer,
                dispatch: any HoldDispatch, held: HeldCounter, logger: Logger, restored: (@Sendable (Bool) -> Void)? = nil) throws(KafkaError) {
        self.restored = restored
        self.topics = topics
        self.rules = Mutex(rules)
        self.kafka = kafka
        self.producer = producer
        self.dispatch = dispatch
        self.held = held
        self.logger = logger
        var config = kafka
        config["group.id"] = topics.ownerGroup
        // Long polls of 50 ms, not the source's 10 (unless the user set one): the repartition
        // topic is idle while this instance decides its own keys, and each empty fetch costs the
        // broker as much as a full one. On Tansu, which holds a fetch for the whole wait, 100
        // polls a second were 5% of a core (docs/state.md); a Kafka broker answers as soon as a
        // record arrives, so there the wait costs no latency at all.
        if config["fetch.wait.max.ms"] == nil { config["fetch.wait.max.ms"] = "50" }
        consumer = try KafkaConsumer(config: config, topics: [topics.repartition], logger: logger)
    }

    /// False until the partitions of the first assignment are restored (`/-/ready`).
    public var isReady: Bool { restoredOnce.load(ordering: .acquiring) }

    public func stop() { stopped.store(true, ordering: .releasing) }

    static func wallClock() -> EpochMillis { EpochMillis(Date().timeIntervalSince1970 * 1000) }

    /// Blocks the calling thread until `stop()`, then waits (bounded) for in-flight work and commits.
    public func run(drainTimeout: Duration = .seconds(30)) {
        consumer.onRebalance { [self] event in
            switch event {
            case .assigned(let parts):
                restored?(false)
                for tp in parts where tp.topic == topics.repartition { restore(tp.partition) }
                restoredOnce.store(true, ordering: .releasing)
                if !stopped.load(ordering: .acquiring) { restored?(true) }  // a failed restore stops the owner: never ready
            case .revoked(let parts):
                // Engines first: from here the source forwards these keys through the repartition
                // topic instead of deciding them here. Then the changelog writes already made are
                // flushed, so the next owner's restore reads them.
                state.withLock { s in
                    for tp in parts { s.engines[tp.partition] = nil }
                }
                _ = producer.flush(timeoutMs: 10_000)
                storeSettled()
                offsets.withLock { $0.revoke(parts) }
            }
        }
        var lastCommit = Self.wallClock()
        var lastTimings = lastCommit
        var lastTimerCheck = lastCommit
        var lastRewrite = lastCommit
        let timings = StateTimings.shared
        while !stopped.load(ordering: .acquiring) {
            switch consumer.poll(timeoutMs: 50) {
            case .record(let record):
                if timings.enabled, let produced = record.timestampMs {
                    timings.add(.repartitionToOwner, nanoseconds: Int(truncatingIfNeeded: (Self.wallClock() - produced) * 1_000_000))
                }
                let started = timings.start()
                handle(record)
                timings.end(.ownerDecide, since: started)
            case .idle: timings.add(.ownerIdlePolls, nanoseconds: 0)
            case .warning(let e): logger.debug("hold consumer: \(e.message)")
            case .fatal(let e):
                logger.critical("hold consumer failed: \(e.message)")
                stop()
            }
            let now = Self.wallClock()
            // Timers are due to the second: checking them after every record took the engines'
            // lock twice per record for nothing.
            if now - lastTimerCheck >= 20 {
                fireTimers(now: now)
                lastTimerCheck = now
            }
            if now - lastRewrite >= 200 {
                rewriteFailed()
                lastRewrite = now
            }
            if timings.enabled, now - lastTimings >= 2000 {
                timings.report()
                lastTimings = now
            }
            if now - lastCommit >= 200 {
                storeSettled()
                consumer.commitAsync()
                lastCommit = now
            }
        }
        let deadline = ContinuousClock.now + drainTimeout
        var lastDrainRewrite = ContinuousClock.now
        while pendingWork.load(ordering: .acquiring) > 0, ContinuousClock.now < deadline {
            _ = consumer.poll(timeoutMs: 10)
            if ContinuousClock.now - lastDrainRewrite >= .milliseconds(200) {
                rewriteFailed()
                lastDrainRewrite = ContinuousClock.now
            }
        }
        // Stopped: nothing more is decided here (the source forwards through the repartition topic).
        state.withLock { $0.engines = PartitionEngines() }
        _ = producer.flush(timeoutMs: 10_000)
        storeSettled()
        consumer.close()
    }

    private func storeSettled() {
        consumer.storeOffsets(offsets.withLock { $0.takeAdvanced() })
    }

    // MARK: Restore

    /// Replays changelog partition `partition` up to its end as of now into a fresh engine.
    func restore(_ partition: Int32) {
        let started = ContinuousClock.now
        var engine = HoldEngine(rules: rules.withLock { $0 })
        var count = 0
        var skipped = 0
        do {
            let reader = try KafkaTopicReader(config: Self.restoreConfig(kafka), topic: topics.changelog, only: [partition], logger: logger)
            defer { reader.close() }
            try reader.readToEnd(timeoutMs: 120_000) { _, key, value in
                guard let key, engine.restore(key: key, value: value) else {
                    skipped += 1  // not a record Sluice wrote: never trusted, never a crash
                    return
                }
                count += 1
            }
        } catch {
            // Without its state the partition would deliver repeats: better to stop than to guess.
            logger.critical("cannot restore state partition \(partition): \(error.message)")
            stop()
            return
        }
        _ = engine.takeChanges()
        state.withLock { s in
            engine.replaceRules(rules.withLock { $0 })  // a reload during the replay
            s.engines[partition] = engine
        }
        let seconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18 + Double((ContinuousClock.now - started).components.seconds)
        lastRestore.withLock { $0 = (count, seconds) }
        logger.info("state restored", metadata: ["kafka.partition": "\(partition)", "sluice.state.records": "\(count)"])
        if skipped > 0 {
            logger.warning("changelog records Sluice cannot read were skipped", metadata: ["kafka.partition": "\(partition)", "sluice.state.skipped": "\(skipped)"])
        }
    }

    /// The restore reader's fetch settings: large fetches, so a million small records come in a
    /// few dozen round trips instead of a thousand (librdkafka fetches 1 MB per partition by
    /// default). The user's own settings win.
    public static func restoreConfig(_ kafka: KafkaConfig) -> KafkaConfig {
        var config = kafka
        for (k, v) in ["max.partition.fetch.bytes": "33554432", "fetch.max.bytes": "67108864", "fetch.wait.max.ms": "10",
                       "queued.min.messages": "1000000", "queued.max.messages.kbytes": "262144"] where config[k] == nil {
            config[k] = v
        }
        return config
    }

    // MARK: Records

    func handle(_ record: KafkaRecord) {
        let p = record.partition
        let ticket = offsets.withLock { $0.track(TopicPartition(record.topic, p), offset: record.offset) }
        guard let value = record.value, let item = HoldItemCodec.decode(value) else {
            logger.warning("skipping a repartition record Sluice cannot read", metadata: ["kafka.partition": "\(p)", "kafka.offset": "\(record.offset)"])
            settle(ticket)
            return
        }
        if decide(item, partition: p, settled: { [self] in settle(ticket) }) {
            decidedFromRepartition.add(1, ordering: .relaxed)
        } else {
            settle(ticket)  // revoked meanwhile: the next owner reprocesses it
        }
    }

    /// The key owner's local fast path: the instance that read a finding decides it here when it
    /// owns the key's partition `p` (always, with one instance), instead of a round trip through
    /// the repartition topic. False when it does not own `p`, or not yet restored it (checked
    /// under the engines' lock, so a revocation never races a decision): then the caller forwards
    /// the item. `settled` runs once the decision's changelog record is acknowledged and its
    /// delivery, if any, settled: only then may the source offset be committed, so `kill -9`
    /// loses nothing. Measured on the dedupe leg: the round trip cost the router 7× the CPU of
    /// the stateless leg (docs/state.md, "Where the dedupe leg's CPU goes").
    public func decideHere(_ item: HoldItem, partition p: Int32, settled: @escaping @Sendable () -> Void) -> Bool {
        guard decide(item, partition: p, settled: settled) else { return false }
        decidedLocally.add(1, ordering: .relaxed)
        return true
    }

    /// What the owner decided about one item, for the caller to carry out.
    public enum LocalDecision: Sendable {
        /// This instance does not own the key's partition (or has not restored it): forward the item.
        case notOwned
        /// Held (counted): `settled` runs once the hold's changelog record is acknowledged.
        case held(HoldReason)
        /// Deliver `release` and report its outcome to `completed` (the payload is the item's,
        /// or `HoldDispatch.payload(for:)` when the release carries held repeats).
        case deliver(HoldRelease)
    }

    /// `decideHere` without a second delivery job: the instance that read the finding decides
    /// it and, when it is to be delivered, sends it on the job it planned (with that job's
    /// send-time checks and feed report), then tells `completed` how it ended. The release
    /// through the dispatch (a second in-flight message and job, a send-time closure) was a
    /// tenth of the router's main thread in a profile of the dedupe leg.
    public func decideLocally(_ item: HoldItem, partition p: Int32, settled: @escaping @Sendable () -> Void) -> LocalDecision {
        let decision = offer(item, partition: p, settled: settled)
        if case .notOwned = decision { return decision }
        decidedLocally.add(1, ordering: .relaxed)
        return decision
    }

    /// The outcome of a delivery `decideLocally` released: the engine settles its ticket and the
    /// record this makes is written; `then` runs once that record is acknowledged (at once when
    /// there is none).
    public func completed(_ release: HoldRelease, partition p: Int32, succeeded: Bool, then: @escaping @Sendable () -> Void) {
        settle(release, partition: p, succeeded: succeeded) { [self] in
            then()
            pendingWork.subtract(1, ordering: .relaxed)
        }
    }

    /// Decides `item` with partition `p`'s engine and delivers a release through the dispatch;
    /// false when this instance does not own `p`.
    private func decide(_ item: HoldItem, partition p: Int32, settled: @escaping @Sendable () -> Void) -> Bool {
        switch offer(item, partition: p, settled: settled) {
        case .notOwned: return false
        case .held: return true
        case .deliver(let release):
            send(release, partition: p, then: settled)
            return true
        }
    }

    /// The engine's decision. Decided, and a hold's record produced, under one lock: records of
    /// one key reach the changelog in the order the engine made them. A release counts as
    /// pending work until its outcome's record is acknowledged (the drain waits for it).
    private func offer(_ item: HoldItem, partition p: Int32, settled: @escaping @Sendable () -> Void) -> LocalDecision {
        let now = Self.wallClock()
        let decided = state.withLock { s -> (decision: HoldDecision, writing: Bool)? in
            guard let decision = s.engines[p]?.offer(item, now: now) else { return nil }
            guard case .held = decision else { return (decision, false) }
            return (decision, write(s.engines[p]?.takeChanges() ?? [], partition: p, then: settled))
        }
        guard let decided else { return .notOwned }
        switch decided.decision {
        case .held(let reason):
            held.count(route: item.route, target: item.target, reason: reason)
            if !decided.writing { settled() }
            return .held(reason)
        case .deliver(let release):
            pendingWork.add(1, ordering: .relaxed)
            return .deliver(release)
        }
    }

    /// Sends a release (counted as pending work by `offer` or `settle`) through the dispatch.
    private func send(_ release: HoldRelease, partition p: Int32, then: @escaping @Sendable () -> Void) {
        let submitted = StateTimings.shared.start()
        dispatch.deliver(route: release.item.route, target: release.item.target, payload: dispatch.payload(for: release), findingID: release.item.findingID,
                         event: release.item.finding) { [self] ok in
            StateTimings.shared.end(.delivery, since: submitted)
            completed(release, partition: p, succeeded: ok, then: then)
        }
    }

    /// A release's outcome and the record it makes, under one lock (the record produced in it).
    /// A repeat parked behind a failed delivery goes out through the dispatch.
    private func settle(_ release: HoldRelease, partition p: Int32, succeeded ok: Bool, then done: @escaping @Sendable () -> Void) {
        let (parked, writing) = state.withLock { s -> (HoldRelease?, Bool) in
            let parked = release.ticket.flatMap { t in s.engines[p]?.settled(ticket: t, succeeded: ok, now: Self.wallClock()) }
            return (parked, write(s.engines[p]?.takeChanges() ?? [], partition: p, then: done))
        }
        if !writing { done() }
        if let parked {
            pendingWork.add(1, ordering: .relaxed)
            send(parked, partition: p) {}
        }
    }

    private func settle(_ ticket: OffsetTracker.Ticket) {
        _ = offsets.withLock { $0.settle(ticket) }
    }

    /// Writes the partition's changed keys to its changelog partition; `then` runs once all are acknowledged.
    private func persist(_ p: Int32, then: @escaping @Sendable () -> Void) {
        let writing = state.withLock { s in write(s.engines[p]?.takeChanges() ?? [], partition: p, then: then) }
        if !writing { then() }
    }

    /// One decision's changelog records: `then` runs once every one is acknowledged, written
    /// again if need be.
    final class ChangelogBatch: Sendable {
        let remaining: Atomic<Int>
        let then: @Sendable () -> Void
        init(count: Int, then: @escaping @Sendable () -> Void) {
            remaining = Atomic(count)
            self.then = then
        }
        func acknowledged() { if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { then() } }
    }

    /// A changelog record the broker did not take: its key is written again with its state then.
    struct FailedWrite: Sendable {
        var partition: Int32
        var change: StateChange
        var batch: ChangelogBatch
        var error: String
    }

    /// Produces `changes` (just taken from partition `p`'s engine) to its changelog partition.
    /// Called under the engines' lock: librdkafka's produce only enqueues, and the producer is
    /// idempotent, so one key's records reach the partition in the order the engine made them
    /// (produced after the lock, two threads could write a key's records the other way round,
    /// and a restore would then take the stale one). False when there is nothing to write: the
    /// caller runs `then` itself, after the lock. A write that fails does not settle: its key is
    /// written again, with its state at that time (`rewriteFailed`), and `then` waits for that.
    private func write(_ changes: [StateChange], partition p: Int32, then: @escaping @Sendable () -> Void) -> Bool {
        if changes.isEmpty { return false }
        pendingWork.add(1, ordering: .relaxed)
        let batch = ChangelogBatch(count: changes.count) { [self] in
            then()
            pendingWork.subtract(1, ordering: .relaxed)
        }
        for change in changes { produce(change, partition: p, batch: batch) }
        return true
    }

    private func produce(_ change: StateChange, partition p: Int32, batch: ChangelogBatch) {
        let written = StateTimings.shared.start()
        do {
            try producer.produce(topic: topics.changelog, partition: p, key: StateCodec.key(change), value: StateCodec.value(change)) { [self] error in
                StateTimings.shared.end(.changelogAck, since: written)
                guard let error else { return batch.acknowledged() }
                failedWrites.withLock { $0.append(FailedWrite(partition: p, change: change, batch: batch, error: error.message)) }
            }
        } catch {
            failedWrites.withLock { $0.append(FailedWrite(partition: p, change: change, batch: batch, error: error.message)) }
        }
    }

    /// Writes the keys of failed changelog writes again, each with its state now (never the
    /// record that failed: a newer one of the key may be acknowledged meanwhile). A partition
    /// revoked meanwhile belongs to another owner now: its writes are settled unwritten (that
    /// owner may deliver a repeat once: at-least-once, as for a delivery cut by a rebalance).
    func rewriteFailed() {
        let failed = failedWrites.withLock { f -> [FailedWrite] in
            defer { f.removeAll() }
            return f
        }
        if failed.isEmpty { return }
        // One warning per pass (every 200 ms at most), not one per record.
        logger.warning("changelog writes failed; written again", metadata: ["sluice.state.records": "\(failed.count)", "error": "\(failed[0].error)"])
        var orphans: [ChangelogBatch] = []
        state.withLock { s in
            for w in failed {
                guard s.engines[w.partition] != nil else {
                    orphans.append(w.batch)
                    continue
                }
                s.engines[w.partition]?.markForRewrite(w.change)
                changelogRewrites.add(1, ordering: .relaxed)
                // The key's current record (and any other change not yet taken), acknowledged
                // for the failed write's batch.
                let changes = s.engines[w.partition]?.takeChanges() ?? []
                guard !changes.isEmpty else {
                    orphans.append(w.batch)  // a key this engine cannot name: nothing to write again
                    continue
                }
                let rewrite = ChangelogBatch(count: changes.count) { w.batch.acknowledged() }
                for change in changes { produce(change, partition: w.partition, batch: rewrite) }
            }
        }
        for batch in orphans { batch.acknowledged() }
    }

    // MARK: Timers

    func fireTimers(now: EpochMillis) {
        let due: [(Int32, [Digest])] = state.withLock { s in
            var out: [(Int32, [Digest])] = []
            for p in s.engines.partitions {
                guard let next = s.engines[p]?.nextDue, next <= now, let digests = s.engines[p]?.due(now: now) else { continue }
                out.append((p, digests))
            }
            return out
        }
        for (p, digests) in due {
            // Ticks that sent nothing still move the next flush time.
            if digests.isEmpty { persist(p) {} }
            for d in digests {
                pendingWork.add(1, ordering: .relaxed)
                guard let payload = dispatch.payload(for: d) else {
                    // Silenced whole (counted by the dispatch): settled like a sent one, never re-sent.
                    state.withLock { $0.engines[p]?.digestDelivered(d) }
                    persist(p) { [self] in pendingWork.subtract(1, ordering: .relaxed) }
                    continue
                }
                dispatch.deliver(digest: d, payload: payload) { [self] _ in
                    // Delivered or dead-lettered, it is settled: only now does the state move on.
                    state.withLock { $0.engines[p]?.digestDelivered(d) }
                    persist(p) { [self] in pendingWork.subtract(1, ordering: .relaxed) }
                }
            }
        }
        if now - state.withLock({ $0.lastExpiry }) >= 10_000 {
            let parts = state.withLock { s -> [Int32] in
                s.lastExpiry = now
                let parts = s.engines.partitions
                for p in parts { s.engines[p]?.expire(now: now) }
                return parts
            }
            for p in parts { persist(p) {} }
        }
    }

    /// A reload's state rules: every owned partition's engine decides with them from its next
    /// record; keys a removed rule left pending are flushed by the next timer tick (`HoldEngine.replaceRules`).
    public func replaceRules(_ new: [String: HoldRules]) {
        state.withLock { s in
            rules.withLock { $0 = new }
            for p in s.engines.partitions { s.engines[p]?.replaceRules(new) }
        }
    }

    /// Every key's record of partition `p` as the engine holds it now (tests compare it with a restore).
    func records(of p: Int32) -> [StateChange] {
        state.withLock { s in
            guard var copy = s.engines[p] else { return [] }
            return copy.allRecords()
        }
    }

    /// No delivery nor changelog write under way.
    var isIdle: Bool { pendingWork.load(ordering: .acquiring) == 0 }

    /// Changelog writes that failed and wait to be written again.
    var failedWriteCount: Int { failedWrites.withLock { $0.count } }

    /// Keys held in memory across owned partitions.
    public var keyCount: Int {
        state.withLock { s in s.engines.partitions.reduce(0) { n, p in n + (s.engines[p].map { $0.keyCounts.dedupe + $0.keyCounts.throttle + $0.keyCounts.groups } ?? 0) } }
    }
}
