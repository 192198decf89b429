import ArgumentParser

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "validate", abstract: "(not yet implemented)")
    func run() async throws { throw ExitCode.failure }
}
