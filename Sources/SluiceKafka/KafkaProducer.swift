import CRdKafka
import Foundation
import Logging
import Synchronization

/// A librdkafka producer. `produce` may be called from any thread; a dedicated thread serves
/// delivery reports, which call each record's completion exactly once.
public final class KafkaProducer: @unchecked Sendable {
    // @unchecked: rd_kafka_t is thread-safe for produce/poll/flush; the poll thread is the only
    // caller of rd_kafka_poll, and `stopping` is atomic.
    let handle: OpaquePointer
    private let logger: Logger
    private let stopping = StopFlag()
    private let closed = Mutex(false)
    private var pollThread: Thread?

    /// Completion of one produce: nil on success, else the delivery error.
    public typealias Completion = @Sendable (KafkaError?) -> Void

    /// Rides with a record through librdkafka (its opaque) until the delivery report. It owns
    /// the value, so librdkafka can send the bytes without copying them (no RD_KAFKA_MSG_F_COPY):
    /// the array's storage stays put while the box holds it and nothing mutates it.
    final class CompletionBox {
        let completion: Completion
        let value: [UInt8]?
        init(_ completion: @escaping Completion, value: [UInt8]?) {
            self.completion = completion
            self.value = value
        }
    }

    public init(config: KafkaConfig, logger: Logger) throws(KafkaError) {
        self.logger = logger
        var config = config
        // Idempotence keeps retried produce requests from duplicating records on the broker side.
        if config["enable.idempotence"] == nil { config["enable.idempotence"] = "true" }
        if config["linger.ms"] == nil { config["linger.ms"] = "5" }
        let conf = try config.makeNative()
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
            guard let message, let opaque = message.pointee._private else { return }
            let box = Unmanaged<CompletionBox>.fromOpaque(opaque).takeRetainedValue()
            let err = message.pointee.err
            box.completion(err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(.delivery, err, context: "delivery"))
        }
        var errbuf = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errbuf, errbuf.count) else {
            rd_kafka_conf_destroy(conf)  // rd_kafka_new takes the conf only on success
            throw KafkaError(.clientCreation, "cannot create producer: \(String(errorBuffer: errbuf))")
        }
        handle = rk
        let raw = RawHandle(pointer: rk)
        let thread = Thread { [stopping] in
            while !stopping.isSet { rd_kafka_poll(raw.pointer, 100) }
        }
        thread.name = "sluice-producer-poll"
        thread.start()
        pollThread = thread
    }

    /// Enqueues a record. `completion` runs on the producer's poll thread once the broker
    /// acknowledged it (or delivery failed for good). Blocks briefly while librdkafka's local
    /// queue is full, which is the producer's back-pressure.
    public func produce(
        topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: [UInt8]?,
        headers: [KafkaHeader] = [], completion: @escaping Completion
    ) throws(KafkaError) {
        let owner = CompletionBox(completion, value: value)
        let box = Unmanaged.passRetained(owner).toOpaque()
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
        while true {
            // The key is always copied by librdkafka; the value is read from the box's array.
            let err: rd_kafka_resp_err_t = Self.withOptionalBytes(owner.value) { vptr, vlen in
                Self.withOptionalBytes(key) { kptr, klen in
                    sluice_rd_kafka_produce_opaque(handle, topic, partition ?? RD_KAFKA_PARTITION_UA, vptr, vlen, kptr, klen, hdrs, box)
                }
            }
            if err == RD_KAFKA_RESP_ERR_NO_ERROR { return }
            if err == RD_KAFKA_RESP_ERR__QUEUE_FULL, !stopping.isSet {
                usleep(1000)  // the poll thread drains delivery reports meanwhile
                continue
            }
            if let hdrs { rd_kafka_headers_destroy(hdrs) }
            Unmanaged<CompletionBox>.fromOpaque(box).release()
            throw KafkaError(.produce, err, context: "produce to \(topic)")
        }
    }

    /// Produces and waits for the acknowledgement.
    public func send(topic: String, key: [UInt8]? = nil, value: [UInt8]?, headers: [KafkaHeader] = []) async throws(KafkaError) {
        let result: KafkaError? = await withCheckedContinuation { (continuation: CheckedContinuation<KafkaError?, Never>) in
            do throws(KafkaError) {
                try produce(topic: topic, key: key, value: value, headers: headers) { continuation.resume(returning: $0) }
            } catch {
                continuation.resume(returning: error)
            }
        }
        if let result { throw result }
    }

    /// Waits up to `timeoutMs` for every queued record to be delivered. Returns false on timeout.
    @discardableResult
    public func flush(timeoutMs: Int32) -> Bool {
        rd_kafka_flush(handle, timeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR
    }

    /// Records still queued or in flight.
    public var outstanding: Int { Int(rd_kafka_outq_len(handle)) }

    /// Flushes (up to `timeoutMs`), stops the poll thread and destroys the handle. Records not
    /// delivered by then fail their completion with a timeout.
    public func close(timeoutMs: Int32 = 10_000) {
        let already = closed.withLock { c -> Bool in defer { c = true }; return c }
        if already { return }
        if !flush(timeoutMs: timeoutMs) {
            logger.warning("producer closed with undelivered records", metadata: ["kafka.outstanding": "\(outstanding)"])
            rd_kafka_purge(handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
        }
        stopping.set()
        while pollThread?.isFinished == false { usleep(1000) }
        rd_kafka_poll(handle, 0)  // serve purged records' delivery reports
        rd_kafka_destroy(handle)
    }

    deinit { close(timeoutMs: 0) }

    static func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
        guard let bytes else { return body(nil, 0) }
        return bytes.withUnsafeBytes { body($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), $0.count) }
    }
}
