import DequeModule
import Foundation
import Logging
import SluiceConnectors
import SluiceHTTP
import Synchronization

/// One delivery of one message to one connector, across its attempts.
struct DeliveryJob: Sendable {
    var message: InFlightMessage
    var route: String
    var delivered: DeliveryCounter
    var delivery: Delivery
    var firstAttempt: ContinuousClock.Instant
    /// When it joined the waiting queue (batches are sent `max_wait` after their oldest item).
    var queuedAt: ContinuousClock.Instant
    /// Tells the admin feed what became of this target; nil unless the record is in the feed.
    var report: (@Sendable (String) -> Void)?

    init(message: InFlightMessage, route: String, delivered: DeliveryCounter, delivery: Delivery, firstAttempt: ContinuousClock.Instant) {
        self.message = message
        self.route = route
        self.delivered = delivered
        self.delivery = delivery
        self.firstAttempt = firstAttempt
        queuedAt = firstAttempt  // one clock read per record: the clock is slow on some VMs
    }
}

/// The lane of one connector instance: its own concurrency limit, rate limit (token bucket),
/// circuit breaker, batching, retries with exponential backoff and full jitter, and
/// dead-lettering. A slow, failing or rate-limited target fills only its own lane; the
/// in-flight cap upstream keeps the total bounded, so a dead target cannot grow memory.
///
/// Everything funnels through `pump()`: it starts as many attempts as the limits allow and,
/// when a limit holds work back (no token yet, breaker open, batch not full), schedules one
/// wake-up for the moment that limit lifts.
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

    private struct State {
        var inFlight = 0
        var waiting: Deque<DeliveryJob> = []
        var retryTimers: [UInt64: DeliveryJob] = [:]
        var nextTimer: UInt64 = 0
        /// The pending `pump` wake-up, if one is scheduled.
        var wakeAt: ContinuousClock.Instant?
        // Token bucket.
        var tokens: Double
        var refilledAt = ContinuousClock.now
        // Circuit breaker.
        var consecutiveFailures = 0
        var openUntil: ContinuousClock.Instant?
        var trialInFlight = false
        /// The last failure, for the admin API.
        var lastError: String?
    }
    private let state: Mutex<State>

    init(name: String, connector: any Connector, policy: DeliveryPolicy, deadLetters: DeadLetterWriter, stats: RunStats, stopping: StopSignal, logger: Logger) {
        self.name = name
        self.connector = connector
        self.policy = policy
        self.latency = DeliveryLatency(connector: name)
        self.batcher = policy.batch == nil ? nil : connector as? any BatchingConnector
        self.deadLetters = deadLetters
        self.stats = stats
        self.stopping = stopping
        self.logger = logger.with("connector.name", name)
        state = Mutex(State(tokens: policy.burst ?? max(1, policy.rateLimit ?? 1)))
    }

    /// Queues a job (its `queuedAt` set by the caller) and starts what the limits allow.
    func submit(_ job: DeliveryJob) {
        // The common case — nothing waiting, a free slot, no rate limit, batch or open breaker —
        // starts the attempt under one lock, without a trip through the queue.
        let startNow = state.withLock { s -> Bool in
            if startsDirectly, s.waiting.isEmpty, s.openUntil == nil, s.inFlight < policy.concurrency {
                s.inFlight += 1
                return true
            }
            s.waiting.append(job)
            return false
        }
        if startNow { attempt(job) } else { pump() }
    }

    /// No limit but concurrency applies to this lane.
    private var startsDirectly: Bool { policy.rateLimit == nil && batcher == nil }

    // MARK: Starting attempts

    private enum Start {
        case one(DeliveryJob)
        case batch([DeliveryJob])
    }

    /// Starts every attempt the limits allow now.
    private func pump() {
        while let start = nextStart() {
            switch start {
            case .one(let job): attempt(job)
            case .batch(let jobs): attempt(batch: jobs)
            }
        }
    }

    /// Takes the next attempt to start, or schedules a wake-up for when a limit lifts.
    private func nextStart() -> Start? {
        let now = ContinuousClock.now
        var wake: ContinuousClock.Instant?
        let start = state.withLock { s -> Start? in
            guard !s.waiting.isEmpty, s.inFlight < policy.concurrency else { return nil }
            if let until = s.openUntil {
                if now < until { wake = until; return nil }
                // Half-open: one trial attempt decides.
                if s.trialInFlight { return nil }
            }
            if let rate = policy.rateLimit {
                let burst = policy.burst ?? max(1, rate)
                s.tokens = min(burst, s.tokens + rate * (now - s.refilledAt).seconds)
                s.refilledAt = now
                if s.tokens < 1 {
                    wake = now + .seconds((1 - s.tokens) / rate)
                    return nil
                }
            }
            var start: Start
            if batcher != nil, let batch = policy.batch {
                guard let jobs = takeBatch(&s.waiting, policy: batch, now: now, force: stopping.isStopped, wake: &wake) else { return nil }
                start = .batch(jobs)
            } else {
                start = .one(s.waiting.popFirst()!)
            }
            if policy.rateLimit != nil { s.tokens -= 1 }
            if s.openUntil != nil { s.trialInFlight = true }
            s.inFlight += 1
            return start
        }
        if let wake { schedulePump(at: wake) }
        return start
    }

    /// A full batch, or what waits once the oldest item has waited `maxWait` (or at shutdown).
    private func takeBatch(_ waiting: inout Deque<DeliveryJob>, policy: BatchPolicy, now: ContinuousClock.Instant, force: Bool, wake: inout ContinuousClock.Instant?) -> [DeliveryJob]? {
        var count = 0
        var bytes = 0
        for job in waiting {
            if count == policy.maxItems || (count > 0 && bytes + job.delivery.payload.count > policy.maxBytes) { break }
            count += 1
            bytes += job.delivery.payload.count
        }
        let full = count < waiting.count || count == policy.maxItems
        let due = waiting.first!.queuedAt + policy.maxWait
        guard full || force || now >= due else {
            wake = due
            return nil
        }
        let jobs = Array(waiting.prefix(count))
        waiting.removeFirst(count)
        return jobs
    }

    private func schedulePump(at instant: ContinuousClock.Instant) {
        let schedule = state.withLock { s -> Bool in
            if let at = s.wakeAt, at <= instant { return false }
            s.wakeAt = instant
            return true
        }
        guard schedule else { return }
        let delay = max(.zero, instant - .now)
        DispatchQueue.global().asyncAfter(deadline: .now() + .microseconds(Int(delay.wholeMicroseconds))) { [self] in
            state.withLock { s in if s.wakeAt == instant { s.wakeAt = nil } }
            pump()
        }
    }

    private func attempt(_ job: DeliveryJob) {
        connector.deliver(job.delivery) { [self] outcome in
            finished(job, outcome)
            attemptEnded(failed: outcome.isRetryable)
        }
    }

    private func attempt(batch jobs: [DeliveryJob]) {
        batcher!.deliver(batch: jobs.map(\.delivery)) { [self] outcomes in
            for (i, job) in jobs.enumerated() {
                finished(job, i < outcomes.count ? outcomes[i] : .retryable("connector returned \(outcomes.count) outcomes for \(jobs.count) items"))
            }
            attemptEnded(failed: !outcomes.isEmpty && outcomes.allSatisfy(\.isRetryable))
        }
    }

    /// Frees the slot, feeds the circuit breaker, and starts what can start.
    private func attemptEnded(failed: Bool) {
        let (transition, waiting) = state.withLock { s -> (String?, Bool) in
            s.inFlight -= 1
            return (feedBreaker(&s, failed: failed), !s.waiting.isEmpty)
        }
        if let transition {
            if transition == "closed" {
                logger.info("circuit breaker closed: target answers again")
            } else {
                logger.warning("circuit breaker \(transition): deliveries wait", metadata: [
                    "sluice.cooldown_ms": "\(policy.circuitBreaker!.cooldown.wholeMilliseconds)",
                ])
            }
        }
        if waiting { pump() }
    }

    /// Counts the attempt's outcome into the circuit breaker; returns its transition, if any.
    private func feedBreaker(_ s: inout State, failed: Bool) -> String? {
        let wasOpen = s.openUntil != nil
        s.trialInFlight = false
        guard let breaker = policy.circuitBreaker else { return nil }
        if !failed {
            s.consecutiveFailures = 0
            s.openUntil = nil
            return wasOpen ? "closed" : nil
        }
        s.consecutiveFailures += 1
        if wasOpen || s.consecutiveFailures >= breaker.failureThreshold {
            s.openUntil = .now + breaker.cooldown
            return wasOpen ? "reopened" : "opened"
        }
        return nil
    }

    // MARK: Outcomes

    private func finished(_ job: DeliveryJob, _ outcome: DeliveryOutcome) {
        switch outcome {
        case .delivered:
            job.delivered.increment()
            latency.record(.now - job.firstAttempt)
            job.report?("delivered")
            job.message.finishOne()
        case .permanent(let error):
            noteFailure(error)
            deadLetter(job, .permanentError, error)
        case .retryable(let error, let retryAfter):
            noteFailure(error)
            let age = ContinuousClock.now - job.firstAttempt
            guard policy.retry.allowsRetry(after: job.delivery.attempt, age: age), !stopping.isHardStopped else {
                return deadLetter(job, stopping.isHardStopped ? .shutdown : .retriesExhausted, error)
            }
            var rng = SystemRandomNumberGenerator()
            let wait = policy.retry.backoff(after: job.delivery.attempt, retryAfter: retryAfter, using: &rng)
            logger.debug("delivery failed, will retry", metadata: [
                "route.name": "\(job.route)", "sluice.attempt": "\(job.delivery.attempt)",
                "sluice.retry_in_ms": "\(wait.wholeMilliseconds)", "error": "\(error)",
            ])
            stats.retried()
            job.report?("retrying (attempt \(job.delivery.attempt + 1))")
            scheduleRetry(job, after: wait, lastError: error)
        }
    }

    private func scheduleRetry(_ job: DeliveryJob, after wait: Duration, lastError: String) {
        var next = job
        next.delivery.attempt += 1
        let id = state.withLock { s -> UInt64 in
            s.nextTimer += 1
            s.retryTimers[s.nextTimer] = next
            return s.nextTimer
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(wait.wholeMilliseconds))) { [self] in
            guard let job = state.withLock({ $0.retryTimers.removeValue(forKey: id) }) else { return }  // drained meanwhile
            if stopping.isHardStopped {
                deadLetter(job, .shutdown, lastError, attemptsMade: job.delivery.attempt - 1)
            } else {
                var job = job
                job.queuedAt = .now
                submit(job)
            }
        }
    }

    /// `attemptsMade` defaults to the job's current attempt (the one that just failed).
    private func deadLetter(_ job: DeliveryJob, _ reason: DeadLetterReason, _ error: String, attemptsMade: Int? = nil) {
        job.report?("dead-lettered: \(reason.rawValue)")
        deadLetters.write(DeadLetter(
            source: job.message.record, reason: reason, route: job.route, connector: name,
            attempts: attemptsMade ?? job.delivery.attempt, lastError: error)) { job.message.finishOne() }
    }

    /// At the drain deadline: retries still waiting, and deliveries held back by the rate limit
    /// or an open circuit, go to the dead-letter topic now.
    func drain() {
        let (retries, held) = state.withLock { s -> ([DeliveryJob], [DeliveryJob]) in
            defer { s.retryTimers.removeAll(); s.waiting.removeAll() }
            return (Array(s.retryTimers.values), Array(s.waiting))
        }
        for job in retries { deadLetter(job, .shutdown, "shutdown before retry attempt \(job.delivery.attempt)", attemptsMade: job.delivery.attempt - 1) }
        for job in held { deadLetter(job, .shutdown, "shutdown before attempt \(job.delivery.attempt)", attemptsMade: job.delivery.attempt - 1) }
    }

    /// Starts held-back batches at once (shutdown: nothing waits for `max_wait`).
    func flush() { pump() }

    /// Jobs queued, running or waiting to retry.
    var pending: Int { state.withLock { $0.inFlight + $0.waiting.count + $0.retryTimers.count } }

    /// The lane at one moment, for the admin API.
    var health: (backlog: Int, inFlight: Int, breaker: String, lastError: String?) {
        let now = ContinuousClock.now
        return state.withLock { s in
            let breaker = s.openUntil.map { $0 > now ? "open" : "half-open" } ?? "closed"
            return (s.inFlight + s.waiting.count + s.retryTimers.count, s.inFlight, breaker, s.lastError)
        }
    }

    private func noteFailure(_ error: String) {
        // Bounded: a target's reply may be long; this is a glance, the dead letter has the rest.
        let short = String(error.prefix(300))
        state.withLock { $0.lastError = short }
    }
}

extension DeliveryOutcome {
    var isRetryable: Bool { if case .retryable = self { return true }; return false }
}

extension Duration {
    /// Seconds as a Double, for rate arithmetic.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var wholeMicroseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
}
