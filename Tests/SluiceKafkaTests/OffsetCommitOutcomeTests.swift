import Testing
@testable import SluiceKafka

/// What each answer to an offset commit means, without a broker: Kafka protocol error codes
/// (the protocol's own numbers) to the consumer's reading of them, as a literal table.
@Suite struct OffsetCommitOutcomeTests {
    @Test(arguments: [
        (Int32(0), OffsetCommitOutcome.Kind.committed, "no_error"),
        (22, .groupMovedOn, "illegal_generation"),
        (25, .groupMovedOn, "unknown_member_id"),
        (27, .groupMovedOn, "rebalance_in_progress"),
        (82, .groupMovedOn, "fenced_instance_id"),
        (14, .coordinatorUnavailable, "coordinator_load_in_progress"),
        (15, .coordinatorUnavailable, "coordinator_not_available"),
        (16, .coordinatorUnavailable, "not_coordinator"),
        (7, .coordinatorUnavailable, "request_timed_out"),
        (29, .refused, "topic_authorization_failed"),
        (30, .refused, "group_authorization_failed"),
        (12, .refused, "offset_metadata_too_large"),
    ])
    func kafkaAnswers(code: Int32, kind: OffsetCommitOutcome.Kind, reason: String) {
        let outcome = OffsetCommitOutcome(kafkaErrorCode: code)
        #expect(outcome.kind == kind)
        #expect(outcome.reason == reason)
        #expect(outcome.isFailure == (kind != .committed))
    }

    /// librdkafka's own codes (negative): nothing to commit is no failure; a timeout is retried.
    @Test func librdkafkaLocalAnswers() {
        let noOffset = OffsetCommitOutcome(kafkaErrorCode: -168)
        #expect(noOffset.kind == .nothingToCommit && !noOffset.isFailure && noOffset.reason == "no_offset")
        #expect(OffsetCommitOutcome(kafkaErrorCode: -185).kind == .coordinatorUnavailable)  // _TIMED_OUT
        #expect(OffsetCommitOutcome(kafkaErrorCode: -195).kind == .coordinatorUnavailable)  // _TRANSPORT
        #expect(OffsetCommitOutcome(kafkaErrorCode: -142).kind == .groupMovedOn)  // _ASSIGNMENT_LOST
    }

    /// A code no table knows is a refusal an operator must see, with a bounded label.
    @Test func anUnknownCodeIsARefusal() {
        let outcome = OffsetCommitOutcome(kafkaErrorCode: 31_000)
        #expect(outcome.kind == .refused && outcome.isFailure)
        #expect(!outcome.reason.isEmpty && outcome.reason.count < 64)
    }

    /// One answer, per partition (Kafka's codes: 22 ILLEGAL_GENERATION, 27 REBALANCE_IN_PROGRESS;
    /// librdkafka's -168 nothing to commit): a partition counts as committed only when the request
    /// and the partition both answered no error.
    @Test func anAnswerSaysPerPartitionWhatTheGroupTook() {
        let p0 = TopicPartition("findings", 0)
        let p1 = TopicPartition("findings", 1)
        let p2 = TopicPartition("findings", 2)
        let refusedRequest = OffsetCommitAnswer(requestError: 22, partitions: [(p0, 7, 0), (p1, 3, 0)])
        #expect(refusedRequest.outcome.kind == .groupMovedOn)
        #expect(refusedRequest.committed.isEmpty && Set(refusedRequest.refused) == [p0, p1])

        let mixed = OffsetCommitAnswer(requestError: 0, partitions: [(p0, 7, 0), (p1, 3, 27), (p2, 5, -168)])
        #expect(mixed.committed == [p0: 7])
        #expect(mixed.refused == [p1])
        #expect(mixed.outcome.kind == .groupMovedOn && mixed.outcome.reason == "rebalance_in_progress")

        let taken = OffsetCommitAnswer(requestError: 0, partitions: [(p0, 7, 0), (p1, -1001, 0)])
        #expect(taken.committed == [p0: 7] && taken.refused.isEmpty && !taken.outcome.isFailure)

        let nothing = OffsetCommitAnswer(requestError: -168, partitions: [])
        #expect(nothing.committed.isEmpty && nothing.refused.isEmpty && !nothing.outcome.isFailure)
    }
}
