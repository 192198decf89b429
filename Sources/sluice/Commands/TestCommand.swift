import ArgumentParser

struct TestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "test", abstract: "(not yet implemented)")
    func run() async throws { throw ExitCode.failure }
}
