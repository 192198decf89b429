import ArgumentParser
import Foundation
import Logging
import SluiceCore
import SluiceKafka
import SluiceState

/// `sluice silence add|list|expire`: silences live in the compacted `<prefix>silences` topic,
/// which every running instance follows (docs/state.md).
struct SilenceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "silence", abstract: "Add, list and expire silences (state in the silences topic).",
        subcommands: [Add.self, List.self, Expire.self])

    struct Connection: ParsableArguments {
        @Option(name: .long, help: "Kafka bootstrap servers.") var brokers: String
        @Option(name: .customLong("state-topic-prefix"), help: "Prefix of the state topics (default: sluice.).") var prefix = "sluice."
        @Option(name: .customShort("X"), help: ArgumentHelp("librdkafka property key=value; repeatable.", valueName: "key=value")) var properties: [String] = []

        /// Logging is bootstrapped once per process (`expire` reads, then writes: setup runs twice).
        static let logging: Void = LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }

        func setup() throws -> (KafkaConfig, StateTopics, Logger) {
            _ = Self.logging
            var config = KafkaConfig(["bootstrap.servers": brokers])
            for p in properties {
                guard let eq = p.firstIndex(of: "=") else { throw ValidationError("-X expects key=value, got '\(p)'") }
                config[String(p[..<eq])] = String(p[p.index(after: eq)...])
            }
            var logger = Logger(label: "sluice.silence")
            logger.logLevel = .warning
            let topics = StateTopics(prefix: prefix, group: "")
            try KafkaAdmin.createTopics([topics.silences], partitions: 1, topicConfig: ["cleanup.policy": "compact"], config: config, logger: logger)
            return (config, topics, logger)
        }

        func write(_ silence: Silence) async throws {
            let (config, topics, logger) = try setup()
            let producer = try KafkaProducer(config: config.forProducer, logger: logger)
            defer { producer.close() }
            try await producer.send(topic: topics.silences, key: Array(silence.id.utf8), value: SilenceRecords.value(silence))
        }
    }

    static func nowMs() -> EpochMillis { EpochMillis(Date().timeIntervalSince1970 * 1000) }

    static func describe(_ s: Silence, now: EpochMillis) -> String {
        let state = now < s.startsAt ? "pending" : now < s.endsAt ? "active" : "expired"
        func iso(_ ms: EpochMillis) -> String { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(ms) / 1000)) }
        return "\(s.id)  \(state)  \(iso(s.startsAt)) → \(iso(s.endsAt))  by \(s.createdBy): \(s.comment)\(s.notify.map { " (notify \($0))" } ?? "")\n    matchers: \(s.matchers.serialized())"
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hold findings matching an event pattern for a while.")
        @OptionGroup var connection: Connection
        @Option(name: .long, help: "Event pattern (JSON) the held findings match.") var matchers: String
        @Option(name: .long, help: "How long, e.g. 2h (at most --max-duration).") var duration: String
        @Option(name: .customLong("created-by"), help: "Who (required).") var createdBy: String
        @Option(name: .long, help: "Why (required).") var comment: String
        @Option(name: .long, help: "Silence id (default: a new UUID).") var id = UUID().uuidString.lowercased()
        @Option(name: .customLong("max-duration"), help: "Longest silence accepted (default: 7d).") var maxDuration = "7d"
        @Option(name: .long, help: "Connector instance told at expiry how many findings the silence held (optional).") var notify: String?

        func run() async throws {
            guard let d = DurationText.parse(duration), let max = DurationText.parse(maxDuration) else {
                throw ValidationError("--duration and --max-duration take durations such as 30m, 2h or 7d")
            }
            let pattern: JSON
            do { pattern = try JSON.parse(matchers) } catch { throw ValidationError("--matchers is not JSON (\(error.rawValue))") }
            let now = SilenceCommand.nowMs()
            guard d <= .seconds(366 * 86_400) else { throw ValidationError("a silence lasts at most \(maxDuration)") }
            let silence = Silence(id: id, matchers: pattern, startsAt: now, endsAt: now + HoldRuleLoader.milliseconds(d),
                                  createdBy: createdBy, comment: comment, notify: notify)
            let problems = silence.problems(maxDuration: max)
            guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "; ")) }
            try await connection.write(silence)
            print(silence.id)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Active and pending silences (all with --all).")
        @OptionGroup var connection: Connection
        @Flag(name: .long, help: "Also expired silences.") var all = false

        func run() async throws {
            let (config, topics, logger) = try connection.setup()
            let now = SilenceCommand.nowMs()
            let list = try SilenceRecords.readAll(config: config, topics: topics, logger: logger).filter { all || $0.endsAt > now }
            if list.isEmpty { print("no silences") }
            for s in list { print(SilenceCommand.describe(s, now: now)) }
        }
    }

    struct Expire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End a silence now.")
        @OptionGroup var connection: Connection
        @Argument(help: "Silence id, as `list` shows it.") var id: String

        func run() async throws {
            let (config, topics, logger) = try connection.setup()
            guard var s = try SilenceRecords.readAll(config: config, topics: topics, logger: logger).first(where: { $0.id == id }) else {
                FileHandle.standardError.write(Data("no silence \(id)\n".utf8))
                throw ExitCode(1)
            }
            let now = SilenceCommand.nowMs()
            s.endsAt = max(s.startsAt + 1, min(s.endsAt, now))
            try await connection.write(s)
            print("\(s.id): expired")
        }
    }
}
