import Foundation
import Testing
@testable import SluiceKafka

/// The stuck-group watchdog without a broker: samples of librdkafka's join state at given times
/// in, verdicts out (RebalanceTests has the Tansu case).
@Suite struct GroupStallWatchdogTests {
    @Test func aGroupThatStaysOutOfSteadyPastTheBoundIsStuckOnce() {
        var w = GroupStallWatchdog(boundMs: 18_000)
        #expect(w.observe(joinState: "wait-join", nowMs: 1_000) == .fine)
        #expect(w.observe(joinState: "wait-sync", nowMs: 10_000) == .fine)
        #expect(w.observe(joinState: "wait-join", nowMs: 19_000) == .fine)  // exactly the bound: not over it
        #expect(w.observe(joinState: "wait-sync", nowMs: 19_001) == .stuck(forMs: 18_001, joinState: "wait-sync"))
        // Counted again from the verdict: a second verdict only after another full bound.
        #expect(w.observe(joinState: "wait-sync", nowMs: 30_000) == .fine)
        #expect(w.observe(joinState: "wait-join", nowMs: 37_002) == .stuck(forMs: 18_001, joinState: "wait-join"))
    }

    @Test func aSteadySampleResetsTheClock() {
        var w = GroupStallWatchdog(boundMs: 5_000)
        #expect(w.observe(joinState: "wait-join", nowMs: 0) == .fine)
        #expect(w.observe(joinState: "steady", nowMs: 4_000) == .fine)
        #expect(w.unsteadySinceMs == nil)
        #expect(w.observe(joinState: "wait-sync", nowMs: 6_000) == .fine)
        #expect(w.observe(joinState: "wait-sync", nowMs: 11_000) == .fine)
        #expect(w.observe(joinState: "wait-sync", nowMs: 11_001) == .stuck(forMs: 5_001, joinState: "wait-sync"))
    }

    @Test func aSampleWithoutAGroupCountsAsNotSteady() {
        var w = GroupStallWatchdog(boundMs: 100)
        #expect(w.observe(joinState: nil, nowMs: 0) == .fine)
        #expect(w.observe(joinState: nil, nowMs: 101) == .stuck(forMs: 101, joinState: "none"))
    }

    @Test func aRestartedMemberGetsAFullBoundForItsOwnJoin() {
        var w = GroupStallWatchdog(boundMs: 1_000)
        #expect(w.observe(joinState: "wait-join", nowMs: 0) == .fine)
        w.restart(nowMs: 900)
        #expect(w.observe(joinState: "init", nowMs: 1_500) == .fine)
        #expect(w.observe(joinState: "wait-join", nowMs: 1_901) == .stuck(forMs: 1_001, joinState: "wait-join"))
    }

    @Test func theDefaultBoundIsThreeSessionTimeoutsAndNeverTraps() {
        #expect(GroupStallWatchdog.defaultBoundMs(sessionTimeoutMs: 45_000) == 135_000)
        #expect(GroupStallWatchdog.defaultBoundMs(sessionTimeoutMs: 6_000) == 18_000)
        #expect(GroupStallWatchdog.defaultBoundMs(sessionTimeoutMs: .max) == .max)
        #expect(GroupStallWatchdog.defaultBoundMs(sessionTimeoutMs: -5) == 3)
    }

    @Test func theJoinStateIsReadFromAStatisticsDocument() {
        // The shape of librdkafka's statistics (STATISTICS.md), spaces as librdkafka writes them.
        let document = #"{ "name": "rdkafka#consumer-1", "type": "consumer", "cgrp": { "state": "up", "stateage": 5012, "join_state": "wait-sync", "rebalance_age": 5001, "rebalance_cnt": 3, "assignment_size": 0 } }"#
        #expect(GroupStallWatchdog.joinState(inStatistics: Data(document.utf8)) == "wait-sync")
        #expect(GroupStallWatchdog.joinState(inStatistics: Data(#"{"name":"p","type":"producer"}"#.utf8)) == nil)
        #expect(GroupStallWatchdog.joinState(inStatistics: Data("not json".utf8)) == nil)
        #expect(GroupStallWatchdog.joinState(inStatistics: Data(#"{"cgrp": {"join_state": 7}}"#.utf8)) == nil)
    }

    @Test func durationsConvertToMillisecondsWithoutTrapping() {
        #expect(Duration.seconds(18).saturatingMilliseconds == 18_000)
        #expect(Duration.milliseconds(1_500).saturatingMilliseconds == 1_500)
        #expect(Duration.seconds(Int64.max).saturatingMilliseconds == .max)
        #expect(Duration.seconds(Int64.min).saturatingMilliseconds == .min)
    }
}
