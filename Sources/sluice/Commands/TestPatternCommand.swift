import ArgumentParser

struct TestPatternCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "test-pattern", abstract: "(not yet implemented)")
    func run() async throws { throw ExitCode.failure }
}
