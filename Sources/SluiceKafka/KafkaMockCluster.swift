import CRdKafka
import Logging

/// librdkafka's in-process mock cluster (`rdkafka_mock.h`): real brokers' protocol, groups and
/// commits inside this process, with errors injected on demand — what a real broker answers only
/// under a race (a commit refused because the group moved on) becomes a test step. For tests;
/// nothing in a run uses it.
public final class KafkaMockCluster: Sendable {
    /// The handle the cluster is created with (librdkafka's bookkeeping); it outlives the cluster.
    private let owner: RDKafkaClient
    private let cluster: RDKafkaMockClusterHandle
    /// `bootstrap.servers` for clients of this cluster.
    public let bootstrapServers: String

    /// Kafka protocol requests whose answers can be replaced by errors (the protocol's API keys).
    public enum Request: Int16, Sendable {
        case offsetCommit = 8
        case offsetFetch = 9
        case joinGroup = 11
        case heartbeat = 12
        case syncGroup = 14
    }

    public init(brokers: Int32 = 1, logger: Logger) throws(KafkaError) {
        // No brokers of its own: the handle only keeps the cluster's books, it never connects.
        owner = try RDKafkaClient(.producer, config: KafkaConfig(), logger: logger)
        guard let handle = owner.newMockCluster(brokers: brokers) else { throw KafkaError(.clientCreation, "cannot create a mock cluster") }
        cluster = RDKafkaMockClusterHandle(handle)
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(handle))
    }

    deinit {
        cluster.destroy()
        owner.destroy()
    }

    public func createTopic(_ name: String, partitions: Int32) throws(KafkaError) {
        let err = rd_kafka_mock_topic_create(cluster.pointer, name, partitions, 1)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(.admin, err, context: "mock topic \(name)") }
    }

    /// The next `codes.count` requests of kind `request` are answered with these Kafka error
    /// codes, in order (the protocol's numbers: 22 ILLEGAL_GENERATION, 27 REBALANCE_IN_PROGRESS…).
    public func failNext(_ request: Request, with codes: [Int32]) {
        let errors = codes.map { rd_kafka_resp_err_t(rawValue: $0) }
        errors.withUnsafeBufferPointer { rd_kafka_mock_push_request_errors_array(cluster.pointer, request.rawValue, $0.count, $0.baseAddress) }
    }
}

/// The cluster's C handle. @unchecked: librdkafka's mock calls lock the cluster internally; the
/// pointer itself never changes, and `destroy` runs once, from the owner's deinit.
final class RDKafkaMockClusterHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    func destroy() { rd_kafka_mock_cluster_destroy(pointer) }
}
