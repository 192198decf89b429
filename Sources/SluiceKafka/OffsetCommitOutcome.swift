import CRdKafka

/// What the answer to one offset commit means for the consumer, decided from Kafka's error code
/// alone: pure (no I/O), so every answer a group coordinator can give is tested without a broker
/// (`OffsetCommitOutcomeTests`; `CommitFailureTests` has librdkafka's mock cluster give them).
///
/// A failed commit moves nothing backwards and nothing forwards. librdkafka keeps the offsets
/// the pipeline stored, so the next commit (auto-commit, the source loop's, a revocation's) sends
/// them again for the partitions this member still owns. A partition the rebalance takes away is
/// read again by its next owner from the last committed offset: repeats, never a loss. No offset
/// past unsettled work is ever stored (`OffsetTracker`), failed commit or not.
public struct OffsetCommitOutcome: Equatable, Sendable {
    public enum Kind: Sendable, Equatable {
        case committed
        /// No partition had a new offset to commit: not an error.
        case nothingToCommit
        /// The group moved on: a rebalance is under way (`REBALANCE_IN_PROGRESS`), or this
        /// member's generation or id is stale (`ILLEGAL_GENERATION`, `UNKNOWN_MEMBER_ID`,
        /// `FENCED_INSTANCE_ID`; Tansu 0.6.0 answers `ILLEGAL_GENERATION` to every commit made
        /// while it rebalances). The member rejoins; its next commit sends what it keeps.
        case groupMovedOn
        /// The coordinator is moving, loading or out of reach: the next commit tries again.
        case coordinatorUnavailable
        /// Refused for good (authorization, metadata too large, ...): an operator must act; the
        /// group redelivers from the last committed offset whenever partitions move.
        case refused
    }

    public let kind: Kind
    /// A bounded label (a metric's, a log field's): the error's name in snake case.
    public let reason: String

    /// The outcome of librdkafka's (or Kafka's) error code `code`.
    public init(kafkaErrorCode code: Int32) {
        let err = rd_kafka_resp_err_t(rawValue: code)
        switch err {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
            kind = .committed
        case RD_KAFKA_RESP_ERR__NO_OFFSET:
            kind = .nothingToCommit
        case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION, RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID,
             RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID, RD_KAFKA_RESP_ERR_STALE_MEMBER_EPOCH, RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
            kind = .groupMovedOn
        case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT,
             RD_KAFKA_RESP_ERR__WAIT_COORD, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
            kind = .coordinatorUnavailable
        default:
            kind = .refused
        }
        // librdkafka's names are a fixed set ("ERR_ILLEGAL_GENERATION", "ERR__TIMED_OUT").
        var name = Substring(String(cString: rd_kafka_err2name(err)))
        if name.hasPrefix("ERR_") { name = name.dropFirst(4) }
        while name.hasPrefix("_") { name = name.dropFirst() }
        reason = name.lowercased()
    }

    /// Whether the commit did not happen (nothing to commit is not a failure).
    public var isFailure: Bool { kind != .committed && kind != .nothingToCommit }
}

/// One commit's answer: its outcome (what logs and metrics say) and, per partition, whether the
/// group took the offset — what `OffsetTracker.commitAnswered` needs to know how far a crash or
/// a move of the partition would read again.
public struct OffsetCommitAnswer: Sendable, Equatable {
    public let outcome: OffsetCommitOutcome
    /// Partitions the group committed, with the offset it now holds for each.
    public let committed: [TopicPartition: Int64]
    /// Partitions whose offset the group did not take.
    public let refused: [TopicPartition]

    public init(outcome: OffsetCommitOutcome, committed: [TopicPartition: Int64], refused: [TopicPartition]) {
        self.outcome = outcome
        self.committed = committed
        self.refused = refused
    }

    /// The answer for a request whose error is `requestError` and whose partitions answered
    /// `partitions` (each with its own error and the offset sent): a partition counts as
    /// committed only when both errors are clear; "nothing to commit" is neither.
    public init(requestError: Int32, partitions: [(TopicPartition, offset: Int64, error: Int32)]) {
        var code = requestError
        var committed: [TopicPartition: Int64] = [:]
        var refused: [TopicPartition] = []
        let ok = RD_KAFKA_RESP_ERR_NO_ERROR.rawValue
        let noOffset = RD_KAFKA_RESP_ERR__NO_OFFSET.rawValue
        for (partition, offset, error) in partitions {
            if code == ok, error != ok { code = error }
            let own = requestError != ok ? requestError : error
            if own == ok {
                if offset >= 0 { committed[partition] = offset }
            } else if own != noOffset {
                refused.append(partition)
            }
        }
        self.init(outcome: OffsetCommitOutcome(kafkaErrorCode: code), committed: committed, refused: refused)
    }

    /// Every partition named in the answer.
    public var partitions: [TopicPartition] { Array(committed.keys) + refused }
}
