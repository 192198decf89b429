import SluiceHTTP

/// The Kafka source loop's commit and back-pressure policy, apart from the consumer: the loop
/// reports its counts and a coarse clock (milliseconds), and this says when to commit and
/// whether to poll, hold, pause or resume. Pure, so its hysteresis is tested without a broker.
struct SourceFlowControl {
    /// What the source loop does before its next poll.
    enum Step: Equatable {
        /// Poll as usual (paused or not).
        case poll
        /// At the cap, not paused yet: take no record, wait a moment (librdkafka keeps its
        /// bounded prefetch).
        case hold
        /// The cap held for `pauseAfter`: pause the partitions, then poll (serves rebalances).
        case pause
        /// Load fell to the low-water mark: resume the partitions, then poll.
        case resume
    }

    let maxInFlight: Int
    let resumeBelow: Int
    let pauseAfterMs: Int64
    /// Commit once this many records became committable...
    let commitEvery: Int
    /// ...or this long after the last commit, if any did.
    let commitIntervalMs: Int64

    private(set) var heldSinceMs: Int64?
    private(set) var lastCommitMs: Int64

    init(options: PipelineOptions, nowMs: Int64, commitIntervalMs: Int64 = 200) {
        maxInFlight = options.maxInFlight
        resumeBelow = options.resumeBelow
        pauseAfterMs = options.pauseAfter.wholeMilliseconds
        // A quarter of the cap: the uncommitted window — what a crash would redeliver — stays
        // within the cap.
        commitEvery = max(1, options.maxInFlight / 4)
        self.commitIntervalMs = commitIntervalMs
        lastCommitMs = nowMs
    }

    /// How long after a commit that was refused, or not answered yet, the loop asks again with
    /// nothing new to commit (auto-commit does it too, unless the user turned it off).
    static let unconfirmedRetryMs: Int64 = 1000

    /// Whether to store and commit now, given how many records became committable since the
    /// last commit and whether settled work waits for a commit's confirmation (`unconfirmed`: a
    /// commit refused or not answered yet). Records the commit when it says yes. Unconfirmed work
    /// counts against the cap: without a retry, a source held at the cap would wait for it for ever.
    mutating func shouldCommit(committableSinceCommit n: Int, unconfirmed: Bool = false, nowMs: Int64) -> Bool {
        let due = n >= commitEvery || (n > 0 && nowMs - lastCommitMs >= commitIntervalMs)
            || (unconfirmed && nowMs - lastCommitMs >= Self.unconfirmedRetryMs)
        guard due else { return false }
        lastCommitMs = nowMs
        return true
    }

    /// The step for `load` records in flight (the larger of unsettled-or-uncommitted and
    /// unsettled messages). At the cap the loop first just stops taking records and pauses only
    /// when the cap holds for `pauseAfter` (a slow or dead target): pausing on every brief peak
    /// would throw librdkafka's prefetch away and refetch it, which costs more than the
    /// deliveries at high rates. Once paused it resumes only at `resumeBelow` (hysteresis).
    mutating func step(load: Int, paused: Bool, nowMs: Int64) -> Step {
        if load >= maxInFlight {
            let since = heldSinceMs ?? nowMs
            heldSinceMs = since
            if paused { return .poll }
            return nowMs - since >= pauseAfterMs ? .pause : .hold
        }
        if paused, load > resumeBelow { return .poll }
        heldSinceMs = nil
        return paused ? .resume : .poll
    }
}
