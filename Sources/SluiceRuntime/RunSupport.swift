import Foundation
import SluiceCore
import SluiceKafka
import SluiceState
import Synchronization

/// A record from any source: a Kafka record, or a line of an NDJSON file (no topic, offset = line).
public struct SourceRecord: Sendable {
    public var topic: String?
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    public var timestampMs: Int64?

    public init(_ r: KafkaRecord) {
        self.init(topic: r.topic, partition: r.partition, offset: r.offset, key: r.key, value: r.value, headers: r.headers, timestampMs: r.timestampMs)
    }

    public init(topic: String?, partition: Int32 = 0, offset: Int64, key: [UInt8]? = nil, value: [UInt8]?, headers: [KafkaHeader] = [], timestampMs: Int64? = nil) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMs = timestampMs
    }
}

/// Shutdown state shared by the pipeline's parts. `stop` ends fetching; `hardStop` (the drain
/// deadline passed) turns pending retries into dead letters.
public final class StopSignal: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let hard = Atomic<Bool>(false)
    public init() {}
    public var isStopped: Bool { stopped.load(ordering: .acquiring) }
    public var isHardStopped: Bool { hard.load(ordering: .acquiring) }
    public func stop() { stopped.store(true, ordering: .releasing) }
    public func hardStop() { hard.store(true, ordering: .releasing); stop() }
}

/// Counters of one run: what `sluice run` prints at exit and what the demo tabulates.
/// Keys are route and connector *names* (bounded), never finding ids.
public final class RunStats: Sendable {
    struct Pair: Hashable {
        var route: String
        var connector: String
    }
    /// The counters at one moment.
    struct Snapshot {
        var consumed: Int
        var unmatched: Int
        var retries: Int
        var deliveredByPair: [Pair: Int]
        var deadLettered: [String: Int]   // by reason
        /// "route → connector": count.
        var delivered: [String: Int] {
            Dictionary(deliveredByPair.filter { $0.value > 0 }.map { ("\($0.key.route) → \($0.key.connector)", $0.value) }, uniquingKeysWith: +)
        }
    }
    // Counted once or more per record: atomics only, nothing locked or allocated per count.
    private let consumedTotal = Atomic<Int>(0)
    private let unmatchedTotal = Atomic<Int>(0)
    private let retriesTotal = Atomic<Int>(0)
    private let unsettledTotal = Atomic<Int>(0)
    /// One counter per route and target, handed out when the routes are bound.
    private let deliveredCounters = Mutex<[Pair: DeliveryCounter]>([:])
    private let deadLettered = Mutex<[String: Int]>([:])
    /// Dead letters by route and connector ("-" for a record that failed before routing).
    private let deadLetteredByPair = Mutex<[Pair: Int]>([:])
    /// Matches a route's `suppress:` vetoed, by route (rare: a lock per count is cheap enough).
    private let suppressedByRoute = Mutex<[String: Int]>([:])
    /// `sluice_held_total{route,target,reason}`: findings held by a state rule.
    public let held = HeldCounter()
    public init() {}

    func consumed() { consumedTotal.add(1, ordering: .relaxed) }
    func unmatched() { unmatchedTotal.add(1, ordering: .relaxed) }
    /// The counter of deliveries from `route` through `connector` (the same one for the same pair).
    func deliveryCounter(route: String, connector: String) -> DeliveryCounter {
        deliveredCounters.withLock { counters in
            let pair = Pair(route: route, connector: connector)
            if let counter = counters[pair] { return counter }
            let counter = DeliveryCounter()
            counters[pair] = counter
            return counter
        }
    }
    func deadLettered(_ reason: DeadLetterReason, route: String? = nil, connector: String? = nil) {
        deadLettered.withLock { $0[reason.rawValue, default: 0] += 1 }
        deadLetteredByPair.withLock { $0[Pair(route: route ?? "-", connector: connector ?? "-"), default: 0] += 1 }
    }
    func suppressed(route: String) { suppressedByRoute.withLock { $0[route, default: 0] += 1 } }
    func retried() { retriesTotal.add(1, ordering: .relaxed) }
    func unsettledAtExit(_ n: Int) { unsettledTotal.store(n, ordering: .relaxed) }

    var snapshot: Snapshot {
        Snapshot(consumed: consumedTotal.load(ordering: .relaxed), unmatched: unmatchedTotal.load(ordering: .relaxed),
                 retries: retriesTotal.load(ordering: .relaxed), deliveredByPair: deliveredCounters.withLock { $0.mapValues(\.value) },
                 deadLettered: deadLettered.withLock { $0 })
    }

    public var consumedCount: Int { consumedTotal.load(ordering: .relaxed) }
    public var deliveredCount: Int { deliveredCounters.withLock { $0.values.reduce(0) { $0 + $1.value } } }
    public var deadLetteredCount: Int { deadLettered.withLock { $0.values.reduce(0, +) } }
    /// Records whose work had neither settled nor been dead-lettered when the run ended.
    public var unsettledCount: Int { unsettledTotal.load(ordering: .relaxed) }

    /// A human-readable summary table.
    public func summary() -> String {
        let s = snapshot
        let delivered = s.delivered
        var lines = ["consumed \(s.consumed), unmatched \(s.unmatched), retries \(s.retries)"]
        let width = max(20, (delivered.keys.map(\.count) + s.deadLettered.keys.map { $0.count + 16 }).max() ?? 0)
        lines.append("delivered".padding(toLength: width, withPad: " ", startingAt: 0) + "  count")
        for (k, v) in delivered.sorted(by: { $0.key < $1.key }) {
            lines.append(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  \(v)")
        }
        for (k, v) in s.deadLettered.sorted(by: { $0.key < $1.key }) {
            lines.append("dead-lettered (\(k))".padding(toLength: width, withPad: " ", startingAt: 0) + "  \(v)")
        }
        let heldSnapshot = held.snapshot
        let heldLines = heldSnapshot.map { ("held (\($0.label.reason.rawValue)) \($0.label.route) → \($0.label.target)", $0.count) }
        let heldWidth = max(width, heldLines.map(\.0.count).max() ?? 0)
        for (label, n) in heldLines {
            lines.append(label.padding(toLength: heldWidth, withPad: " ", startingAt: 0) + "  \(n)")
        }
        let split = SummaryTables(delivered: s.deliveredByPair, deadLettered: deadLetteredByPair.withLock { $0 },
                                  suppressed: suppressedByRoute.withLock { $0 },
                                  held: heldSnapshot.map { (Pair(route: $0.label.route, connector: $0.label.target), $0.count) })
        return (lines + [""] + split.lines).joined(separator: "\n")
    }
    /// Dead letters by route ("-": records that failed before any route, such as undecodable ones).
    public var deadLetteredByRoute: [String: Int] {
        deadLetteredByPair.withLock { Dictionary($0.map { ($0.key.route, $0.value) }, uniquingKeysWith: +) }
    }
}

/// Deliveries that succeeded for one route and target: counted from any thread without a lock.
final class DeliveryCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

extension LoadedConfiguration {
    /// Connector instances that cannot work without the run's brokers, each at its file: a run
    /// with none stops on these before reading input; `validate` shows them as warnings.
    public func connectorsNeedingBrokers(runHasBrokers: Bool) -> [Diagnostic] {
        guard !runHasBrokers else { return [] }
        return connectors.filter(\.needsRunBrokers).map { c in
            var at = c.location
            at.message = "connector '\(c.name)' (\(c.kind)) has no brokers: set brokers: in its file, or run with --brokers "
                + "(an offline run with --input has none)"
            return at
        }
    }
}

extension LoadedConfiguration {
    /// `aws-*` connector instances that cannot work in this run (no region; offline, no
    /// credentials source but the instance metadata service), each at its file: a run stops on
    /// these before reading input; `validate` shows them as warnings.
    public func connectorsMissingAWSPrerequisites(offline: Bool, environment: [String: String]) -> [Diagnostic] {
        connectors.compactMap { c in
            guard let reason = c.aws?.unmetPrerequisite(offline: offline, environment: environment) else { return nil }
            var at = c.location
            at.message = "connector '\(c.name)' (\(c.kind)) \(reason)"
            return at
        }
    }
}

/// `--summary`'s tables: per route (delivered, suppressed, held, dead-lettered) and per
/// connector (delivered, held, dead-lettered). Suppression vetoes a route before any target,
/// so connectors have no suppressed column.
struct SummaryTables {
    let delivered: [RunStats.Pair: Int]
    let deadLettered: [RunStats.Pair: Int]
    let suppressed: [String: Int]
    let held: [(RunStats.Pair, Int)]

    var lines: [String] {
        func total(_ counts: [(RunStats.Pair, Int)], _ key: (RunStats.Pair) -> String) -> [String: Int] {
            Dictionary(counts.map { (key($0.0), $0.1) }, uniquingKeysWith: +)
        }
        let d = delivered.map { ($0.key, $0.value) }
        let x = deadLettered.map { ($0.key, $0.value) }
        let byRoute = (delivered: total(d, \.route), held: total(held, \.route), dead: total(x, \.route))
        let byConnector = (delivered: total(d, \.connector), held: total(held, \.connector), dead: total(x, \.connector))
        let routes = Set(byRoute.delivered.keys).union(byRoute.held.keys).union(byRoute.dead.keys).union(suppressed.keys).sorted()
        let connectors = Set(byConnector.delivered.keys).union(byConnector.held.keys).union(byConnector.dead.keys).sorted()
        var out = table(["route", "delivered", "suppressed", "held", "dead-lettered"], routes.map { r in
            [r, byRoute.delivered[r] ?? 0, suppressed[r] ?? 0, byRoute.held[r] ?? 0, byRoute.dead[r] ?? 0]
        })
        out.append("")
        out += table(["connector", "delivered", "held", "dead-lettered"], connectors.map { c in
            [c, byConnector.delivered[c] ?? 0, byConnector.held[c] ?? 0, byConnector.dead[c] ?? 0]
        })
        return out
    }

    /// A left-aligned name column and right-aligned counts.
    private func table(_ header: [String], _ rows: [[any Sendable]]) -> [String] {
        let cells = [header] + rows.map { $0.map { "\($0)" } }
        let widths = header.indices.map { i in cells.map { $0[i].count }.max() ?? 0 }
        return cells.map { row in
            row.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return i == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
    }
}
