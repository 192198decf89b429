import Foundation
import Logging
import SluiceCore
import SluiceKafka
import Synchronization

/// One line of the audit trail: an action attempt, a refusal, a skip, a dry run or an approval
/// decision. Parameters are already redacted.
public struct ActionAuditRecord: Sendable, Equatable {
    public enum Result: String, Sendable {
        case succeeded, unchanged, failed, refused, skipped
        case dryRun = "dry_run"
        case awaitingApproval = "awaiting_approval"
        case approved, denied
        case compensated
    }
    public var timeMs: Int64
    public var runID: String
    public var findingID: String
    public var route: String
    public var step: String
    public var executor: String
    public var target: String
    public var parameters: JSON
    public var result: Result
    /// The error, the refusal reason, or what a dry run would have done.
    public var detail: String
    public var durationMs: Int64
    public var attempt: Int
    public var output: JSON

    public init(runID: String, findingID: String, route: String, step: String, executor: String, target: String,
                parameters: JSON, result: Result, detail: String = "", durationMs: Int64 = 0, attempt: Int = 0, output: JSON = .null) {
        self.timeMs = Int64(Date().timeIntervalSince1970 * 1000)
        self.runID = runID
        self.findingID = findingID
        self.route = route
        self.step = step
        self.executor = executor
        self.target = target
        self.parameters = parameters
        self.result = result
        self.detail = detail
        self.durationMs = durationMs
        self.attempt = attempt
        self.output = output
    }

    public var json: JSON {
        [
            "time_ms": .number(Double(timeMs)), "run_id": .string(runID), "finding_id": .string(findingID),
            "route": .string(route), "step": .string(step), "executor": .string(executor), "target": .string(target),
            "parameters": parameters, "result": .string(result.rawValue), "detail": .string(detail),
            "duration_ms": .number(Double(durationMs)), "attempt": .number(Double(attempt)), "output": output,
        ]
    }

    public init?(json: JSON) {
        guard let run = json["run_id"]?.stringValue, let r = json["result"]?.stringValue.flatMap(Result.init(rawValue:)) else { return nil }
        self.init(
            runID: run, findingID: json["finding_id"]?.stringValue ?? "", route: json["route"]?.stringValue ?? "",
            step: json["step"]?.stringValue ?? "", executor: json["executor"]?.stringValue ?? "",
            target: json["target"]?.stringValue ?? "", parameters: json["parameters"] ?? .null, result: r,
            detail: json["detail"]?.stringValue ?? "", durationMs: Int64(clamping: json["duration_ms"]?.doubleValue ?? 0),
            attempt: json["attempt"]?.clampedIntValue ?? 0, output: json["output"] ?? .null)
        timeMs = Int64(clamping: json["time_ms"]?.doubleValue ?? 0)
    }
}

/// Where audit records go. Writing never fails the action: the record is logged in any case.
public protocol ActionAuditSink: Sendable {
    func write(_ record: ActionAuditRecord)
}

/// The audit trail: every record to the log and to each sink (the Kafka audit topic in `sluice run`).
public final class ActionAudit: Sendable {
    private let sinks: [any ActionAuditSink]
    private let logger: Logger

    public init(sinks: [any ActionAuditSink], logger: Logger) {
        self.sinks = sinks
        self.logger = logger
    }

    public func record(_ r: ActionAuditRecord) {
        let metadata: Logger.Metadata = [
            "finding.id": "\(r.findingID)", "route.name": "\(r.route)", "action.step": "\(r.step)",
            "action.executor": "\(r.executor)", "action.target": "\(r.target)", "action.result": "\(r.result.rawValue)",
            "action.parameters": "\(r.parameters.serialized())", "action.duration_ms": "\(r.durationMs)",
            "action.run_id": "\(r.runID)", "action.detail": "\(r.detail)",
        ]
        switch r.result {
        case .failed, .refused, .denied: logger.warning("action \(r.result.rawValue)", metadata: metadata)
        default: logger.info("action \(r.result.rawValue)", metadata: metadata)
        }
        for sink in sinks { sink.write(r) }
    }
}

/// Audit records as JSON to a Kafka topic, keyed by finding id (one finding's trail stays in order).
public final class KafkaAuditSink: ActionAuditSink {
    private let producer: KafkaProducer
    private let topic: String
    private let logger: Logger

    public init(producer: KafkaProducer, topic: String, logger: Logger) {
        self.producer = producer
        self.topic = topic
        self.logger = logger
    }

    public func write(_ record: ActionAuditRecord) {
        let value = JSONBuilder(record.json).serialized()
        let logger = self.logger
        do {
            try producer.produce(topic: topic, key: Array(record.findingID.utf8), value: value) { error in
                if let error { logger.error("audit record not written", metadata: ["kafka.topic": "\(self.topic)", "error": "\(error)"]) }
            }
        } catch {
            logger.error("audit record not written", metadata: ["kafka.topic": "\(topic)", "error": "\(error)"])
        }
    }
}

/// Keeps audit records in memory: for tests, and for `sluice test`-style previews of a playbook.
public final class MemoryAuditSink: ActionAuditSink {
    private let stored = Mutex<[ActionAuditRecord]>([])
    public init() {}
    public func write(_ record: ActionAuditRecord) { stored.withLock { $0.append(record) } }
    public var records: [ActionAuditRecord] { stored.withLock { $0 } }
}
