import CRdKafka
import Foundation
import Logging
import Synchronization

/// The one layer that calls librdkafka (swift-kafka-client's `RDKafkaClient`): it owns a client
/// handle, follows librdkafka's ownership rules, and speaks Swift to the types above it —
/// `KafkaConsumer`, `KafkaProducer`, `KafkaTopicReader` and `KafkaAdmin` never call `rd_kafka_*`.
///
/// `deinit` destroys the handle without a consumer close (no group leave, no commit): that
/// blocking work belongs to an explicit `closeConsumer(…)`, never to whichever thread drops the
/// last reference.
final class RDKafkaClient: @unchecked Sendable {
    // @unchecked: rd_kafka_t is thread-safe for every call made here (librdkafka's documented
    // guarantee); the handle itself never changes after init.
    enum Kind { case consumer, producer }

    private let handle: OpaquePointer
    let kind: Kind
    let context: RDKafkaClientContext
    private let destroyed = Atomic<Bool>(false)
    /// Set when `closeConsumer` gave up waiting: the handle belongs to the closing thread.
    private let closeAbandoned = Atomic<Bool>(false)
    /// A consumer's queue for the answers to `commitAsync()`, served by `serveCommitAnswers()`:
    /// a source loop holding at its in-flight cap takes no record (no consumer poll) and must
    /// still learn which commits went through, since those answers are what lowers its count.
    private let commitQueue: OpaquePointer?

    /// Creates a client from `config`. `deliveryReports`: a producer's per-record callback
    /// (`RDKafkaDeliveryBox`); `rebalance`: a consumer's assignment callback; `statistics`: the
    /// statistics callback (documents every `statistics.interval.ms`, to the context's handler).
    init(_ kind: Kind, config: KafkaConfig, logger: Logger, deliveryReports: Bool = false, rebalance: Bool = false,
         statistics: Bool = false) throws(KafkaError) {
        // One `kafka:` map configures every client: a producer handle (producers, admin requests,
        // group descriptions) leaves out what only a consumer reads, which librdkafka warns about.
        let conf = try Self.makeConf(kind == .producer ? config.forProducer : config)
        let context = RDKafkaClientContext(logger: logger)
        context.install(on: conf)
        if deliveryReports {
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
                guard let message, let opaque = message.pointee._private else { return }
                let box = Unmanaged<RDKafkaDeliveryBox>.fromOpaque(opaque).takeRetainedValue()
                let err = message.pointee.err
                box.completion(err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(.delivery, err, context: "delivery"))
            }
        }
        if rebalance {
            rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, opaque in
                guard let rk, let partitions, let opaque else { return }
                Unmanaged<RDKafkaClientContext>.fromOpaque(opaque).takeUnretainedValue().handleRebalance(rk, err, partitions)
            }
        }
        if rebalance {
            // Results of every commit (auto, async, sync): a refused one is logged and counted.
            rd_kafka_conf_set_offset_commit_cb(conf) { _, err, offsets, opaque in
                guard let opaque else { return }
                Unmanaged<RDKafkaClientContext>.fromOpaque(opaque).takeUnretainedValue().commitAnswered(err, offsets)
            }
        }
        if statistics {
            rd_kafka_conf_set_stats_cb(conf) { _, json, length, opaque in
                guard let json, let opaque else { return 0 }
                let document = Data(bytes: json, count: length)
                Unmanaged<RDKafkaClientContext>.fromOpaque(opaque).takeUnretainedValue().statistics(document)
                return 0  // librdkafka frees the document
            }
        }
        var errbuf = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(kind == .consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, &errbuf, errbuf.count) else {
            rd_kafka_conf_destroy(conf)  // rd_kafka_new takes the conf only on success
            throw KafkaError(.clientCreation, "cannot create \(kind == .consumer ? "consumer" : "producer"): \(String(errorBuffer: errbuf))")
        }
        handle = rk
        self.kind = kind
        self.context = context
        commitQueue = kind == .consumer ? rd_kafka_queue_new(rk) : nil
        if kind == .consumer { rd_kafka_poll_set_consumer(rk) }  // one queue: poll serves messages, rebalances and logs
    }

    /// Destroys the handle now (after `closeConsumer(…)` for a consumer, after the last poll for
    /// a producer): its threads and connections end here, not when the last reference goes.
    /// Idempotent; no other call may follow. Does nothing after a close that was given up on: the
    /// closing thread still uses the handle and destroys it if librdkafka ever lets it go.
    func destroy() {
        guard !closeAbandoned.load(ordering: .acquiring) else { return }
        guard !destroyed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        // Neither kind may hold a shutdown forever. A consumer that was not closed leaves the
        // group by session timeout: destroying must not block on a group leave and final commit,
        // and librdkafka 2.x can spin in its group's termination when the broker went away (its
        // issue #4674; a test that stops its broker saw `rd_kafka_destroy` never return). A
        // producer's teardown joins its broker threads after the flush its caller chose to wait
        // for; nothing bounds that join but this wait. Past it the handle is left to its thread:
        // a run that stops ends anyway.
        let wait = kind == .consumer ? Self.consumerDestroyWait : Self.producerDestroyWait
        let held = kind == .producer ? outstanding : 0  // read now: the handle is the thread's next
        let work = BoundedWork()
        let handle = UncheckedHandle(handle)
        let flags = kind == .consumer ? RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE : 0
        let queue = commitQueue.map(UncheckedHandle.init)
        let thread = Thread { [context] in
            if let queue { rd_kafka_queue_destroy(queue.pointer) }  // an application queue goes before its handle
            rd_kafka_destroy_flags(handle.pointer, flags)
            withExtendedLifetime(context) { _ = work.finish() }  // callbacks read the context until here
        }
        thread.name = "sluice-kafka-destroy"
        thread.start()
        guard !work.wait(seconds: wait) else { return }
        if kind == .consumer {
            context.logger.warning("a Kafka consumer did not shut down within \(Int(wait)) s (broker unreachable?): left to finish on its own (librdkafka issue #4674)")
        } else {
            context.logger.warning(
                "a Kafka producer did not shut down within \(Int(wait)) s (broker unreachable?): left to finish on its own; records it still held are not delivered",
                metadata: ["kafka.outstanding": "\(held)"])
        }
    }

    /// How long `destroy` waits for a consumer's handle to terminate.
    static let consumerDestroyWait: Double = 15
    /// How long `destroy` waits for a producer's handle to terminate. Its records were flushed
    /// (or purged) before: what is left is closing connections, milliseconds when it goes well.
    static let producerDestroyWait: Double = 5

    /// How a bounded consumer close ended.
    enum ConsumerCloseOutcome: Sendable {
        /// Closed in time; the final commit's error, if it failed. `destroy()` comes next.
        case closed(finalCommitError: KafkaError?)
        /// Still blocked in librdkafka at the bound: the handle is left to the closing thread.
        case abandoned
    }

    /// The final commit (`commitFirst`) and the group leave (`leaveGroup`: revocation callbacks
    /// run, with their commit) on a thread of their own, waited for `seconds`. librdkafka's close
    /// can wait forever for a coordinator that is gone: `ConsumerHangTests` kills the broker with
    /// an offset commit in flight, and close then blocks in the revocation's synchronous commit
    /// (librdkafka issues #4674, #3954, #4131: termination waits on the group and its broker
    /// threads with no deadline). Past the bound the handle stays with that thread, which
    /// destroys it if librdkafka ever returns; `destroy()` then does nothing. Call it from the
    /// consumer's own thread (it waits), never from `deinit`.
    func closeConsumer(commitFirst: Bool, leaveGroup: Bool, within bound: Duration) -> ConsumerCloseOutcome {
        let work = BoundedWork()
        let thread = Thread { [self] in
            if commitFirst {
                do throws(KafkaError) { try commit(async: false) } catch { work.commitError.withLock { $0 = error } }
            }
            if leaveGroup { _ = rd_kafka_consumer_close(handle) }
            // The waiter gave up: nobody else may touch the handle, so it ends here.
            if !work.finish(), !destroyed.exchange(true, ordering: .acquiringAndReleasing) {
                if let commitQueue { rd_kafka_queue_destroy(commitQueue) }
                rd_kafka_destroy_flags(handle, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE)
            }
        }
        thread.name = "sluice-kafka-close"
        thread.start()
        let (seconds, attoseconds) = bound.components
        guard work.wait(seconds: Double(seconds) + Double(attoseconds) / 1e18) else {
            closeAbandoned.store(true, ordering: .releasing)
            context.logger.warning(
                "a Kafka consumer did not close within its bound (broker unreachable?): final commit and group leave abandoned, left to finish on their own thread; the group drops this member by session timeout and its uncommitted records are redelivered (librdkafka issues #4674, #3954)",
                metadata: ["kafka.close_wait_ms": "\(bound.saturatingMilliseconds)"])
            return .abandoned
        }
        return .closed(finalCommitError: work.commitError.withLock { $0 })
    }

    /// Work on the handle that librdkafka may never finish, waited for with a bound. Whichever
    /// comes second — the work's end or the waiter giving up — learns it: a waiter that gave up
    /// leaves the rest (the handle's destruction) to the work's thread.
    private final class BoundedWork: Sendable {
        private let condition = NSCondition()
        /// 0 running, 1 finished, 2 abandoned; changed only under `condition`'s lock.
        private let state = Atomic<UInt8>(0)
        /// A close's final commit, when it failed.
        let commitError = Mutex<KafkaError?>(nil)
        /// Called by the work's thread at its end: false when the waiter already gave up.
        func finish() -> Bool {
            condition.lock()
            defer { condition.unlock() }
            guard state.load(ordering: .acquiring) == 0 else { return false }
            state.store(1, ordering: .releasing)
            condition.broadcast()
            return true
        }
        /// True when the work finished within `seconds`; false: it is abandoned.
        func wait(seconds: Double) -> Bool {
            let deadline = Date(timeIntervalSinceNow: seconds)
            condition.lock()
            defer { condition.unlock() }
            while state.load(ordering: .acquiring) == 0, condition.wait(until: deadline) {}
            if state.load(ordering: .acquiring) == 1 { return true }
            state.store(2, ordering: .releasing)
            return false
        }
    }

    /// The handle, handed to the thread that destroys it (no other call follows `destroy`).
    private struct UncheckedHandle: @unchecked Sendable {
        let pointer: OpaquePointer
        init(_ pointer: OpaquePointer) { self.pointer = pointer }
    }

    deinit { destroy() }

    /// Builds a configuration object; the caller owns it until `rd_kafka_new` succeeds.
    private static func makeConf(_ config: KafkaConfig) throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var errbuf = [CChar](repeating: 0, count: 512)
        for (key, value) in config.properties.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, key, value, &errbuf, errbuf.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let shown = KafkaConfig.isSecret(key) ? "***" : value
                throw KafkaError(.config, "invalid Kafka property \(key)=\(shown): \(String(errorBuffer: errbuf))")
            }
        }
        return conf
    }

    // MARK: Consumer

    func subscribe(_ topics: [String]) throws(KafkaError) {
        let list = Self.partitionList(topics.map { (TopicPartition($0, RD_KAFKA_PARTITION_UA), nil) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_subscribe(handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(.subscribe, err, context: "subscribe to \(topics.joined(separator: ","))") }
    }

    /// Assigns partitions at the given offsets (no group membership).
    func assign(_ partitions: [(TopicPartition, Int64?)]) throws(KafkaError) {
        let list = Self.partitionList(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_assign(handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(.subscribe, err, context: "assign \(partitions.map(\.0.description).joined(separator: ","))") }
    }

    /// One consumer poll: a record, nothing within `timeoutMs`, or an error (`isFatal`: the
    /// client cannot go on).
    enum Polled {
        case record(KafkaRecord)
        case none
        case error(KafkaError, isFatal: Bool)
    }

    func consumerPoll(timeoutMs: Int32) -> Polled {
        guard let msg = rd_kafka_consumer_poll(handle, timeoutMs) else { return .none }
        defer { rd_kafka_message_destroy(msg) }
        let m = msg.pointee
        if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            if m.err == RD_KAFKA_RESP_ERR__FATAL {
                var buf = [CChar](repeating: 0, count: 512)
                let code = rd_kafka_fatal_error(handle, &buf, buf.count)
                return .error(KafkaError(.fatal, "\(String(cString: rd_kafka_err2name(code))): \(String(errorBuffer: buf))"), isFatal: true)
            }
            let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "-"
            return .error(KafkaError(.subscribe, m.err, context: "consume \(topic)"), isFatal: false)
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

    /// Polls one message and shows its partition, offset, key and value to `body` in
    /// librdkafka's own buffers (valid only during the call): a replay of a million small
    /// records (state restore) copies nothing it does not keep. Errors are skipped (false, as
    /// for no message): a reader retries until its deadline.
    func consumerPollBorrowing(timeoutMs: Int32, _ body: (Int32, Int64, UnsafeRawBufferPointer?, UnsafeRawBufferPointer?) -> Void) -> Bool {
        guard let msg = rd_kafka_consumer_poll(handle, timeoutMs) else { return false }
        defer { rd_kafka_message_destroy(msg) }
        let m = msg.pointee
        guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else { return false }
        body(m.partition, m.offset, m.key.map { UnsafeRawBufferPointer(start: $0, count: m.key_len) },
             m.payload.map { UnsafeRawBufferPointer(start: $0, count: m.len) })
        return true
    }

    /// Stores offsets for the next commit. nil, or the error other than "revoked meanwhile"
    /// (that partition's work will be redelivered to its new owner).
    func storeOffsets(_ offsets: [TopicPartition: Int64]) -> KafkaError? {
        let list = Self.partitionList(offsets.map { ($0.key, $0.value) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_offsets_store(handle, list)
        if err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__STATE { return nil }
        return KafkaError(.commit, err, context: "offset store")
    }

    /// Asks for a commit of the stored offsets without waiting; its answer goes to the commit
    /// queue (`serveCommitAnswers()`), then to the commit handler like every other commit's.
    func commitAsyncToQueue() throws(KafkaError) {
        guard let commitQueue else { return try commit(async: true) }
        let err = rd_kafka_commit_queue(handle, nil, commitQueue, { _, err, offsets, opaque in
            guard let opaque else { return }
            Unmanaged<RDKafkaClientContext>.fromOpaque(opaque).takeUnretainedValue().commitAnswered(err, offsets)
        }, Unmanaged.passUnretained(context).toOpaque())
        if err != RD_KAFKA_RESP_ERR_NO_ERROR, err != RD_KAFKA_RESP_ERR__NO_OFFSET { throw KafkaError(.commit, err, context: "commit") }
    }

    /// Hands the answers of `commitAsyncToQueue()` that arrived to the commit handler, on the
    /// calling thread, without waiting.
    func serveCommitAnswers() {
        guard let commitQueue, !destroyed.load(ordering: .acquiring) else { return }
        _ = rd_kafka_queue_poll_callback(commitQueue, 0)
    }

    /// Commits the stored offsets; "nothing to commit" is not an error.
    func commit(async: Bool) throws(KafkaError) {
        let err = rd_kafka_commit(handle, nil, async ? 1 : 0)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR, err != RD_KAFKA_RESP_ERR__NO_OFFSET { throw KafkaError(.commit, err, context: "commit") }
    }

    func setPaused(_ parts: [TopicPartition], _ paused: Bool) {
        guard !parts.isEmpty else { return }
        let list = Self.partitionList(parts.map { ($0, nil) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        _ = paused ? rd_kafka_pause_partitions(handle, list) : rd_kafka_resume_partitions(handle, list)
    }

    /// The offsets the group has committed for `parts` (asked of the coordinator); a partition
    /// with no commit is absent.
    func committed(_ parts: [TopicPartition], timeoutMs: Int32) throws(KafkaError) -> [TopicPartition: Int64] {
        let list = Self.partitionList(parts.map { ($0, nil) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_committed(handle, list, timeoutMs)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(.commit, err, context: "committed offsets") }
        var out: [TopicPartition: Int64] = [:]
        for i in 0..<Int(max(0, list.pointee.cnt)) {
            let p = list.pointee.elems[i]
            if let topic = p.topic, p.err == RD_KAFKA_RESP_ERR_NO_ERROR, p.offset >= 0 { out[TopicPartition(String(cString: topic), p.partition)] = p.offset }
        }
        return out
    }

    /// A mock cluster of `brokers` brokers kept by this handle (`KafkaMockCluster`); the caller
    /// destroys it before this client.
    func newMockCluster(brokers: Int32) -> OpaquePointer? {
        rd_kafka_mock_cluster_new(handle, brokers)
    }

    /// The partition ids of `topic`, from the cluster's metadata.
    func partitions(of topic: String, timeoutMs: Int32) throws(KafkaError) -> [Int32] {
        guard let rkt = rd_kafka_topic_new(handle, topic, nil) else { throw KafkaError(.subscribe, "cannot open topic \(topic)") }
        defer { rd_kafka_topic_destroy(rkt) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 0, rkt, &metadata, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(.subscribe, err, context: "metadata of \(topic)") }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt > 0 else { throw KafkaError(.subscribe, "topic \(topic) not found") }
        let t = metadata.pointee.topics[0]
        if t.err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(.subscribe, t.err, context: "metadata of \(topic)") }
        return (0..<Int(t.partition_cnt)).map { t.partitions[$0].id }.sorted()
    }

    /// Messages between the consumer's position and the end of `parts`, from librdkafka's cached
    /// watermarks (no request, any thread); nil until fetches have told both for some partition.
    func cachedLag(_ parts: [TopicPartition]) -> Int64? {
        guard !parts.isEmpty else { return nil }
        let list = Self.partitionList(parts.map { ($0, nil) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        guard rd_kafka_position(handle, list) == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        var total: Int64?
        for i in 0..<Int(list.pointee.cnt) {
            let p = list.pointee.elems[i]
            var low: Int64 = 0
            var high: Int64 = 0
            guard p.offset >= 0, let topic = p.topic,
                  rd_kafka_get_watermark_offsets(handle, topic, p.partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { continue }
            total = (total ?? 0) + max(0, high - p.offset)
        }
        return total
    }

    /// The low and high watermarks of one partition, asked of the broker.
    func watermarks(_ topic: String, _ partition: Int32, timeoutMs: Int32) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, timeoutMs)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(.subscribe, err, context: "watermarks of \(topic)[\(partition)]") }
        return (low, high)
    }

    // MARK: Producer

    enum ProduceResult {
        case enqueued
        /// librdkafka's local queue is full: serve delivery reports and try again.
        case queueFull
        case failed(KafkaError)
    }

    /// Enqueues one record whose delivery report completes `box` (retained until then). The
    /// key is copied; the value is read from the box's array, which stays put while the box lives.
    func produce(topic: String, partition: Int32?, key: [UInt8]?, headers: [KafkaHeader], box: RDKafkaDeliveryBox) -> ProduceResult {
        let opaque = Unmanaged.passRetained(box).toOpaque()
        var hdrs: OpaquePointer?
        if !headers.isEmpty {
            hdrs = rd_kafka_headers_new(headers.count)
            for h in headers {
                if let v = h.value {
                    _ = v.withUnsafeBytes { rd_kafka_header_add(hdrs, h.name, -1, $0.baseAddress, $0.count) }
                } else {
                    _ = rd_kafka_header_add(hdrs, h.name, -1, nil, 0)
                }
            }
        }
        let err: rd_kafka_resp_err_t = Self.withOptionalBytes(box.value) { vptr, vlen in
            Self.withOptionalBytes(key) { kptr, klen in
                sluice_rd_kafka_produce_opaque(handle, topic, partition ?? RD_KAFKA_PARTITION_UA, vptr, vlen, kptr, klen, hdrs, opaque)
            }
        }
        if err == RD_KAFKA_RESP_ERR_NO_ERROR { return .enqueued }  // librdkafka owns the headers now
        if let hdrs { rd_kafka_headers_destroy(hdrs) }
        Unmanaged<RDKafkaDeliveryBox>.fromOpaque(opaque).release()
        return err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? .queueFull : .failed(KafkaError(.produce, err, context: "produce to \(topic)"))
    }

    /// Serves delivery reports (and logs) for up to `timeoutMs`.
    func poll(timeoutMs: Int32) { rd_kafka_poll(handle, timeoutMs) }

    /// Waits up to `timeoutMs` for every queued record to be delivered. false on timeout.
    func flush(timeoutMs: Int32) -> Bool { rd_kafka_flush(handle, timeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR }

    /// Records queued or in flight.
    var outstanding: Int { Int(rd_kafka_outq_len(handle)) }

    /// Fails every queued and in-flight record (their reports come with the next poll).
    func purge() { rd_kafka_purge(handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT) }

    // MARK: Admin

    /// Creates topics through the Admin API; topics that already exist are not an error.
    /// `topicConfig`: topic properties such as `cleanup.policy=compact`, set on every new topic.
    func createTopics(_ names: [String], partitions: Int32, replicationFactor: Int32, topicConfig: [String: String] = [:], timeoutMs: Int32) throws(KafkaError) {
        var errbuf = [CChar](repeating: 0, count: 512)
        var specs: [OpaquePointer?] = []
        defer { for s in specs { rd_kafka_NewTopic_destroy(s) } }
        for name in names {
            guard let spec = rd_kafka_NewTopic_new(name, partitions, replicationFactor, &errbuf, errbuf.count) else {
                throw KafkaError(.admin, "topic \(name): \(String(errorBuffer: errbuf))")
            }
            specs.append(spec)
            for (key, value) in topicConfig.sorted(by: { $0.key < $1.key }) {
                let err = rd_kafka_NewTopic_set_config(spec, key, value)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(.admin, err, context: "topic \(name): config \(key)") }
            }
        }
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMs, &errbuf, errbuf.count)
        specs.withUnsafeMutableBufferPointer { buf in
            rd_kafka_CreateTopics(handle, buf.baseAddress, buf.count, options, queue)
        }
        guard let event = rd_kafka_queue_poll(queue, timeoutMs + 5_000) else { throw KafkaError(.admin, "CreateTopics timed out") }
        defer { rd_kafka_event_destroy(event) }
        if rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(.admin, rd_kafka_event_error(event), context: "CreateTopics")
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else { return }
        var count = 0
        guard let topics = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
        for i in 0..<count {
            let err = rd_kafka_topic_result_error(topics[i])
            if err != RD_KAFKA_RESP_ERR_NO_ERROR, err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
                // The broker's own words (a policy's reason, an authorizer's) say what to fix;
                // librdkafka's text for the code alone does not. Bounded: it is the broker's text.
                let said = rd_kafka_topic_result_error_string(topics[i]).map { String(String(cString: $0).prefix(300)) } ?? ""
                let name = String(cString: rd_kafka_topic_result_name(topics[i]))
                throw KafkaError(.admin, err, context: said.isEmpty ? "create topic \(name)" : "create topic \(name): the broker said \"\(said)\"")
            }
        }
    }

    /// This consumer's member id in its group (local, no request); nil before it joined.
    func memberID() -> String? {
        guard let id = rd_kafka_memberid(handle) else { return nil }
        defer { rd_kafka_mem_free(handle, id) }
        let s = String(cString: id)
        return s.isEmpty ? nil : s
    }

    /// One consumer group as its coordinator describes it: state and members, each with the
    /// partitions assigned to it (the Admin API's DescribeConsumerGroups: FindCoordinator, then
    /// DescribeGroups to the coordinator — Tansu answers ListGroups with no groups).
    func describeGroup(_ group: String, timeoutMs: Int32) throws(KafkaError) -> KafkaGroupDescription {
        var errbuf = [CChar](repeating: 0, count: 512)
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        rd_kafka_AdminOptions_set_request_timeout(options, timeoutMs, &errbuf, errbuf.count)
        group.withCString { name in
            var names: [UnsafePointer<CChar>?] = [name]
            names.withUnsafeMutableBufferPointer { rd_kafka_DescribeConsumerGroups(handle, $0.baseAddress, 1, options, queue) }
        }
        guard let event = rd_kafka_queue_poll(queue, timeoutMs + 2_000) else { throw KafkaError(.admin, "describe group \(group): timed out") }
        defer { rd_kafka_event_destroy(event) }
        if rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(.admin, rd_kafka_event_error(event), context: "describe group \(group)")
        }
        var count = 0
        guard let result = rd_kafka_event_DescribeConsumerGroups_result(event),
              let groups = rd_kafka_DescribeConsumerGroups_result_groups(result, &count), count > 0, let g = groups[0] else {
            throw KafkaError(.admin, "describe group \(group): no description")
        }
        if let error = rd_kafka_ConsumerGroupDescription_error(g) {
            throw KafkaError(.admin, rd_kafka_error_code(error), context: "describe group \(group)")
        }
        var description = KafkaGroupDescription(
            state: String(cString: rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(g))), members: [])
        for i in 0..<rd_kafka_ConsumerGroupDescription_member_count(g) {
            guard let m = rd_kafka_ConsumerGroupDescription_member(g, i) else { continue }
            var partitions: [TopicPartition] = []
            if let assignment = rd_kafka_MemberDescription_assignment(m), let list = rd_kafka_MemberAssignment_partitions(assignment) {
                for j in 0..<Int(max(0, list.pointee.cnt)) {
                    let p = list.pointee.elems[j]
                    if let topic = p.topic { partitions.append(TopicPartition(String(cString: topic), p.partition)) }
                }
            }
            let memberID = rd_kafka_MemberDescription_consumer_id(m).map { String(cString: $0) } ?? ""
            let clientID = rd_kafka_MemberDescription_client_id(m).map { String(cString: $0) } ?? ""
            description.members.append(KafkaGroupMember(
                memberID: memberID, clientID: clientID.isEmpty ? KafkaGroupMember.clientID(fromMemberID: memberID) : clientID,
                host: rd_kafka_MemberDescription_host(m).map { String(cString: $0) } ?? "",
                partitions: partitions.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }.map { "\($0.topic)/\($0.partition)" }))
        }
        return description
    }

    // MARK: C helpers

    /// A librdkafka partition list; the caller destroys it.
    static func partitionList(_ partitions: [(TopicPartition, Int64?)]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))!
        for (tp, offset) in partitions {
            let e = rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition)!
            if let offset { e.pointee.offset = offset }
        }
        return list
    }

    static func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
        guard let bytes else { return body(nil, 0) }
        return bytes.withUnsafeBytes { body($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), $0.count) }
    }

    static var beginning: Int64 { Int64(RD_KAFKA_OFFSET_BEGINNING) }

    /// The loaded librdkafka's version: (major, minor) and its text.
    static var version: (major: Int, minor: Int, text: String) {
        let v = rd_kafka_version()
        return (Int((v >> 24) & 0xFF), Int((v >> 16) & 0xFF), String(cString: rd_kafka_version_str()))
    }
}

/// Rides with a record through librdkafka (its opaque) until the delivery report. It owns the
/// value, so librdkafka sends the bytes without copying them (no RD_KAFKA_MSG_F_COPY).
final class RDKafkaDeliveryBox {
    let completion: KafkaProducer.Completion
    let value: [UInt8]?
    init(_ completion: @escaping KafkaProducer.Completion, value: [UInt8]?) {
        self.completion = completion
        self.value = value
    }
}

/// What a client's C callbacks need from Swift: the client's opaque pointer, retained by the
/// client for its lifetime. Callbacks run on librdkafka threads, hence the lock.
final class RDKafkaClientContext: Sendable {
    let logger: Logger
    private let rebalanceHandler = Mutex<(@Sendable (RebalanceEvent) -> Void)?>(nil)
    private let assignPreparer = Mutex<(@Sendable ([TopicPartition]) -> [TopicPartition: Int64])?>(nil)
    private let revocationCommitHandler = Mutex<(@Sendable ([TopicPartition], Bool) -> Void)?>(nil)
    private let statisticsHandler = Mutex<(@Sendable (Data) -> Void)?>(nil)
    private let commitHandler = Mutex<(@Sendable (OffsetCommitAnswer) -> Void)?>(nil)

    init(logger: Logger) { self.logger = logger }

    func setRebalanceHandler(_ handler: (@Sendable (RebalanceEvent) -> Void)?) {
        rebalanceHandler.withLock { $0 = handler }
    }

    /// Sets what runs in the rebalance callback before partitions are assigned (while librdkafka
    /// has not started fetching them yet); it returns the offsets some of them start from instead
    /// of their committed one.
    func setAssignPreparer(_ body: (@Sendable ([TopicPartition]) -> [TopicPartition: Int64])?) {
        assignPreparer.withLock { $0 = body }
    }

    /// Sets what learns, in the rebalance callback, whether revoked partitions' stored offsets
    /// were committed before they were let go (false: refused, failed, or the assignment was lost).
    func setRevocationCommitHandler(_ body: (@Sendable ([TopicPartition], Bool) -> Void)?) {
        revocationCommitHandler.withLock { $0 = body }
    }

    /// Sets what receives each statistics document (on the polling thread, from inside `poll`).
    func setStatisticsHandler(_ body: (@Sendable (Data) -> Void)?) {
        statisticsHandler.withLock { $0 = body }
    }

    /// Sets what receives each offset commit's answer (on the polling thread, from inside `poll`).
    func setCommitHandler(_ body: (@Sendable (OffsetCommitAnswer) -> Void)?) {
        commitHandler.withLock { $0 = body }
    }

    /// An offset commit's result: the request's error, and each partition's with the offset sent.
    fileprivate func commitAnswered(_ err: rd_kafka_resp_err_t, _ offsets: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        var partitions: [(TopicPartition, offset: Int64, error: Int32)] = []
        if let offsets {
            for i in 0..<Int(max(0, offsets.pointee.cnt)) {
                let p = offsets.pointee.elems[i]
                if let topic = p.topic { partitions.append((TopicPartition(String(cString: topic), p.partition), p.offset, p.err.rawValue)) }
            }
        }
        commitHandler.withLock { $0 }?(OffsetCommitAnswer(requestError: err.rawValue, partitions: partitions))
    }

    fileprivate func statistics(_ document: Data) {
        statisticsHandler.withLock { $0 }?(document)
    }

    private func rebalance(_ event: RebalanceEvent) {
        rebalanceHandler.withLock { $0 }?(event)
    }

    /// Installs the log and error callbacks and makes `self` the conf's opaque pointer.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
            guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
            let context = Unmanaged<RDKafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
            let text = message.map { String(cString: $0) } ?? ""
            let fac = facility.map { String(cString: $0) } ?? ""
            // syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug
            let swiftLevel: Logger.Level = level <= 3 ? .error : level == 4 ? .warning : level <= 6 ? .info : .debug
            context.logger.log(level: swiftLevel, "\(text)", metadata: ["kafka.facility": "\(fac)"])
        }
        rd_kafka_conf_set_error_cb(conf) { rk, err, reason, _ in
            guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
            let context = Unmanaged<RDKafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
            let text = reason.map { String(cString: $0) } ?? ""
            // Transport errors are retried by librdkafka; they are worth a warning, not an alarm.
            let code = rd_kafka_resp_err_t(rawValue: err)
            context.logger.log(level: code == RD_KAFKA_RESP_ERR__FATAL ? .error : .warning, "kafka client error: \(text)",
                               metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(code)))"])
        }
    }

    /// librdkafka's rebalance callback: apply the assignment change (eager or cooperative
    /// protocol), telling Swift of revocations before and of assignments after.
    fileprivate func handleRebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let n = Int(partitions.pointee.cnt)
        let parts = (0..<n).compactMap { i in
            partitions.pointee.elems[i].topic.map { TopicPartition(String(cString: $0), partitions.pointee.elems[i].partition) }
        }
        // NULL when no protocol is known (seen in `make test`: a reader's revocation while it
        // closed crashed the process on the implicit unwrap).
        let cooperative = rd_kafka_rebalance_protocol(rk).map { String(cString: $0) } == "COOPERATIVE"
        // How long the callback held the poll thread (and this member's part of the group's
        // rebalance): the revocation's wait for in-flight work is inside it.
        let started = ContinuousClock.now
        func metadata() -> Logger.Metadata {
            ["kafka.partitions": "\(parts.map(\.description).joined(separator: ","))",
             "kafka.rebalance_ms": "\((ContinuousClock.now - started).wholeMillisecondsForLog)"]
        }
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            // Partitions this member lost without committing their settled work, given back to
            // it now: fetching starts after that work, not at the stale commit.
            let starts = assignPreparer.withLock { $0 }?(parts) ?? [:]
            for i in 0..<n {
                let e = partitions.pointee.elems[i]
                if let start = starts[TopicPartition(String(cString: e.topic), e.partition)] { partitions.pointee.elems[i].offset = start }
            }
            if !starts.isEmpty {
                logger.info("partitions given back start after their settled work", metadata: [
                    "kafka.partitions": "\(starts.map { "\($0.key)@\($0.value)" }.sorted().joined(separator: ","))",
                ])
            }
            if cooperative {
                if let e = rd_kafka_incremental_assign(rk, partitions) { rd_kafka_error_destroy(e) }
            } else {
                rd_kafka_assign(rk, partitions)
            }
            rebalance(.assigned(parts))
            logger.info("partitions assigned", metadata: metadata())
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            rebalance(.revoked(parts))
            // Commit what has settled before another member takes these partitions over,
            // synchronously: once unassigned, librdkafka drops their stored offsets. A lost
            // assignment (session timed out, generation fenced) is someone else's already:
            // a commit would be refused, and the next owner repeats the work anyway.
            let lost = rd_kafka_assignment_lost(rk) != 0
            let commit = lost ? nil : OffsetCommitOutcome(kafkaErrorCode: rd_kafka_commit(rk, nil, 0).rawValue)
            revocationCommitHandler.withLock { $0 }?(parts, commit.map { !$0.isFailure } ?? false)
            if cooperative {
                if let e = rd_kafka_incremental_unassign(rk, partitions) { rd_kafka_error_destroy(e) }
            } else {
                rd_kafka_assign(rk, nil)
            }
            var fields = metadata()
            fields["kafka.commit"] = "\(lost ? "skipped_assignment_lost" : commit?.reason ?? "-")"
            if let commit, commit.isFailure {
                // Their next owner starts from the last commit: it repeats what settled since.
                logger.warning("partitions revoked without committing their settled work: the group refused the commit", metadata: fields)
            } else {
                logger.info("partitions revoked", metadata: fields)
            }
        default:
            logger.error("rebalance failed", metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(err)))"])
            rebalance(.revoked(parts))
            rd_kafka_assign(rk, nil)
        }
    }
}

extension KafkaError {
    /// An error from a librdkafka result code, with librdkafka's text and whether retrying helps.
    init(_ code: Code, _ err: rd_kafka_resp_err_t, context: String) {
        let text = String(cString: rd_kafka_err2str(err))
        let retriable: Bool
        switch err {
        case RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT,
             RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
             RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
             RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
             RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
            retriable = true
        default:
            retriable = false
        }
        self.init(code, "\(context): \(text)", rdkafkaError: err.rawValue, isRetriable: retriable)
    }
}

/// A change of the consumer's partition assignment, reported on the polling thread from
/// inside `poll`. On `revoked`, in-flight work for those partitions can no longer commit.
public enum RebalanceEvent: Sendable {
    case assigned([TopicPartition])
    case revoked([TopicPartition])
}

extension Duration {
    /// Whole milliseconds, for a log field (saturating: never traps).
    fileprivate var wholeMillisecondsForLog: Int64 {
        let (s, atto) = components
        let (ms, overflow) = s.multipliedReportingOverflow(by: 1000)
        return overflow ? (s < 0 ? .min : .max) : ms &+ atto / 1_000_000_000_000_000
    }
}

extension String {
    /// Text of a NUL-terminated C error buffer.
    init(errorBuffer: [CChar]) {
        self = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
