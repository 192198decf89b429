import Foundation
import SluiceKafka
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
    struct State {
        var consumed = 0
        var unmatched = 0
        var delivered: [String: Int] = [:]          // "route → connector"
        var deliveredByPair: [Pair: Int] = [:]
        var deadLettered: [String: Int] = [:]       // reason
        var retries = 0
    }
    let state = Mutex(State())
    public init() {}

    func consumed() { state.withLock { $0.consumed += 1 } }
    func unmatched() { state.withLock { $0.unmatched += 1 } }
    func delivered(route: String, connector: String) {
        state.withLock {
            $0.delivered["\(route) → \(connector)", default: 0] += 1
            $0.deliveredByPair[Pair(route: route, connector: connector), default: 0] += 1
        }
    }
    func deadLettered(_ reason: DeadLetterReason) { state.withLock { $0.deadLettered[reason.rawValue, default: 0] += 1 } }
    func retried() { state.withLock { $0.retries += 1 } }

    public var consumedCount: Int { state.withLock { $0.consumed } }
    public var deliveredCount: Int { state.withLock { $0.delivered.values.reduce(0, +) } }
    public var deadLetteredCount: Int { state.withLock { $0.deadLettered.values.reduce(0, +) } }

    /// A human-readable summary table.
    public func summary() -> String {
        let s = state.withLock { $0 }
        var lines = ["consumed \(s.consumed), unmatched \(s.unmatched), retries \(s.retries)"]
        let width = max(20, (s.delivered.keys.map(\.count) + s.deadLettered.keys.map { $0.count + 16 }).max() ?? 0)
        lines.append("delivered".padding(toLength: width, withPad: " ", startingAt: 0) + "  count")
        for (k, v) in s.delivered.sorted(by: { $0.key < $1.key }) {
            lines.append(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  \(v)")
        }
        for (k, v) in s.deadLettered.sorted(by: { $0.key < $1.key }) {
            lines.append("dead-lettered (\(k))".padding(toLength: width, withPad: " ", startingAt: 0) + "  \(v)")
        }
        return lines.joined(separator: "\n")
    }
}
