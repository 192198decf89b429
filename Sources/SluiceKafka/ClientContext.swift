import CRdKafka
import Logging
import Synchronization

/// What a librdkafka client's C callbacks need from Swift: passed as the client's opaque
/// pointer, retained for the client's lifetime. Callbacks run on librdkafka threads, hence the lock.
final class ClientContext: Sendable {
    let logger: Logger
    private let rebalanceHandler = Mutex<(@Sendable (RebalanceEvent) -> Void)?>(nil)

    init(logger: Logger) { self.logger = logger }

    func setRebalanceHandler(_ handler: (@Sendable (RebalanceEvent) -> Void)?) {
        rebalanceHandler.withLock { $0 = handler }
    }

    func rebalance(_ event: RebalanceEvent) {
        rebalanceHandler.withLock { $0 }?(event)
    }

    /// Installs the log and error callbacks and makes `self` the conf's opaque pointer.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
            guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
            let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
            let text = message.map { String(cString: $0) } ?? ""
            let fac = facility.map { String(cString: $0) } ?? ""
            // syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug
            let swiftLevel: Logger.Level = level <= 3 ? .error : level == 4 ? .warning : level <= 6 ? .info : .debug
            context.logger.log(level: swiftLevel, "\(text)", metadata: ["kafka.facility": "\(fac)"])
        }
        rd_kafka_conf_set_error_cb(conf) { rk, err, reason, _ in
            guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
            let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
            let text = reason.map { String(cString: $0) } ?? ""
            // Transport errors are retried by librdkafka; they are worth a warning, not an alarm.
            let code = rd_kafka_resp_err_t(rawValue: err)
            let fatal = code == RD_KAFKA_RESP_ERR__FATAL
            context.logger.log(level: fatal ? .error : .warning, "kafka client error: \(text)",
                               metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(code)))"])
        }
    }
}

/// A change of the consumer's partition assignment, reported on the polling thread from
/// inside `poll`. On `revoked`, in-flight work for those partitions can no longer commit.
public enum RebalanceEvent: Sendable {
    case assigned([TopicPartition])
    case revoked([TopicPartition])
}

extension Array where Element == TopicPartition {
    init(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let n = Int(list.pointee.cnt)
        var out: [TopicPartition] = []
        out.reserveCapacity(n)
        for i in 0..<n {
            let e = list.pointee.elems[i]
            out.append(TopicPartition(String(cString: e.topic), e.partition))
        }
        self = out
    }
}

/// Builds a librdkafka partition list; the caller destroys it.
func makePartitionList(_ partitions: [(TopicPartition, Int64?)]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
    let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))!
    for (tp, offset) in partitions {
        let e = rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition)!
        if let offset { e.pointee.offset = offset }
    }
    return list
}
