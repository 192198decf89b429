import ArgumentParser
import Foundation
import SluiceCore
import SluiceRuntime

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check route and connector files (and a run configuration); print each problem as path:line:column: message.",
        discussion: """
            Every problem of every file is reported in one pass, each where it is: a pattern's \
            errors at their operators, an unknown target at its `targets:` entry. Warnings \
            (`path:line:column: warning: …`) flag what is valid but probably wrong: a field a \
            GuardDuty finding cannot have, a string where the finding has a number, a template \
            variable that renders empty, an empty routes directory. With --config, the run \
            configuration file is checked too, and its `routes:` and `connectors:` directories \
            are the ones checked (unless --routes / --connectors are given). Exit status 0 when \
            there are no errors (warnings allowed), 1 otherwise. Nothing is connected or sent.
            """)

    @Option(name: .long, help: "Directory of route files (default: routes).") var routes: String?
    @Option(name: .long, help: "Directory of connector instances (default: connectors).") var connectors: String?
    @Option(name: .long, help: ArgumentHelp("Run configuration file (sluice.yaml) to check too.", valueName: "file")) var config: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var settings = RunSettings()
        var problems: [Diagnostic] = []
        if let config {
            do { settings = try RunSettings.load(configFile: config, environment: environment) } catch { problems += error.items }
        }
        let routesDirectory = routes ?? settings.routesDirectory
        let connectorsDirectory = connectors ?? settings.connectorsDirectory
        do {
            let loaded = try LoadedConfiguration.load(
                routesDirectory: routesDirectory, connectorsDirectory: connectorsDirectory, environment: environment)
            // A connector that needs the run's brokers stops `sluice run` when there are none.
            let runHasBrokers = settings.brokers != nil || settings.kafka["bootstrap.servers"] != nil
            // Likewise an aws-* instance with no region, or (offline) no credentials source.
            let warnings = loaded.warnings + (loaded.connectorsNeedingBrokers(runHasBrokers: runHasBrokers)
                + loaded.connectorsMissingAWSPrerequisites(offline: true, environment: environment)).map(\.asWarning)
            for d in Self.sorted(problems + warnings) { print(d.description) }
            if !problems.isEmpty { throw ExitCode(1) }
            let warned = warnings.isEmpty ? "" : ", \(warnings.count) warning\(warnings.count == 1 ? "" : "s")"
            print("ok: \(loaded.routes.count) routes (\(loaded.table.routes.count) enabled), \(loaded.connectors.count) connectors, \(loaded.playbooks.count) playbooks\(config.map { ", run configuration \($0)" } ?? "")\(warned)")
        } catch let error as Diagnostics {
            for d in Self.sorted(problems + error.items) { print(d.description) }
            throw ExitCode(1)
        }
    }

    /// File by file, top to bottom, so a problem is found where the eye is.
    static func sorted(_ items: [Diagnostic]) -> [Diagnostic] {
        items.enumerated().sorted { a, b in
            (a.element.path, a.element.line, a.element.column, a.offset) < (b.element.path, b.element.line, b.element.column, b.offset)
        }.map(\.element)
    }
}
