import ArgumentParser

struct ConnectorsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "connectors", abstract: "(not yet implemented)")
    func run() async throws { throw ExitCode.failure }
}
