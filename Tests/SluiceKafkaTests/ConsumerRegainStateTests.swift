import Testing
@testable import SluiceKafka

/// Where a partition starts when it comes back to the member that just lost it, without a broker
/// (`CommitFailureTests` has the broker case): after the last offset that member stored when the
/// group refused the commit of it, at the commit otherwise.
@Suite struct ConsumerRegainStateTests {
    let p0 = TopicPartition("findings", 0)
    let p1 = TopicPartition("findings", 1)

    @Test func aPartitionLostWithItsWorkUncommittedStartsAfterThatWorkWhenItComesBack() {
        var s = KafkaConsumer.StateMachine()
        s.stored([p0: 6, p1: 40])
        s.stored([p0: 9])
        s.released([p0, p1], committed: false)
        #expect(s.startOffsets(assigning: [p0]) == [p0: 9])
    }

    @Test func aCommittedRevocationLeavesTheStartToTheCommit() {
        var s = KafkaConsumer.StateMachine()
        s.stored([p0: 6])
        s.released([p0], committed: true)
        #expect(s.startOffsets(assigning: [p0]).isEmpty)
    }

    /// Only the very next assignment: later, another member may have moved the partition on.
    @Test func onlyTheNextAssignmentStartsThere() {
        var s = KafkaConsumer.StateMachine()
        s.stored([p0: 6, p1: 3])
        s.released([p0, p1], committed: false)
        #expect(s.startOffsets(assigning: [p1]) == [p1: 3])
        #expect(s.startOffsets(assigning: [p0]).isEmpty)
    }

    /// A partition never stored in this member (nothing settled) starts at its commit.
    @Test func nothingStoredNothingToStartFrom() {
        var s = KafkaConsumer.StateMachine()
        s.released([p0], committed: false)
        #expect(s.startOffsets(assigning: [p0]).isEmpty)
    }
}
