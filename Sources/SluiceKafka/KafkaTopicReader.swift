import CRdKafka
import Foundation
import Logging

/// Reads every partition of one topic from its beginning, without joining a consumer group
/// (partitions are assigned, never subscribed):
/// for state kept in a compacted topic (pending approvals), which every instance reads whole.
/// `readToEnd` returns what was written before the call; `poll` then follows new records.
/// All calls must come from one thread at a time.
public final class KafkaTopicReader: @unchecked Sendable {
    // @unchecked: rd_kafka_t is thread-safe; callers serialise poll/readToEnd/close (documented).
    let handle: OpaquePointer
    public let topic: String
    public private(set) var partitions: [Int32] = []
    private let context: ClientContext
    private var isClosed = false

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
        let conf = try KafkaConfig(props).makeNative()
        let context = ClientContext(logger: logger)
        self.context = context
        context.install(on: conf)
        var errbuf = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &errbuf, errbuf.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(.clientCreation, "cannot create topic reader: \(String(errorBuffer: errbuf))")
        }
        handle = rk
        rd_kafka_poll_set_consumer(rk)
        do {
            partitions = try Self.partitions(of: topic, handle: rk, timeoutMs: timeoutMs)
            if let only { partitions = partitions.filter { only.contains($0) } }
        } catch {
            isClosed = true  // deinit runs for a throwing init too: destroy once
            rd_kafka_destroy(rk)
            throw error
        }
        let list = makePartitionList(partitions.map { (TopicPartition(topic, $0), Int64(RD_KAFKA_OFFSET_BEGINNING)) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_assign(rk, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            isClosed = true
            rd_kafka_destroy(rk)
            throw KafkaError(.subscribe, err, context: "assign \(topic)")
        }
    }

    private static func partitions(of topic: String, handle: OpaquePointer, timeoutMs: Int32) throws(KafkaError) -> [Int32] {
        guard let rkt = rd_kafka_topic_new(handle, topic, nil) else { throw KafkaError(.subscribe, "cannot open topic \(topic)") }
        defer { rd_kafka_topic_destroy(rkt) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 0, rkt, &metadata, Int32(timeoutMs))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(.subscribe, err, context: "metadata of \(topic)") }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt > 0 else { throw KafkaError(.subscribe, "topic \(topic) not found") }
        let t = metadata.pointee.topics[0]
        if t.err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(.subscribe, t.err, context: "metadata of \(topic)") }
        return (0..<Int(t.partition_cnt)).map { t.partitions[$0].id }.sorted()
    }

    /// The next record, or nil after `timeoutMs` with none.
    public func poll(timeoutMs: Int32) -> KafkaRecord? {
        guard let msg = rd_kafka_consumer_poll(handle, timeoutMs) else { return nil }
        defer { rd_kafka_message_destroy(msg) }
        let m = msg.pointee
        guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        let value: [UInt8]? = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) }
        let key: [UInt8]? = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        return KafkaRecord(topic: topic, partition: m.partition, offset: m.offset, key: key, value: value)
    }

    /// Every record up to each partition's end as of now (its high watermark).
    public func readToEnd(timeoutMs: Int32 = 10_000) throws(KafkaError) -> [KafkaRecord] {
        var remaining: [Int32: Int64] = [:]
        for p in partitions {
            var low: Int64 = 0
            var high: Int64 = 0
            let err = rd_kafka_query_watermark_offsets(handle, topic, p, &low, &high, timeoutMs)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(.subscribe, err, context: "watermarks of \(topic)[\(p)]") }
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

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        rd_kafka_consumer_close(handle)
        rd_kafka_destroy(handle)
    }

    deinit { close() }
}
