import ArgumentParser

struct BacktestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "backtest", abstract: "(not yet implemented)")
    func run() async throws { throw ExitCode.failure }
}
