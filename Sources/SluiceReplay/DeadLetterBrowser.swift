import Logging
import SluiceKafka

/// Reads the dead-letter topic whole, without joining a group (a browse commits nothing and
/// moves no one's offsets), and turns its records into `DeadLetterRecord`s.
public enum DeadLetterBrowser {
    /// Every letter in `topic` as of now, oldest first per partition.
    public static func read(config: KafkaConfig, topic: String, logger: Logger, timeoutMs: Int32 = 30_000) throws(KafkaError) -> [DeadLetterRecord] {
        let reader = try KafkaTopicReader(config: config, topic: topic, logger: logger, timeoutMs: timeoutMs)
        defer { reader.close() }
        return try reader.readToEnd(timeoutMs: timeoutMs).map(DeadLetterRecord.init)
            .sorted { ($0.partition, $0.offset) < ($1.partition, $1.offset) }
    }

    /// The letters `filter` takes, newest last, at most `limit` of them (the newest), and how many matched in all.
    public static func select(_ letters: [DeadLetterRecord], filter: DeadLetterFilter, limit: Int) -> (letters: [DeadLetterRecord], total: Int) {
        let matched = letters.filter(filter.matches)
        return (Array(matched.suffix(max(0, limit))), matched.count)
    }

    /// Letters per reason (the dashboard's panel, `dlq list --by-reason`).
    public static func countByReason(_ letters: [DeadLetterRecord]) -> [(reason: String, count: Int)] {
        Dictionary(grouping: letters, by: \.reason).map { (reason: $0.key, count: $0.value.count) }
            .sorted { ($1.count, $0.reason) < ($0.count, $1.reason) }
    }
}
