import DequeModule
import Foundation
import Synchronization

/// One finding as the feed shows it: what arrived, which routes matched and what became of each
/// target. Strings come from the finding: the dashboard escapes them, nothing interprets them.
public struct FindingRecord: Codable, Sendable, Equatable {
    /// Increasing per instance: the feed's cursor.
    public var sequence: Int
    public var receivedAt: String
    /// `topic/partition@offset`, or `line N` offline.
    public var source: String
    public var id: String?
    public var type: String?
    /// The finding's own score where it has one (GuardDuty's 0–10), else one in its band.
    public var severity: Double?
    /// The normalised view's label (`Informational` … `Fatal`), its title and input format.
    public var severityLabel: String? = nil
    public var title: String? = nil
    public var format: String? = nil
    public var routes: [String]
    /// `connector` → `pending`, `delivered`, `dead-lettered` or `held: reason`.
    public var outcomes: [String: String]
    /// The record's bytes (at most `findingBytesCap`), kept in memory only — never in the API's
    /// answers — so a silence preview judges the whole finding, as the silence will.
    public var finding: [UInt8]? = nil
    /// Records larger than this keep no bytes (the preview then judges id, type and severity).
    public static let findingBytesCap = 64 * 1024

    enum CodingKeys: String, CodingKey { case sequence, receivedAt, source, id, type, title, severity, severityLabel, format, routes, outcomes }

    public init(sequence: Int = 0, receivedAt: String = "", source: String, id: String?, type: String?, severity: Double?,
                routes: [String], outcomes: [String: String], finding: [UInt8]? = nil, title: String? = nil, severityLabel: String? = nil,
                format: String? = nil) {
        self.finding = finding.flatMap { $0.count <= Self.findingBytesCap ? $0 : nil }
        self.sequence = sequence
        self.receivedAt = receivedAt
        self.source = source
        self.id = id
        self.type = type
        self.severity = severity
        self.severityLabel = severityLabel
        self.title = title
        self.format = format
        self.routes = routes
        self.outcomes = outcomes
    }
}

/// A bounded ring of recent findings, and a feed of changes for live views (SSE). Memory stays
/// flat: the ring keeps `capacity` records and each subscriber buffers at most `subscriberBuffer`
/// changes (a slow browser loses the oldest, never blocks the pipeline).
public final class RecentFindings: Sendable {
    public let capacity: Int
    let subscriberBuffer: Int
    private struct State {
        var records = Deque<FindingRecord>()
        var next = 1
        var subscribers: [Int: AsyncStream<FindingRecord>.Continuation] = [:]
        var nextSubscriber = 0
    }
    private let state = Mutex(State())

    public init(capacity: Int = 500, subscriberBuffer: Int = 256) {
        self.capacity = max(1, capacity)
        self.subscriberBuffer = max(1, subscriberBuffer)
    }

    /// Adds `record` (its sequence and time are set here); returns its sequence for `update`.
    @discardableResult
    public func append(_ record: FindingRecord) -> Int {
        var record = record
        record.receivedAt = Date().formatted(.iso8601)
        let sinks = state.withLock { s in
            record.sequence = s.next
            s.next += 1
            s.records.append(record)
            if s.records.count > capacity { s.records.removeFirst() }
            return Array(s.subscribers.values)
        }
        for sink in sinks { sink.yield(record) }
        return record.sequence
    }

    /// Sets one target's outcome of the record `sequence`, if it is still in the ring.
    public func update(sequence: Int, connector: String, outcome: String) {
        let (changed, sinks): (FindingRecord?, [AsyncStream<FindingRecord>.Continuation]) = state.withLock { s in
            guard let first = s.records.first?.sequence else { return (nil, []) }
            let index = sequence - first
            guard index >= 0, index < s.records.count, s.records[index].sequence == sequence else { return (nil, []) }
            s.records[index].outcomes[connector] = outcome
            return (s.records[index], Array(s.subscribers.values))
        }
        if let changed { for sink in sinks { sink.yield(changed) } }
    }

    /// The newest `limit` records, newest first; with `after`, only those with a higher sequence.
    public func recent(limit: Int, after: Int? = nil) -> [FindingRecord] {
        state.withLock { s in
            Array(s.records.reversed().prefix { record in after.map { record.sequence > $0 } ?? true }.prefix(max(0, limit)))
        }
    }

    /// New and changed records from now on, until the consumer stops iterating.
    public func subscribe() -> AsyncStream<FindingRecord> {
        let (stream, continuation) = AsyncStream.makeStream(of: FindingRecord.self, bufferingPolicy: .bufferingNewest(subscriberBuffer))
        let id = state.withLock { s in
            let id = s.nextSubscriber
            s.nextSubscriber += 1
            s.subscribers[id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    var subscriberCount: Int { state.withLock { $0.subscribers.count } }
}
