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
}
