import Foundation
import Logging

/// A consumer group as its coordinator describes it.
public struct KafkaGroupDescription: Sendable, Equatable {
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty`, `Dead`, or `Unknown`.
    public var state: String
    public var members: [KafkaGroupMember]
}

/// One member of a consumer group: an instance of Sluice, for a findings group.
public struct KafkaGroupMember: Sendable, Equatable {
    public var memberID: String
    public var clientID: String
    public var host: String
    /// `topic/partition` the group assigned to it, sorted (empty while a rebalance is under way).
    public var partitions: [String]

    public init(memberID: String, clientID: String, host: String, partitions: [String]) {
        self.memberID = memberID
        self.clientID = clientID
        self.host = host
        self.partitions = partitions
    }

    /// The client id a coordinator put in front of a member id (`<client.id>-<UUID>`, as Apache
    /// Kafka and Tansu make them): for coordinators that describe members without it.
    static func clientID(fromMemberID memberID: String) -> String {
        let suffix = 37  // "-" and a 36-character UUID
        guard memberID.utf8.count > suffix else { return "" }
        let cut = memberID.index(memberID.endIndex, offsetBy: -suffix)
        guard memberID[cut] == "-", UUID(uuidString: String(memberID[memberID.index(after: cut)...])) != nil else { return "" }
        return String(memberID[..<cut])
    }

}

/// Describes consumer groups through a client handle of its own, so a slow coordinator never
/// holds up (or is held up by) a consumer's poll loop.
public final class KafkaGroupInspector: Sendable {
    private let client: RDKafkaClient

    public init(config: KafkaConfig, logger: Logger) throws(KafkaError) {
        client = try RDKafkaClient(.producer, config: config.forProducer, logger: logger)
    }

    public func describe(_ group: String, timeoutMs: Int32 = 5_000) throws(KafkaError) -> KafkaGroupDescription {
        try client.describeGroup(group, timeoutMs: timeoutMs)
    }

    /// The offsets `group` has committed for `parts` (a partition never committed is absent), asked
    /// of the group's coordinator (OffsetFetch) by a handle of its own that never subscribes: it
    /// reads the group's commits without joining it, so no member loses a partition to the look.
    public static func committed(group: String, _ parts: [TopicPartition], config: KafkaConfig, logger: Logger,
                                 timeoutMs: Int32 = 10_000) throws(KafkaError) -> [TopicPartition: Int64] {
        var properties = config
        properties["group.id"] = group
        properties["enable.auto.commit"] = "false"
        let reader = try RDKafkaClient(.consumer, config: properties, logger: logger)
        defer { reader.destroy() }
        return try reader.committed(parts, timeoutMs: timeoutMs)
    }

    /// Ends the handle's threads and connections now.
    public func close() { client.destroy() }
}
