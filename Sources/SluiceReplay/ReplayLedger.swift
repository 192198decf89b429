import Foundation
import Logging
import SluiceCore
import SluiceKafka
import Synchronization

/// One target a dead letter is replayed to: a route and one of its connector instances (or the
/// route's playbook, connector `playbooks`).
public struct ReplayTarget: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var route: String
    public var connector: String
    public init(route: String, connector: String) {
        self.route = route
        self.connector = connector
    }
    public var description: String { "\(route) → \(connector)" }
    public static func < (a: ReplayTarget, b: ReplayTarget) -> Bool { (a.route, a.connector) < (b.route, b.connector) }
}

/// What became of one letter at one target in one replay.
public enum ReplayTargetOutcome: Sendable, Equatable {
    case delivered
    /// A playbook target: a fresh approval was requested; the run goes on once approved.
    case approvalRequested(runID: String)
    case failed(String)

    /// Delivered or handed to an approver: never done again by the same replay.
    public var isDone: Bool { if case .failed = self { return false }; return true }

    var label: String {
        switch self {
        case .delivered: return "delivered"
        case .approvalRequested: return "approval_requested"
        case .failed: return "failed"
        }
    }
}

/// One line of a replay's progress: a letter at a target, and its outcome.
public struct ReplayEntry: Sendable, Equatable {
    public var replay: String
    public var letter: String
    public var target: ReplayTarget
    public var outcome: ReplayTargetOutcome
    public var atMs: Int64

    public init(replay: String, letter: String, target: ReplayTarget, outcome: ReplayTargetOutcome, atMs: Int64) {
        self.replay = replay
        self.letter = letter
        self.target = target
        self.outcome = outcome
        self.atMs = atMs
    }

    /// The compaction key: one record per (replay, letter, target); the latest outcome wins.
    var key: [UInt8] {
        Array(JSON.array([.string("entry"), .string(replay), .string(letter), .string(target.route), .string(target.connector)]).serialized().utf8)
    }

    var json: JSON {
        var detail: JSON = .null
        switch outcome {
        case .delivered: break
        case .approvalRequested(let run): detail = .string(run)
        case .failed(let why): detail = .string(why)
        }
        return JSON.members([
            ("kind", .string("entry")), ("replay", .string(replay)), ("letter", .string(letter)), ("route", .string(target.route)),
            ("connector", .string(target.connector)), ("outcome", .string(outcome.label)), ("detail", detail),
            ("at_ms", .number(Double(atMs))),
        ])
    }

    init?(json: JSON) {
        guard json["kind"]?.stringValue == "entry", let replay = json["replay"]?.stringValue, let letter = json["letter"]?.stringValue,
              let route = json["route"]?.stringValue, let connector = json["connector"]?.stringValue,
              let label = json["outcome"]?.stringValue else { return nil }
        let detail = json["detail"]?.stringValue ?? ""
        switch label {
        case "delivered": outcome = .delivered
        case "approval_requested": outcome = .approvalRequested(runID: detail)
        case "failed": outcome = .failed(detail)
        default: return nil
        }
        self.replay = replay
        self.letter = letter
        target = ReplayTarget(route: route, connector: connector)
        atMs = Int64(clamping: json["at_ms"]?.doubleValue ?? 0)
    }
}

/// A replay's state as a whole, for progress lines, `GET /api/v1/replays` and resuming.
public struct ReplaySummary: Sendable, Equatable {
    public enum Status: String, Sendable {
        case running, finished, cancelled
    }
    public var name: String
    public var status: Status
    public var reroute: Bool
    /// How the letters were chosen, as the user gave it (for the record).
    public var selection: String
    /// Dead letters the filter took.
    public var matched = 0
    /// Letters looked at so far in this run.
    public var processed = 0
    /// Target deliveries made in this run, and those already made by an earlier run of the same replay.
    public var delivered = 0
    public var alreadyDone = 0
    public var approvalsRequested = 0
    public var failed = 0
    /// Letters with no target to replay to (no failed target recorded, a route no longer configured).
    public var skipped = 0
    public var startedMs: Int64
    public var updatedMs: Int64

    public init(name: String, status: Status, reroute: Bool, selection: String, startedMs: Int64) {
        self.name = name
        self.status = status
        self.reroute = reroute
        self.selection = selection
        self.startedMs = startedMs
        updatedMs = startedMs
    }

    var key: [UInt8] { Array(JSON.array([.string("summary"), .string(name)]).serialized().utf8) }

    public var json: JSON {
        JSON.members([
            ("kind", .string("summary")), ("name", .string(name)), ("status", .string(status.rawValue)), ("reroute", .bool(reroute)),
            ("selection", .string(selection)), ("matched", .number(Double(matched))), ("processed", .number(Double(processed))),
            ("delivered", .number(Double(delivered))), ("already_done", .number(Double(alreadyDone))),
            ("approvals_requested", .number(Double(approvalsRequested))), ("failed", .number(Double(failed))),
            ("skipped", .number(Double(skipped))), ("started_ms", .number(Double(startedMs))), ("updated_ms", .number(Double(updatedMs))),
        ])
    }

    init?(json: JSON) {
        guard json["kind"]?.stringValue == "summary", let name = json["name"]?.stringValue,
              let status = json["status"]?.stringValue.flatMap(Status.init(rawValue:)) else { return nil }
        func count(_ k: String) -> Int { max(0, json[k]?.clampedIntValue ?? 0) }
        self.init(name: name, status: status, reroute: json["reroute"] == .bool(true), selection: json["selection"]?.stringValue ?? "",
                  startedMs: Int64(clamping: json["started_ms"]?.doubleValue ?? 0))
        matched = count("matched")
        processed = count("processed")
        delivered = count("delivered")
        alreadyDone = count("already_done")
        approvalsRequested = count("approvals_requested")
        failed = count("failed")
        skipped = count("skipped")
        updatedMs = Int64(clamping: json["updated_ms"]?.doubleValue ?? 0)
    }

    /// `replay NAME: 40/120 letters, 38 delivered, 2 already done, 0 failed, 1 skipped`.
    public var progressLine: String {
        var line = "replay \(name): \(processed)/\(matched) letters, \(delivered) delivered, \(alreadyDone) already done"
        if approvalsRequested > 0 { line += ", \(approvalsRequested) awaiting approval" }
        line += ", \(failed) failed, \(skipped) skipped"
        if status != .running { line += " (\(status.rawValue))" }
        return line
    }
}

/// An operator asked that replay `name` stop, wherever it runs (`DELETE /api/v1/replays` on an
/// instance that does not run it): the instance running it sees the request in the ledger and
/// stops between two letters. Only requests made after that run started count.
public struct ReplayCancelRequest: Sendable, Equatable {
    public var name: String
    public var by: String
    public var atMs: Int64

    public init(name: String, by: String, atMs: Int64) {
        self.name = name
        self.by = by
        self.atMs = atMs
    }

    var key: [UInt8] { Array(JSON.array([.string("cancel"), .string(name)]).serialized().utf8) }

    var json: JSON {
        JSON.members([("kind", .string("cancel")), ("name", .string(name)), ("by", .string(by)), ("at_ms", .number(Double(atMs)))])
    }

    init?(json: JSON) {
        guard json["kind"]?.stringValue == "cancel", let name = json["name"]?.stringValue else { return nil }
        self.init(name: name, by: json["by"]?.stringValue ?? "", atMs: Int64(clamping: json["at_ms"]?.doubleValue ?? 0))
    }
}

/// Where replay progress is kept. `put` returns once the record is durable, so a crash after a
/// delivery and before its `put` is the only window for a repeat (at-least-once, as the pipeline).
public protocol ReplayLedger: Sendable {
    /// Targets each letter of `replay` was already done at (delivered or handed to an approver).
    func done(replay: String) -> [String: Set<ReplayTarget>]
    func entries(replay: String) -> [ReplayEntry]
    func summary(_ name: String) -> ReplaySummary?
    func summaries() -> [ReplaySummary]
    func put(_ entry: ReplayEntry) async throws(ReplayError)
    func put(_ summary: ReplaySummary) async throws(ReplayError)
    /// The latest request to stop replay `name`, as far as this process has read.
    func cancelRequest(_ name: String) -> ReplayCancelRequest?
    func put(_ request: ReplayCancelRequest) async throws(ReplayError)
    /// Takes in what other processes wrote since (their progress, cancel requests).
    func refresh()
}

public struct ReplayError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The ledger's state: the latest value per key, as a compacted topic keeps it. Shared by the
/// memory ledger (the reference model) and the Kafka one.
struct LedgerState: Sendable {
    var entries: [String: [ReplayEntry]] = [:]
    var summaries: [String: ReplaySummary] = [:]
    var cancels: [String: ReplayCancelRequest] = [:]

    mutating func apply(_ entry: ReplayEntry) {
        var list = entries[entry.replay, default: []]
        list.removeAll { $0.letter == entry.letter && $0.target == entry.target }
        list.append(entry)
        entries[entry.replay] = list
    }

    mutating func apply(_ summary: ReplaySummary) { summaries[summary.name] = summary }

    mutating func apply(_ request: ReplayCancelRequest) { cancels[request.name] = request }

    mutating func apply(record value: [UInt8]) -> Bool {
        guard let json = try? JSON.parse(String(decoding: value, as: UTF8.self)) else { return false }
        if let e = ReplayEntry(json: json) { apply(e); return true }
        if let s = ReplaySummary(json: json) { apply(s); return true }
        if let c = ReplayCancelRequest(json: json) { apply(c); return true }
        return false
    }

    func done(replay: String) -> [String: Set<ReplayTarget>] {
        var out: [String: Set<ReplayTarget>] = [:]
        for e in entries[replay] ?? [] where e.outcome.isDone { out[e.letter, default: []].insert(e.target) }
        return out
    }
}

/// Progress in memory: tests, dry runs, and the reference the Kafka ledger must agree with.
public final class MemoryReplayLedger: ReplayLedger {
    private let state = Mutex(LedgerState())
    public init() {}
    public func done(replay: String) -> [String: Set<ReplayTarget>] { state.withLock { $0.done(replay: replay) } }
    public func entries(replay: String) -> [ReplayEntry] { state.withLock { $0.entries[replay] ?? [] } }
    public func summary(_ name: String) -> ReplaySummary? { state.withLock { $0.summaries[name] } }
    public func summaries() -> [ReplaySummary] { state.withLock { Array($0.summaries.values) }.sorted { $0.startedMs < $1.startedMs } }
    public func put(_ entry: ReplayEntry) async throws(ReplayError) { state.withLock { $0.apply(entry) } }
    public func put(_ summary: ReplaySummary) async throws(ReplayError) { state.withLock { $0.apply(summary) } }
    public func cancelRequest(_ name: String) -> ReplayCancelRequest? { state.withLock { $0.cancels[name] } }
    public func put(_ request: ReplayCancelRequest) async throws(ReplayError) { state.withLock { $0.apply(request) } }
    public func refresh() {}
}

/// Progress in a Kafka topic (make it compacted: `cleanup.policy=compact`; keys are unique per
/// replay, letter and target, so compaction keeps exactly the latest outcome of each). Read to
/// its end on open, so a replay resumes where any earlier run of it — on any host — stopped.
public final class KafkaReplayLedger: ReplayLedger {
    public let topic: String
    private let producer: KafkaProducer
    private let reader: Mutex<KafkaTopicReader?>
    private let state = Mutex(LedgerState())
    private let logger: Logger

    public init(config: KafkaConfig, topic: String, logger: Logger) throws(KafkaError) {
        self.topic = topic
        self.logger = logger
        producer = try KafkaProducer(config: config, logger: logger)
        let reader = try KafkaTopicReader(config: config, topic: topic, logger: logger)
        let records = try reader.readToEnd()
        self.reader = Mutex(reader)
        state.withLock { s in for r in records { apply(r, to: &s) } }
    }

    /// Creates the progress topic, compacted, when it does not exist yet.
    public static func createTopic(_ topic: String, config: KafkaConfig, logger: Logger) throws(KafkaError) {
        try KafkaAdmin.createTopics([topic], partitions: 1, topicConfig: ["cleanup.policy": "compact"], config: config, logger: logger)
    }

    private func apply(_ record: KafkaRecord, to s: inout LedgerState) {
        guard let value = record.value, s.apply(record: value) else {
            logger.warning("unreadable replay progress record skipped", metadata: ["kafka.topic": "\(topic)", "kafka.offset": "\(record.offset)"])
            return
        }
    }

    /// Takes in what other processes wrote since (another replay's progress, for the API).
    public func refresh() {
        reader.withLock { reader in
            guard let reader else { return }
            while let r = reader.poll(timeoutMs: 0) { state.withLock { apply(r, to: &$0) } }
        }
    }

    public func done(replay: String) -> [String: Set<ReplayTarget>] { state.withLock { $0.done(replay: replay) } }
    public func entries(replay: String) -> [ReplayEntry] { state.withLock { $0.entries[replay] ?? [] } }
    public func summary(_ name: String) -> ReplaySummary? { state.withLock { $0.summaries[name] } }
    public func summaries() -> [ReplaySummary] { state.withLock { Array($0.summaries.values) }.sorted { $0.startedMs < $1.startedMs } }

    public func put(_ entry: ReplayEntry) async throws(ReplayError) {
        try await send(key: entry.key, entry.json)
        state.withLock { $0.apply(entry) }
    }

    public func put(_ summary: ReplaySummary) async throws(ReplayError) {
        try await send(key: summary.key, summary.json)
        state.withLock { $0.apply(summary) }
    }

    public func cancelRequest(_ name: String) -> ReplayCancelRequest? { state.withLock { $0.cancels[name] } }

    public func put(_ request: ReplayCancelRequest) async throws(ReplayError) {
        try await send(key: request.key, request.json)
        state.withLock { $0.apply(request) }
    }

    private func send(key: [UInt8], _ json: JSON) async throws(ReplayError) {
        do {
            try await producer.send(topic: topic, key: key, value: Array(json.serialized().utf8))
        } catch {
            throw ReplayError("cannot record replay progress in \(topic): \(error)")
        }
    }

    /// Flushes and closes the clients.
    public func close() {
        producer.close()
        reader.withLock { $0?.close(); $0 = nil }
    }
}
