import Foundation
import SluiceTestSupport

/// The `sluice` binary built beside the test bundle, run to its end as a user would run it.
enum SluiceCommand {
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sluice")
    }

    /// Exit status and combined stdout and stderr.
    static func run(_ arguments: [String], in directory: URL) async throws -> (Int32, String) {
        try await CommandRun.result(of: binary, arguments, in: directory)
    }
}
