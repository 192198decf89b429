import Foundation
import Logging
import Synchronization

/// A librdkafka producer. `produce` may be called from any thread; a dedicated thread serves
/// delivery reports, which call each record's completion exactly once.
public final class KafkaProducer: Sendable {
    private let client: RDKafkaClient
    private let logger: Logger
    private let closed = Mutex(false)
    private let pollThread = PollThreadFlags()

    /// Shared with the poll thread: stop it, and know when it has exited (it holds the client
    /// until then).
    private final class PollThreadFlags: Sendable {
        let stopping = Atomic<Bool>(false)
        let done = Atomic<Bool>(false)
        var isStopping: Bool { stopping.load(ordering: .acquiring) }
        func stop() { stopping.store(true, ordering: .releasing) }
    }

    /// Completion of one produce: nil on success, else the delivery error.
    public typealias Completion = @Sendable (KafkaError?) -> Void

    public init(config: KafkaConfig, logger: Logger) throws(KafkaError) {
        self.logger = logger
        var config = config
        // Idempotence keeps retried produce requests from duplicating records on the broker side.
        if config["enable.idempotence"] == nil { config["enable.idempotence"] = "true" }
        if config["linger.ms"] == nil { config["linger.ms"] = "5" }
        let client = try RDKafkaClient(.producer, config: config, logger: logger, deliveryReports: true)
        self.client = client
        // The thread holds the client, not the producer: dropping the producer never waits for it.
        let thread = Thread { [pollThread] in
            while !pollThread.isStopping { client.poll(timeoutMs: 100) }
            pollThread.done.store(true, ordering: .releasing)
        }
        thread.name = "sluice-producer-poll"
        thread.start()
    }

    /// Enqueues a record. `completion` runs on the producer's poll thread once the broker
    /// acknowledged it (or delivery failed for good). Blocks briefly while librdkafka's local
    /// queue is full, which is the producer's back-pressure.
    public func produce(
        topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: [UInt8]?,
        headers: [KafkaHeader] = [], completion: @escaping Completion
    ) throws(KafkaError) {
        guard !pollThread.isStopping else { throw KafkaError(.produce, "produce to \(topic): the producer is closed") }
        let box = RDKafkaDeliveryBox(completion, value: value)
        while true {
            switch client.produce(topic: topic, partition: partition, key: key, headers: headers, box: box) {
            case .enqueued:
                return
            case .queueFull where !pollThread.isStopping:
                usleep(1000)  // the poll thread drains delivery reports meanwhile
            case .queueFull:
                throw KafkaError(.produce, "produce to \(topic): the producer is closed", isRetriable: true)
            case .failed(let error):
                throw error
            }
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
    public func flush(timeoutMs: Int32) -> Bool { client.flush(timeoutMs: timeoutMs) }

    /// Records still queued or in flight.
    public var outstanding: Int { client.outstanding }

    /// Flushes (up to `timeoutMs`), stops the poll thread and waits for it, then destroys the
    /// handle (up to `RDKafkaClient.producerDestroyWait` more). Records not delivered by then fail
    /// their completion. Idempotent; blocks, so call it at shutdown.
    public func close(timeoutMs: Int32 = 10_000) {
        let already = closed.withLock { c -> Bool in defer { c = true }; return c }
        if already { return }
        if !flush(timeoutMs: timeoutMs) {
            logger.warning("producer closed with undelivered records", metadata: ["kafka.outstanding": "\(outstanding)"])
            client.purge()
        }
        pollThread.stop()
        while !pollThread.done.load(ordering: .acquiring) { usleep(1000) }
        client.poll(timeoutMs: 0)  // serve purged records' delivery reports
        client.destroy()
    }

    /// Not closed: stop the poll thread and let it drop the client (no flush, no wait here).
    deinit { pollThread.stop() }
}
