import Logging
import SluiceCore
import SluiceKafka

/// Where state lives in Kafka (docs/state.md). Names derive from the prefix and the consumer
/// group, so two Sluice deployments on one cluster never share state by accident.
public struct StateTopics: Sendable, Equatable {
    public let prefix: String
    public let group: String
    /// Partitions of the repartition and changelog topics: fixed at creation (partition i of
    /// the changelog holds the state of repartition partition i).
    public let partitions: Int32

    // The names, made once: the changelog's is passed with every record written.
    public let repartition: String
    public let changelog: String
    public let inhibit: String
    public let silences: String
    /// The shared guard ledger (`GuardLedger`): one partition, so every instance reads one order.
    public let guards: String

    public init(prefix: String = "sluice.", group: String, partitions: Int32 = 12) {
        self.prefix = prefix
        self.group = group
        self.partitions = partitions
        repartition = "\(prefix)hold.\(group).repartition"
        changelog = "\(prefix)hold.\(group).changelog"
        inhibit = "\(prefix)inhibit.\(group)"
        silences = "\(prefix)silences"
        guards = "\(prefix)guards.\(group)"
    }

    /// Creates the guard ledger topic when missing. Time-based retention (7 days, far beyond the
    /// hour the caps look back) keeps the replay short; it must not be compacted (records have no key).
    public func createGuards(config: KafkaConfig, logger: Logger) throws(KafkaError) {
        try create([guards], partitions: 1, topicConfig: ["retention.ms": "\(7 * 86_400_000)"], config: config, logger: logger)
    }
    /// The state producer's properties: zstd unless the user chose a codec. Every planned
    /// delivery with a state rule crosses the repartition topic with its payload; uncompressed,
    /// the broker spent more CPU on those records than Sluice did (the kafka connector measured
    /// the same on Tansu: 2.6 s of broker CPU per 200,000 findings uncompressed, 0.06 s with zstd).
    public static func producerConfig(_ base: KafkaConfig) -> KafkaConfig {
        var config = base
        if config["compression.type"] == nil, config["compression.codec"] == nil { config["compression.type"] = "zstd" }
        return config
    }

    /// The changelog producer's properties: no compression unless the user chose a codec. Its
    /// records are small (a key's state, ~80 bytes) and compress little, while librdkafka
    /// builds a new zstd context for every batch (a memset of its tables and fresh pages): in a
    /// profile of the dedupe leg that was 1.3 µs of the router's CPU per finding.
    public static func changelogProducerConfig(_ base: KafkaConfig) -> KafkaConfig {
        var config = base
        if config["compression.type"] == nil, config["compression.codec"] == nil { config["compression.type"] = "none" }
        return config
    }

    /// The repartition (and changelog) partition of a state key: CRC-32 of the key modulo the
    /// partition count, what librdkafka's default partitioner (`consistent_random`) picks for a
    /// keyed record. The source produces with this partition explicitly, and its local fast path
    /// asks whether this instance owns the same one: one function, so the two never disagree
    /// (whatever `partitioner` the user set), and instances of earlier versions, which let
    /// librdkafka choose, agree with it.
    public func partition(forKey key: [UInt8]) -> Int32 {
        key.withUnsafeBufferPointer { partition(forKeyBytes: $0) }
    }

    /// The same for a key's UTF-8 (the source's local path: no byte array made per finding).
    public func partition(forKey key: String) -> Int32 {
        var key = key
        return key.withUTF8 { partition(forKeyBytes: $0) }
    }

    private func partition(forKeyBytes key: UnsafeBufferPointer<UInt8>) -> Int32 {
        Int32(truncatingIfNeeded: Self.crc32(key) % UInt32(truncatingIfNeeded: max(1, partitions)))
    }

    /// CRC-32 (IEEE 802.3, reflected; zlib's `crc32`, librdkafka's `rd_crc32`).
    static func crc32(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBufferPointer { crc32($0) } }

    /// CRC-32 (IEEE, reflected), eight bytes a step ("slicing-by-8"): a state key is 40–80
    /// bytes, and the byte-at-a-time loop was 2.3% of the source thread in a profile of the
    /// dedupe leg.
    static func crc32(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        crc32Tables.withUnsafeBufferPointer { t in
            var i = 0
            let n = bytes.count
            while i + 8 <= n {
                let lo = crc ^ (UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
                crc = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int(lo >> 8 & 0xFF)] ^ t[5 * 256 + Int(lo >> 16 & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(bytes[i + 4])] ^ t[2 * 256 + Int(bytes[i + 5])] ^ t[256 + Int(bytes[i + 6])] ^ t[Int(bytes[i + 7])]
                i += 8
            }
            while i < n {
                crc = t[Int((crc ^ UInt32(bytes[i])) & 0xFF)] ^ (crc >> 8)
                i += 1
            }
        }
        return crc ^ 0xFFFF_FFFF
    }

    /// Table k maps a byte to its CRC after k more zero bytes (table 0 is the classic one).
    private static let crc32Tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for n in 0..<256 {
            var c = UInt32(n)
            for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[n] = c
        }
        for k in 1..<8 {
            for n in 0..<256 { t[k * 256 + n] = t[(k - 1) * 256 + n] >> 8 ^ t[Int(t[(k - 1) * 256 + n] & 0xFF)] }
        }
        return t
    }()

    /// The consumer group that owns state keys (one owner per repartition partition).
    public var ownerGroup: String { "\(group).hold" }

    /// Creates the topics that are missing: compacted changelogs, the repartition topic with a
    /// short retention (its records matter only until their owner processed them).
    /// `keyed`: also the repartition and changelog topics (routes with state rules); `inhibit`:
    /// the inhibition topic. The silences topic always: any run may be silenced. Each call costs
    /// a client and a round trip at start-up, so only what is used is created.
    public func create(keyed: Bool = true, inhibit withInhibit: Bool = true, config: KafkaConfig, logger: Logger) throws(KafkaError) {
        if keyed {
            try create([repartition], partitions: partitions, topicConfig: ["retention.ms": "\(7 * 86_400_000)"], config: config, logger: logger)
            try create([changelog], partitions: partitions, topicConfig: ["cleanup.policy": "compact"], config: config, logger: logger)
        }
        try create(withInhibit ? [inhibit, silences] : [silences], partitions: 1, topicConfig: ["cleanup.policy": "compact"], config: config, logger: logger)
    }

    private func create(_ names: [String], partitions: Int32, topicConfig: [String: String], config: KafkaConfig, logger: Logger) throws(KafkaError) {
        do {
            try KafkaAdmin.createTopics(names, partitions: partitions, topicConfig: topicConfig, config: config, logger: logger)
        } catch {
            // A broker that rejects the topic properties (some Kafka-compatible ones do) still gets
            // the topics; compaction then only bounds restore time less well.
            logger.warning("state topics created without their properties", metadata: ["kafka.topics": "\(names.joined(separator: ","))", "error": "\(error.message)"])
            try KafkaAdmin.createTopics(names, partitions: partitions, config: config, logger: logger)
        }
    }
}
