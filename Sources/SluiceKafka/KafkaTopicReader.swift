import Foundation
import Logging
import Synchronization

/// Reads every partition of one topic from its beginning, without joining a consumer group
/// (partitions are assigned, never subscribed):
/// for state kept in a compacted topic (pending approvals), which every instance reads whole.
/// `readToEnd` returns what was written before the call; `poll` then follows new records.
/// All calls must come from one thread at a time.
public final class KafkaTopicReader: Sendable {
    private let client: RDKafkaClient
    public let topic: String
    public let partitions: [Int32]
    private let closed = Atomic<Bool>(false)

    /// `only`: read just these partitions (a state owner restores the changelog partitions it owns).
    public init(config: KafkaConfig, topic: String, only: [Int32]? = nil, logger: Logger, timeoutMs: Int32 = 10_000) throws(KafkaError) {
        guard config["bootstrap.servers"] != nil else { throw KafkaError(.config, "a topic reader needs bootstrap.servers") }
        self.topic = topic
        var props = config.properties
        props["enable.auto.commit"] = "false"
        props["enable.partition.eof"] = "false"
        // assign() needs a group handle in librdkafka; with assign (no subscribe) the group is
        // never joined and nothing is committed, so a private name is enough.
        props["group.id"] = "sluice-reader-\(UUID().uuidString)"
        // A throw below drops the client, which destroys its handle.
        let client = try RDKafkaClient(.consumer, config: KafkaConfig(props), logger: logger)
        let partitions = try client.partitions(of: topic, timeoutMs: timeoutMs).filter { only?.contains($0) ?? true }
        try client.assign(partitions.map { (TopicPartition(topic, $0), RDKafkaClient.beginning) })
        self.client = client
        self.partitions = partitions
    }

    /// The next record, or nil after `timeoutMs` with none.
    public func poll(timeoutMs: Int32) -> KafkaRecord? {
        guard case .record(let r) = client.consumerPoll(timeoutMs: timeoutMs) else { return nil }
        return r
    }

    /// Every record up to each partition's end as of now (its high watermark).
    public func readToEnd(timeoutMs: Int32 = 10_000) throws(KafkaError) -> [KafkaRecord] {
        var remaining: [Int32: Int64] = [:]
        for p in partitions {
            let (low, high) = try client.watermarks(topic, p, timeoutMs: timeoutMs)
            if high > low { remaining[p] = high }
        }
        var out: [KafkaRecord] = []
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while !remaining.isEmpty {
            guard Date() < deadline else { throw KafkaError(.subscribe, "timed out reading \(topic) to its end", isRetriable: true) }
            guard let r = poll(timeoutMs: 100) else { continue }
            out.append(r)
            if let high = remaining[r.partition], r.offset + 1 >= high { remaining.removeValue(forKey: r.partition) }
        }
        // The rest of the last fetched batches is already queued locally: take it too. Some
        // Kafka-compatible brokers (Tansu, measured) report the high watermark as the last
        // batch's base offset + 1, so stopping at the mark would leave that batch half read.
        while let r = poll(timeoutMs: 0) { out.append(r) }
        return out
    }

    /// Like `readToEnd`, but shows each record's partition, key and value (nil: a tombstone) to
    /// `visit` in the consumer's buffers, valid only during the call, and keeps nothing: for
    /// replays too large to hold as records (state restore). Returns the records visited.
    @discardableResult
    public func readToEnd(timeoutMs: Int32 = 10_000, visit: (Int32, UnsafeRawBufferPointer?, UnsafeRawBufferPointer?) -> Void) throws(KafkaError) -> Int {
        var remaining: [Int32: Int64] = [:]
        for p in partitions {
            let (low, high) = try client.watermarks(topic, p, timeoutMs: timeoutMs)
            if high > low { remaining[p] = high }
        }
        var count = 0
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while !remaining.isEmpty {
            guard Date() < deadline else { throw KafkaError(.subscribe, "timed out reading \(topic) to its end", isRetriable: true) }
            _ = client.consumerPollBorrowing(timeoutMs: 100) { partition, offset, key, value in
                visit(partition, key, value)
                count += 1
                if let high = remaining[partition], offset + 1 >= high { remaining.removeValue(forKey: partition) }
            }
        }
        // The rest of the batches already fetched, as in `readToEnd()` (Tansu's high watermark).
        while client.consumerPollBorrowing(timeoutMs: 0, { partition, _, key, value in
            visit(partition, key, value)
            count += 1
        }) {}
        return count
    }

    /// Closes the consumer (it never joined a group: nothing to leave or commit), within 10 s
    /// (librdkafka's close can block forever once the broker is gone). Idempotent.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = client.closeConsumer(commitFirst: false, leaveGroup: true, within: .seconds(10))
        client.destroy()
    }
}
