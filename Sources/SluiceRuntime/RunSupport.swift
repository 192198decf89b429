import Foundation
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
    /// One counter per route and target, handed out when the routes are bound.
    private let deliveredCounters = Mutex<[Pair: DeliveryCounter]>([:])
    private let deadLettered = Mutex<[String: Int]>([:])
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
    func deadLettered(_ reason: DeadLetterReason) { deadLettered.withLock { $0[reason.rawValue, default: 0] += 1 } }
    func retried() { retriesTotal.add(1, ordering: .relaxed) }

    var snapshot: Snapshot {
        Snapshot(consumed: consumedTotal.load(ordering: .relaxed), unmatched: unmatchedTotal.load(ordering: .relaxed),
                 retries: retriesTotal.load(ordering: .relaxed), deliveredByPair: deliveredCounters.withLock { $0.mapValues(\.value) },
                 deadLettered: deadLettered.withLock { $0 })
    }

    public var consumedCount: Int { consumedTotal.load(ordering: .relaxed) }
    public var deliveredCount: Int { deliveredCounters.withLock { $0.values.reduce(0) { $0 + $1.value } } }
    public var deadLetteredCount: Int { deadLettered.withLock { $0.values.reduce(0, +) } }

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
        let heldLines = held.snapshot.map { ("held (\($0.label.reason.rawValue)) \($0.label.route) → \($0.label.target)", $0.count) }
        let heldWidth = max(width, heldLines.map(\.0.count).max() ?? 0)
        for (label, n) in heldLines {
            lines.append(label.padding(toLength: heldWidth, withPad: " ", startingAt: 0) + "  \(n)")
        }
        return lines.joined(separator: "\n")
    }
}

/// Deliveries that succeeded for one route and target: counted from any thread without a lock.
final class DeliveryCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
