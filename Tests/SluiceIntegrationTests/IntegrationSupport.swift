import Foundation
import Logging
import SluiceKafka
import SluiceTestSupport
import Synchronization

/// A `routes/` + `connectors/` pair in a temporary directory: one route sending every GuardDuty
/// finding to one connector instance `hook`.
struct TestConfig {
    let directory: URL
    var routes: String { directory.appendingPathComponent("routes").path }
    var connectors: String { directory.appendingPathComponent("connectors").path }

    /// `connector` is the YAML of the instance (without `name:`); the default is a webhook to `url`.
    init(connector: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-it-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("routes"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("connectors"), withIntermediateDirectories: true)
        try """
        name: all-findings
        match: {"source": ["aws.guardduty"]}
        targets: [hook]
        """.write(to: directory.appendingPathComponent("routes/all.yaml"), atomically: true, encoding: .utf8)
        try ("name: hook\n" + connector).write(to: directory.appendingPathComponent("connectors/hook.yaml"), atomically: true, encoding: .utf8)
    }

    /// The receiver is a Python process at the test run's niceness: an attempt timed out on a
    /// loaded machine is sent again (at-least-once) and shows as one request too many, so the
    /// timeout is long enough that only a receiver that never answers reaches it.
    static func webhook(_ url: String, extra: String = "retry: {attempts: 3, backoff: 50ms, max_backoff: 200ms}") throws -> TestConfig {
        try TestConfig(connector: "type: webhook\nurl: \(url)/hook\ntimeout: 30s\n\(extra)\n")
    }

    /// routes/inhibit.yaml: a crypto miner (the sample findings' #0) inhibits the other findings
    /// of its account (#1, #4, #6, #8) for 2 h; the other four are on another account.
    func writeMinerInhibitRule() throws {
        let source = "CryptoCurrency:Runtime/BitcoinTool.B"
        try """
        inhibit:
          - name: miner-account
            source: {detail: {type: ["\(source)"]}}
            target: {detail: {type: [{anything-but: ["\(source)"]}]}}
            equal: [detail.accountId]
            for: 2h
        """.write(to: directory.appendingPathComponent("routes/inhibit.yaml"), atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// The `sluice` binary built beside the test bundle, run as a child process.
final class SluiceProcess: @unchecked Sendable {
    // @unchecked: `process` is replaced only by `restart`, which the test calls from one task.
    static var binary: URL { PackagePaths.sluiceBinary }

    let arguments: [String]
    let log: URL
    private(set) var process: Process

    init(_ arguments: [String]) throws {
        self.arguments = arguments
        log = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-run-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process = try Self.launch(arguments, log: log)
    }

    /// `sluice run` consuming `topic` from `broker` in group `group`, dead letters to `dlq`.
    convenience init(broker: TansuBroker, topic: String, group: String, dlq: String, config: TestConfig, extra: [String] = []) throws {
        try self.init(["run", "--brokers", broker.bootstrap, "--topic", topic, "--group", group, "--dead-letter-topic", dlq,
                       "--routes", config.routes, "--connectors", config.connectors,
                       "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500", "--log-level", "warning"] + extra)
    }

    private static func launch(_ arguments: [String], log: URL) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ChildProcess.unblockingSignals + [binary.path] + arguments
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        return p
    }

    var pid: Int32 { process.processIdentifier }

    /// SIGKILL, as the OOM killer or a node failure would: no drain, no commit.
    func killHard() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilGone()
    }

    /// `killHard()`, waiting for the exit without holding a pool thread. A process already gone
    /// is not signalled: its pid may belong to another by now.
    func killHardAndWait() async {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        await process.waitForExit()
    }

    func restart() throws {
        if process.isRunning { killHard() }
        process = try Self.launch(arguments, log: log)
    }

    /// `restart()` without holding a pool thread.
    func relaunch() async throws {
        if process.isRunning { await killHardAndWait() }
        process = try Self.launch(arguments, log: log)
    }

    /// SIGTERM and wait for the clean exit; returns the exit status.
    func terminate(timeout: Double = 60) -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilGone()
        return process.terminationStatus
    }

    /// `terminate(timeout:)`, waiting without holding a pool thread.
    func terminateAndWait(timeout: Double = 60) async -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        if await !process.waitForExit(timeout: timeout) { kill(process.processIdentifier, SIGKILL) }
        await process.waitForExit()
        return process.terminationStatus
    }

    /// Resident set size in KiB (from /proc), nil once the process is gone.
    var rssKiB: Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// SIGKILL and return at once (a reaper thread collects the exit), for synchronous code.
    func stop() {
        if process.isRunning { ChildProcess.killNow(process) }
        try? FileManager.default.removeItem(at: log)
    }

    /// SIGKILL, and return once the process is gone and its log removed.
    func stopAndWait() async {
        await killHardAndWait()
        try? FileManager.default.removeItem(at: log)
    }
}

extension WebhookReceiver {
    /// Finding ids of the requests received (the X-Sluice-Finding-Id header).
    func receivedFindingIDs() throws -> [String] {
        try records().compactMap { $0.header("X-Sluice-Finding-Id") }
    }

    /// Waits until `count` requests were recorded or `timeout` passes.
    func waitForCount(_ count: Int, timeout: Double) async throws {
        _ = await eventually(within: .seconds(timeout), every: .milliseconds(200)) { self.count >= count }
    }
}

/// A consumer of `topic` from its start, in a group of its own.
func topicReader(_ broker: TansuBroker, topic: String) throws -> KafkaConsumer {
    try KafkaConsumer(
        config: broker.clientConfig(TansuBroker.consumerTuning.merging(["group.id": "reader-\(UUID().uuidString)"]) { $1 }),
        topics: [topic], logger: Logger(label: "test"))
}

/// Reads every record of `topic` from the start until `expect` arrived or `timeout` passed.
func readTopicBlocking(_ broker: TansuBroker, topic: String, expect: Int, timeout: Double = 30) throws -> [KafkaRecord] {
    let consumer = try topicReader(broker, topic: topic)
    defer { consumer.close() }
    var out: [KafkaRecord] = []
    let deadline = Date().addingTimeInterval(timeout)
    while out.count < expect, Date() < deadline {
        if case .record(let r) = consumer.poll(timeoutMs: 200) { out.append(r) }
    }
    return out
}

/// `readTopicBlocking`, with the blocking polls on a thread of their own.
func readTopic(_ broker: TansuBroker, topic: String, expect: Int, timeout: Double = 30) async throws -> [KafkaRecord] {
    try await offPool { try readTopicBlocking(broker, topic: topic, expect: expect, timeout: timeout) }
}

/// Every record of single-partition `topic` written before this call: a sentinel record is
/// produced, and the topic is read until it arrives. An empty answer therefore means "nothing
/// was there", never "the reader had not joined yet". The blocking polls run off the pool.
func readTopicToSentinel(_ broker: TansuBroker, topic: String, timeout: Double = 60) async throws -> [KafkaRecord] {
    let sentinel = Array("sentinel-\(UUID().uuidString)".utf8)
    let producer = try KafkaProducer(config: broker.clientConfig(), logger: Logger(label: "test"))
    try await producer.send(topic: topic, key: sentinel, value: Array("{}".utf8))
    return try await offPool {
        producer.close()
        let consumer = try topicReader(broker, topic: topic)
        defer { consumer.close() }
        var out: [KafkaRecord] = []
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard case .record(let r) = consumer.poll(timeoutMs: 200) else { continue }
            if r.key == sentinel { return out }
            out.append(r)
        }
        throw HarnessError("the sentinel record of \(topic) did not arrive within \(timeout) s")
    }
}

extension KafkaRecord {
    /// The value of header `name`, if present.
    func header(_ name: String) -> String? { headers.first { $0.name == name }?.stringValue }
}

/// Scrapes `/metrics` of a run until sample `name` (with its labels, e.g.
/// `sluice_dead_letters_total{reason="shutdown"}`) reaches `atLeast`; returns the last value seen.
func waitForMetric(port: Int, _ name: String, atLeast: Int, timeout: Double = 60) async throws -> Int {
    var last = 0
    return await eventually(within: .seconds(timeout)) {
        let text = await LoopbackPort.fetch(port, "/metrics") ?? ""
        if let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + " ") }),
           // swift-prometheus writes gauges as doubles ("200.0"), counters as integers.
           let value = Double(line.split(separator: " ").last ?? "").flatMap({ Int(exactly: $0) }) {
            last = value
        }
        return last
    } until: { $0 >= atLeast }
}

/// `sluice run --input` over `findings` with `config`, dead letters to a file: run to its end.
struct OfflineRun {
    let status: Int32
    let output: String
    /// The dead-letter file's records, parsed.
    let deadLetters: [[String: Any]]

    init(_ findings: [(id: String, bytes: [UInt8])], config: TestConfig, extra: [String] = []) async throws {
        let input = config.directory.appendingPathComponent("findings.ndjson")
        try Data(findings.flatMap { $0.bytes + [0x0A] }).write(to: input)
        let deadFile = config.directory.appendingPathComponent("dead.ndjson")
        (status, output) = try await CommandRun.result(of: PackagePaths.sluiceBinary, [
            "run", "--input", input.path, "--routes", config.routes, "--connectors", config.connectors, "--dead-letter-file", deadFile.path,
        ] + extra)
        deadLetters = try Self.records(deadFile)
    }

    /// Every line of an NDJSON dead-letter file as an object (none when there is no file).
    static func records(_ file: URL) throws -> [[String: Any]] {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw HarnessError("a dead letter that is not a JSON object: \(line)")
            }
            return object
        }
    }
}

/// Waits until every id of `wanted` was received, for as long as deliveries keep arriving: it
/// gives up once `stall` seconds pass with no new request recorded (a partition nobody consumes,
/// not a slow machine, whose deliveries still trickle in). Returns the ids still missing.
func waitForDelivery(of wanted: Set<String>, at receiver: WebhookReceiver, stall: Double) async throws -> Set<String> {
    var seen = -1
    var lastProgress = Date()
    while true {
        let n = receiver.count
        if n != seen {
            seen = n
            lastProgress = Date()
            // Records count repeats too: only then is it worth reading them all.
            if n >= wanted.count, wanted.isSubset(of: Set(try receiver.receivedFindingIDs())) { return [] }
        }
        if Date().timeIntervalSince(lastProgress) > stall { return wanted.subtracting(try receiver.receivedFindingIDs()) }
        try await Task.sleep(for: .milliseconds(200))
    }
}

/// Where the records of finding ids `ids` sit in `topic` (read back by key), per partition, for a
/// failure message: "stream[3]: 212 from offset 1040 to 1251".
func describeUndelivered(_ ids: Set<String>, broker: TansuBroker, topic: String, produced: Int) async throws -> String {
    guard !ids.isEmpty else { return "nothing" }
    let records = try await readTopic(broker, topic: topic, expect: produced, timeout: 60)
    var offsets: [Int32: [Int64]] = [:]
    for r in records {
        guard let key = r.key, ids.contains(String(decoding: key, as: UTF8.self)) else { continue }
        offsets[r.partition, default: []].append(r.offset)
    }
    let located = offsets.values.reduce(0) { $0 + $1.count }
    var parts = offsets.sorted { $0.key < $1.key }.map { p, o in
        "\(topic)[\(p)]: \(o.count) from offset \(o.min() ?? -1) to \(o.max() ?? -1)"
    }
    if located < ids.count { parts.append("\(ids.count - located) not found in \(topic)") }
    return parts.joined(separator: "; ")
}

/// What a member's log says of its rebalances (info lines of the consumer and the pipeline):
/// how long each revocation held the poll thread, and each wait for revoked work and its outcome.
struct RebalanceLog {
    /// Milliseconds each non-empty revocation callback took (wait, commit and unassign).
    var revocationMs: [Int] = []
    /// Milliseconds each wait for revoked partitions' work took, and whether that work settled.
    var waits: [(ms: Int, settled: Bool)] = []
    /// Revocations whose commit the group refused (it had moved on): their next owner repeats
    /// what settled since the last commit that went through, by the reason the broker gave.
    var refusedRevocationCommits: [String] = []
    /// Commits refused or failed at any time (auto, loop, revocation), and final commits at close.
    var refusedCommits = 0
    /// Partitions given straight back to the member that lost them uncommitted (started after its settled work).
    var givenBack = 0
    var failedFinalCommits = 0

    init(_ outputs: [String]) {
        for output in outputs {
            for line in output.split(separator: "\n") {
                if line.contains("partitions revoked"), !line.contains("kafka.partitions= "), let ms = Self.field(line, "kafka.rebalance_ms") {
                    revocationMs.append(ms)
                    // A lost assignment skips the commit: its partitions may go to another member.
                    if line.contains("without committing their settled work") || line.contains("kafka.commit=skipped_assignment_lost") {
                        refusedRevocationCommits.append(Self.text(line, "kafka.commit") ?? "?")
                    }
                } else if line.contains("offset commit refused") || line.contains("offset commit failed") {
                    refusedCommits += 1
                } else if line.contains("partitions given back start after their settled work") {
                    givenBack += 1
                } else if line.contains("final commit failed") {
                    failedFinalCommits += 1
                } else if line.contains("revoked partitions settled"), let ms = Self.field(line, "sluice.wait_ms") {
                    waits.append((ms, true))
                } else if line.contains("revoked partitions released with work unsettled"), let ms = Self.field(line, "sluice.wait_ms") {
                    waits.append((ms, false))
                }
            }
        }
    }

    private static func text(_ line: Substring, _ name: String) -> String? {
        guard let r = line.range(of: name + "=") else { return nil }
        return String(line[r.upperBound...].prefix { !$0.isWhitespace && $0 != "," && $0 != "\"" })
    }

    private static func field(_ line: Substring, _ name: String) -> Int? {
        guard let r = line.range(of: name + "=") else { return nil }
        return Int(line[r.upperBound...].prefix { $0.isNumber })
    }

    var summary: String {
        let settled = waits.filter(\.settled)
        return "\(revocationMs.count) revocations (longest \(revocationMs.max() ?? 0) ms, total \(revocationMs.reduce(0, +)) ms); "
            + "\(waits.count) waited for work in flight: \(settled.count) settled (longest \(settled.map(\.ms).max() ?? 0) ms), "
            + "\(waits.count - settled.count) released at the deadline; "
            + "\(refusedRevocationCommits.count) revocation commits refused (\(refusedRevocationCommits.joined(separator: ","))), "
            + "\(refusedCommits) commits refused in all, \(failedFinalCommits) final commits failed, "
            + "\(givenBack) assignments given back after settled work"
    }
}

extension WebhookReceiver {
    /// The longest time between two consecutive recorded requests (milliseconds): how long the
    /// stream stood still at worst.
    func longestGapMs() throws -> Int64 {
        let times = try records().map(\.receivedMs).sorted()
        return zip(times, times.dropFirst()).map { $1 - $0 }.max() ?? 0
    }
}
