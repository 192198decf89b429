import ArgumentParser
import Foundation
import SluiceRuntime

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check route and connector files; print each problem as path:line:column: message.",
        discussion: "Exit status 0 when everything is valid, 1 otherwise. Nothing is connected or sent.")

    @Option(name: .long, help: "Directory of route files.") var routes = "routes"
    @Option(name: .long, help: "Directory of connector instances.") var connectors = "connectors"

    func run() async throws {
        do {
            let loaded = try LoadedConfiguration.load(
                routesDirectory: routes, connectorsDirectory: connectors, environment: ProcessInfo.processInfo.environment)
            print("ok: \(loaded.routes.count) routes (\(loaded.table.routes.count) enabled), \(loaded.connectors.count) connectors, \(loaded.playbooks.count) playbooks")
        } catch {
            print(error.description)
            throw ExitCode(1)
        }
    }
}
