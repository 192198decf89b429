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
    var delivery: Delivery
    var firstAttempt: ContinuousClock.Instant
}

/// The lane of one connector instance: its own concurrency limit, retries with exponential
/// backoff and full jitter, and dead-lettering. A slow or failing target fills only its own
/// lane; the in-flight cap upstream keeps the total bounded.
final class DeliveryLane: Sendable {
    let name: String
    let connector: any Connector
    let policy: DeliveryPolicy
    private let deadLetters: DeadLetterWriter
    private let stats: RunStats
    private let stopping: StopSignal
    private let logger: Logger

    private struct State {
        var inFlight = 0
        var waiting: Deque<DeliveryJob> = []
        var retryTimers: [UInt64: DeliveryJob] = [:]
        var nextTimer: UInt64 = 0
    }
    private let state = Mutex(State())

    init(name: String, connector: any Connector, policy: DeliveryPolicy, deadLetters: DeadLetterWriter, stats: RunStats, stopping: StopSignal, logger: Logger) {
        self.name = name
        self.connector = connector
        self.policy = policy
        self.deadLetters = deadLetters
        self.stats = stats
        self.stopping = stopping
        self.logger = logger.with("connector.name", name)
    }

    func submit(_ job: DeliveryJob) {
        let start = state.withLock { s -> Bool in
            if s.inFlight < policy.concurrency {
                s.inFlight += 1
                return true
            }
            s.waiting.append(job)
            return false
        }
        if start { attempt(job) }
    }

    private func attempt(_ job: DeliveryJob) {
        connector.deliver(job.delivery) { [self] outcome in
            finished(job, outcome)
            // Free the slot and start the next waiting job, if any.
            let next = state.withLock { s -> DeliveryJob? in
                if let n = s.waiting.popFirst() { return n }
                s.inFlight -= 1
                return nil
            }
            if let next { attempt(next) }
        }
    }

    private func finished(_ job: DeliveryJob, _ outcome: DeliveryOutcome) {
        switch outcome {
        case .delivered:
            stats.delivered(route: job.route, connector: name)
            job.message.finishOne()
        case .permanent(let error):
            deadLetter(job, .permanentError, error)
        case .retryable(let error, let retryAfter):
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
                submit(job)
            }
        }
    }

    /// `attemptsMade` defaults to the job's current attempt (the one that just failed).
    private func deadLetter(_ job: DeliveryJob, _ reason: DeadLetterReason, _ error: String, attemptsMade: Int? = nil) {
        deadLetters.write(DeadLetter(
            source: job.message.record, reason: reason, route: job.route, connector: name,
            attempts: attemptsMade ?? job.delivery.attempt, lastError: error)) { job.message.finishOne() }
    }

    /// At the drain deadline: retries still waiting go to the dead-letter topic now.
    func drain() {
        let pending = state.withLock { s -> [DeliveryJob] in
            defer { s.retryTimers.removeAll() }
            return Array(s.retryTimers.values)
        }
        for job in pending { deadLetter(job, .shutdown, "shutdown before retry attempt \(job.delivery.attempt)", attemptsMade: job.delivery.attempt - 1) }
    }

    /// Jobs queued, running or waiting to retry.
    var pending: Int { state.withLock { $0.inFlight + $0.waiting.count + $0.retryTimers.count } }
}
