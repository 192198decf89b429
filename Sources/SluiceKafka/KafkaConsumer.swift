import Foundation
import Logging
import Synchronization

/// A consumer-group member. `poll`, `pause`, `resume`, `commit*` and `close` must come from one
/// thread (the pipeline's source thread), which also receives rebalance events from inside
/// `poll`; `storeOffsets` may come from any thread.
///
/// At-least-once: `enable.auto.offset.store` is forced off. The owner stores an offset only when
/// all work of the records below it has settled; librdkafka's auto-commit then commits stored
/// offsets periodically, and `close` commits them one last time.
///
/// Its own state (assignment, paused, closed, the rebalance handler) is a `StateMachine` behind a
/// lock that returns actions; the librdkafka calls they imply run after the lock is released.
///
/// A group stuck rebalancing (`GroupStallWatchdog`: librdkafka's join state not `steady` for
/// longer than `groupStallTimeout`) makes the consumer leave and join again as a new member,
/// inside `poll`: its partitions are revoked as in any rebalance (their settled work committed),
/// and the new member starts from the committed offsets.
public final class KafkaConsumer: Sendable {
    /// The librdkafka client; replaced (on the polling thread) when the consumer rejoins.
    private let current: Mutex<RDKafkaClient>
    private var client: RDKafkaClient { current.withLock { $0 } }
    /// The properties every client of this consumer is created with.
    private let properties: KafkaConfig
    private let logger: Logger
    public let topics: [String]
    private let state = Mutex(StateMachine())
    private let watchdog: Mutex<GroupStallWatchdog?>
    /// A stuck verdict waiting for the next `poll` to act on it.
    private let pendingRejoin = Mutex<GroupStallWatchdog.Verdict?>(nil)
    private let rejoinCount = Atomic<Int>(0)
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant

    /// How long the group may stay stuck rebalancing before this member rejoins; nil: never.
    public let groupStallTimeout: Duration?
    /// Whether `close` sends LeaveGroup (false: the group drops the member by session timeout).
    public let leaveGroupOnClose: Bool
    /// How long `close` waits for librdkafka's final commit and group leave before it gives up
    /// (`closeTimeout(sessionTimeoutMs:)`).
    public let closeTimeout: Duration
    /// Times this consumer left a stuck group and joined again as a new member.
    public var rejoins: Int { rejoinCount.load(ordering: .relaxed) }
    /// Offset commits that did not happen, by `OffsetCommitOutcome.reason` (a bounded label).
    public var commitFailures: [String: Int] { commitFailureCounts.withLock { $0 } }
    private let commitFailureCounts = Mutex<[String: Int]>([:])
    /// Start offsets the assignment being made takes from the partitions' settled work, stored
    /// once it is in force: else the group's commit stays at the older offset until something new
    /// settles there, and a later move (or a crash) repeats work already settled
    /// (`RevocationCommitRefusedTests` saw it stay behind to the end).
    private let regainedStarts = Mutex<[TopicPartition: Int64]>([:])

    /// The consumer's bookkeeping; every change goes through it.
    struct StateMachine {
        private(set) var assignment: Set<TopicPartition> = []
        private(set) var isPaused = false
        private(set) var isClosed = false
        /// Between leaving a stuck group and the new member's client taking over.
        private(set) var isRejoining = false
        var onRebalance: (@Sendable (RebalanceEvent) -> Void)?
        var onCommitAnswered: (@Sendable (OffsetCommitAnswer) -> Void)?
        /// The offset last stored per partition: all work below it settled in this process.
        private(set) var lastStored: [TopicPartition: Int64] = [:]
        /// Partitions let go without their stored offsets committed (a refused commit, a lost
        /// assignment), with those offsets: if the next assignment gives one back, fetching starts
        /// there, not at the older commit (which would repeat settled work).
        private(set) var regainable: [TopicPartition: Int64] = [:]

        mutating func stored(_ offsets: [TopicPartition: Int64]) {
            lastStored.merge(offsets) { $1 }
        }

        mutating func released(_ parts: [TopicPartition], committed: Bool) {
            for p in parts {
                if let offset = lastStored.removeValue(forKey: p), !committed { regainable[p] = offset }
            }
        }

        /// Where partitions being assigned start when this member had them just before and their
        /// settled work was not committed. Only the very next assignment: later, another member
        /// may have moved them on (starting from an older offset would then repeat its work).
        mutating func startOffsets(assigning parts: [TopicPartition]) -> [TopicPartition: Int64] {
            defer { regainable = [:] }
            return regainable.filter { parts.contains($0.key) }
        }

        /// Partitions to pause (true) or resume (false), or nothing to do.
        typealias PauseAction = (parts: [TopicPartition], paused: Bool)?

        mutating func pause() -> PauseAction {
            guard !isPaused, !isClosed else { return nil }
            isPaused = true
            return (Array(assignment), true)
        }

        mutating func resume() -> PauseAction {
            guard isPaused, !isClosed else { return nil }
            isPaused = false
            return (Array(assignment), false)
        }

        /// Partitions about to be assigned take the consumer's pause state, set explicitly either
        /// way: back-pressure holds across rebalances, and a pause flag librdkafka kept from an
        /// earlier assignment of the same partition is cleared (librdkafka's pause flag is the
        /// client's, not the assignment's: a partition revoked while paused and given back while
        /// not paused was never fetched again). Set before the assignment takes effect: a pause
        /// right after an assignment races with the partition's fetch start (librdkafka #2190:
        /// the assigned start offset can be lost).
        func assigning(_ parts: [TopicPartition]) -> PauseAction {
            isClosed ? nil : (parts, isPaused)
        }

        mutating func assigned(_ parts: [TopicPartition]) {
            assignment.formUnion(parts)
        }

        mutating func revoked(_ parts: [TopicPartition]) {
            assignment.subtract(parts)
        }

        /// False when closed: there is nothing to rejoin.
        mutating func beginRejoin() -> Bool {
            guard !isClosed else { return false }
            isRejoining = true
            return true
        }

        /// The new member owns nothing until its first assignment.
        mutating func endRejoin() {
            isRejoining = false
            assignment = []
        }

        /// True the first time: the caller closes the client.
        mutating func close() -> Bool {
            defer { isClosed = true }
            return !isClosed
        }
    }

    public var assignment: Set<TopicPartition> { state.withLock { $0.assignment } }
    /// Records behind the end of the assigned partitions (consumer lag), from cached watermarks;
    /// nil before the first fetches and once closed. Safe from any thread: the read holds the
    /// state lock, so `close` cannot destroy the handle under it (the calls are local, no I/O).
    public var lag: Int64? {
        state.withLock { s in s.isClosed || s.isRejoining ? nil : client.cachedLag(Array(s.assignment)) }
    }
    public var isPaused: Bool { state.withLock { $0.isPaused } }
    /// This instance's member id in the group (nil before it joined, and once closed).
    public var memberID: String? {
        state.withLock { s in s.isClosed ? nil : client.memberID() }
    }


    /// Defaults for an at-least-once findings consumer; the user's properties win, except
    /// `enable.auto.offset.store`, which must stay off for offsets to follow settlement.
    public static let defaults: [String: String] = [
        "enable.auto.commit": "true",
        "auto.commit.interval.ms": "1000",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": "false",
        "partition.assignment.strategy": "cooperative-sticky",
        // Bounds what librdkafka prefetches while the pipeline holds back at its cap (64 MB by default).
        "queued.max.messages.kbytes": "16384",
        // A fetch returns as soon as records arrive on Kafka; brokers that hold it for the full
        // wait (Tansu) would add up to this much latency when the topic is idle.
        "fetch.wait.max.ms": "10",
        // When the prefetch queue is full, fetch again soon after it drains (librdkafka waits 1 s
        // by default, which stalls a consumer that drains 16 MB in a fraction of that).
        "fetch.queue.backoff.ms": "20",
    ]

    /// `max.poll.interval.ms` in force: also the rebalance timeout the consumer sends when it
    /// joins, how long the group waits for a member to rejoin once a rebalance has begun.
    public let maxPollInterval: Duration

    /// `groupStallTimeout`: how long the group may stay stuck rebalancing before this member
    /// leaves and joins again (nil: three session timeouts, `GroupStallWatchdog.defaultBoundMs`;
    /// zero: never). `leaveGroupOnClose`: false closes without LeaveGroup (see `close`).
    public init(config: KafkaConfig, topics: [String], logger: Logger, groupStallTimeout: Duration? = nil,
                leaveGroupOnClose: Bool = true) throws(KafkaError) {
        self.leaveGroupOnClose = leaveGroupOnClose
        guard config["group.id"] != nil else { throw KafkaError(.config, "a consumer needs group.id (--group)") }
        guard config["bootstrap.servers"] != nil else { throw KafkaError(.config, "a consumer needs bootstrap.servers (--brokers)") }
        guard !topics.isEmpty else { throw KafkaError(.config, "no topic to consume (--topic)") }
        self.logger = logger
        self.topics = topics
        var merged = KafkaConsumer.defaults
        for (k, v) in config.properties { merged[k] = v }
        merged["enable.auto.offset.store"] = "false"
        // librdkafka's default is 300 s; a value it rejects fails the client creation below.
        maxPollInterval = .milliseconds(merged["max.poll.interval.ms"].flatMap { Int64($0) }.map { max(1, $0) } ?? 300_000)
        // librdkafka's default session timeout is 45 s; a value it rejects fails the creation below.
        let sessionTimeoutMs = merged["session.timeout.ms"].flatMap { Int64($0) }.map { max(1, $0) } ?? 45_000
        closeTimeout = Self.closeTimeout(sessionTimeoutMs: sessionTimeoutMs)
        let boundMs = groupStallTimeout.map { $0.saturatingMilliseconds } ?? GroupStallWatchdog.defaultBoundMs(sessionTimeoutMs: sessionTimeoutMs)
        if boundMs > 0 {
            self.groupStallTimeout = .milliseconds(boundMs)
            watchdog = Mutex(GroupStallWatchdog(boundMs: boundMs))
            // The watchdog's samples: a quarter of its bound apart, at most 1 s (the documents are
            // a few KB for a consumer; the user's own interval wins).
            if merged["statistics.interval.ms"] == nil { merged["statistics.interval.ms"] = "\(min(1000, max(100, boundMs / 4)))" }
        } else {
            self.groupStallTimeout = nil
            watchdog = Mutex(nil)
        }
        properties = KafkaConfig(merged)
        started = clock.now
        current = Mutex(try RDKafkaClient(.consumer, config: properties, logger: logger, rebalance: true, statistics: boundMs > 0))
        watchdog.withLock { $0?.restart(nowMs: 0) }
        install(on: client)
        try client.subscribe(topics)
    }

    private func install(on client: RDKafkaClient) {
        client.context.setRebalanceHandler { [weak self] event in self?.applied(event) }
        client.context.setAssignPreparer { [weak self] parts in self?.prepareAssignment(parts) ?? [:] }
        client.context.setRevocationCommitHandler { [weak self] parts, committed in
            self?.state.withLock { $0.released(parts, committed: committed) }
        }
        client.context.setStatisticsHandler { [weak self] document in self?.sampled(document) }
        client.context.setCommitHandler { [weak self] answer in self?.commitAnswered(answer) }
    }

    private func uninstall(from client: RDKafkaClient) {
        client.context.setRebalanceHandler(nil)
        client.context.setAssignPreparer(nil)
        client.context.setRevocationCommitHandler(nil)
        client.context.setStatisticsHandler(nil)
        client.context.setCommitHandler(nil)
    }

    /// A commit's answer (on the polling thread): handed to `onCommitAnswered`; a failed one is
    /// counted and said once, with what becomes of its offsets (`OffsetCommitOutcome`). A failed
    /// request that names no partition counts as refused for the whole assignment.
    private func commitAnswered(_ given: OffsetCommitAnswer) {
        let outcome = given.outcome
        let (handler, assignment) = state.withLock { ($0.onCommitAnswered, $0.assignment) }
        let answer = outcome.isFailure && given.committed.isEmpty && given.refused.isEmpty
            ? OffsetCommitAnswer(outcome: outcome, committed: [:], refused: Array(assignment)) : given
        handler?(answer)
        guard outcome.isFailure else { return }
        let parts = answer.partitions
        commitFailureCounts.withLock { $0[outcome.reason, default: 0] += 1 }
        let fields: Logger.Metadata = [
            "kafka.error": "\(outcome.reason)", "kafka.partitions": "\(parts.map(\.description).sorted().joined(separator: ","))",
        ]
        switch outcome.kind {
        case .groupMovedOn:
            logger.warning("offset commit refused, the group moved on: offsets stay stored for the partitions this member keeps and go with its next commit; partitions it loses are read again by their next owner from the last commit", metadata: fields)
        case .coordinatorUnavailable:
            logger.warning("offset commit failed, coordinator unavailable: the next commit sends the offsets again", metadata: fields)
        case .refused, .committed, .nothingToCommit:
            logger.error("offset commit refused: offsets stay uncommitted; work since the last commit is repeated when partitions move", metadata: fields)
        }
    }

    private var nowMs: Int64 { (clock.now - started).saturatingMilliseconds }

    /// A statistics document (on the polling thread): the watchdog's sample.
    private func sampled(_ document: Data) {
        let joinState = GroupStallWatchdog.joinState(inStatistics: document)
        let now = nowMs
        guard let verdict = watchdog.withLock({ $0?.observe(joinState: joinState, nowMs: now) }), verdict != .fine else { return }
        pendingRejoin.withLock { $0 = verdict }
    }

    /// Leaves the stuck group and joins again as a new member: the old client's close revokes
    /// its partitions (the rebalance handler stores what settled, and the revocation commits it)
    /// and sends LeaveGroup; the new client subscribes and starts from the committed offsets.
    private func rejoin(_ verdict: GroupStallWatchdog.Verdict) throws(KafkaError) {
        guard case .stuck(let forMs, let joinState) = verdict, state.withLock({ $0.beginRejoin() }) else { return }
        logger.warning("consumer group stuck rebalancing: leaving it and joining again as a new member", metadata: [
            "kafka.join_state": "\(joinState)", "kafka.stuck_ms": "\(forMs)",
            "kafka.group_stall_timeout_ms": "\(groupStallTimeout.map { $0.saturatingMilliseconds } ?? 0)",
        ])
        let old = client
        do { try old.commit(async: false) } catch { logger.debug("commit before rejoining failed", metadata: ["kafka.error": "\(error.message)"]) }
        // The revocation may wait for in-flight work (at most half of max.poll.interval.ms).
        _ = old.closeConsumer(commitFirst: false, leaveGroup: true, within: maxPollInterval + closeTimeout)
        uninstall(from: old)
        let fresh: RDKafkaClient
        do {
            fresh = try RDKafkaClient(.consumer, config: properties, logger: logger, rebalance: true, statistics: true)
        } catch {
            state.withLock { s in
                old.destroy()
                s.endRejoin()
            }
            throw error
        }
        // The old handle goes under the state lock: `lag` reads it under the same lock.
        state.withLock { s in
            old.destroy()
            current.withLock { $0 = fresh }
            s.endRejoin()
        }
        let now = nowMs
        watchdog.withLock { $0?.restart(nowMs: now) }
        rejoinCount.add(1, ordering: .relaxed)
        install(on: fresh)
        try fresh.subscribe(topics)
    }

    /// Sets what runs on the polling thread with each offset commit's answer (the source loop's,
    /// auto-commit's, a revocation's): which partitions the group took and which it refused.
    public func onCommitAnswered(_ handler: @escaping @Sendable (OffsetCommitAnswer) -> Void) {
        state.withLock { $0.onCommitAnswered = handler }
    }

    /// Sets what runs on the polling thread whenever the assignment changes.
    public func onRebalance(_ handler: @escaping @Sendable (RebalanceEvent) -> Void) {
        state.withLock { $0.onRebalance = handler }
    }

    /// Runs in the rebalance callback just before librdkafka assigns `parts`.
    private func prepareAssignment(_ parts: [TopicPartition]) -> [TopicPartition: Int64] {
        let (action, starts) = state.withLock { s in (s.assigning(parts), s.startOffsets(assigning: parts)) }
        defer { setPauseState(action, parts) }
        regainedStarts.withLock { $0 = starts }
        return starts
    }

    private func setPauseState(_ action: StateMachine.PauseAction, _ parts: [TopicPartition]) {
        guard let action, !parts.isEmpty else { return }
        client.setPaused(action.parts, action.paused)
        logger.debug("pause state set on partitions being assigned", metadata: [
            "kafka.partitions": "\(parts.map(\.description).sorted().joined(separator: ","))", "kafka.paused": "\(action.paused)",
        ])
    }

    private func applied(_ event: RebalanceEvent) {
        switch event {
        case .assigned(let parts):
            let handler = state.withLock { s in
                s.assigned(parts)
                return s.onRebalance
            }
            // All work below these offsets settled in this process: the next commit carries them.
            storeOffsets(regainedStarts.withLock { r in defer { r = [:] }; return r })
            handler?(event)
        case .revoked(let parts):
            // The handler runs first: it stores what settled on these partitions before they go.
            state.withLock { $0.onRebalance }?(event)
            state.withLock { $0.revoked(parts) }
        }
    }

    private func perform(_ action: StateMachine.PauseAction) {
        guard let action, !action.parts.isEmpty else { return }
        client.setPaused(action.parts, action.paused)
        logger.debug(action.paused ? "partitions paused" : "partitions resumed",
                     metadata: ["kafka.partitions": "\(action.parts.map(\.description).sorted().joined(separator: ","))"])
    }

    /// The result of one poll.
    public enum PollResult: Sendable {
        case record(KafkaRecord)
        case idle
        /// A non-fatal consumer error (unknown topic, broker down…): logged, consumption goes on.
        case warning(KafkaError)
        case fatal(KafkaError)
    }

    /// Waits up to `timeoutMs` for the next record. Also serves rebalances, statistics and log
    /// callbacks, and rejoins a group the watchdog found stuck (before polling the new member).
    public func poll(timeoutMs: Int32) -> PollResult {
        if let verdict = pendingRejoin.withLock({ v in defer { v = nil }; return v }) {
            do { try rejoin(verdict) } catch { return .fatal(error) }
        }
        switch client.consumerPoll(timeoutMs: timeoutMs) {
        case .record(let r): return .record(r)
        case .none: return .idle
        case .error(let e, let isFatal): return isFatal ? .fatal(e) : .warning(e)
        }
    }

    /// Stores the next offsets to commit (auto-commit sends them). Thread-safe.
    public func storeOffsets(_ offsets: [TopicPartition: Int64]) {
        guard !offsets.isEmpty else { return }
        if let error = client.storeOffsets(offsets) {
            logger.warning("offset store failed", metadata: ["kafka.error": "\(error.message)"])
            return
        }
        state.withLock { $0.stored(offsets) }
    }

    /// Commits stored offsets now, synchronously.
    public func commitSync() throws(KafkaError) {
        try client.commit(async: false)
    }

    /// The offsets the group has committed for `parts`, asked of the coordinator (blocks up to
    /// `timeoutMs`); a partition never committed is absent.
    public func committed(_ parts: [TopicPartition], timeoutMs: Int32 = 10_000) throws(KafkaError) -> [TopicPartition: Int64] {
        try client.committed(parts, timeoutMs: timeoutMs)
    }

    /// Asks the broker to commit the stored offsets; does not wait for the answer, which
    /// `serveCommitAnswers()` hands to `onCommitAnswered` (so does `poll`'s for other commits).
    public func commitAsync() {
        do { try client.commitAsyncToQueue() } catch {
            logger.debug("commit request failed", metadata: ["kafka.error": "\(error.message)"])
        }
    }

    /// Hands the answers to `commitAsync()` that arrived to `onCommitAnswered`, on the calling
    /// thread, without taking a record or waiting.
    public func serveCommitAnswers() { client.serveCommitAnswers() }

    /// Stops fetching from every assigned partition (back-pressure); `resume()` restarts.
    public func pause() { perform(state.withLock { $0.pause() }) }

    public func resume() { perform(state.withLock { $0.resume() }) }

    /// Commits stored offsets and leaves the group. Idempotent. Blocks (the group leave and the
    /// final commit), at most `closeTimeout` plus the handle's destruction (15 s at most): call
    /// it from the polling thread at shutdown. Without it, the handle is destroyed when the
    /// consumer goes, without a commit: the group rebalances by session timeout and the
    /// uncommitted records are redelivered (at-least-once). A close still blocked in librdkafka
    /// at `closeTimeout` (a broker gone with a commit in flight: `ConsumerHangTests`) is given up
    /// with a warning; its records are redelivered the same way.
    ///
    /// With `leaveGroupOnClose` false the stored offsets are committed and the handle destroyed
    /// without LeaveGroup (and without revocation callbacks: the caller has drained): the group
    /// drops the member by session timeout. Tansu 0.6.0 keeps a leader that left with LeaveGroup
    /// while the group was forming, and the group then never forms again; one dropped by session
    /// timeout is replaced.
    public func close() {
        guard state.withLock({ $0.close() }) else { return }
        let client = self.client
        let failedBefore = commitFailures.values.reduce(0, +)
        let started = clock.now
        let outcome = client.closeConsumer(commitFirst: true, leaveGroup: leaveGroupOnClose, within: closeTimeout)
        uninstall(from: client)
        guard case .closed(let commitError) = outcome else { return }  // the client said why
        if let commitError { logger.warning("final commit failed", metadata: ["error": "\(commitError)"]) }
        client.destroy()
        if !leaveGroupOnClose { logger.info("left without LeaveGroup: the group drops this member by session timeout") }
        // One line that says how the consumer ended: the answers of the commits made while closing
        // (the final one, the revocation's) arrive as commit outcomes, counted by reason.
        let fields: Logger.Metadata = ["kafka.close_ms": "\((clock.now - started).saturatingMilliseconds)"]
        if commitError != nil || commitFailures.values.reduce(0, +) > failedBefore {
            logger.warning("consumer closed without its last commit reaching the group (broker unreachable?): records settled since the group's last acknowledged commit are redelivered to its next member", metadata: fields)
        } else {
            logger.info("consumer closed", metadata: fields)
        }
    }

    /// How long `close` waits for the final commit and the group leave: one session timeout, at
    /// least 10 s and at most 30 s. Past a session timeout the group has dropped this member, so
    /// its commit would be refused anyway; the floor keeps a short test session from cutting a
    /// close on a loaded machine, the cap keeps a shutdown inside a common 30 s grace period.
    static func closeTimeout(sessionTimeoutMs: Int64) -> Duration {
        .milliseconds(min(max(sessionTimeoutMs, 10_000), 30_000))
    }

}

extension Duration {
    /// Whole milliseconds, saturating (never traps on a huge configured duration).
    var saturatingMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflow2) = ms.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        return overflow2 ? (seconds < 0 ? .min : .max) : total
    }
}
