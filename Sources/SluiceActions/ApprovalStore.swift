import Foundation
import Logging
import SluiceCore
import SluiceKafka
import Synchronization

/// The state of a playbook run stopped at an approval gate, as kept in the approvals topic
/// (key = run id, the latest value wins, as in a compacted topic). It carries all a process
/// needs to resume the run after a restart: the finding, the outputs of the steps done, and
/// the decision once made.
public struct RunState: Sendable, Equatable {
    public enum Status: String, Sendable {
        case pending, approved, denied
        /// The run went on after its decision and finished (successfully or not).
        case finished
    }
    public var runID: String
    public var route: String
    public var findingID: String
    /// The step waiting for approval (or decided).
    public var step: String
    public var status: Status
    public var requestedMs: Int64
    public var deadlineMs: Int64
    public var approveOnTimeout: Bool
    public var decidedBy: String?
    public var reason: String?
    /// Steps approved earlier in this run (a playbook may have several gates).
    public var approvedSteps: [String]
    /// `{name: {status, output}}` of the steps already done.
    public var steps: JSON
    public var finding: JSON
    /// The instance that resumes the run (`actions.instance_id`).
    public var owner: String

    public init(runID: String, route: String, findingID: String, step: String, status: Status, requestedMs: Int64, deadlineMs: Int64,
                approveOnTimeout: Bool, decidedBy: String? = nil, reason: String? = nil, approvedSteps: [String] = [],
                steps: JSON = .object([]), finding: JSON, owner: String) {
        self.runID = runID
        self.route = route
        self.findingID = findingID
        self.step = step
        self.status = status
        self.requestedMs = requestedMs
        self.deadlineMs = deadlineMs
        self.approveOnTimeout = approveOnTimeout
        self.decidedBy = decidedBy
        self.reason = reason
        self.approvedSteps = approvedSteps
        self.steps = steps
        self.finding = finding
        self.owner = owner
    }

    public var json: JSON {
        [
            "run_id": .string(runID), "route": .string(route), "finding_id": .string(findingID), "step": .string(step),
            "status": .string(status.rawValue), "requested_ms": .number(Double(requestedMs)),
            "deadline_ms": .number(Double(deadlineMs)), "default": .string(approveOnTimeout ? "approve" : "deny"),
            "decided_by": decidedBy.map { .string($0) } ?? .null, "reason": reason.map { .string($0) } ?? .null,
            "approved_steps": .array(approvedSteps.map { .string($0) }), "steps": steps, "finding": finding, "owner": .string(owner),
        ]
    }

    public init?(json: JSON) {
        guard let run = json["run_id"]?.stringValue, let status = json["status"]?.stringValue.flatMap(Status.init(rawValue:)),
              let step = json["step"]?.stringValue else { return nil }
        self.init(
            runID: run, route: json["route"]?.stringValue ?? "", findingID: json["finding_id"]?.stringValue ?? "", step: step,
            status: status, requestedMs: Int64(clamping: json["requested_ms"]?.doubleValue ?? 0), deadlineMs: Int64(clamping: json["deadline_ms"]?.doubleValue ?? 0),
            approveOnTimeout: json["default"]?.stringValue == "approve", decidedBy: json["decided_by"]?.stringValue,
            reason: json["reason"]?.stringValue, approvedSteps: json["approved_steps"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            steps: json["steps"] ?? .object([]), finding: json["finding"] ?? .null, owner: json["owner"]?.stringValue ?? "")
    }

    /// Milliseconds from `nowMs` to the deadline, 0 once passed. The deadline is read from the
    /// approvals topic (outside data, clamped to Int64): the subtraction saturates, never traps.
    public func millisecondsLeft(nowMs: Int64) -> Int64 {
        let (left, overflow) = deadlineMs.subtractingReportingOverflow(nowMs)
        return overflow ? (deadlineMs > 0 ? .max : 0) : max(0, left)
    }

    /// A decision on a pending gate.
    public func decided(approve: Bool, by: String, reason: String?) -> RunState {
        var s = self
        s.status = approve ? .approved : .denied
        s.decidedBy = by
        s.reason = reason
        return s
    }
}

/// Where run states live. `put` returns once the state is durable; `onChange` sees every state
/// written by anyone (this process, another instance, `sluice approvals approve`).
public protocol ApprovalStore: Sendable {
    func state(_ runID: String) -> RunState?
    func all() -> [RunState]
    func put(_ state: RunState) async throws(ActionError)
    func onChange(_ handler: @escaping @Sendable (RunState) -> Void)
    /// Whether this instance resumes `state` once it is decided (and arms its timeout).
    func resumesHere(_ state: RunState, instanceID: String) -> Bool
}

extension ApprovalStore {
    /// Without a group to share the work: the instance that parked the run (`actions.instance_id`).
    public func resumesHere(_ state: RunState, instanceID: String) -> Bool { state.owner == instanceID }
}

/// Run states in memory (tests, and dry previews). Same semantics as the Kafka store.
public final class MemoryApprovalStore: ApprovalStore {
    private let states = Mutex<[String: RunState]>([:])
    private let handlers = Mutex<[@Sendable (RunState) -> Void]>([])
    public init() {}
    public func state(_ runID: String) -> RunState? { states.withLock { $0[runID] } }
    public func all() -> [RunState] { states.withLock { Array($0.values) }.sorted { $0.requestedMs < $1.requestedMs } }
    public func put(_ state: RunState) async throws(ActionError) {
        states.withLock { $0[state.runID] = state }
        for h in handlers.withLock({ $0 }) { h(state) }
    }
    public func onChange(_ handler: @escaping @Sendable (RunState) -> Void) { handlers.withLock { $0.append(handler) } }
}

/// Run states in a Kafka topic (compacted in production: key = run id, latest value = state).
/// On start it reads the topic to its end, so pending approvals survive restarts; then a
/// thread follows the topic and reports every new state.
///
/// With an ownership group (`sluice run` consuming Kafka: `<group>.approvals`), a decided run is
/// resumed by whichever instance owns the run's partition of the topic now, as Kafka assigns it
/// among the live members, not by the instance that parked it: when that one is gone, the
/// group moves its partitions and the new owner resumes what was decided (or is decided later).
/// The member never fetches (its partitions stay paused): it is there for the assignment.
public final class KafkaApprovalStore: ApprovalStore {
    public let topic: String
    private let producer: KafkaProducer
    private let reader: KafkaTopicReader
    private let states = Mutex<[String: RunState]>([:])
    private let handlers = Mutex<[@Sendable (RunState) -> Void]>([])
    private let stopping = Atomic<Bool>(false)
    private let following = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)
    private let logger: Logger
    /// The member of the ownership group (nil: runs are resumed by the instance named in them).
    private let ownership: KafkaConsumer?
    /// Run id → the partition its states are in, as read from the topic.
    private let partitions = Mutex<[String: Int32]>([:])

    public init(config: KafkaConfig, topic: String, ownershipGroup: String? = nil, logger: Logger) throws(KafkaError) {
        self.topic = topic
        self.logger = logger
        producer = try KafkaProducer(config: config, logger: logger)
        reader = try KafkaTopicReader(config: config, topic: topic, logger: logger)
        if let ownershipGroup {
            var member = config
            member["group.id"] = ownershipGroup
            member["enable.auto.commit"] = "false"
            // Eager assignment: with Tansu, a cooperative-sticky member that joined beside the
            // owner of the only partition was never assigned it once the owner left (measured).
            member["partition.assignment.strategy"] = "range"
            let consumer = try KafkaConsumer(config: member, topics: [topic], logger: logger)
            consumer.pause()  // assigned partitions join the paused state: nothing is fetched twice
            ownership = consumer
        } else {
            ownership = nil
        }
        for record in try reader.readToEnd() { apply(record) }
    }

    /// Assignments and revocations the ownership member went through (tests wait on it).
    public var rebalances: Int { rebalanceCount.load(ordering: .relaxed) }
    private let rebalanceCount = Atomic<Int>(0)

    /// The partitions of the topic this instance owns now (empty without an ownership group).
    public var ownedPartitions: Set<Int32> { Set(ownership?.assignment.map(\.partition) ?? []) }

    public func resumesHere(_ state: RunState, instanceID: String) -> Bool {
        // Not read back yet: only the instance that wrote it knows the run.
        guard let ownership, let partition = partitions.withLock({ $0[state.runID] }) else { return state.owner == instanceID }
        return ownership.assignment.contains(TopicPartition(topic, partition))
    }

    /// Newly owned partitions: their runs are reported again, so decided ones are resumed here
    /// and pending ones get their timeout armed here.
    private func gained(_ parts: [TopicPartition]) {
        let owned = Set(parts.filter { $0.topic == topic }.map(\.partition))
        guard !owned.isEmpty else { return }
        let runs = partitions.withLock { p in p.filter { owned.contains($0.value) }.map(\.key) }
        let moved = states.withLock { s in runs.compactMap { s[$0] } }.sorted { $0.requestedMs < $1.requestedMs }
        let handlers = handlers.withLock { $0 }
        for state in moved { for h in handlers { h(state) } }
    }

    /// Starts following the topic (call after registering `onChange` handlers).
    public func start() {
        guard !following.exchange(true, ordering: .acquiringAndReleasing) else { return }
        ownership?.onRebalance { [weak self] event in
            self?.rebalanceCount.add(1, ordering: .relaxed)
            if case .assigned(let parts) = event { self?.gained(parts) }
        }
        let thread = Thread { [self] in
            while !stopping.load(ordering: .acquiring) {
                if let record = reader.poll(timeoutMs: 100) { apply(record) }
                // Serves the member's rebalances (its partitions are paused: no records).
                if let ownership { _ = ownership.poll(timeoutMs: 0) }
            }
            following.store(false, ordering: .releasing)
        }
        thread.name = "sluice-approvals"
        thread.start()
    }

    private func apply(_ record: KafkaRecord) {
        guard let value = record.value, let json = try? JSON.parse(String(decoding: value, as: UTF8.self)),
              let state = RunState(json: json) else {
            logger.warning("unreadable approval state skipped", metadata: ["kafka.topic": "\(topic)", "kafka.offset": "\(record.offset)"])
            return
        }
        partitions.withLock { $0[state.runID] = record.partition }
        states.withLock { $0[state.runID] = state }
        for h in handlers.withLock({ $0 }) { h(state) }
    }

    public func state(_ runID: String) -> RunState? { states.withLock { $0[runID] } }
    public func all() -> [RunState] { states.withLock { Array($0.values) }.sorted { $0.requestedMs < $1.requestedMs } }
    public func onChange(_ handler: @escaping @Sendable (RunState) -> Void) { handlers.withLock { $0.append(handler) } }

    public func put(_ state: RunState) async throws(ActionError) {
        do {
            try await producer.send(topic: topic, key: Array(state.runID.utf8), value: JSONBuilder(state.json).serialized())
        } catch {
            throw ActionError(error.description, retryable: true)
        }
        // Seen at once here; the follower thread applies it again (idempotent).
        states.withLock { $0[state.runID] = state }
    }

    /// Stops following, flushes and closes the clients. Idempotent.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        stopping.store(true, ordering: .releasing)
        producer.close()
        while following.load(ordering: .acquiring) { usleep(10_000) }
        ownership?.close()  // leaves the group: the survivors take its partitions
        reader.close()
    }
}

/// Decisions on pending gates, as `sluice approvals approve|deny` (and later the admin API) make them.
public enum ApprovalDesk {
    /// Records a decision on a pending run; the owning instance resumes it.
    public static func decide(_ runID: String, approve: Bool, by who: String, reason: String?, store: any ApprovalStore) async throws(ActionError) -> RunState {
        guard let state = store.state(runID) else { throw .permanent("no run \(runID)") }
        guard state.status == .pending else { throw .permanent("run \(runID) is not waiting for approval (it is \(state.status.rawValue))") }
        let decided = state.decided(approve: approve, by: who, reason: reason)
        try await store.put(decided)
        return decided
    }

    /// One line per run: id, status, step, route, deadline, decision.
    public static func describe(_ s: RunState, nowMs: Int64) -> String {
        var line = "\(s.runID)  \(s.status.rawValue)  step=\(s.step)  route=\(s.route)"
        if s.status == .pending {
            line += "  expires_in=\(s.millisecondsLeft(nowMs: nowMs) / 1000)s  default=\(s.approveOnTimeout ? "approve" : "deny")"
        } else if let by = s.decidedBy {
            line += "  by=\(by)"
        }
        return line
    }
}
