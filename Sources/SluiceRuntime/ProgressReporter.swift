import Logging
import ServiceLifecycle

/// A one-line progress report every `interval` while the run lasts (`--progress-interval`), at
/// the default log level: a long run shows it is alive and where its findings go without /metrics.
struct ProgressReporter: Service, CustomStringConvertible {
    let description = "progress"
    let interval: Duration
    let stats: RunStats
    /// Records consumed and not yet settled.
    let inFlight: @Sendable () -> Int
    /// Messages behind the end of the assigned partitions (Kafka only).
    let lag: (@Sendable () -> Int64?)?
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            while true {
                try await Task.sleep(for: interval)
                report()
            }
        }
    }

    func report() {
        var metadata: Logger.Metadata = [
            "sluice.consumed": "\(stats.consumedCount)", "sluice.delivered": "\(stats.deliveredCount)",
            "sluice.dead_lettered": "\(stats.deadLetteredCount)", "sluice.held": "\(stats.held.total)",
            "sluice.in_flight": "\(inFlight())",
        ]
        if let lag = lag?() { metadata["kafka.lag"] = "\(lag)" }
        logger.info("progress", metadata: metadata)
    }
}
