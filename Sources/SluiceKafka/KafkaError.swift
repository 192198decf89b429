/// An error from librdkafka or from Sluice's use of it. The description carries no payloads or
/// secrets; `code` is bounded and fit for a metric label.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public static let config = Code(name: "config")
        public static let clientCreation = Code(name: "client_creation")
        public static let subscribe = Code(name: "subscribe")
        public static let produce = Code(name: "produce")
        public static let delivery = Code(name: "delivery")
        public static let commit = Code(name: "commit")
        public static let admin = Code(name: "admin")
        public static let fatal = Code(name: "fatal")
        public static let version = Code(name: "version")
        public var description: String { name }
    }

    public let code: Code
    public let message: String
    /// librdkafka's error code, when there is one.
    public let rdkafkaError: Int32?
    /// Whether retrying the same operation may succeed (librdkafka's own judgement where known).
    public let isRetriable: Bool

    public init(_ code: Code, _ message: String, rdkafkaError: Int32? = nil, isRetriable: Bool = false) {
        self.code = code
        self.message = message
        self.rdkafkaError = rdkafkaError
        self.isRetriable = isRetriable
    }

    public var description: String { "kafka \(code): \(message)" }
}
