import ArgumentParser
import SluiceCore
import SluiceGuardDuty
import SluiceKafka

@main
struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Route security findings from Kafka to the people and automations that act on them.",
        discussion: """
            Sluice consumes findings (Amazon GuardDuty, Security Hub in ASFF or OCSF, OCSF detection findings, Falco) from Kafka topics, matches them \
            against the routes in routes/ and delivers them through the connector instances in \
            connectors/. A message's offset is committed only when all its deliveries succeeded or \
            were written to the dead-letter topic.
            """,
        version: SluiceVersion.string,
        subcommands: [
            RunCommand.self, ValidateCommand.self, TestCommand.self, TestPatternCommand.self,
            BacktestCommand.self, ConnectorsCommand.self, PublishCommand.self, ActionsCommand.self, ActionCommand.self, ApprovalsCommand.self, SilenceCommand.self, DLQCommand.self,
        ]
    )

    /// GuardDuty's filter criteria and finding model are what the engine learns from here, the top.
    static func main() async {
        GuardDutyRegistration.register()
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// `sluice --version`: the release, the commit it was built from (`BuildInfo`, written by the
/// BuildInfoPlugin) and the librdkafka the process loaded (which may differ from the one built against).
enum SluiceVersion {
    static let release = "0.1.0"
    static var string: String {
        "sluice \(release) (commit \(BuildInfo.commit)), librdkafka \(LibrdkafkaVersion.string)"
    }
}
