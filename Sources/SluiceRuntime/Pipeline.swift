import Foundation
import Logging
import SluiceConnectors
import SluiceCore
import SluiceFormats
import SluiceHTTP
import SluiceState
import SluiceKafka
import Synchronization

/// Limits and deadlines of a run.
public struct PipelineOptions: Sendable {
    /// Records consumed and not yet committed, at most: those whose work is unsettled, those
    /// settled behind them, and those settled since the last commit. At the cap the consumer
    /// pauses its partitions, so a crash redelivers (duplicates) at most this many records.
    public var maxInFlight = 2000
    /// Below this many the consumer resumes.
    public var resumeBelow: Int { max(1, maxInFlight / 2) }
    /// How long the cap must hold before the partitions are paused (until then the source
    /// just stops taking records).
    public var pauseAfter: Duration = .milliseconds(500)
    /// How long shutdown waits for in-flight work before dead-lettering what remains.
    public var drainTimeout: Duration = .seconds(30)
    /// How long a member losing partitions in a rebalance waits for their in-flight work to
    /// settle before it lets them go (the rest is repeated by their next owner); nil: the drain
    /// timeout. Zero: no wait.
    public var revocationTimeout: Duration?
    public var maxMessageBytes = 1 << 20
    public var maxDepth = 64
    /// Topic → the format its records must be (`topics:` entries with `format:`); other topics
    /// and offline input are recognised per record (`auto`).
    public var formats: [String: InputFormat] = [:]

    public init() {}

    /// The planner's decode limits, for the other readers of the same records.
    var decodeLimits: DecodeLimits { DecodeLimits(maxBytes: maxMessageBytes, maxDepth: maxDepth) }
}

/// source → decode → match → plan → dispatch → settle. The source loop runs on a thread of its
/// own (librdkafka's poll blocks); deliveries complete on any thread and settle their record,
/// and the source loop stores the offsets that settling made committable.
public final class Pipeline: Sendable {
    let plan: RoutingPlan
    /// Every lane with work or that may get some (after a reload: replaced ones too).
    let lanes: @Sendable () -> [DeliveryLane]
    let deadLetters: DeadLetterWriter
    let options: PipelineOptions
    public let stats: RunStats
    let stopping: StopSignal
    let logger: Logger

    /// The plan new records are planned with; a reload swaps it. Records already planned finish
    /// with the plan (and lanes) they started with.
    private let currentPlan: Mutex<RoutingPlan>
    private let planVersion = Atomic<Int>(0)
    private let inFlight = Atomic<Int>(0)
    private let tracker = Mutex(OffsetTracker())
    /// The admin server's view (feed, per-route counts, assignment); nil without one.
    let observer: (any PipelineObserver)?

    /// The source's first poll waits (at most `firstPollWait`) until this is true: the key owner's
    /// first restore. Read before it, every record of a state rule would cross the repartition
    /// topic, to reach this same instance once it has restored (the bench measured half of the
    /// first 100,000 findings doing so).
    let firstPollAfter: (@Sendable () -> Bool)?
    static let firstPollWait = Duration.seconds(30)

    init(plan: RoutingPlan, lanes: @escaping @Sendable () -> [DeliveryLane], deadLetters: DeadLetterWriter, options: PipelineOptions,
         stats: RunStats, stopping: StopSignal, logger: Logger, observer: (any PipelineObserver)? = nil, holdRun: HoldGateRun? = nil,
         firstPollAfter: (@Sendable () -> Bool)? = nil) {
        self.firstPollAfter = firstPollAfter
        self.observer = observer
        self.holdRun = holdRun ?? plan.gate?.run
        self.plan = plan
        self.currentPlan = Mutex(plan)
        self.lanes = lanes
        self.deadLetters = deadLetters
        self.options = options
        self.stats = stats
        self.stopping = stopping
        self.logger = logger
    }

    /// Records consumed and not yet settled.
    public var inFlightCount: Int { inFlight.load(ordering: .relaxed) + (holdRun?.outstanding.load(ordering: .relaxed) ?? 0) }
    /// What the run's Hold gates share, a gate a reload added too: the drain waits for their digests.
    let holdRun: HoldGateRun?

    // MARK: Kafka source

    /// Consumes until `stopping` is set, then drains, stores and commits. Blocks the calling thread.
    public func run(consumer: KafkaConsumer) throws(KafkaError) {
        var planner = PlannerForVersion(self)
        consumer.onRebalance { [self] event in
            guard case .revoked(let parts) = event else {
                observer?.assignmentChanged(consumer.assignment)
                return
            }
            // The consumer forgets revoked partitions only after this handler returns.
            defer { observer?.assignmentChanged(consumer.assignment.subtracting(parts)) }
            // A graceful rebalance repeats nothing: the work in flight on these partitions gets
            // until the revocation timeout to settle. Then store what has settled, so the commit made on
            // revocation (before the partitions are released) includes it; forget the rest — the
            // partitions' next owner redelivers it (at-least-once).
            awaitSettled(parts, within: revocationWait(consumer))
            flushStores(consumer)
            tracker.withLock { $0.revoke(parts) }
        }
        // A commit asked for, or refused for now (a rebalance, a coordinator away), keeps its
        // partitions' settled work counted against the cap until a commit of theirs is confirmed:
        // what a crash or a move repeats stays within the cap. A refusal for good (authorization)
        // does not hold the source: findings keep flowing while an operator acts on the error.
        consumer.onCommitAnswered { [self] answer in
            let forGood = answer.outcome.kind == .refused
            tracker.withLock {
                $0.commitAnswered(committed: answer.committed, refused: forGood ? [] : answer.refused,
                                  abandoned: forGood ? answer.refused : [], nothingToCommit: answer.outcome.kind == .nothingToCommit)
            }
        }
        if let ready = firstPollAfter {
            let until = ContinuousClock.now + Self.firstPollWait
            while !stopping.isStopped, !ready(), ContinuousClock.now < until { Thread.sleep(forTimeInterval: 0.02) }
        }
        var fatal: KafkaError?
        var lastWarning = ContinuousClock.now - .seconds(60)
        var flow = SourceFlowControl(options: options, nowMs: coarseMilliseconds())
        var awaitingAnswers = false
        while !stopping.isStopped {
            // Answers to the commits asked for: they lower the count, even while the source holds.
            if awaitingAnswers { consumer.serveCommitAnswers() }
            let (uncommitted, sinceCommit, refused, awaiting) = tracker.withLock {
                ($0.uncommittedCount, $0.committableSinceMark, $0.refusedWindow > 0, $0.awaitingConfirmation > 0)
            }
            awaitingAnswers = awaiting
            let unconfirmed = refused || awaiting
            if flow.shouldCommit(committableSinceCommit: sinceCommit, unconfirmed: unconfirmed, nowMs: coarseMilliseconds()) {
                tracker.withLock { $0.markCommitted() }
                // Offsets are stored only here, just before the commit that sends them: storing
                // on every settle would cost a librdkafka call per record.
                flushStores(consumer)
                consumer.commitAsync()
            }
            let load = max(uncommitted, inFlight.load(ordering: .relaxed))
            switch flow.step(load: load, paused: consumer.isPaused, nowMs: coarseMilliseconds()) {
            case .poll:
                break
            case .hold:
                usleep(500)
                continue
            case .pause:
                consumer.pause()
                logger.debug("in-flight cap held: paused fetching", metadata: ["sluice.in_flight": "\(load)"])
            case .resume:
                consumer.resume()
            }
            switch consumer.poll(timeoutMs: consumer.isPaused ? 10 : 100) {
            case .record(let record):
                process(SourceRecord(record), planner: planner.current())
            case .idle:
                if let gate = planner.current().plan.gate, gate.digestsDue(lastEvent: nil) { gate.sendDigests(flushAll: false, lastEvent: nil) }
                continue
            case .warning(let error):
                if ContinuousClock.now - lastWarning > .seconds(10) {
                    logger.warning("consumer: \(error.message)")
                    lastWarning = .now
                }
            case .fatal(let error):
                logger.critical("consumer failed: \(error.message)")
                fatal = error
                stopping.stop()
            }
        }
        drain(redelivered: true) { flushStores(consumer) }
        flushStores(consumer)
        consumer.close()
        if let fatal { throw fatal }
    }

    /// How long a revocation may wait: the revocation timeout (the drain timeout by default), and
    /// at most half of `max.poll.interval.ms`. A member waiting inside the rebalance callback does
    /// not rejoin the group meanwhile, and a group that began another rebalance (a member joined)
    /// waits that long for it before it drops the member, whose partitions then all move.
    private func revocationWait(_ consumer: KafkaConsumer) -> Duration {
        min(options.revocationTimeout ?? options.drainTimeout, consumer.maxPollInterval / 2)
    }

    /// Waits, at most `timeout`, for the records in flight on `parts` to settle. Runs inside the
    /// consumer's poll (the rebalance callback), so nothing new is taken meanwhile; deliveries
    /// complete on their own threads. At shutdown the drain has waited already.
    private func awaitSettled(_ parts: [TopicPartition], within timeout: Duration) {
        guard !stopping.isStopped else { return }
        var unsettled = tracker.withLock { $0.unsettledCount(in: parts) }
        guard unsettled > 0 else { return }
        let metadata: Logger.Metadata = ["kafka.partitions": "\(parts.map(\.description).joined(separator: ","))"]
        logger.info("partitions revoked with work in flight: waiting for it to settle",
                    metadata: metadata.merging(["sluice.in_flight": "\(unsettled)"]) { $1 })
        let started = ContinuousClock.now
        let deadline = started + timeout
        while unsettled > 0, !stopping.isHardStopped, ContinuousClock.now < deadline {
            usleep(1000)
            unsettled = tracker.withLock { $0.unsettledCount(in: parts) }
        }
        let waited: Logger.Metadata = ["sluice.wait_ms": "\((ContinuousClock.now - started).wholeMilliseconds)"]
        if unsettled == 0 {
            logger.info("revoked partitions settled: committing them before release", metadata: metadata.merging(waited) { $1 })
        } else {
            logger.warning("revoked partitions released with work unsettled: their next owner repeats it",
                           metadata: metadata.merging(waited) { $1 }.merging(["sluice.in_flight": "\(unsettled)"]) { $1 })
        }
    }

    private func flushStores(_ consumer: KafkaConsumer) {
        consumer.storeOffsets(tracker.withLock { $0.takeAdvanced() })
    }

    // MARK: NDJSON source (offline runs, backfills, tests)

    /// Processes one finding per line until end of input or `stopping`, then drains. A line over
    /// `maxMessageBytes` is dead-lettered `too_large` with its first bytes, never held whole.
    public func run(lines input: FileHandle) {
        var planner = PlannerForVersion(self)
        var lineNumber: Int64 = 0
        var splitter = NDJSONLineSplitter(maxLineBytes: options.maxMessageBytes)
        func emit(_ piece: NDJSONLineSplitter.Piece) {
            lineNumber += 1
            if case .line(let line) = piece, line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
            while inFlight.load(ordering: .relaxed) >= options.maxInFlight, !stopping.isStopped { usleep(1000) }
            switch piece {
            case .line(let line):
                process(SourceRecord(topic: nil, offset: lineNumber, value: line), planner: planner.current())
            case .oversized(let prefix, let byteCount):
                stats.consumed()
                deadLetter(SourceRecord(topic: nil, offset: lineNumber, value: prefix), ticket: nil, reason: .tooLarge,
                           detail: "line of \(byteCount) bytes is over max_message_bytes (\(options.maxMessageBytes)); the dead letter holds its first \(prefix.count) bytes")
            }
        }
        // Plain reads of at most 64 KiB: whatever is there, without waiting for more (stdin may be a
        // live stream), and never the whole file at once.
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let fd = input.fileDescriptor
        while !stopping.isStopped {
            // A live stream (stdin) may stay silent: wait for input in short turns so a stop
            // (SIGTERM, or a failed part of the run) is seen without waiting for the next line.
            var waiting = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&waiting, 1, 200)
            if ready == 0 || (ready < 0 && errno == EINTR) { continue }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { logger.error("reading the input failed: \(String(cString: strerror(errno)))") }
            if n <= 0 { break }
            chunk.withUnsafeBytes { splitter.feed(UnsafeRawBufferPointer(rebasing: $0[..<n]), emit) }
        }
        if !stopping.isStopped { splitter.finish(emit) }
        // Offline runs end with their input: pending digests go now, not at a time never reached.
        let last = planner.current()
        last.plan.gate?.sendDigests(flushAll: true, lastEvent: last.lastEvent)
        drain(redelivered: false) {}
    }

    // MARK: Both sources

    /// Swaps in a new plan: the next record is planned with it.
    /// The plan new records are planned with now (replays started through the admin API use it).
    var activePlan: RoutingPlan { currentPlan.withLock { $0 } }

    func replacePlan(_ plan: RoutingPlan) {
        currentPlan.withLock { $0 = plan }
        planVersion.add(1, ordering: .releasing)
    }

    /// The source thread's planner, rebuilt when a reload swapped the plan (one relaxed load per record).
    struct PlannerForVersion {
        let pipeline: Pipeline
        var version: Int
        var planner: Planner
        init(_ pipeline: Pipeline) {
            self.pipeline = pipeline
            version = pipeline.planVersion.load(ordering: .acquiring)
            planner = Planner(plan: pipeline.currentPlan.withLock { $0 }, maxMessageBytes: pipeline.options.maxMessageBytes,
                              maxDepth: pipeline.options.maxDepth, formats: pipeline.options.formats)
        }
        mutating func current() -> Planner {
            if pipeline.planVersion.load(ordering: .relaxed) != version { self = PlannerForVersion(pipeline) }
            return planner
        }
    }

    private func process(_ record: SourceRecord, planner: Planner) {
        stats.consumed()
        let ticket: OffsetTracker.Ticket? = record.topic == nil ? nil
            : tracker.withLock { $0.track(TopicPartition(record.topic!, record.partition), offset: record.offset) }
        let outcome = planner.plan(record)
        for i in planner.lastSuppressed { stats.suppressed(route: planner.plan.table.routes[i].name) }
        switch outcome {
        case .unmatched:
            stats.unmatched()
            observer?.routed(record, deliveries: [])
            settle(ticket)
        case .rejected(let reason, let detail):
            deadLetter(record, ticket: ticket, reason: reason, detail: detail)
        case .deliveries(let planned):
            // The admin feed sees what was planned; each job reports what became of its target.
            let feed = observer?.routed(record, deliveries: planned)
            @Sendable func job(_ message: InFlightMessage, _ route: String, _ target: BoundTarget, _ delivery: Delivery,
                               _ now: ContinuousClock.Instant) -> DeliveryJob {
                var job = DeliveryJob(message: message, route: route, delivered: target.delivered, delivery: delivery, firstAttempt: now)
                if let feed { job.report = { [name = target.lane.name, part = delivery.part?.index ?? 0] in feed(part, name, $0) } }
                return job
            }
            // The gate of the plan this record is planned with (a reload's, not the first plan's).
            guard let gate = planner.plan.gate, !planner.findingEvents.isEmpty else {
                let message = begin(record, ticket: ticket, work: planned.count)
                let now = ContinuousClock.now
                for (route, target, delivery) in planned {
                    var j = job(message, route, target, delivery, now)
                    // Silences are checked again at send time; the record's bytes are parsed only if one exists by then.
                    j.silences = planner.plan.gate
                    target.lane.submit(j)
                }
                break
            }
            // The Hold stage: held deliveries are counted there and go no further.
            // A split record (docs/formats.md §7): each finding is screened with its own event.
            // Steps are moved out of their arrays (popLast), not copied: a step holds a target, a
            // delivery and a Hold item, and each copy retained and released every one of their
            // references (1.5 µs per finding in a profile of the dedupe leg).
            var steps: [(step: HoldGate.Step, event: JSON, whole: Bool, part: Int)] = []
            var first = 0
            for (event, whole, finding, count) in planner.findingEvents {
                let part = count > 0 ? planned[first].delivery.part?.index ?? 0 : 0
                let list = first == 0 && count == planned.count ? planned : Array(planned[first..<(first + count)])
                var screened = gate.screen(list, event: event, finding: finding)
                screened.reverse()
                while let step = screened.popLast() {
                    // Held here: the feed says why instead of "pending"; nothing more to do.
                    if case .held(let target, let reason) = step { feed?(part, target, "held: \(reason.rawValue)") } else { steps.append((step, event, whole, part)) }
                }
                first += count
            }
            if steps.isEmpty {
                settle(ticket)
                break
            }
            let message = begin(record, ticket: ticket, work: steps.count)
            let now = ContinuousClock.now
            steps.reverse()
            while let (step, event, whole, part) = steps.popLast() {
                // A delivery the Hold stage let through, on this record's own job.
                func screened(_ route: String, _ target: BoundTarget, _ delivery: Delivery) -> DeliveryJob {
                    var held = job(message, route, target, delivery, now)
                    // An event of a few paths cannot answer a silence made since: the record's bytes are read then.
                    if whole {
                        held.heldAtSend = gate.silencedAtSend(route: route, target: target.lane.name, finding: .event(event), findingID: delivery.findingID)
                    } else {
                        held.silences = gate
                    }
                    return held
                }
                switch step {
                case .deliver(let route, let target, let delivery, let holdTicket):
                    var held = screened(route, target, delivery)
                    if let holdTicket { held.onOutcome = { ok in gate.outcome(ticket: holdTicket, succeeded: ok, record: record) } }
                    target.lane.submit(held)
                case .held:
                    break  // left out above
                case .forward(let route, let target, let delivery, let item):
                    guard let forwarder = gate.forwarder else { break }
                    let owner = forwarder.partition(of: item)
                    // This instance owns the key: decided here, delivered on this job. The step's
                    // unit of work ends with the delivery; one more with the decision's changelog record.
                    if let local = forwarder.localOwner.owner.load() {
                        switch local.decideLocally(item, partition: owner, settled: { message.finishOne() }) {
                        case .notOwned:
                            break
                        case .held(let reason):
                            feed?(part, target.lane.name, "held: \(reason.rawValue)")
                            continue
                        case .deliver(let release):
                            var delivery = delivery
                            if release.hold != nil { delivery.payload = gate.payload(for: release) }
                            var held = screened(route, target, delivery)
                            message.addUnit()
                            held.onOutcome = { ok in local.completed(release, partition: owner, succeeded: ok) { message.finishOne() } }
                            target.lane.submit(held)
                            continue
                        }
                    }
                    // Settled once the key's owner has it durably; if the repartition topic cannot
                    // take it, deliver directly: a possible duplicate beats a lost finding.
                    forwarder.forward(item, to: owner) { [logger] ok in
                        if ok { return message.finishOne() }
                        logger.warning("repartition write failed: delivering without state", metadata: ["route.name": "\(route)"])
                        target.lane.submit(job(message, route, target, delivery, .now))
                    }
                }
            }
        }
        // Digests come from state rules only: without them the stage is not asked per record.
        if let gate = planner.plan.gate, !gate.rules.isEmpty, gate.digestsDue(lastEvent: planner.lastEvent) {
            gate.sendDigests(flushAll: false, lastEvent: planner.lastEvent)
        }
    }

    /// A record that goes to the dead-letter topic with why; settled once it is written.
    private func deadLetter(_ record: SourceRecord, ticket: OffsetTracker.Ticket?, reason: DeadLetterReason, detail: String) {
        let message = begin(record, ticket: ticket, work: 1)
        deadLetters.write(DeadLetter(source: record, reason: reason, route: nil, connector: nil, attempts: 0, lastError: detail)) {
            message.finishOne()
        }
    }

    private func begin(_ record: SourceRecord, ticket: OffsetTracker.Ticket?, work: Int) -> InFlightMessage {
        inFlight.add(1, ordering: .relaxed)
        return InFlightMessage(record: record, ticket: ticket, work: work) { [self] message in
            settle(message.ticket)
            inFlight.subtract(1, ordering: .relaxed)
        }
    }

    private func settle(_ ticket: OffsetTracker.Ticket?) {
        guard let ticket else { return }
        _ = tracker.withLock { $0.settle(ticket) }  // the source stores what advanced before it commits
    }

    /// Waits for in-flight work; at the deadline, turns waiting retries into dead letters and
    /// waits for those to be written.
    /// `redelivered`: a Kafka source redelivers what did not settle; a file does not.
    private func drain(redelivered: Bool, _ tick: () -> Void) {
        let deadline = ContinuousClock.now + options.drainTimeout
        for lane in lanes() { lane.flush() }  // partial batches go now, not after max_wait
        if inFlightCount > 0 {
            logger.info("draining in-flight work", metadata: ["sluice.in_flight": "\(inFlightCount)"])
        }
        while inFlightCount > 0, ContinuousClock.now < deadline {
            tick()
            usleep(5000)
        }
        guard inFlightCount > 0 else { return }
        logger.warning("drain deadline passed: dead-lettering pending retries", metadata: ["sluice.in_flight": "\(inFlightCount)"])
        stopping.hardStop()
        for lane in lanes() { lane.drain() }
        // Attempts under way finish within their timeout; dead letters need the broker's ack.
        let last = ContinuousClock.now + .seconds(30)
        while inFlightCount > 0, ContinuousClock.now < last {
            tick()
            usleep(5000)
        }
        let unsettled = inFlightCount
        guard unsettled > 0 else { return }
        stats.unsettledAtExit(unsettled)
        if redelivered {
            logger.error("exiting with unsettled work: it will be redelivered", metadata: ["sluice.in_flight": "\(unsettled)"])
        } else {
            logger.error("exiting with findings neither delivered nor dead-lettered: they are lost to this run",
                         metadata: ["sluice.in_flight": "\(unsettled)"])
        }
    }
}

/// CLOCK_MONOTONIC_COARSE in milliseconds: a few milliseconds coarse, and a fraction of the cost
/// of a full clock read, which the source loop would otherwise pay on every record.
func coarseMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}
