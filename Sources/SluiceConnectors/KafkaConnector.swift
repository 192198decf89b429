import Logging
import SluiceCore
import SluiceKafka

/// `kafka`: produces each payload to a topic, keyed by the finding id so that all updates of
/// one finding land in one partition, in order (a retried request may repeat or reorder a
/// record unless `enable.idempotence` is set: see `make`). A record produced by a dead-letter
/// replay has the header `X-Sluice-Replay: NAME`.
///
/// ```yaml
/// name: findings-archive
/// type: kafka
/// topic: findings.routed          # required
/// brokers: kafka-1:9092           # default: the brokers Sluice consumes from
/// properties:                     # any librdkafka producer property
///   compression.type: lz4         # default zstd
///   enable.idempotence: "true"    # default false (costs CPU: see `make`)
/// ```
public final class KafkaConnector: Connector {
    public struct Configuration: Sendable {
        public var topic: String
        public var brokers: String?
        public var properties: [(String, String)]
    }

    let topic: String
    let producer: KafkaProducer

    init(topic: String, producer: KafkaProducer) {
        self.topic = topic
        self.producer = producer
    }

    public func deliver(_ delivery: Delivery, completion: @escaping @Sendable (DeliveryOutcome) -> Void) {
        do {
            try producer.produce(topic: topic, key: delivery.key, value: delivery.payload, headers: Self.headers(for: delivery)) { error in
                guard let error else { return completion(.delivered) }
                completion(error.isRetriable ? .retryable(error.description) : .permanent(error.description))
            }
        } catch {
            completion(error.isRetriable ? .retryable(error.description) : .permanent(error.description))
        }
    }

    public func shutdown() { producer.close() }

    /// A replayed delivery's record carries `X-Sluice-Replay: NAME`, as HTTP targets see it
    /// (`ReplayMarking`); a live one carries no header, as before.
    static func headers(for delivery: Delivery) -> [KafkaHeader] {
        delivery.replay.map { [KafkaHeader(ReplayMarking.header, $0)] } ?? []
    }
}

extension KafkaConnector: ConnectorType {
    /// librdkafka batches and pipelines produce requests itself: many attempts in flight are cheap,
    /// and the pipeline's in-flight cap bounds them anyway.
    public static let defaultConcurrency = 10_000
    public static let kind = "kafka"
    public static let summary = "produce findings to a Kafka topic"
    public static let payloadFormat = PayloadFormat.json
    public static func needsRunBrokers(_ c: Configuration) -> Bool {
        c.brokers == nil && !c.properties.contains { $0.0 == "bootstrap.servers" || $0.0 == "metadata.broker.list" }
    }

    public static func configuration(from r: MappingReader) -> Configuration? {
        let topic = r.string("topic", required: true)
        let brokers = r.string("brokers")
        let properties = r.stringMap("properties") ?? []
        guard let topic else { return nil }
        return Configuration(topic: topic, brokers: brokers, properties: properties)
    }

    public static func make(name: String, configuration c: Configuration, context: ConnectorContext) throws -> any Connector {
        let config = try producerConfig(name: name, configuration: c, run: context.kafka.forProducer)
        let producer = try KafkaProducer(config: config, logger: context.logger.with("connector.name", name))
        return KafkaConnector(topic: c.topic, producer: producer)
    }

    /// The producer's librdkafka properties: the run's, then this connector's defaults, then its
    /// `brokers:` and `properties:` (pure: tested without a broker).
    static func producerConfig(name: String, configuration c: Configuration, run: KafkaConfig) throws(KafkaError) -> KafkaConfig {
        var config = run
        // Findings are JSON that repeats itself from record to record: zstd shrinks a batch
        // about tenfold, which costs the producer less CPU than it saves the broker (measured
        // on Tansu: 200,000 findings took 0.6 s of producer CPU and 0.06 s of broker CPU with
        // zstd, 1.0 s and 2.6 s uncompressed, 0.8 s and 0.5 s with lz4).
        if config["compression.type"] == nil, config["compression.codec"] == nil { config["compression.type"] = "zstd" }
        // Not idempotent unless asked (`properties: {enable.idempotence: "true"}`). An idempotent
        // librdkafka producer allows 5 requests in flight per partition; while a partition has a
        // ready batch and 5 unacknowledged requests, its broker thread polls with a zero timeout
        // until an ack comes (rd_kafka_toppar_producer_serve sets the wake-up before the in-flight
        // check). Measured in the bench's kafka leg (perf): that thread took 46% of the router's
        // CPU; without idempotence the router used about a third less CPU per finding. The
        // delivery stays at-least-once either way (acks=all, librdkafka retries, the lane's own
        // retries produce anew and could never be deduplicated by sequence numbers anyway); what
        // idempotence adds is no broker-side duplicate and no reordering after a retried request.
        if config["enable.idempotence"] == nil { config["enable.idempotence"] = "false" }
        if let brokers = c.brokers { config["bootstrap.servers"] = brokers }
        for (k, v) in c.properties { config[k] = v }
        // Without brokers librdkafka accepts every produce and fails each one only at
        // message.timeout.ms (5 min): refuse at start instead.
        guard config["bootstrap.servers"] != nil else {
            throw KafkaError(.config, "connector '\(name)' (kafka): no brokers: set brokers: in its file, or give the run --brokers")
        }
        return config
    }
}

extension Logger {
    /// A copy with one more metadata value.
    public func with(_ key: String, _ value: String) -> Logger {
        var l = self
        l[metadataKey: key] = "\(value)"
        return l
    }
}
