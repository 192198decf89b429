import ArgumentParser
import Foundation
import Logging
import SluiceCore
import SluiceKafka
import SluiceReplay
import SluiceRuntime

/// `sluice dlq list|replay`: browse the dead-letter topic and replay what is in it.
struct DLQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Browse the dead-letter topic and replay dead letters.",
        discussion: """
            Dead letters carry why and where they failed (sluice-reason, sluice-route, \
            sluice-connector headers). `list` shows them; `replay` delivers them again:

              sluice dlq list --config sluice.yaml --reason retries_exhausted
              sluice dlq replay --config sluice.yaml --connector jira --since 2026-12-06T08:00:00Z --dry-run
              sluice dlq replay --config sluice.yaml --connector jira --since 2026-12-06T08:00:00Z --rate 5/s

            A replay is named (--name, else a name derived from its flags) and its progress is \
            kept in a compacted topic: running the same replay again delivers only what it has not \
            delivered yet (what failed, or was not reached when it stopped).
            """,
        subcommands: [List.self, Replay.self])

    /// A line for the terminal: letters carry finding ids and target errors, which are hostile
    /// text; control characters (escape sequences, line breaks) become `?`.
    static func printable(_ line: String) -> String {
        String(String.UnicodeScalarView(line.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : $0 }))
    }

    /// Where the dead letters and the configuration are.
    struct Connection: ParsableArguments {
        @Option(name: .long, help: "Run configuration file (YAML): brokers, dead_letter_topic, routes, connectors, kafka.") var config: String?
        @Option(name: .long, help: "Kafka bootstrap servers (host:port,...).") var brokers: String?
        @Option(name: .customLong("dead-letter-topic"), help: "The dead-letter topic (default: dead_letter_topic in the config file).") var deadLetterTopic: String?
        @Option(name: .long, help: "Directory of route files (default: routes).") var routes: String?
        @Option(name: .long, help: "Directory of connector instances (default: connectors).") var connectors: String?
        @Option(name: .customShort("X"), help: ArgumentHelp("librdkafka property key=value; repeatable.", valueName: "key=value")) var properties: [String] = []
        @Option(name: .customLong("log-level"), help: "trace … critical (default: warning).") var logLevel = "warning"

        func settings() throws -> RunSettings {
            var s = RunSettings()
            if let config {
                do { s = try RunSettings.load(configFile: config, environment: ProcessInfo.processInfo.environment) } catch {
                    throw ValidationError(error.description)
                }
            }
            if let brokers { s.brokers = brokers }
            if let deadLetterTopic { s.deadLetterTopic = deadLetterTopic }
            if let routes { s.routesDirectory = routes }
            if let connectors { s.connectorsDirectory = connectors }
            for p in properties {
                guard let eq = p.firstIndex(of: "="), eq != p.startIndex else { throw ValidationError("-X expects key=value, got '\(p)'") }
                s.kafka[String(p[..<eq])] = String(p[p.index(after: eq)...])
            }
            guard s.brokers != nil || s.kafka["bootstrap.servers"] != nil else { throw ValidationError("no brokers: set --brokers or brokers: in the config file") }
            guard s.deadLetterTopic != nil else { throw ValidationError("no dead-letter topic: set --dead-letter-topic or dead_letter_topic: in the config file") }
            return s
        }

        func kafka(_ s: RunSettings) -> KafkaConfig {
            var k = KafkaConfig(s.kafka)
            if let b = s.brokers { k["bootstrap.servers"] = b }
            return k
        }

        func logger() throws -> Logger {
            guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown log level \(logLevel)") }
            LogSetup.bootstrap(level: level, json: false)
            return Logger(label: "sluice.dlq")
        }
    }

    /// Which letters: the same flags for `list` and `replay`.
    struct Selection: ParsableArguments {
        @Option(name: .long, help: ArgumentHelp("Letters written at or after T: ISO 8601 (2026-12-06T08:00:00Z), a date, or an age (2h, 30m).", valueName: "T")) var since: String?
        @Option(name: .long, help: ArgumentHelp("Letters written before T (same forms as --since).", valueName: "T")) var until: String?
        @Option(name: .long, help: "Only this reason (retries_exhausted, permanent_error, shutdown, not_json, ...).") var reason: String?
        @Option(name: .long, help: "Only letters of this route.") var route: String?
        @Option(name: .long, help: "Only letters of this connector instance (`playbooks` for playbook runs).") var connector: String?
        @Option(name: .long, help: ArgumentHelp("Only findings matching this event pattern (JSON, or @file).", valueName: "PATTERN")) var filter: String?

        func make(now: Date = Date()) throws -> DeadLetterFilter {
            var f = DeadLetterFilter(reason: reason, route: route, connector: connector)
            f.sinceMs = try since.map { try Self.time($0, now: now, flag: "--since") }
            f.untilMs = try until.map { try Self.time($0, now: now, flag: "--until") }
            if let filter {
                let text = filter.hasPrefix("@") ? try CLIFiles.read(String(filter.dropFirst()), what: "filter") : filter
                do { try f.setPattern(text) } catch { throw ValidationError("--filter: \(error.description)") }
            }
            return f
        }

        /// The flags as given: the record of how a replay chose its letters, and its default name.
        var text: String {
            [("since", since), ("until", until), ("reason", reason), ("route", route), ("connector", connector), ("filter", filter)]
                .compactMap { k, v in v.map { "--\(k) \($0)" } }.joined(separator: " ")
        }

        static func time(_ text: String, now: Date, flag: String) throws -> Int64 {
            if let ms = DeadLetterRecord.parseTime(text) { return ms }
            if let age = DurationText.parse(text) {
                let ageMs = Double(age.components.seconds) * 1000 + Double(age.components.attoseconds) / 1e15
                return Int64(clamping: now.timeIntervalSince1970 * 1000 - ageMs)
            }
            throw ValidationError("\(flag): '\(text)' is neither an ISO 8601 time nor an age such as 2h")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List dead letters (the newest --limit), with counts by reason.",
            discussion: "Reads the dead-letter topic without joining a consumer group: nothing is committed or moved.")
        @OptionGroup var connection: Connection
        @OptionGroup var selection: Selection
        @Option(name: .long, help: "Show at most this many letters, the newest (default 50).") var limit = 50
        @Flag(name: .long, help: "One JSON object per letter (payload cut to 2 KiB).") var json = false

        func run() async throws {
            let logger = try connection.logger()
            let settings = try connection.settings()
            let filter = try selection.make()
            let letters = try DeadLetterBrowser.read(config: connection.kafka(settings), topic: settings.deadLetterTopic ?? "", logger: logger)
            let (shown, total) = DeadLetterBrowser.select(letters, filter: filter, limit: limit)
            if json {
                for l in shown { print(l.json().serialized()) }
                return
            }
            let chosen = letters.filter(filter.matches)
            print("\(total) dead letter\(total == 1 ? "" : "s") (of \(letters.count) in \(settings.deadLetterTopic ?? ""))"
                  + (total > shown.count ? ", newest \(shown.count) shown" : ""))
            for (reason, count) in DeadLetterBrowser.countByReason(chosen) { print(DLQCommand.printable("  \(reason): \(count)")) }
            for l in shown {
                let at = l.failedAtMs.map(DeadLetterRecord.format) ?? "-"
                print(DLQCommand.printable("\(l.id)  \(at)  \(l.reason)  route=\(l.route ?? "-")  connector=\(l.connector ?? "-")  attempts=\(l.attempts)"
                      + "  finding=\(l.findingID ?? "-")  error=\(String((l.error ?? "-").prefix(120)))"))
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deliver dead letters again: to the target that failed, or (--reroute) through all routes.",
            discussion: """
                By default each letter goes to the one target it failed at (its sluice-route and \
                sluice-connector headers), rendered as the pipeline renders it, through that \
                connector's retries, rate limit and circuit breaker. --reroute matches the finding \
                against the routes as configured now and delivers to every target they name. \
                Letters without a failed target (a finding that was not JSON, say) are skipped \
                unless --reroute is given.

                Deliveries carry `X-Sluice-Replay: NAME`: as a header on every HTTP request \
                (webhook, chat, paging, splunk-hec, elasticsearch, jira, servicenow), a record \
                header on kafka targets, a message attribute on aws-sns and aws-sqs (a batch only \
                when all of it is this replay), a ProductFields entry `sluice/replay: NAME` on \
                aws-securityhub, and on syslog the SD-PARAM `replay="NAME"` (with format: cef, \
                also `cs6Label=sluiceReplay cs6=NAME`); on aws-eventbridge (no headers or \
                attributes) a top-level member `"sluice-replay": NAME` in the event's Detail. \
                Playbook targets are not run: each asks for a fresh approval \
                (`sluice approvals list`), and the instance that owns the run (actions.instance_id) runs it once approved.

                Progress goes to the compacted topic --progress-topic (created when missing), keyed \
                by replay, letter and target: the same replay run again skips what it delivered. \
                A failed delivery is recorded, not dead-lettered again; run the replay again to \
                retry it. Exit status 0 when nothing failed, 1 otherwise.
                """)
        @OptionGroup var connection: Connection
        @OptionGroup var selection: Selection
        @Option(name: .long, help: "Name of the replay (letters, digits, . _ -): the same name resumes it. Default: derived from the flags.") var name: String?
        @Flag(name: .long, help: "Run each letter through all routes again instead of only the target that failed.") var reroute = false
        @Flag(name: .customLong("dry-run"), help: "Print what would be delivered where; deliver and record nothing.") var dryRun = false
        @Option(name: .long, help: ArgumentHelp("Deliveries per second at most, e.g. 10/s (default: no limit beyond the connectors' own).", valueName: "N/s")) var rate: String?
        @Option(name: .customLong("progress-topic"), help: "Compacted topic of replay progress (default: <state prefix>replays, i.e. sluice.replays).") var progressTopic: String?

        func run() async throws {
            let logger = try connection.logger()
            let settings = try connection.settings()
            let filter = try selection.make()
            let selectionText = selection.text + (reroute ? " --reroute" : "")
            let replayName = name ?? ReplayRequest.defaultName(selection: selectionText)
            guard ReplayRequest.isValidName(replayName) else { throw ValidationError("--name: use 1 to 64 letters, digits, '.', '_' or '-'") }
            var ratePerSecond: Double?
            if let rate {
                let number = rate.hasSuffix("/s") ? String(rate.dropLast(2)) : rate
                guard let r = Double(number), r.isFinite, r > 0 else { throw ValidationError("--rate: expected N/s with N > 0, got '\(rate)'") }
                ratePerSecond = r
            }
            let kafka = connection.kafka(settings)
            let topic = progressTopic ?? settings.stateTopicPrefix + "replays"
            let dispatcher: ReplayDispatcher
            do { dispatcher = try ReplayDispatcher(settings: settings, environment: ProcessInfo.processInfo.environment, logger: logger) } catch let error as Diagnostics {
                FileHandle.standardError.write(Data((error.description + "\n").utf8))
                throw ExitCode(1)
            }
            defer { dispatcher.close() }
            let letters = try DeadLetterBrowser.read(config: kafka, topic: settings.deadLetterTopic ?? "", logger: logger)
            let ledger: any ReplayLedger
            var kafkaLedger: KafkaReplayLedger?
            if dryRun {
                // A dry run still shows what an earlier run of the replay did, when there is one.
                kafkaLedger = try? KafkaReplayLedger(config: kafka, topic: topic, logger: logger)
                ledger = kafkaLedger ?? MemoryReplayLedger()
            } else {
                try KafkaReplayLedger.createTopic(topic, config: kafka, logger: logger)
                let opened = try KafkaReplayLedger(config: kafka, topic: topic, logger: logger)
                kafkaLedger = opened
                ledger = opened
            }
            defer { kafkaLedger?.close() }
            let request = ReplayRequest(name: replayName, filter: filter, reroute: reroute, dryRun: dryRun, ratePerSecond: ratePerSecond,
                                        selection: selectionText)
            let engine = ReplayEngine(ledger: ledger, dispatch: dispatcher, logger: logger)
            if dryRun {
                for p in engine.plan(request, letters: letters) {
                    let head = "\(p.letter.id)  \(p.letter.reason)  finding=\(p.letter.findingID ?? "-")"
                    if let skip = p.skip { print(DLQCommand.printable("\(head)  skip: \(skip)")); continue }
                    let done = p.alreadyDone.isEmpty ? "" : "  already done: \(p.alreadyDone.map(\.description).joined(separator: ", "))"
                    print(DLQCommand.printable("\(head)  → \(p.targets.isEmpty ? "nothing left" : p.targets.map(\.description).joined(separator: ", "))\(done)"))
                }
            }
            let interactive = isatty(STDERR_FILENO) == 1
            let summary = try await engine.run(request, letters: letters) { s in
                // A live line on a terminal; in logs, one line per 100 letters and the last.
                if interactive {
                    FileHandle.standardError.write(Data("\r\(s.progressLine)\u{1B}[K".utf8))
                } else if s.status != .running || s.processed % 100 == 0 {
                    FileHandle.standardError.write(Data("\(s.progressLine)\n".utf8))
                }
            }
            if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
            print((dryRun ? "dry run: " : "") + summary.progressLine)
            if summary.failed > 0 { throw ExitCode(1) }
        }
    }
}
