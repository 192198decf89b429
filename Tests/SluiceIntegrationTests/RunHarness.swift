import Foundation
import SluiceTestSupport

/// What one integration test starts — a Tansu broker and its topics, receivers, a routes and
/// connectors config, `sluice run` processes — built step by step. Each step that succeeds
/// registers how to undo itself; `withRunHarness` undoes them newest first once the test's body
/// returned or threw, and awaits each, so whatever a later step throws, everything started
/// before it is gone before the test ends, and a run is stopped before the broker and receiver
/// it talks to.
///
/// ```swift
/// try await withRunHarness { harness in
///     let broker = try await harness.broker(topics: ["findings", "dlq"])
///     let receiver = try await harness.receiver(status: 503)
///     let config = try harness.webhookConfig(receiver, extra: "retry: {attempts: 3}")
///     // or, the three at once: try await harness.brokerAndWebhook(status: 503, extra: …)
///     let sluice = try harness.sluice(broker, group: "g", config: config, metricsPort: port)
/// }
/// ```
///
/// It holds steps, not state: tests keep the values it returns and use them as before.
final class RunHarness {
    private struct Started {
        let stop: () -> Void
        let stopAndWait: () async -> Void
    }

    private var started: [Started] = []

    /// Registers a stop for something a test started itself; it runs before what was started earlier.
    func onStop(_ stop: @escaping () -> Void, andWait: (() async -> Void)? = nil) {
        started.append(Started(stop: stop, stopAndWait: andWait ?? { stop() }))
    }

    /// A Tansu broker with `topics` created. The broker is stopped even when creating them fails.
    func broker(topics: [String] = ["findings", "dlq"], partitions: Int32 = 1) async throws -> TansuBroker {
        let broker = try await TansuBroker.start()
        onStop({ broker.stop() }, andWait: { await broker.stopAndWait() })
        if !topics.isEmpty { try await broker.create(topics: topics, partitions: partitions) }
        return broker
    }

    /// A webhook receiver answering `status`, or as `vendor` does (see `WebhookReceiver.start`).
    func receiver(status: Int = 204, port: Int = 0, vendor: String? = nil, options: [String: String] = [:]) async throws -> WebhookReceiver {
        let receiver = try await WebhookReceiver.start(status: status, port: port, vendor: vendor, options: options)
        onStop({ receiver.stop() }, andWait: { await receiver.stopAndWait() })
        return receiver
    }

    /// `TestConfig.webhook` to `receiver`, with `routes` (YAML) in routes/all.yaml in place of
    /// the one route of every GuardDuty finding when given; its directory is removed at the stop.
    func webhookConfig(_ receiver: WebhookReceiver, extra: String? = nil, routes: String? = nil) throws -> TestConfig {
        let config = try extra.map { try TestConfig.webhook(receiver.url, extra: $0) } ?? TestConfig.webhook(receiver.url)
        onStop { config.remove() }
        if let routes { try config.writeRoutes(routes) }
        return config
    }

    /// `TestConfig(connector:)`; its directory is removed at the stop.
    func config(connector: String) throws -> TestConfig {
        let config = try TestConfig(connector: connector)
        onStop { config.remove() }
        return config
    }

    /// A receiver answering `status` and `webhookConfig(receiver, extra:, routes:)`: an offline
    /// run's set-up.
    func webhook(status: Int = 204, extra: String? = nil, routes: String? = nil) async throws -> (receiver: WebhookReceiver, config: TestConfig) {
        let receiver = try await self.receiver(status: status)
        return (receiver, try webhookConfig(receiver, extra: extra, routes: routes))
    }

    /// The set-up most Kafka tests share: a broker with `topics`, then `webhook(status:extra:routes:)`.
    func brokerAndWebhook(topics: [String] = ["findings", "dlq"], partitions: Int32 = 1, status: Int = 204, extra: String? = nil,
                          routes: String? = nil) async throws -> (broker: TansuBroker, receiver: WebhookReceiver, config: TestConfig) {
        let broker = try await self.broker(topics: topics, partitions: partitions)
        let (receiver, config) = try await webhook(status: status, extra: extra, routes: routes)
        return (broker, receiver, config)
    }

    /// Registers a blocking stop (an HTTP client's shutdown, a Kafka handle's close); awaited, it
    /// runs on a thread of its own.
    func onStopOffPool(_ stop: @escaping @Sendable () -> Void) {
        onStop(stop, andWait: { _ = try? await offPool(stop) })
    }

    /// A config of exactly `files` (paths under its directory, e.g. `routes/all.yaml`, and their
    /// text); its directory is removed at the stop.
    func config(files: [String: String]) throws -> TestConfig {
        let config = try TestConfig(files: files)
        onStop { config.remove() }
        return config
    }

    /// `sluice run` consuming `topic` of `broker` (see `SluiceProcess`), with `/metrics` on
    /// 127.0.0.1:`metricsPort` when given. Stopping it is a SIGKILL: a test that wants the
    /// drain calls `terminateAndWait()` itself first.
    func sluice(_ broker: TansuBroker, topic: String = "findings", group: String, dlq: String = "dlq", config: TestConfig,
                metricsPort: Int? = nil, extra: [String] = []) throws -> SluiceProcess {
        let metrics = metricsPort.map { ["--metrics-listen", "127.0.0.1:\($0)"] } ?? []
        return try started(SluiceProcess(broker: broker, topic: topic, group: group, dlq: dlq, config: config, extra: metrics + extra))
    }

    /// `sluice` with exactly `arguments` (a `--config` file, an offline run).
    func sluice(_ arguments: [String]) throws -> SluiceProcess {
        try started(SluiceProcess(arguments))
    }

    private func started(_ sluice: SluiceProcess) -> SluiceProcess {
        onStop({ sluice.stop() }, andWait: { await sluice.stopAndWait() })
        return sluice
    }

    /// `sluice run --input -` with `config`, `/metrics` on 127.0.0.1:`metricsPort` when given, and
    /// `extra`; its stdin is kept open for the test to write to.
    func stdinRun(_ config: TestConfig, metricsPort: Int? = nil, extra: [String] = []) throws -> StdinRun {
        let metrics = metricsPort.map { ["--metrics-listen", "127.0.0.1:\($0)"] } ?? []
        let run = try StdinRun(["--routes", config.routes, "--connectors", config.connectors] + metrics + extra)
        onStop({ run.stop() }, andWait: {
            await ChildProcess.stopAndWait(run.process)
            run.stop()  // the log file
        })
        return run
    }

    /// Stops everything started, newest first, and returns at once (reaper threads finish the
    /// waiting): for a type that holds a harness and must stop it where it cannot await.
    func stop() {
        let all = started
        started = []
        for step in all.reversed() { step.stop() }
    }

    /// `stop()`, returning once every process is gone: for a test that needs the ports free.
    func stopAndWait() async {
        let all = started
        started = []
        for step in all.reversed() { await step.stopAndWait() }
    }
}

/// Runs `body` with a new harness and awaits `stopAndWait()` once it returned or threw: the
/// `defer { harness.stop() }` of an async test, with the waiting done before the test ends.
func withRunHarness<T>(isolation: isolated (any Actor)? = #isolation, _ body: (RunHarness) async throws -> T) async throws -> T {
    try await withCleanup { cleanup in
        let harness = RunHarness()
        cleanup.add { await harness.stopAndWait() }
        return try await body(harness)
    }
}

extension TestConfig {
    /// Replaces routes/all.yaml with `yaml`.
    func writeRoutes(_ yaml: String) throws {
        try yaml.write(to: URL(fileURLWithPath: routes).appendingPathComponent("all.yaml"), atomically: true, encoding: .utf8)
    }

    /// A `routes/` + `connectors/` pair holding exactly `files` (paths relative to the directory).
    init(files: [String: String]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-it-\(UUID().uuidString)")
        for sub in ["routes", "connectors"] {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        for (path, text) in files {
            try text.write(to: directory.appendingPathComponent(path), atomically: true, encoding: .utf8)
        }
    }
}

/// `sluice run --input -` with stdin kept open, output to a log file read while it runs.
final class StdinRun {
    let process = Process()
    let stdin = Pipe.closedOnExec()
    let log: URL

    init(_ arguments: [String]) throws {
        log = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-stdin-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ChildProcess.unblockingSignals + [PackagePaths.sluiceBinary.path, "run", "--input", "-"] + arguments
        process.standardInput = stdin
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func send(_ lines: [[UInt8]]) { stdin.fileHandleForWriting.write(Data(lines.flatMap { $0 + [0x0A] })) }

    /// Waits for a line with every one of `parts`; the timeout only bounds a hang. The exit is
    /// read before the log: a run that wrote the line and then exited still counts.
    func waitForLine(containing parts: [String], timeout: Double = 120) async throws -> Bool {
        func hasLine() -> Bool { output.split(separator: "\n").contains { line in parts.allSatisfy { line.contains($0) } } }
        return await eventually(within: .seconds(timeout), every: .milliseconds(50)) {
            let exited = !process.isRunning
            return (found: hasLine(), exited: exited)
        } until: { $0.found || $0.exited }.found
    }

    /// Closes stdin (end of input) and waits for the exit.
    func finish() async -> Int32 {
        try? stdin.fileHandleForWriting.close()
        await process.waitForExit()
        return process.terminationStatus
    }

    /// SIGTERM (a reaper thread waits) and the log removed; returns at once.
    func stop() {
        if process.isRunning { ChildProcess.stop(process) }
        try? FileManager.default.removeItem(at: log)
    }

    deinit { stop() }
}
