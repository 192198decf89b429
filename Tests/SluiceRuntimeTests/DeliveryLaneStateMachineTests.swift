import SluiceConnectors
import SluiceTestSupport
import Testing
@testable import SluiceRuntime

/// A job with nothing behind it: the state machine only reads these fields.
struct TestJob: LaneJob, Equatable {
    var id: Int
    var attempt = 1
    var firstAttempt: ContinuousClock.Instant
    var queuedAt: ContinuousClock.Instant
    var payloadBytes = 100
    var lastError: String?

    init(_ id: Int, at t: ContinuousClock.Instant, bytes: Int = 100) {
        self.id = id
        firstAttempt = t
        queuedAt = t
        payloadBytes = bytes
    }
}

typealias Lane = DeliveryLaneStateMachine<TestJob>

extension Lane.Action {
    var startedIDs: [Int]? {
        switch self {
        case .start(let j): return [j.id]
        case .startBatch(let js): return js.map(\.id)
        case .wake: return nil
        }
    }
    var wakeAt: ContinuousClock.Instant? {
        if case .wake(let at) = self { return at }
        return nil
    }
}

@Suite struct DeliveryLaneStateMachineTests {
    let t0 = ContinuousClock.now
    func policy(concurrency: Int = 64, _ edit: (inout DeliveryPolicy) -> Void = { _ in }) -> DeliveryPolicy {
        var p = DeliveryPolicy()
        p.concurrency = concurrency
        edit(&p)
        return p
    }

    /// Drains `nextAction` at `now`: the ids started, in order, and the wake-up asked for.
    func run(_ lane: inout Lane, at now: ContinuousClock.Instant, flushing: Bool = false) -> (started: [[Int]], wake: ContinuousClock.Instant?) {
        var started: [[Int]] = []
        while let action = lane.nextAction(now: now, flushing: flushing) {
            if let ids = action.startedIDs { started.append(ids) } else { return (started, action.wakeAt) }
        }
        return (started, nil)
    }

    // MARK: Concurrency

    @Test func startsDirectlyUpToTheConcurrencyLimitThenQueues() {
        var lane = Lane(policy: policy(concurrency: 2), batching: false, now: t0)
        #expect(lane.submit(TestJob(1, at: t0))?.id == 1)
        #expect(lane.submit(TestJob(2, at: t0))?.id == 2)
        #expect(lane.submit(TestJob(3, at: t0)) == nil)
        #expect(lane.inFlight == 2)
        #expect(lane.pending == 3)
        let blocked = run(&lane, at: t0)
        #expect(blocked.started.isEmpty)
        #expect(blocked.wake == nil)                       // a free slot, not time, unblocks it
        #expect(lane.attemptEnded(failed: false, now: t0) == nil)
        #expect(run(&lane, at: t0).started == [[3]])
        #expect(lane.inFlight == 2)
    }

    @Test func queuedJobsStartInArrivalOrder() {
        var lane = Lane(policy: policy(concurrency: 1), batching: false, now: t0)
        _ = lane.submit(TestJob(1, at: t0))
        for id in 2...5 { #expect(lane.submit(TestJob(id, at: t0)) == nil) }
        var order: [Int] = []
        for _ in 2...5 {
            _ = lane.attemptEnded(failed: false, now: t0)
            order += run(&lane, at: t0).started.flatMap { $0 }
        }
        #expect(order == [2, 3, 4, 5])
    }

    // MARK: Rate limit

    @Test func rateLimitKeepsAMinimumGapBetweenStarts() {
        // 4 per second, burst 1: starts at 0, 250, 500, 750 ms — never closer.
        var lane = Lane(policy: policy { $0.rateLimit = 4; $0.burst = 1 }, batching: false, now: t0)
        for id in 1...4 { #expect(lane.submit(TestJob(id, at: t0)) == nil) }  // a rate-limited lane never starts directly
        var first = run(&lane, at: t0)
        #expect(first.started == [[1]])
        #expect(first.wake == t0 + .milliseconds(250))
        // Asked again before then: the wake-up is already scheduled, nothing starts.
        first = run(&lane, at: t0 + .milliseconds(249))
        #expect(first.started.isEmpty)
        #expect(first.wake == nil)
        lane.woke(scheduledFor: t0 + .milliseconds(250))
        for (i, ms) in [250, 500, 750].enumerated() {
            let step = run(&lane, at: t0 + .milliseconds(ms))
            #expect(step.started == [[i + 2]])
            if let wake = step.wake { lane.woke(scheduledFor: wake) }
        }
    }

    @Test func burstAllowsThatManyAtOnceAfterIdleThenTheRate() {
        var lane = Lane(policy: policy { $0.rateLimit = 1; $0.burst = 3 }, batching: false, now: t0)
        for id in 1...5 { _ = lane.submit(TestJob(id, at: t0)) }
        let step = run(&lane, at: t0)
        #expect(step.started == [[1], [2], [3]])
        #expect(step.wake == t0 + .seconds(1))
        lane.woke(scheduledFor: t0 + .seconds(1))
        #expect(run(&lane, at: t0 + .seconds(1)).started == [[4]])
    }

    @Test func tokensDoNotAccumulateBeyondTheBurst() {
        var lane = Lane(policy: policy { $0.rateLimit = 10; $0.burst = 2 }, batching: false, now: t0)
        for id in 1...4 { _ = lane.submit(TestJob(id, at: t0)) }
        // An hour idle still allows only `burst` at once.
        let later = t0 + .seconds(3600)
        let step = run(&lane, at: later)
        #expect(step.started == [[1], [2]])
        #expect(step.wake == later + .milliseconds(100))
    }

    // MARK: Circuit breaker

    @Test func breakerOpensAfterThresholdWaitsCooldownThenOneTrialCloses() {
        var lane = Lane(policy: policy {
            var cb = CircuitBreakerPolicy(); cb.failureThreshold = 2; cb.cooldown = .seconds(10)
            $0.circuitBreaker = cb
        }, batching: false, now: t0)
        _ = lane.submit(TestJob(1, at: t0))
        _ = lane.submit(TestJob(2, at: t0))
        #expect(lane.attemptEnded(failed: true, now: t0) == nil)
        #expect(lane.attemptEnded(failed: true, now: t0 + .seconds(1)) == .opened)
        #expect(lane.openUntil == t0 + .seconds(11))
        // Open: nothing starts directly; the lane wakes at the end of the cooldown.
        for id in 3...5 { #expect(lane.submit(TestJob(id, at: t0)) == nil) }
        let open = run(&lane, at: t0 + .seconds(2))
        #expect(open.started.isEmpty)
        #expect(open.wake == t0 + .seconds(11))
        lane.woke(scheduledFor: t0 + .seconds(11))
        // Half-open: exactly one trial, the rest wait for its outcome.
        #expect(run(&lane, at: t0 + .seconds(11)).started == [[3]])
        #expect(run(&lane, at: t0 + .seconds(12)).started.isEmpty)
        #expect(lane.attemptEnded(failed: false, now: t0 + .seconds(12)) == .closed)
        #expect(lane.openUntil == nil)
        #expect(run(&lane, at: t0 + .seconds(12)).started == [[4], [5]])
    }

    @Test func aFailedTrialReopensForAnotherCooldown() {
        var lane = Lane(policy: policy {
            var cb = CircuitBreakerPolicy(); cb.failureThreshold = 1; cb.cooldown = .seconds(5)
            $0.circuitBreaker = cb
        }, batching: false, now: t0)
        _ = lane.submit(TestJob(1, at: t0))
        #expect(lane.attemptEnded(failed: true, now: t0) == .opened)
        _ = lane.submit(TestJob(2, at: t0))
        #expect(run(&lane, at: t0 + .seconds(5)).started == [[2]])
        #expect(lane.attemptEnded(failed: true, now: t0 + .seconds(6)) == .reopened)
        #expect(lane.openUntil == t0 + .seconds(11))
    }

    @Test func successesResetTheFailureCount() {
        var lane = Lane(policy: policy {
            var cb = CircuitBreakerPolicy(); cb.failureThreshold = 3
            $0.circuitBreaker = cb
        }, batching: false, now: t0)
        for id in 1...5 { _ = lane.submit(TestJob(id, at: t0)) }
        #expect(lane.attemptEnded(failed: true, now: t0) == nil)
        #expect(lane.attemptEnded(failed: true, now: t0) == nil)
        #expect(lane.attemptEnded(failed: false, now: t0) == nil)
        #expect(lane.consecutiveFailures == 0)
        #expect(lane.attemptEnded(failed: true, now: t0) == nil)
        #expect(lane.attemptEnded(failed: true, now: t0) == nil)
        #expect(lane.openUntil == nil)
    }

    // MARK: Retries

    @Test func retryableOutcomeRequeuesAfterItsBackoffWithTheNextAttempt() {
        var rng = SplitMix(state: 42)
        var lane = Lane(policy: policy { $0.retry = RetryPolicy(maxAttempts: 5, baseBackoff: .seconds(1), maxBackoff: .seconds(60)) }, batching: false, now: t0)
        let job = lane.submit(TestJob(1, at: t0))!
        let action = lane.outcome(of: job, .retryable("503"), now: t0, hardStopped: false, using: &rng)
        guard case .retry(let at, let wait) = action else { Issue.record("expected a retry, got \(action)"); return }
        #expect(wait >= .zero && wait <= .seconds(1))     // attempt 1: full jitter in [0, base]
        #expect(at == t0 + wait)
        _ = lane.attemptEnded(failed: true, now: t0)
        #expect(lane.pending == 1)
        #expect(lane.hasQueuedWork)
        if wait > .zero {
            let early = run(&lane, at: t0)
            #expect(early.started.isEmpty)
            #expect(early.wake == at)
            lane.woke(scheduledFor: at)
        }
        var retried: TestJob?
        if case .start(let j)? = lane.nextAction(now: at) { retried = j }
        #expect(retried?.id == 1)
        #expect(retried?.attempt == 2)
        #expect(retried?.queuedAt == at)
    }

    @Test func retryAfterIsHonouredAndCappedAtMaxBackoff() {
        var rng = SplitMix(state: 42)
        var lane = Lane(policy: policy { $0.retry = RetryPolicy(maxAttempts: 5, baseBackoff: .seconds(1), maxBackoff: .seconds(60)) }, batching: false, now: t0)
        let job = lane.submit(TestJob(1, at: t0))!
        #expect(lane.outcome(of: job, .retryable("429", retryAfter: .seconds(7)), now: t0, hardStopped: false, using: &rng)
                == .retry(at: t0 + .seconds(7), wait: .seconds(7)))
        #expect(lane.outcome(of: job, .retryable("429", retryAfter: .seconds(3600)), now: t0, hardStopped: false, using: &rng)
                == .retry(at: t0 + .seconds(60), wait: .seconds(60)))
    }

    @Test func lastAttemptDeadLettersAsRetriesExhausted() {
        var rng = SplitMix(state: 42)
        var lane = Lane(policy: policy { $0.retry = RetryPolicy(maxAttempts: 3) }, batching: false, now: t0)
        var job = TestJob(1, at: t0)
        job.attempt = 2
        if case .retry = lane.outcome(of: job, .retryable("503"), now: t0, hardStopped: false, using: &rng) {} else { Issue.record("attempt 2 of 3 must retry") }
        job.attempt = 3
        #expect(lane.outcome(of: job, .retryable("503"), now: t0, hardStopped: false, using: &rng)
                == .deadLetter(.retriesExhausted, attempts: 3, error: "503"))
    }

    @Test func maxAgeEndsRetriesWhateverTheAttemptCount() {
        var rng = SplitMix(state: 42)
        var lane = Lane(policy: policy { $0.retry = RetryPolicy(maxAttempts: 100, maxAge: .seconds(60)) }, batching: false, now: t0)
        let job = TestJob(1, at: t0)
        if case .retry = lane.outcome(of: job, .retryable("timeout"), now: t0 + .milliseconds(59_999), hardStopped: false, using: &rng) {} else {
            Issue.record("younger than max_age must retry")
        }
        #expect(lane.outcome(of: job, .retryable("timeout"), now: t0 + .seconds(60), hardStopped: false, using: &rng)
                == .deadLetter(.retriesExhausted, attempts: 1, error: "timeout"))
    }

    @Test func permanentErrorsAndShutdownDeadLetterAtOnce() {
        var rng = SplitMix(state: 42)
        var lane = Lane(policy: policy(), batching: false, now: t0)
        var job = TestJob(1, at: t0)
        job.attempt = 4
        #expect(lane.outcome(of: job, .permanent("400 bad"), now: t0, hardStopped: false, using: &rng)
                == .deadLetter(.permanentError, attempts: 4, error: "400 bad"))
        #expect(lane.outcome(of: job, .retryable("503"), now: t0, hardStopped: true, using: &rng)
                == .deadLetter(.shutdown, attempts: 4, error: "503"))
        #expect(lane.outcome(of: job, .delivered, now: t0, hardStopped: true, using: &rng) == .delivered)
        #expect(lane.pending == 0)
    }

    @Test func retriesComeBackInDueOrderAndOneWakeCoversThem() {
        var rng = SplitMix(state: 42)
        var lane = Lane(policy: policy(), batching: false, now: t0)
        let a = lane.submit(TestJob(1, at: t0))!
        let b = lane.submit(TestJob(2, at: t0))!
        _ = lane.outcome(of: a, .retryable("x", retryAfter: .seconds(9)), now: t0, hardStopped: false, using: &rng)
        _ = lane.outcome(of: b, .retryable("x", retryAfter: .seconds(4)), now: t0, hardStopped: false, using: &rng)
        _ = lane.attemptEnded(failed: true, now: t0)
        _ = lane.attemptEnded(failed: true, now: t0)
        #expect(run(&lane, at: t0).wake == t0 + .seconds(4))
        lane.woke(scheduledFor: t0 + .seconds(4))
        let at4 = run(&lane, at: t0 + .seconds(4))
        #expect(at4.started == [[2]])
        #expect(at4.wake == t0 + .seconds(9))
        lane.woke(scheduledFor: t0 + .seconds(9))
        #expect(run(&lane, at: t0 + .seconds(9)).started == [[1]])
    }

    @Test func drainHandsBackEverythingNotUnderWayWithAttemptsMadeAndLastError() {
        var rng = SplitMix(state: 42)
        var lane = Lane(policy: policy(concurrency: 1), batching: false, now: t0)
        let running = lane.submit(TestJob(1, at: t0))!
        _ = lane.submit(TestJob(2, at: t0))                 // waits for the slot
        _ = lane.outcome(of: running, .retryable("503", retryAfter: .seconds(30)), now: t0, hardStopped: false, using: &rng)
        _ = lane.attemptEnded(failed: true, now: t0)
        _ = lane.nextAction(now: t0)                         // job 2 takes the slot
        _ = lane.submit(TestJob(3, at: t0))                 // waits again
        let drained = lane.drain()
        #expect(drained.map(\.job.id).sorted() == [1, 3])
        #expect(drained.first { $0.job.id == 1 }?.attemptsMade == 1)   // its retry (attempt 2) never ran
        #expect(drained.first { $0.job.id == 3 }?.attemptsMade == 0)
        // A drained retry keeps its last real cause for the dead letter; a job never tried has none.
        #expect(drained.first { $0.job.id == 1 }?.job.lastError == "503")
        #expect(drained.first { $0.job.id == 3 }?.job.lastError == nil)
        #expect(lane.pending == 1)                           // job 2 is still under way
        #expect(!lane.hasQueuedWork)
    }

    // MARK: Batching

    func batchPolicy(items: Int = 3, bytes: Int = 1 << 20, wait: Duration = .seconds(1)) -> DeliveryPolicy {
        policy { var b = BatchPolicy(); b.maxItems = items; b.maxBytes = bytes; b.maxWait = wait; $0.batch = b }
    }

    @Test func aPartialBatchWaitsMaxWaitAfterItsOldestItem() {
        var lane = Lane(policy: batchPolicy(), batching: true, now: t0)
        #expect(lane.submit(TestJob(1, at: t0)) == nil)
        #expect(lane.submit(TestJob(2, at: t0 + .milliseconds(300))) == nil)
        let early = run(&lane, at: t0 + .milliseconds(300))
        #expect(early.started.isEmpty)
        #expect(early.wake == t0 + .seconds(1))
        lane.woke(scheduledFor: t0 + .seconds(1))
        #expect(run(&lane, at: t0 + .seconds(1)).started == [[1, 2]])
    }

    @Test func aFullBatchGoesAtOnceAndTheRestWaits() {
        var lane = Lane(policy: batchPolicy(items: 3), batching: true, now: t0)
        for id in 1...4 { _ = lane.submit(TestJob(id, at: t0)) }
        let step = run(&lane, at: t0)
        #expect(step.started == [[1, 2, 3]])
        #expect(step.wake == t0 + .seconds(1))
    }

    @Test func maxBytesClosesABatchBeforeTheItemThatWouldOverflowIt() {
        var lane = Lane(policy: batchPolicy(items: 10, bytes: 1000), batching: true, now: t0)
        _ = lane.submit(TestJob(1, at: t0, bytes: 600))
        _ = lane.submit(TestJob(2, at: t0, bytes: 300))
        _ = lane.submit(TestJob(3, at: t0, bytes: 200))
        _ = lane.submit(TestJob(4, at: t0, bytes: 5000))   // alone over the limit: still sent, alone
        let step = run(&lane, at: t0)
        #expect(step.started == [[1, 2], [3], [4]])
    }

    @Test func flushingSendsPartialBatchesWithoutWaiting() {
        var lane = Lane(policy: batchPolicy(), batching: true, now: t0)
        _ = lane.submit(TestJob(1, at: t0))
        #expect(run(&lane, at: t0, flushing: true).started == [[1]])
    }

    @Test func withoutABatchingConnectorTheBatchSectionIsIgnored() {
        var lane = Lane(policy: batchPolicy(), batching: false, now: t0)
        #expect(lane.submit(TestJob(1, at: t0))?.id == 1)
    }
}

/// `RetryPolicy` on its own: full-jitter ceilings, Retry-After, attempts and age.
@Suite struct RetryPolicyTests {
    /// The largest of many seeded draws reaches near the ceiling, and none passes it.
    func draws(_ p: RetryPolicy, after attempt: Int) -> (min: Duration, max: Duration) {
        var rng = SplitMix(state: UInt64(attempt))
        var lo = Duration.seconds(1 << 40), hi = Duration.zero
        for _ in 0..<2000 {
            let d = p.backoff(after: attempt, retryAfter: nil, using: &rng)
            lo = min(lo, d)
            hi = max(hi, d)
        }
        return (lo, hi)
    }

    @Test(arguments: [
        (1, Duration.milliseconds(500)), (2, .seconds(1)), (3, .seconds(2)), (4, .seconds(4)),
        (7, .seconds(32)), (8, .seconds(60)), (9, .seconds(60)), (1000, .seconds(60)),
    ])
    func backoffIsFullJitterUnderTheExponentialCeiling(attempt: Int, ceiling: Duration) {
        let p = RetryPolicy(baseBackoff: .milliseconds(500), maxBackoff: .seconds(60))
        let d = draws(p, after: attempt)
        #expect(d.min >= .zero)
        #expect(d.max <= ceiling)
        #expect(d.max >= ceiling * 0.95)
        #expect(d.min <= ceiling * 0.05)
    }

    @Test func retryAfterWinsOverJitterUpToMaxBackoff() {
        let p = RetryPolicy(baseBackoff: .milliseconds(500), maxBackoff: .seconds(60))
        var rng = SplitMix(state: 1)
        #expect(p.backoff(after: 1, retryAfter: .seconds(30), using: &rng) == .seconds(30))
        #expect(p.backoff(after: 1, retryAfter: .seconds(61), using: &rng) == .seconds(60))
        #expect(p.backoff(after: 1, retryAfter: .zero, using: &rng) == .zero)
    }

    @Test func attemptsAndAgeBoundRetries() {
        let p = RetryPolicy(maxAttempts: 3, maxAge: .seconds(10))
        #expect(p.allowsRetry(after: 2, age: .seconds(9)))
        #expect(!p.allowsRetry(after: 3, age: .zero))
        #expect(!p.allowsRetry(after: 1, age: .seconds(10)))
    }

    @Test func defaultsAreEventBridges() {
        let p = RetryPolicy()
        #expect(p.maxAttempts == 185)
        #expect(p.maxAge == .seconds(86_400))
        #expect(p.baseBackoff == .milliseconds(500))
        #expect(p.maxBackoff == .seconds(60))
    }
}

/// The per-lane failure warning: the first failure warns, then at most one per interval,
/// each counting the failures it stands for.
@Suite struct FailureWarningLimiterTests {
    @Test func warnsAtMostOncePerIntervalWithTheFailuresSince() {
        let t0 = ContinuousClock.now
        var limiter = FailureWarningLimiter(interval: .seconds(10))
        #expect(limiter.failed(now: t0) == 1)
        #expect(limiter.failed(now: t0 + .seconds(1)) == nil)
        #expect(limiter.failed(now: t0 + .seconds(9)) == nil)
        #expect(limiter.failed(now: t0 + .seconds(10)) == 3)
        #expect(limiter.failed(now: t0 + .seconds(11)) == nil)
        #expect(limiter.failed(now: t0 + .seconds(25)) == 2)
    }
}
