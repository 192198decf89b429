import Testing
@testable import SluiceKafka

@Suite struct OffsetTrackerTests {
    let p0 = TopicPartition("findings", 0)

    @Test func commitsOnlyUpToTheLowestUnsettledOffset() {
        var t = OffsetTracker()
        let tickets = (10...14).map { t.track(p0, offset: Int64($0)) }
        #expect(t.settle(tickets[1]) == nil)          // 11 done, 10 still open
        #expect(t.settle(tickets[3]) == nil)
        #expect(t.settle(tickets[0]) == 12)           // 10 and 11 done: commit 12
        #expect(t.committable(p0) == 12)
        #expect(t.settle(tickets[2]) == 14)           // 12, 13 done
        #expect(t.unsettledCount == 1)
        #expect(t.settle(tickets[4]) == 15)
        #expect(t.unsettledCount == 0)
    }

    @Test func settlingTwiceIsHarmless() {
        var t = OffsetTracker()
        let a = t.track(p0, offset: 0)
        #expect(t.settle(a) == 1)
        #expect(t.settle(a) == nil)
        #expect(t.unsettledCount == 0)
    }

    @Test func revokedPartitionsIgnoreLateSettlements() {
        var t = OffsetTracker()
        let old = t.track(p0, offset: 5)
        t.revoke([p0])
        #expect(t.unsettledCount == 0)
        let fresh = t.track(p0, offset: 5)           // reassigned, refetched
        #expect(t.settle(old) == nil)                 // the old generation cannot move offsets
        #expect(t.settle(fresh) == 6)
    }

    @Test func unsettledCountOfRevokedPartitionsCountsOnlyTheirOpenRecords() {
        var t = OffsetTracker()
        let p1 = TopicPartition("findings", 1)
        let a = (0..<4).map { t.track(p0, offset: Int64($0)) }
        let b = (0..<3).map { t.track(p1, offset: Int64($0)) }
        _ = t.settle(a[2])   // settled behind an open record: not counted
        _ = t.settle(b[0])
        #expect(t.unsettledCount(in: [p0]) == 3)
        #expect(t.unsettledCount(in: [p1]) == 2)
        #expect(t.unsettledCount(in: [p0, p1]) == 5)
        #expect(t.unsettledCount(in: [TopicPartition("other", 0)]) == 0)
        for ticket in [a[0], a[1], a[3]] { _ = t.settle(ticket) }
        #expect(t.unsettledCount(in: [p0]) == 0)
        #expect(t.committable(p0) == 4)  // what the revocation stores and commits
    }

    @Test func partitionsAreIndependent() {
        var t = OffsetTracker()
        let p1 = TopicPartition("findings", 1)
        let a = t.track(p0, offset: 0)
        let b = t.track(p1, offset: 100)
        #expect(t.settle(b) == 101)
        #expect(t.committable(p0) == nil)
        #expect(t.settle(a) == 1)
    }

    @Test func aRefetchAtALowerOffsetRestartsThePartition() {
        var t = OffsetTracker()
        _ = t.track(p0, offset: 7)
        _ = t.track(p0, offset: 8)
        let again = t.track(p0, offset: 7)
        #expect(t.unsettledCount == 1)
        #expect(t.settle(again) == 8)
    }

    @Test func takeAdvancedHandsOutEachMovedOffsetOnce() {
        var t = OffsetTracker()
        let p1 = TopicPartition("findings", 1)
        let a = t.track(p0, offset: 0)
        let b = t.track(p0, offset: 1)
        let c = t.track(p1, offset: 50)
        #expect(t.takeAdvanced().isEmpty)                  // nothing settled yet
        _ = t.settle(b)
        #expect(t.takeAdvanced().isEmpty)                  // 1 done, 0 still open
        _ = t.settle(a)
        _ = t.settle(c)
        #expect(t.takeAdvanced() == [p0: 2, p1: 51])
        #expect(t.takeAdvanced().isEmpty)                  // already handed out
        #expect(t.uncommittedCount == 3)                   // settled, not yet committed
        t.markCommitted()
        #expect(t.uncommittedCount == 3)                   // asked for, not confirmed yet
        t.commitAnswered(committed: [p0: 2, p1: 51], refused: [])
        #expect(t.uncommittedCount == 0)
    }

    @Test func aLongWindowSettlesInAnyOrder() {
        // 10,000 records of one partition settled out of order: counts stay exact and the
        // watermark lands past the last one (the state is mutated in place, not copied).
        var t = OffsetTracker()
        let tickets = (0..<10_000).map { t.track(p0, offset: Int64($0)) }
        for ticket in tickets.reversed() where ticket.offset % 2 == 1 { _ = t.settle(ticket) }
        #expect(t.unsettledCount == 5_000)
        #expect(t.trackedCount == 10_000)
        for ticket in tickets where ticket.offset % 2 == 0 { _ = t.settle(ticket) }
        #expect(t.unsettledCount == 0)
        #expect(t.trackedCount == 0)
        #expect(t.committable(p0) == 10_000)
    }

    /// A refused commit keeps its partition's settled work counted as uncommitted (what the next
    /// owner would read again) until a commit of that partition is confirmed; the pipeline caps
    /// the count, so refused commits cannot let the repeat window grow past the cap.
    @Test func aRefusedCommitCountsItsPartitionsSettledWorkUntilOneIsConfirmed() {
        var t = OffsetTracker()
        let p1 = TopicPartition("findings", 1)
        let a = (100..<106).map { t.track(p0, offset: Int64($0)) }
        let b = (20..<23).map { t.track(p1, offset: Int64($0)) }
        for ticket in a.prefix(4) + b { _ = t.settle(ticket) }
        t.markCommitted()  // the loop asked for a commit of p0 at 104 and p1 at 23
        #expect(t.uncommittedCount == 2 + 7)  // 104 and 105, still unsettled; 7 settled, awaiting the answer
        t.commitAnswered(committed: [p1: 23], refused: [p0])
        #expect(t.refusedWindow == 4)  // 100..<104: the group still starts p0 at 100
        #expect(t.uncommittedCount == 6)
        _ = t.settle(a[4])
        #expect(t.refusedWindow == 5)
        t.commitAnswered(committed: [:], refused: [p0])  // refused again: nothing moves
        #expect(t.refusedWindow == 5)
        t.commitAnswered(committed: [p0: 105], refused: [])
        #expect(t.refusedWindow == 0)
        #expect(t.uncommittedCount == 1 + 1)  // 105 unsettled, and 104 committable since the mark
        // A later refusal counts from the confirmed offset, not from the assignment's start.
        _ = t.settle(a[5])
        t.commitAnswered(committed: [:], refused: [p0])
        #expect(t.refusedWindow == 1)
    }

    @Test func aRefusalIsForgottenWithItsPartition() {
        var t = OffsetTracker()
        let p1 = TopicPartition("findings", 1)
        _ = t.settle(t.track(p0, offset: 7))
        _ = t.settle(t.track(p1, offset: 3))
        _ = t.track(p1, offset: 4)
        t.commitAnswered(committed: [:], refused: [p0, p1, TopicPartition("other", 0)])
        #expect(t.refusedWindow == 2)
        t.revoke([p0])
        #expect(t.refusedWindow == 1)
        _ = t.track(p1, offset: 3)  // re-fetched from the group's commit (3 <= 4): the partition restarts
        #expect(t.refusedWindow == 0)
        // A confirmation for a partition in both lists counts as confirmed.
        _ = t.settle(t.track(p0, offset: 9))
        t.commitAnswered(committed: [p0: 10], refused: [p0])
        #expect(t.refusedWindow == 0)
    }

    /// A commit asked for is not a commit made: its records count as uncommitted until the group
    /// confirms an offset at or past the ask's (a crash before the answer repeats them). A
    /// confirmation answers every earlier ask of its partition and no later one.
    @Test func aCommitAskedForCountsUntilTheGroupConfirmsIt() {
        var t = OffsetTracker()
        let p1 = TopicPartition("findings", 1)
        let a = (0..<10).map { t.track(p0, offset: Int64($0)) }
        let b = (50..<53).map { t.track(p1, offset: Int64($0)) }
        for ticket in a.prefix(6) + b { _ = t.settle(ticket) }
        t.markCommitted()  // asks p0 at 6 (6 records), p1 at 53 (3)
        #expect(t.awaitingConfirmation == 9)
        #expect(t.uncommittedCount == 4 + 9)
        for ticket in a[6..<8] { _ = t.settle(ticket) }
        t.markCommitted()  // asks p0 at 8 (2 more)
        #expect(t.awaitingConfirmation == 11)
        #expect(t.uncommittedCount == 2 + 11)
        t.markCommitted()  // nothing settled since: no new ask
        #expect(t.awaitingConfirmation == 11)
        t.commitAnswered(committed: [p0: 6], refused: [])  // the first ask of p0 only
        #expect(t.awaitingConfirmation == 5)
        t.commitAnswered(committed: [p0: 8, p1: 53], refused: [])
        #expect(t.awaitingConfirmation == 0)
        #expect(t.uncommittedCount == 2)  // 8 and 9, unsettled
        // A late answer for an older offset answers nothing more and moves nothing back.
        t.commitAnswered(committed: [p0: 6], refused: [])
        #expect(t.awaitingConfirmation == 0)
        // One confirmation past several asks answers them all.
        for ticket in a[8..<10] { _ = t.settle(ticket) }
        t.markCommitted()
        #expect(t.awaitingConfirmation == 2)
        t.commitAnswered(committed: [p0: 10], refused: [])
        #expect(t.awaitingConfirmation == 0)
        #expect(t.uncommittedCount == 0)
    }

    /// Asks stop counting when their answer is a refusal (the refused window counts that work
    /// from the last confirmed offset instead, never twice), a refusal for good (which does not
    /// hold the source), "nothing to commit" (the group holds every stored offset), or when
    /// their partition goes away or restarts. A refused partition makes no new asks.
    @Test func asksEndWithARefusalNothingToCommitARevocationOrARestart() {
        var t = OffsetTracker()
        let p1 = TopicPartition("findings", 1)
        for o in 0..<4 { _ = t.settle(t.track(p0, offset: Int64(o))) }
        for o in 0..<2 { _ = t.settle(t.track(p1, offset: Int64(o))) }
        t.markCommitted()
        #expect(t.awaitingConfirmation == 6)
        t.commitAnswered(committed: [:], refused: [p0])
        #expect(t.awaitingConfirmation == 2)
        #expect(t.refusedWindow == 4)
        #expect(t.uncommittedCount == 6)
        _ = t.settle(t.track(p0, offset: 4))
        t.markCommitted()  // p0 is refused: its record is in the refused window, not asked twice
        #expect(t.awaitingConfirmation == 2)
        #expect(t.refusedWindow == 5)
        t.commitAnswered(committed: [:], refused: [], abandoned: [p1])  // refused for good
        #expect(t.awaitingConfirmation == 0)
        for o in 2..<5 { _ = t.settle(t.track(p1, offset: Int64(o))) }
        t.markCommitted()
        #expect(t.awaitingConfirmation == 3)
        t.commitAnswered(committed: [:], refused: [], nothingToCommit: true)
        #expect(t.awaitingConfirmation == 0)
        _ = t.settle(t.track(p1, offset: 5))
        t.markCommitted()
        #expect(t.awaitingConfirmation == 1)
        t.revoke([p1])
        #expect(t.awaitingConfirmation == 0)
        t.commitAnswered(committed: [p0: 5], refused: [])
        _ = t.settle(t.track(p0, offset: 5))
        t.markCommitted()
        #expect(t.awaitingConfirmation == 1)
        _ = t.track(p0, offset: 6)
        _ = t.track(p0, offset: 2)  // re-fetched below the last tracked one: the partition restarts
        #expect(t.awaitingConfirmation == 0)
        #expect(t.uncommittedCount == 1)  // the re-fetched record
    }
}
