import Foundation
import Logging
import SluiceConnectors
import SluiceHTTP
import Synchronization

/// One delivery of one message to one connector, across its attempts.
struct DeliveryJob: LaneJob {
    var message: InFlightMessage
    var route: String
    var delivered: DeliveryCounter
    var delivery: Delivery
    var firstAttempt: ContinuousClock.Instant
    var queuedAt: ContinuousClock.Instant
    /// Told whether the delivery succeeded (true) or was dead-lettered: dedupe writes its record
    /// only after a success (SluiceState).
    var onOutcome: (@Sendable (Bool) -> Void)?
    /// Tells the admin feed what became of this target; nil unless the record is in the feed.
    var report: (@Sendable (String) -> Void)?
    var lastError: String?
    /// Asked just before each attempt: true when a silence made since planning holds the finding
    /// now (counted by the Hold stage). The job then ends undelivered, as a hold.
    var heldAtSend: (@Sendable () -> Bool)?
    /// false for a replayed dead letter: a failure is reported to the replay (its progress
    /// records it) instead of becoming a second dead letter.
    var deadLettersOnFailure = true
    /// The same check for jobs the Hold stage did not screen, asked with the job's record: a
    /// shared value rather than a closure per job (Kafka runs plan every job with it).
    var silences: (any SendTimeSilences)?

    init(message: InFlightMessage, route: String, delivered: DeliveryCounter, delivery: Delivery, firstAttempt: ContinuousClock.Instant) {
        self.message = message
        self.route = route
        self.delivered = delivered
        self.delivery = delivery
        self.firstAttempt = firstAttempt
        queuedAt = firstAttempt  // one clock read per record: the clock is slow on some VMs
    }

    var attempt: Int {
        get { delivery.attempt }
        set { delivery.attempt = newValue }
    }
    var payloadBytes: Int { delivery.payload.count }
}

/// The lane of one connector instance: its own concurrency limit, rate limit (token bucket),
/// circuit breaker, batching, retries with exponential backoff and full jitter, and
/// dead-lettering. A slow, failing or rate-limited target fills only its own lane; the
/// in-flight cap upstream keeps the total bounded, so a dead target cannot grow memory.
///
/// Every decision is `DeliveryLaneStateMachine`'s, taken under the lock; this class carries out
/// the actions after releasing it: attempts, dead letters, and one timer for the next wake-up.
final class DeliveryLane: Sendable {
    let name: String
    let connector: any Connector
    let policy: DeliveryPolicy
    /// Time to successful delivery, for /metrics.
    let latency: DeliveryLatency
    private let batcher: (any BatchingConnector)?
    private let deadLetters: DeadLetterWriter
    private let stats: RunStats
    private let stopping: StopSignal
    private let logger: Logger
    private let state: Mutex<DeliveryLaneStateMachine<DeliveryJob>>
    private let failureWarning: FailureWarning
    /// Set by `flush`: the run is draining (end of input, shutdown), so batches go without waiting.
    private let draining = Atomic<Bool>(false)

    init(name: String, connector: any Connector, policy: DeliveryPolicy, deadLetters: DeadLetterWriter, stats: RunStats, stopping: StopSignal,
         logger: Logger, failureWarningInterval: Duration = .seconds(10)) {
        failureWarning = FailureWarning(interval: failureWarningInterval)
        self.name = name
        self.connector = connector
        self.policy = policy
        self.latency = DeliveryLatency(connector: name)
        let batcher = policy.batch == nil ? nil : connector as? any BatchingConnector
        self.batcher = batcher
        self.deadLetters = deadLetters
        self.stats = stats
        self.stopping = stopping
        self.logger = logger.with("connector.name", name)
        state = Mutex(DeliveryLaneStateMachine(policy: policy, batching: batcher != nil, now: .now))
    }

    /// Queues a job (its `queuedAt` set by the caller) and starts what the limits allow.
    func submit(_ job: DeliveryJob) {
        if let failure = job.delivery.renderFailure { return deadLetter(job, .renderFailed, failure, attempts: 0) }
        if let job = state.withLock({ $0.submit(job) }) { attempt(job) } else { pump() }
    }

    // MARK: Carrying out actions

    /// Starts every attempt the limits allow now, then schedules the wake-up the machine asks for.
    private func pump() {
        while true {
            let now = ContinuousClock.now
            let flushing = stopping.isStopped || draining.load(ordering: .relaxed)
            guard let action = state.withLock({ $0.nextAction(now: now, flushing: flushing) }) else { return }
            switch action {
            case .start(let job): attempt(job)
            case .startBatch(let jobs): attempt(batch: jobs)
            case .wake(let instant): return scheduleWake(at: instant)
            }
        }
    }

    private func scheduleWake(at instant: ContinuousClock.Instant) {
        let delay = max(.zero, instant - .now)
        DispatchQueue.global().asyncAfter(deadline: .now() + .microseconds(Int(delay.wholeMicroseconds))) { [self] in
            state.withLock { $0.woke(scheduledFor: instant) }
            pump()
        }
    }

    /// Whether a silence made since the job was planned holds it now.
    private func isHeldAtSend(_ job: DeliveryJob) -> Bool {
        job.heldAtSend?() == true || job.silences?.holds(route: job.route, target: name, record: job.message.record,
                                                                  part: job.delivery.part?.index ?? 0, findingID: job.delivery.findingID) == true
    }

    private func attempt(_ job: DeliveryJob) {
        if isHeldAtSend(job) {
            endHeld(job)
            return attemptEnded(failed: false, now: .now)
        }
        connector.deliver(job.delivery) { [self] outcome in
            let now = finished(job, outcome)
            attemptEnded(failed: outcome.isRetryable, now: now)
        }
    }

    /// A job a silence holds at send time: not delivered, not dead-lettered; its message settles.
    /// Dedupe hears "not delivered", so the next repeat after the silence is not hidden.
    private func endHeld(_ job: DeliveryJob) {
        job.report?("held: silenced")
        job.onOutcome?(false)
        job.message.finishOne()
    }

    private func attempt(batch all: [DeliveryJob]) {
        var sending: [DeliveryJob] = []
        for job in all {
            if isHeldAtSend(job) { endHeld(job) } else { sending.append(job) }
        }
        if sending.isEmpty { return attemptEnded(failed: false, now: .now) }
        let jobs = sending
        batcher!.deliver(batch: jobs.map(\.delivery)) { [self] outcomes in
            var now = ContinuousClock.now
            for (i, job) in jobs.enumerated() {
                now = finished(job, i < outcomes.count ? outcomes[i] : .retryable("connector returned \(outcomes.count) outcomes for \(jobs.count) items"))
            }
            attemptEnded(failed: !outcomes.isEmpty && outcomes.allSatisfy(\.isRetryable), now: now)
        }
    }

    /// Frees the slot, feeds the circuit breaker, and starts what can start. `now`: the clock as
    /// the outcome was handled (one read per delivery: this runs once per record on the
    /// producer's delivery-report thread, which every kafka-connector delivery goes through).
    private func attemptEnded(failed: Bool, now: ContinuousClock.Instant) {
        let (transition, queued) = state.withLock { ($0.attemptEnded(failed: failed, now: now), $0.hasQueuedWork) }
        switch transition {
        case .closed?:
            logger.info("circuit breaker closed: target answers again")
        case .opened?, .reopened?:
            logger.warning("circuit breaker \(transition!.rawValue): deliveries wait", metadata: [
                "sluice.cooldown_ms": "\(policy.circuitBreaker?.cooldown.wholeMilliseconds ?? 0)",
            ])
        case nil:
            break
        }
        if queued { pump() }
    }

    /// Carries out what becomes of `job` after an attempt; returns the clock it read.
    @discardableResult
    private func finished(_ job: DeliveryJob, _ outcome: DeliveryOutcome) -> ContinuousClock.Instant {
        let now = ContinuousClock.now
        // A success changes nothing in the machine (`outcome` answers `.delivered` at once): it
        // takes no lock, the common case on the delivery-report thread.
        let action: DeliveryLaneStateMachine<DeliveryJob>.OutcomeAction
        if case .delivered = outcome {
            action = .delivered
        } else {
            let hardStopped = stopping.isHardStopped
            action = state.withLock { s in
                var rng = SystemRandomNumberGenerator()
                return s.outcome(of: job, outcome, now: now, hardStopped: hardStopped, using: &rng)
            }
        }
        switch action {
        case .delivered:
            job.delivered.increment()
            latency.record(now - job.firstAttempt)
            job.report?("delivered")
            job.onOutcome?(true)
            job.message.finishOne()
        case .deadLetter(let reason, let attempts, let error):
            warnIfDue(job, error, next: "dead-lettered (\(reason.rawValue))")
            deadLetter(job, reason, error, attempts: attempts)
        case .retry(_, let wait):
            guard case .retryable(let error, _) = outcome else { return now }
            warnIfDue(job, error, next: "retrying")
            logger.debug("delivery failed, will retry", metadata: [
                "route.name": "\(job.route)", "sluice.attempt": "\(job.delivery.attempt)",
                "sluice.retry_in_ms": "\(wait.wholeMilliseconds)", "error": "\(error)",
            ])
            stats.retried()
            job.report?("retrying (attempt \(job.delivery.attempt + 1))")
            // attemptEnded's pump asks for the wake-up at the retry's due time.
        }
        return now
    }

    /// Failures show at the default level, rate-limited per lane; each attempt is at debug.
    private func warnIfDue(_ job: DeliveryJob, _ error: String, next: String) {
        guard let failures = failureWarning.failed() else { return }
        logger.warning("deliveries failing", metadata: [
            "route.name": "\(job.route)", "error": "\(error)", "sluice.then": "\(next)",
            "sluice.failures": "\(failures)", "sluice.interval_s": "\(failureWarning.intervalSeconds)",
        ])
    }

    private func deadLetter(_ job: DeliveryJob, _ reason: DeadLetterReason, _ error: String, attempts: Int) {
        guard job.deadLettersOnFailure else {
            job.report?("failed: \(reason.rawValue) after \(attempts) attempts: \(error)")
            job.onOutcome?(false)
            job.message.finishOne()
            return
        }
        job.report?("dead-lettered: \(reason.rawValue)")
        deadLetters.write(DeadLetter(
            source: job.message.record, reason: reason, route: job.route, connector: name,
            attempts: attempts, lastError: error, part: job.delivery.part)) {
            job.onOutcome?(false)
            job.message.finishOne()
        }
    }

    /// At the drain deadline: retries still waiting, and deliveries held back by the rate limit
    /// or an open circuit, go to the dead-letter topic now.
    func drain() {
        for (job, made) in state.withLock({ $0.drain() }) {
            // The cause stays the target's last answer; the shutdown is why no more attempts came.
            let cause = job.lastError.map { "\($0) (then shutdown before attempt \(job.delivery.attempt))" }
                ?? "shutdown before attempt \(job.delivery.attempt)"
            deadLetter(job, .shutdown, cause, attempts: made)
        }
    }

    /// Starts held-back batches at once and from now on (end of input, shutdown: nothing more is
    /// coming, so nothing waits for `max_wait`).
    func flush() {
        draining.store(true, ordering: .relaxed)
        pump()
    }

    /// Jobs queued, running or waiting to retry.
    var pending: Int { state.withLock { $0.pending } }

    /// The lane at one moment, for the admin API.
    var health: (backlog: Int, inFlight: Int, breaker: String, lastError: String?) {
        let now = ContinuousClock.now
        return state.withLock { s in
            let breaker = s.openUntil.map { $0 > now ? "open" : "half-open" } ?? "closed"
            return (s.pending, s.inFlight, breaker, s.lastError)
        }
    }
}

extension DeliveryOutcome {
    var isRetryable: Bool { if case .retryable = self { return true }; return false }
}

extension Duration {
    /// Seconds as a Double, for rate arithmetic.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
