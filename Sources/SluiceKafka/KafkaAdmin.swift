import Logging

/// Topic administration through the standard Admin API (works on Apache Kafka and Tansu alike):
/// the demo, the benchmarks and the tests create their topics with it.
public enum KafkaAdmin {
    /// Creates topics; topics that already exist are not an error. `topicConfig` sets topic
    /// properties such as `cleanup.policy=compact`.
    public static func createTopics(
        _ names: [String], partitions: Int32 = 1, replicationFactor: Int32 = 1, topicConfig: [String: String] = [:],
        config: KafkaConfig, logger: Logger, timeoutMs: Int32 = 30_000
    ) throws(KafkaError) {
        // A producer handle serves admin requests; their results come on a queue of their own.
        let client = try RDKafkaClient(.producer, config: config, logger: logger)
        try client.createTopics(names, partitions: partitions, replicationFactor: replicationFactor, topicConfig: topicConfig, timeoutMs: timeoutMs)
    }
}
