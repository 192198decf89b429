import ArgumentParser
import Foundation
import Logging
import SluiceActions
import SluiceKafka

struct ApprovalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvals", abstract: "List and decide playbook steps waiting for approval (state in the approvals topic).",
        subcommands: [List.self, Approve.self, Deny.self])

    struct Connection: ParsableArguments {
        @Option(name: .long, help: "Kafka bootstrap servers.") var brokers: String
        @Option(name: .long, help: "The approvals topic.") var topic = "sluice.approvals"
        @Option(name: .customShort("X"), help: ArgumentHelp("librdkafka property key=value; repeatable.", valueName: "key=value")) var properties: [String] = []

        func store() throws -> KafkaApprovalStore {
            LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
            var config = KafkaConfig(["bootstrap.servers": brokers])
            for p in properties {
                guard let eq = p.firstIndex(of: "=") else { throw ValidationError("-X expects key=value, got '\(p)'") }
                config[String(p[..<eq])] = String(p[p.index(after: eq)...])
            }
            var logger = Logger(label: "sluice.approvals")
            logger.logLevel = .warning
            return try KafkaApprovalStore(config: config, topic: topic, logger: logger)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Runs waiting for approval (all runs with --all).")
        @OptionGroup var connection: Connection
        @Flag(name: .long, help: "Also decided and finished runs.") var all = false

        func run() async throws {
            let store = try connection.store()
            defer { store.close() }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let runs = store.all().filter { all || $0.status == .pending }
            if runs.isEmpty { print("no runs waiting for approval") }
            for s in runs { print(ApprovalDesk.describe(s, nowMs: now)) }
        }
    }

    /// The arguments of a decision.
    struct Decision: ParsableArguments {
        @Argument(help: "Run id (route:finding-id), as `list` shows it.") var runID: String
        @Option(name: .long, help: "Who decides (audited).") var by = ProcessInfo.processInfo.environment["USER"] ?? "cli"
        @Option(name: .long, help: "Why.") var reason: String?
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve a waiting step; its run goes on.")
        @OptionGroup var connection: Connection
        @OptionGroup var decision: Decision
        func run() async throws { try await ApprovalsCommand.decide(connection, decision, approve: true) }
    }

    struct Deny: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deny a waiting step; its run stops there.")
        @OptionGroup var connection: Connection
        @OptionGroup var decision: Decision
        func run() async throws { try await ApprovalsCommand.decide(connection, decision, approve: false) }
    }

    static func decide(_ connection: Connection, _ decision: Decision, approve: Bool) async throws {
        let store = try connection.store()
        defer { store.close() }
        do {
            let s = try await ApprovalDesk.decide(decision.runID, approve: approve, by: decision.by, reason: decision.reason, store: store)
            print("\(s.runID): \(s.status.rawValue) (step \(s.step))")
        } catch {
            FileHandle.standardError.write(Data("\(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}
