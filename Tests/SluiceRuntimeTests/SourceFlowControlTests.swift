import Testing
@testable import SluiceRuntime

@Suite struct SourceFlowControlTests {
    /// Cap 100 (resume at 50), pause after 500 ms, commit every 25 records or 200 ms.
    func flow(at ms: Int64 = 0) -> SourceFlowControl {
        var o = PipelineOptions()
        o.maxInFlight = 100
        o.pauseAfter = .milliseconds(500)
        return SourceFlowControl(options: o, nowMs: ms)
    }

    @Test func belowTheCapItPolls() {
        var f = flow()
        #expect(f.step(load: 0, paused: false, nowMs: 0) == .poll)
        #expect(f.step(load: 99, paused: false, nowMs: 1) == .poll)
        #expect(f.heldSinceMs == nil)
    }

    @Test func atTheCapItHoldsFirstAndPausesOnlyWhenTheCapHoldsForPauseAfter() {
        var f = flow()
        #expect(f.step(load: 100, paused: false, nowMs: 1000) == .hold)
        #expect(f.step(load: 120, paused: false, nowMs: 1499) == .hold)
        #expect(f.heldSinceMs == 1000)
        #expect(f.step(load: 100, paused: false, nowMs: 1500) == .pause)
    }

    @Test func aBriefPeakDoesNotPause() {
        var f = flow()
        #expect(f.step(load: 100, paused: false, nowMs: 0) == .hold)
        #expect(f.step(load: 99, paused: false, nowMs: 400) == .poll)     // the peak passed: the clock restarts
        #expect(f.heldSinceMs == nil)
        #expect(f.step(load: 100, paused: false, nowMs: 800) == .hold)    // 800 ms after the first peak, 0 after this one
        #expect(f.step(load: 100, paused: false, nowMs: 1299) == .hold)
        #expect(f.step(load: 100, paused: false, nowMs: 1300) == .pause)
    }

    @Test func pausedItStaysPausedUntilTheLowWaterMark() {
        var f = flow()
        _ = f.step(load: 100, paused: false, nowMs: 0)
        #expect(f.step(load: 100, paused: false, nowMs: 500) == .pause)
        #expect(f.step(load: 100, paused: true, nowMs: 600) == .poll)     // paused: poll serves rebalances
        #expect(f.step(load: 99, paused: true, nowMs: 700) == .poll)
        #expect(f.step(load: 51, paused: true, nowMs: 800) == .poll)      // above resumeBelow: still paused
        #expect(f.step(load: 50, paused: true, nowMs: 900) == .resume)
        #expect(f.heldSinceMs == nil)
        #expect(f.step(load: 60, paused: false, nowMs: 901) == .poll)
    }

    @Test func resumeBelowIsHalfTheCapAndAtLeastOne() {
        var o = PipelineOptions()
        o.maxInFlight = 2000
        #expect(o.resumeBelow == 1000)
        o.maxInFlight = 1
        #expect(o.resumeBelow == 1)
    }

    @Test func commitsAfterAQuarterOfTheCapOrTwoHundredMilliseconds() {
        var f = flow(at: 0)
        #expect(f.commitEvery == 25)
        // (#expect cannot call a mutating method itself: each answer is taken first.)
        let idle = f.shouldCommit(committableSinceCommit: 0, nowMs: 10_000)
        #expect(!idle)                                      // nothing to commit, however long
        let few = f.shouldCommit(committableSinceCommit: 24, nowMs: 199)
        #expect(!few)
        let quarter = f.shouldCommit(committableSinceCommit: 25, nowMs: 199)
        #expect(quarter)
        #expect(f.lastCommitMs == 199)
        let early = f.shouldCommit(committableSinceCommit: 1, nowMs: 398)
        #expect(!early)
        let late = f.shouldCommit(committableSinceCommit: 1, nowMs: 399)
        #expect(late)
    }

    /// Work whose commit was refused, or not answered yet, is asked again once a second, even
    /// with nothing new to commit: it holds the cap, and auto-commit may be off.
    @Test func anUnconfirmedCommitIsAskedAgainEverySecond() {
        var f = flow(at: 0)
        let quiet = f.shouldCommit(committableSinceCommit: 0, unconfirmed: false, nowMs: 5_000)
        #expect(!quiet)
        let first = f.shouldCommit(committableSinceCommit: 0, unconfirmed: true, nowMs: 5_000)
        #expect(first)
        let soon = f.shouldCommit(committableSinceCommit: 0, unconfirmed: true, nowMs: 5_999)
        #expect(!soon)
        let again = f.shouldCommit(committableSinceCommit: 0, unconfirmed: true, nowMs: 6_000)
        #expect(again)
    }
}
