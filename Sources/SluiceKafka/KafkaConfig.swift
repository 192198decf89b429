/// librdkafka configuration: any property passes through (`kafka:` map in sluice.yaml, `-X key=value`
/// on the command line), so SASL, TLS and every tuning knob need no code in Sluice.
/// Values of properties that hold secrets are never printed (see `redacted`).
public struct KafkaConfig: Sendable {
    public var properties: [String: String]

    public init(_ properties: [String: String] = [:]) { self.properties = properties }

    /// The same properties without consumer-only ones (`group.id`, `session.timeout.ms`, …):
    /// one `kafka:` map configures every client, and a producer given consumer properties
    /// warns about each of them.
    public var forProducer: KafkaConfig {
        KafkaConfig(properties.filter { !KafkaConfig.consumerOnly($0.key) })
    }

    /// The keys librdkafka 2.8 warns about on a producer (each checked). Not
    /// `allow.auto.create.topics`: a producer reads it too (its default there is true).
    static func consumerOnly(_ key: String) -> Bool {
        let exact: Set<String> = [
            "group.id", "group.instance.id", "group.protocol", "group.remote.assignor", "session.timeout.ms",
            "heartbeat.interval.ms", "partition.assignment.strategy", "max.poll.interval.ms", "auto.offset.reset",
            "enable.auto.commit", "auto.commit.interval.ms", "enable.auto.offset.store", "isolation.level",
            "check.crcs", "enable.partition.eof", "queued.min.messages",
            "queued.max.messages.kbytes", "coordinator.query.interval.ms", "group.protocol.type", "consume.callback.max.messages",
        ]
        return exact.contains(key) || key.hasPrefix("fetch.")
    }

    public subscript(key: String) -> String? {
        get { properties[key] }
        set { properties[key] = newValue }
    }

    /// Properties whose values must never reach a log line.
    public static func isSecret(_ key: String) -> Bool {
        let k = key.lowercased()
        return k.contains("password") || k.contains("secret") || k.contains("key.pem") || k.hasSuffix(".key")
            || k.contains("sasl.oauthbearer.config") || k.contains("token")
    }

    /// The properties with secret values replaced by `***`, for logs.
    public var redacted: [String: String] {
        properties.reduce(into: [:]) { $0[$1.key] = KafkaConfig.isSecret($1.key) ? "***" : $1.value }
    }
}

/// The librdkafka the process loaded, checked at start: older than 2.1 mis-parses tagged fields.
public enum LibrdkafkaVersion {
    public static let minimum = (major: 2, minor: 1)

    public static var string: String { RDKafkaClient.version.text }

    /// Throws when the loaded librdkafka is older than 2.1, with a message saying how to fix it.
    public static func check() throws(KafkaError) {
        let (major, minor, _) = RDKafkaClient.version
        if (major, minor) < (minimum.major, minimum.minor) {
            throw KafkaError(
                .version,
                "librdkafka \(string) is loaded but Sluice needs >= 2.1 (older versions cannot read brokers' tagged fields). Run scripts/setup, which builds a current librdkafka into /usr/local."
            )
        }
    }
}
