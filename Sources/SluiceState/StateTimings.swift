import Foundation
import Synchronization

/// Where a keyed record waits on its way through Kafka-backed state, measured only when
/// `SLUICE_STATE_TIMINGS=1` (the bench's dedupe leg; off, each probe is one relaxed load).
/// Each stage sums its waits and counts them; `report` logs the mean per stage and resets.
public final class StateTimings: Sendable {
    public enum Stage: Int, CaseIterable, Sendable {
        /// Source: repartition produce → the broker's acknowledgement.
        case repartitionAck
        /// Owner: the repartition record's producer timestamp → the owner took it (ms resolution).
        case repartitionToOwner
        /// Owner: decoding and deciding one record (the owner thread's own time).
        case ownerDecide
        /// Owner: a release handed to the target's lane → its outcome.
        case delivery
        /// Owner: changelog produce → acknowledged.
        case changelogAck
        /// Owner: polls that found no record (counted, no time).
        case ownerIdlePolls

        var label: String {
            switch self {
            case .repartitionAck: "repartition produce→ack"
            case .repartitionToOwner: "repartition produce→owner"
            case .ownerDecide: "owner decode+decide"
            case .delivery: "delivery submit→outcome"
            case .changelogAck: "changelog produce→ack"
            case .ownerIdlePolls: "owner idle polls"
            }
        }
    }

    public static let shared = StateTimings(enabled: ProcessInfo.processInfo.environment["SLUICE_STATE_TIMINGS"] == "1")

    public let enabled: Bool
    /// One stage's waits (nanoseconds) and how many.
    private final class Tally: Sendable {
        let sum = Atomic<Int>(0)
        let count = Atomic<Int>(0)
    }
    private let tallies: [Tally]
    /// Repartition produces not yet acknowledged (the source's forwarded work in flight).
    public let forwarding = Atomic<Int>(0)

    init(enabled: Bool) {
        self.enabled = enabled
        tallies = Stage.allCases.map { _ in Tally() }
    }

    /// A monotonic timestamp in nanoseconds (0 when disabled: nothing is measured).
    @inline(__always)
    public func start() -> UInt64 { enabled ? DispatchTime.now().uptimeNanoseconds : 0 }

    /// Adds the wait since `started` (from `start()`) to `stage`.
    @inline(__always)
    public func end(_ stage: Stage, since started: UInt64) {
        guard enabled, started != 0 else { return }
        let ns = DispatchTime.now().uptimeNanoseconds &- started
        add(stage, nanoseconds: Int(truncatingIfNeeded: ns))
    }

    public func add(_ stage: Stage, nanoseconds: Int) {
        guard enabled else { return }
        tallies[stage.rawValue].sum.add(nanoseconds, ordering: .relaxed)
        tallies[stage.rawValue].count.add(1, ordering: .relaxed)
    }

    /// Writes each stage's count and mean wait since the last report to standard error (whatever
    /// the log level: it was asked for), then starts again.
    public func report() {
        guard enabled else { return }
        var parts: [String] = []
        for stage in Stage.allCases {
            let n = tallies[stage.rawValue].count.exchange(0, ordering: .relaxed)
            let sum = tallies[stage.rawValue].sum.exchange(0, ordering: .relaxed)
            parts.append(stage == .ownerIdlePolls ? "\(stage.label): \(n)" : "\(stage.label): n=\(n) mean=\(n == 0 ? 0 : sum / n / 1000) µs")
        }
        parts.append("repartition unacked now: \(forwarding.load(ordering: .relaxed))")
        FileHandle.standardError.write(Data(("state timings: " + parts.joined(separator: "; ") + "\n").utf8))
    }
}
