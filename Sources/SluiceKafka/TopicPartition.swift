/// A partition of a topic.
public struct TopicPartition: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// One consumed record, copied out of librdkafka's buffers.
public struct KafkaRecord: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    /// nil for a NULL payload (a tombstone or a producer bug): it is dead-lettered, never a crash.
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// Producer or log-append time, milliseconds since the epoch, when the broker gave one.
    public var timestampMs: Int64?

    public init(topic: String, partition: Int32, offset: Int64, key: [UInt8]? = nil, value: [UInt8]?, headers: [KafkaHeader] = [], timestampMs: Int64? = nil) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMs = timestampMs
    }

    public var topicPartition: TopicPartition { TopicPartition(topic, partition) }
}

/// A record header. Values are bytes; Sluice writes UTF-8 text.
public struct KafkaHeader: Sendable, Equatable {
    public var name: String
    public var value: [UInt8]?

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = Array(value.utf8)
    }

    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    public var stringValue: String? { value.map { String(decoding: $0, as: UTF8.self) } }
}
