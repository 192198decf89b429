import ArgumentParser

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "(not yet implemented)")
    func run() async throws { throw ExitCode.failure }
}
