import ArgumentParser
import SluiceConnectors

struct ConnectorsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connectors", abstract: "List the connector types, one a line with a short description.")

    func run() async throws {
        let width = ConnectorRegistry.types.map(\.kind.count).max() ?? 0
        for t in ConnectorRegistry.types {
            print(t.kind.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + t.summary)
        }
    }
}
