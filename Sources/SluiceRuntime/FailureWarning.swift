import Synchronization

/// When a connector's failures are worth a warning: at most one per `interval`, carrying the
/// last error's cause and how many failures it stands for, so a target that is down shows at
/// the default log level within one interval and a dead one cannot flood the log.
struct FailureWarningLimiter {
    let interval: Duration
    private var lastWarning: ContinuousClock.Instant?
    private var failuresSince = 0

    init(interval: Duration) { self.interval = interval }

    /// Records one failure at `now`; returns the number of failures to report when a warning is due.
    mutating func failed(now: ContinuousClock.Instant) -> Int? {
        failuresSince += 1
        if let last = lastWarning, now - last < interval { return nil }
        lastWarning = now
        defer { failuresSince = 0 }
        return failuresSince
    }
}

/// The limiter of one lane, shared by the threads its attempts complete on.
final class FailureWarning: Sendable {
    private let limiter: Mutex<FailureWarningLimiter>
    let intervalSeconds: Int64
    init(interval: Duration) {
        limiter = Mutex(FailureWarningLimiter(interval: interval))
        intervalSeconds = interval.components.seconds
    }
    func failed(now: ContinuousClock.Instant = .now) -> Int? { limiter.withLock { $0.failed(now: now) } }
}
