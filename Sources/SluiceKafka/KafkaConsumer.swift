import CRdKafka
import Logging

/// A consumer-group member. All calls except `storeOffsets` must come from one thread (the
/// pipeline's source thread), which also receives rebalance events from inside `poll`.
///
/// At-least-once: `enable.auto.offset.store` is forced off. The owner stores an offset only when
/// all work of the records below it has settled; librdkafka's auto-commit then commits stored
/// offsets periodically, and `close` commits them one last time.
public final class KafkaConsumer: @unchecked Sendable {
    // @unchecked: rd_kafka_t is thread-safe; Sluice confines every call but offsets_store (which
    // librdkafka documents as thread-safe) to the polling thread.
    let handle: OpaquePointer
    private let context: ClientContext
    private let logger: Logger
    private var isClosed = false
    public private(set) var assignment: Set<TopicPartition> = []
    public private(set) var isPaused = false
    public let topics: [String]

    /// Defaults for an at-least-once findings consumer; the user's properties win, except
    /// `enable.auto.offset.store`, which must stay off for offsets to follow settlement.
    public static let defaults: [String: String] = [
        "enable.auto.commit": "true",
        "auto.commit.interval.ms": "1000",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": "false",
        "partition.assignment.strategy": "cooperative-sticky",
        // Bounds what librdkafka prefetches while the pipeline holds back at its cap (64 MB by default).
        "queued.max.messages.kbytes": "16384",
        // A fetch returns as soon as records arrive on Kafka; brokers that hold it for the full
        // wait (Tansu) would add up to this much latency when the topic is idle.
        "fetch.wait.max.ms": "10",
        // When the prefetch queue is full, fetch again soon after it drains (librdkafka waits 1 s
        // by default, which stalls a consumer that drains 16 MB in a fraction of that).
        "fetch.queue.backoff.ms": "20",
    ]

    public init(config: KafkaConfig, topics: [String], logger: Logger) throws(KafkaError) {
        guard config["group.id"] != nil else { throw KafkaError(.config, "a consumer needs group.id (--group)") }
        guard config["bootstrap.servers"] != nil else { throw KafkaError(.config, "a consumer needs bootstrap.servers (--brokers)") }
        guard !topics.isEmpty else { throw KafkaError(.config, "no topic to consume (--topic)") }
        self.logger = logger
        self.topics = topics
        var merged = KafkaConsumer.defaults
        for (k, v) in config.properties { merged[k] = v }
        merged["enable.auto.offset.store"] = "false"
        let conf = try KafkaConfig(merged).makeNative()
        let context = ClientContext(logger: logger)
        self.context = context
        context.install(on: conf)
        rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, opaque in
            guard let rk, let partitions, let opaque else { return }
            Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue().handleRebalance(rk, err, partitions)
        }
        var errbuf = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &errbuf, errbuf.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(.clientCreation, "cannot create consumer: \(String(errorBuffer: errbuf))")
        }
        handle = rk
        rd_kafka_poll_set_consumer(rk)  // one queue: poll serves messages, rebalances and logs
        context.setRebalanceHandler { [weak self] event in self?.applied(event) }
        let list = makePartitionList(topics.map { (TopicPartition($0, RD_KAFKA_PARTITION_UA), nil) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_subscribe(rk, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            rd_kafka_destroy(rk)
            throw KafkaError(.subscribe, err, context: "subscribe to \(topics.joined(separator: ","))")
        }
    }

    /// Sets what runs on the polling thread whenever the assignment changes.
    public func onRebalance(_ handler: @escaping @Sendable (RebalanceEvent) -> Void) { userRebalance = handler }
    private var userRebalance: (@Sendable (RebalanceEvent) -> Void)?

    private func applied(_ event: RebalanceEvent) {
        switch event {
        case .assigned(let parts):
            assignment.formUnion(parts)
            // New partitions join the paused state: back-pressure holds across rebalances.
            if isPaused { setPaused(parts, true) }
            userRebalance?(event)
        case .revoked(let parts):
            userRebalance?(event)
            assignment.subtract(parts)
        }
    }

    /// The result of one poll.
    public enum PollResult: Sendable {
        case record(KafkaRecord)
        case idle
        /// A non-fatal consumer error (unknown topic, broker down…): logged, consumption goes on.
        case warning(KafkaError)
        case fatal(KafkaError)
    }

    /// Waits up to `timeoutMs` for the next record. Also serves rebalances and log callbacks.
    public func poll(timeoutMs: Int32) -> PollResult {
        guard let msg = rd_kafka_consumer_poll(handle, timeoutMs) else { return .idle }
        defer { rd_kafka_message_destroy(msg) }
        let m = msg.pointee
        if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            if m.err == RD_KAFKA_RESP_ERR__FATAL {
                var buf = [CChar](repeating: 0, count: 512)
                let code = rd_kafka_fatal_error(handle, &buf, buf.count)
                return .fatal(KafkaError(.fatal, "\(String(cString: rd_kafka_err2name(code))): \(String(errorBuffer: buf))"))
            }
            let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "-"
            return .warning(KafkaError(.subscribe, m.err, context: "consume \(topic)"))
        }
        let topic = String(cString: rd_kafka_topic_name(m.rkt))
        let value: [UInt8]? = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) }
        let key: [UInt8]? = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        var headers: [KafkaHeader] = []
        var hdrs: OpaquePointer?
        if rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs {
            var i = 0
            var name: UnsafePointer<CChar>?
            var valuePtr: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(hdrs, i, &name, &valuePtr, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                headers.append(KafkaHeader(
                    name: name.map { String(cString: $0) } ?? "",
                    value: valuePtr.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }))
                i += 1
            }
        }
        var tsType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ts = rd_kafka_message_timestamp(msg, &tsType)
        return .record(KafkaRecord(
            topic: topic, partition: m.partition, offset: m.offset, key: key, value: value, headers: headers,
            timestampMs: tsType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : ts))
    }

    /// Stores the next offsets to commit (auto-commit sends them). Thread-safe.
    public func storeOffsets(_ offsets: [TopicPartition: Int64]) {
        guard !offsets.isEmpty else { return }
        let list = makePartitionList(offsets.map { ($0.key, $0.value) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_offsets_store(handle, list)
        // _STATE: a partition was revoked meanwhile; its work will be redelivered to the new owner.
        if err != RD_KAFKA_RESP_ERR_NO_ERROR, err != RD_KAFKA_RESP_ERR__STATE {
            logger.warning("offset store failed", metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(err)))"])
        }
    }

    /// Commits stored offsets now, synchronously.
    public func commitSync() throws(KafkaError) {
        let err = rd_kafka_commit(handle, nil, 0)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR, err != RD_KAFKA_RESP_ERR__NO_OFFSET {
            throw KafkaError(.commit, err, context: "commit")
        }
    }

    /// Asks the broker to commit the stored offsets; does not wait for the answer.
    public func commitAsync() {
        let err = rd_kafka_commit(handle, nil, 1)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR, err != RD_KAFKA_RESP_ERR__NO_OFFSET {
            logger.debug("commit request failed", metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(err)))"])
        }
    }

    /// Stops fetching from every assigned partition (back-pressure); `resume()` restarts.
    public func pause() {
        guard !isPaused else { return }
        isPaused = true
        setPaused(Array(assignment), true)
    }

    public func resume() {
        guard isPaused else { return }
        isPaused = false
        setPaused(Array(assignment), false)
    }

    private func setPaused(_ parts: [TopicPartition], _ paused: Bool) {
        guard !parts.isEmpty else { return }
        let list = makePartitionList(parts.map { ($0, nil) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        _ = paused ? rd_kafka_pause_partitions(handle, list) : rd_kafka_resume_partitions(handle, list)
    }

    /// Commits stored offsets, leaves the group and destroys the handle. Idempotent.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        do { try commitSync() } catch { logger.warning("final commit failed", metadata: ["error": "\(error)"]) }
        rd_kafka_consumer_close(handle)
        context.setRebalanceHandler(nil)
        rd_kafka_destroy(handle)
    }

    deinit { close() }
}

extension ClientContext {
    /// librdkafka's rebalance callback: apply the assignment change (eager or cooperative
    /// protocol), telling Swift of revocations before and of assignments after.
    func handleRebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let parts = [TopicPartition](partitions)
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if cooperative {
                if let e = rd_kafka_incremental_assign(rk, partitions) { rd_kafka_error_destroy(e) }
            } else {
                rd_kafka_assign(rk, partitions)
            }
            logger.info("partitions assigned", metadata: ["kafka.partitions": "\(parts.map(\.description).joined(separator: ","))"])
            rebalance(.assigned(parts))
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            rebalance(.revoked(parts))
            // Commit what has settled before another member takes these partitions over.
            _ = rd_kafka_commit(rk, nil, 0)
            if cooperative {
                if let e = rd_kafka_incremental_unassign(rk, partitions) { rd_kafka_error_destroy(e) }
            } else {
                rd_kafka_assign(rk, nil)
            }
            logger.info("partitions revoked", metadata: ["kafka.partitions": "\(parts.map(\.description).joined(separator: ","))"])
        default:
            logger.error("rebalance failed", metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(err)))"])
            rebalance(.revoked(parts))
            rd_kafka_assign(rk, nil)
        }
    }
}
