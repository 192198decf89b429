import Foundation

/// Notices a consumer stuck in a group rebalance that never completes, so the consumer can leave
/// and join again as a new member.
///
/// Why: a coordinator can wedge a group. Tansu 0.6.0 keeps naming a member that left with
/// LeaveGroup while the group was forming as its leader, and answers every other member's
/// SyncGroup with REBALANCE_IN_PROGRESS: no member gets an assignment, for minutes or for good
/// (README, "Rebalances"). librdkafka rejoins by itself after each error, so nothing but time
/// tells a stuck group from a slow one: the signal is librdkafka's own `cgrp.join_state`
/// (statistics), not `steady` for longer than `bound`.
///
/// A pure state machine (clock injected): feed it each statistics sample, act on its verdict.
public struct GroupStallWatchdog: Sendable, Equatable {
    /// How long the join state may stay away from `steady` before the group counts as stuck.
    public let boundMs: Int64
    /// Since when the join state has not been `steady`; nil while it is.
    public private(set) var unsteadySinceMs: Int64?
    /// The join state of the last sample.
    public private(set) var lastJoinState: String?

    public enum Verdict: Sendable, Equatable {
        case fine
        /// Not steady for `forMs` (over the bound): rejoin as a new member. The watchdog starts
        /// counting again from this sample.
        case stuck(forMs: Int64, joinState: String)
    }

    public init(boundMs: Int64) {
        self.boundMs = max(1, boundMs)
    }

    /// One statistics sample: the consumer group's join state at `nowMs` (a monotonic clock).
    /// nil (no `cgrp` in the sample: not subscribed yet) counts as not steady.
    public mutating func observe(joinState: String?, nowMs: Int64) -> Verdict {
        lastJoinState = joinState
        guard joinState != "steady" else {
            unsteadySinceMs = nil
            return .fine
        }
        guard let since = unsteadySinceMs else {
            unsteadySinceMs = nowMs
            return .fine
        }
        let elapsed = nowMs &- since
        guard elapsed > boundMs else { return .fine }
        unsteadySinceMs = nowMs
        return .stuck(forMs: elapsed, joinState: joinState ?? "none")
    }

    /// The consumer was re-created: the new member's own join starts the clock again.
    public mutating func restart(nowMs: Int64) {
        unsteadySinceMs = nowMs
        lastJoinState = nil
    }

    /// The default bound: three session timeouts. A healthy rebalance completes within one
    /// session timeout plus the slowest member's rejoin; a member that died is noticed after one
    /// session timeout, and its departure costs one more rebalance.
    public static func defaultBoundMs(sessionTimeoutMs: Int64) -> Int64 {
        let (product, overflow) = max(1, sessionTimeoutMs).multipliedReportingOverflow(by: 3)
        return overflow ? .max : product
    }

    /// The consumer group's join state in a librdkafka statistics document (`cgrp.join_state`,
    /// librdkafka's STATISTICS.md); nil when the document has no group part or is not JSON.
    public static func joinState(inStatistics json: Data) -> String? {
        guard let root = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
              let group = root["cgrp"] as? [String: Any] else { return nil }
        return group["join_state"] as? String
    }
}
