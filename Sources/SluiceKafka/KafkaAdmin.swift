import CRdKafka
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
        let producer = try KafkaProducer(config: config, logger: logger)
        defer { producer.close(timeoutMs: 0) }
        let rk = producer.handle
        var errbuf = [CChar](repeating: 0, count: 512)
        var specs: [OpaquePointer?] = []
        defer { for s in specs { rd_kafka_NewTopic_destroy(s) } }
        for name in names {
            guard let spec = rd_kafka_NewTopic_new(name, partitions, replicationFactor, &errbuf, errbuf.count) else {
                throw KafkaError(.admin, "topic \(name): \(String(errorBuffer: errbuf))")
            }
            specs.append(spec)
            for (k, v) in topicConfig.sorted(by: { $0.key < $1.key }) {
                let err = rd_kafka_NewTopic_set_config(spec, k, v)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(.admin, err, context: "topic \(name): config \(k)") }
            }
        }
        let queue = rd_kafka_queue_new(rk)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMs, &errbuf, errbuf.count)
        specs.withUnsafeMutableBufferPointer { buf in
            rd_kafka_CreateTopics(rk, buf.baseAddress, buf.count, options, queue)
        }
        guard let event = rd_kafka_queue_poll(queue, timeoutMs + 5_000) else {
            throw KafkaError(.admin, "CreateTopics timed out")
        }
        defer { rd_kafka_event_destroy(event) }
        if rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(.admin, rd_kafka_event_error(event), context: "CreateTopics")
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else { return }
        var count = 0
        guard let topics = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
        for i in 0..<count {
            let t = topics[i]
            let err = rd_kafka_topic_result_error(t)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR, err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
                let name = String(cString: rd_kafka_topic_result_name(t))
                throw KafkaError(.admin, err, context: "create topic \(name)")
            }
        }
    }
}
