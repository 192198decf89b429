import DequeModule
import HeapModule
import SluiceConnectors

/// What the lane's state machine needs to know about a job.
protocol LaneJob: Sendable {
    /// 1 for the first attempt.
    var attempt: Int { get set }
    /// When the job entered the lane (the clock of `max_age`).
    var firstAttempt: ContinuousClock.Instant { get }
    /// When it joined the waiting queue (batches are sent `max_wait` after their oldest item).
    var queuedAt: ContinuousClock.Instant { get set }
    /// Payload size, for `batch.max_bytes`.
    var payloadBytes: Int { get }
    /// The cause of the last failed attempt: what a drain's dead letter reports.
    var lastError: String? { get set }
}

/// The decisions of one delivery lane — concurrency, rate limit (token bucket), circuit breaker,
/// batching, retries with backoff and `max_age`, drain — with no I/O, no clock and no timers:
/// every input carries `now`, and every decision is a returned action that `DeliveryLane` carries
/// out after releasing its lock. Tests feed inputs and assert the actions (the shape of
/// async-http-client's `HTTPRequestStateMachine`).
struct DeliveryLaneStateMachine<Job: LaneJob> {
    /// What the driver must do next.
    enum Action {
        /// Run one attempt of this job.
        case start(Job)
        /// Run one attempt of these jobs together (batch-capable connectors).
        case startBatch([Job])
        /// Nothing can start before this instant (a rate-limit token, the breaker's cooldown, a
        /// batch's `max_wait`, a retry's backoff): call `nextAction` again then.
        case wake(at: ContinuousClock.Instant)
    }

    /// What becomes of a job after an attempt's outcome.
    enum OutcomeAction: Equatable {
        case delivered
        /// Queued for another attempt, not before `at` (the lane will ask for a wake-up).
        case retry(at: ContinuousClock.Instant, wait: Duration)
        /// Give up: write a dead letter for `attempts` attempts made.
        case deadLetter(DeadLetterReason, attempts: Int, error: String)
    }

    enum BreakerTransition: String, Equatable {
        case opened, reopened, closed
    }

    /// A job waiting out its backoff; ordered by due time, then by arrival (stable).
    private struct ScheduledRetry: Comparable {
        var due: ContinuousClock.Instant
        var sequence: UInt64
        var job: Job
        static func < (a: Self, b: Self) -> Bool { (a.due, a.sequence) < (b.due, b.sequence) }
        static func == (a: Self, b: Self) -> Bool { a.due == b.due && a.sequence == b.sequence }
    }

    let policy: DeliveryPolicy
    /// The connector batches and the policy has a `batch:` section.
    let batching: Bool

    private(set) var inFlight = 0
    private var waiting: Deque<Job> = []
    private var retries = Heap<ScheduledRetry>()
    private var retrySequence: UInt64 = 0
    /// The wake-up the driver has scheduled, if any (so it schedules one, not one per job).
    private var scheduledWake: ContinuousClock.Instant?
    // Token bucket.
    private var tokens: Double
    private var refilledAt: ContinuousClock.Instant
    // Circuit breaker.
    private(set) var consecutiveFailures = 0
    private(set) var openUntil: ContinuousClock.Instant?
    private var trialInFlight = false
    /// The last failure, shortened, for the admin API: a glance; the dead letter has the rest.
    private(set) var lastError: String?

    init(policy: DeliveryPolicy, batching: Bool, now: ContinuousClock.Instant) {
        self.policy = policy
        self.batching = batching && policy.batch != nil
        tokens = policy.burst ?? max(1, policy.rateLimit ?? 1)
        refilledAt = now
    }

    /// Jobs queued, running or waiting to retry.
    var pending: Int { inFlight + waiting.count + retries.count }

    /// Jobs queued or waiting to retry: the driver should ask for `nextAction`.
    var hasQueuedWork: Bool { !waiting.isEmpty || !retries.isEmpty }

    /// No limit but concurrency applies to this lane.
    private var startsDirectly: Bool { policy.rateLimit == nil && !batching }

    // MARK: Inputs

    /// A new job. Returns it when it may start at once (the common case: a free slot, nothing
    /// queued, no rate limit, batch or open breaker — one lock, no trip through the queue);
    /// otherwise it is queued and the driver must drain `nextAction`.
    mutating func submit(_ job: Job) -> Job? {
        if startsDirectly, waiting.isEmpty, openUntil == nil, inFlight < policy.concurrency {
            inFlight += 1
            return job
        }
        waiting.append(job)
        return nil
    }

    /// The next thing to do at `now`; nil when nothing can start and no new wake-up is needed.
    /// `flushing` (shutdown) sends partial batches without waiting for `max_wait`.
    mutating func nextAction(now: ContinuousClock.Instant, flushing: Bool = false) -> Action? {
        releaseDueRetries(now: now)
        var blockedUntil: ContinuousClock.Instant?
        if let start = nextStart(now: now, flushing: flushing, blockedUntil: &blockedUntil) { return start }
        // Nothing starts now: wake for whichever comes first, a lifted limit or a due retry.
        var wake = blockedUntil
        if let due = retries.min?.due { wake = wake.map { min($0, due) } ?? due }
        guard let wake, scheduledWake.map({ wake < $0 }) ?? true else { return nil }
        scheduledWake = wake
        return .wake(at: wake)
    }

    /// The wake-up scheduled for `instant` fired.
    mutating func woke(scheduledFor instant: ContinuousClock.Instant) {
        if scheduledWake == instant { scheduledWake = nil }
    }

    /// An attempt (of one job or one batch) ended: frees its slot and feeds the breaker.
    mutating func attemptEnded(failed: Bool, now: ContinuousClock.Instant) -> BreakerTransition? {
        inFlight -= 1
        let wasOpen = openUntil != nil
        trialInFlight = false
        guard let breaker = policy.circuitBreaker else { return nil }
        if !failed {
            consecutiveFailures = 0
            openUntil = nil
            return wasOpen ? .closed : nil
        }
        consecutiveFailures += 1
        if wasOpen || consecutiveFailures >= breaker.failureThreshold {
            openUntil = now + breaker.cooldown
            return wasOpen ? .reopened : .opened
        }
        return nil
    }

    /// What becomes of `job` after its attempt ended with `outcome`. `hardStopped`: past the
    /// drain deadline, nothing is retried.
    mutating func outcome<G: RandomNumberGenerator>(
        of job: Job, _ outcome: DeliveryOutcome, now: ContinuousClock.Instant, hardStopped: Bool, using rng: inout G
    ) -> OutcomeAction {
        switch outcome {
        case .delivered:
            return .delivered
        case .permanent(let error):
            lastError = String(error.prefix(300))
            return .deadLetter(.permanentError, attempts: job.attempt, error: error)
        case .retryable(let error, let retryAfter):
            lastError = String(error.prefix(300))
            if hardStopped { return .deadLetter(.shutdown, attempts: job.attempt, error: error) }
            guard policy.retry.allowsRetry(after: job.attempt, age: now - job.firstAttempt) else {
                return .deadLetter(.retriesExhausted, attempts: job.attempt, error: error)
            }
            let wait = policy.retry.backoff(after: job.attempt, retryAfter: retryAfter, using: &rng)
            var next = job
            next.attempt += 1
            next.lastError = error
            retrySequence += 1
            retries.insert(ScheduledRetry(due: now + wait, sequence: retrySequence, job: next))
            return .retry(at: now + wait, wait: wait)
        }
    }

    /// At the drain deadline: every job not under way — waiting for a slot, a token, the breaker
    /// or its retry — leaves the lane, with the number of attempts it made.
    mutating func drain() -> [(job: Job, attemptsMade: Int)] {
        var out = waiting.map { (job: $0, attemptsMade: $0.attempt - 1) }
        while let r = retries.popMin() { out.append((r.job, r.job.attempt - 1)) }
        waiting.removeAll()
        return out
    }

    // MARK: Decisions

    /// Retries whose backoff is over rejoin the queue, behind what already waits.
    private mutating func releaseDueRetries(now: ContinuousClock.Instant) {
        while let first = retries.min, first.due <= now {
            var job = retries.removeMin().job
            job.queuedAt = now
            waiting.append(job)
        }
    }

    private mutating func nextStart(now: ContinuousClock.Instant, flushing: Bool, blockedUntil: inout ContinuousClock.Instant?) -> Action? {
        guard !waiting.isEmpty, inFlight < policy.concurrency else { return nil }
        if let until = openUntil {
            if now < until { blockedUntil = until; return nil }
            // Half-open: one trial attempt decides.
            if trialInFlight { return nil }
        }
        if let rate = policy.rateLimit {
            let burst = policy.burst ?? max(1, rate)
            tokens = min(burst, tokens + rate * max(0, (now - refilledAt).seconds))
            refilledAt = now
            if tokens < 1 {
                blockedUntil = now + .seconds((1 - tokens) / rate)
                return nil
            }
        }
        let action: Action
        if batching, let batch = policy.batch {
            guard let jobs = takeBatch(batch, now: now, flushing: flushing, blockedUntil: &blockedUntil) else { return nil }
            action = .startBatch(jobs)
        } else {
            action = .start(waiting.removeFirst())
        }
        if policy.rateLimit != nil { tokens -= 1 }
        if openUntil != nil { trialInFlight = true }
        inFlight += 1
        return action
    }

    /// A full batch, or what waits once the oldest item has waited `maxWait` (or when flushing).
    private mutating func takeBatch(_ policy: BatchPolicy, now: ContinuousClock.Instant, flushing: Bool, blockedUntil: inout ContinuousClock.Instant?) -> [Job]? {
        var count = 0
        var bytes = 0
        for job in waiting {
            if count == policy.maxItems || (count > 0 && bytes + job.payloadBytes > policy.maxBytes) { break }
            count += 1
            bytes += job.payloadBytes
        }
        // Full: the next item would not fit, or the items (or one alone) reach a limit.
        let full = count < waiting.count || count == policy.maxItems || bytes >= policy.maxBytes
        guard let oldest = waiting.first else { return nil }
        let due = oldest.queuedAt + policy.maxWait
        guard full || flushing || now >= due else {
            blockedUntil = due
            return nil
        }
        let jobs = Array(waiting.prefix(count))
        waiting.removeFirst(count)
        return jobs
    }
}
