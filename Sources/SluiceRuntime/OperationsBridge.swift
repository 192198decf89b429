import Foundation
import Logging
import SluiceActions
import SluiceAdmin
import SluiceCore
import SluiceKafka
import SluiceReplay
import Synchronization

/// The runtime's side of `OperationsRuntime`: dead letters read from the dead-letter topic,
/// replays run by SluiceReplay with this run's configuration, approvals from the playbooks'
/// approval store. Blocking Kafka reads run on a thread of their own, never on the server's.
final class OperationsBridge: OperationsRuntime {
    let settings: RunSettings
    let kafka: KafkaConfig
    /// Where runs wait for approval: nil until some route has a playbook (a reload may add the first).
    let currentApprovals: @Sendable () -> (any ApprovalStore)?
    var approvalStore: (any ApprovalStore)? { currentApprovals() }
    /// The running playbooks (a reload may replace them).
    let playbooks: @Sendable () -> [String: Playbook]
    /// The running pipeline's routes and decode limits: replays go through its lanes.
    let running: @Sendable () -> (RoutingPlan, PipelineOptions)?
    let logger: Logger
    /// Opened on first use: a run whose operators never replay pays nothing.
    private let ledger = Mutex<KafkaReplayLedger?>(nil)
    private let runningReplays = Mutex<[String: ReplayCancellation]>([:])

    init(settings: RunSettings, kafka: KafkaConfig, approvals: @escaping @Sendable () -> (any ApprovalStore)?, playbooks: @escaping @Sendable () -> [String: Playbook],
         running: @escaping @Sendable () -> (RoutingPlan, PipelineOptions)?, logger: Logger) {
        self.settings = settings
        self.kafka = kafka
        currentApprovals = approvals
        self.playbooks = playbooks
        self.running = running
        self.logger = logger
    }

    var progressTopic: String { settings.stateTopicPrefix + "replays" }

    /// Runs blocking work on a thread outside the cooperative pool and the server's event loops.
    private func offload<T: Sendable>(_ work: @escaping @Sendable () throws(OperationsError) -> T) async throws(OperationsError) -> T {
        let result: Result<T, OperationsError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                do throws(OperationsError) { continuation.resume(returning: .success(try work())) } catch { continuation.resume(returning: .failure(error)) }
            }
        }
        return try result.get()
    }

    private func topic() throws(OperationsError) -> String {
        guard let topic = settings.deadLetterTopic, kafka["bootstrap.servers"] != nil else { throw .unavailable("no dead-letter topic: this run has none") }
        return topic
    }

    private func filter(reason: String?, route: String?, connector: String?, since: String?, until: String?, pattern: String? = nil) throws(OperationsError) -> DeadLetterFilter {
        var f = DeadLetterFilter(reason: reason, route: route, connector: connector)
        if let since {
            guard let ms = DeadLetterRecord.parseTime(since) else { throw .badRequest("since must be an ISO 8601 time") }
            f.sinceMs = ms
        }
        if let until {
            guard let ms = DeadLetterRecord.parseTime(until) else { throw .badRequest("until must be an ISO 8601 time") }
            f.untilMs = ms
        }
        if let pattern {
            do { try f.setPattern(pattern) } catch { throw .badRequest(error.description) }
        }
        return f
    }

    private func letters() async throws(OperationsError) -> [DeadLetterRecord] {
        let topic = try topic()
        let (kafka, logger) = (self.kafka, self.logger)
        return try await offload { () throws(OperationsError) in
            do { return try DeadLetterBrowser.read(config: kafka, topic: topic, logger: logger) } catch {
                throw .unavailable("cannot read \(topic): \(error)")
            }
        }
    }

    // MARK: Dead letters

    func deadLetters(_ query: DeadLetterQuery) async throws(OperationsError) -> DeadLetterPage {
        let f = try filter(reason: query.reason, route: query.route, connector: query.connector, since: query.since, until: query.until)
        let all = try await letters()
        let (shown, total) = DeadLetterBrowser.select(all, filter: f, limit: query.limit)
        let byReason = Dictionary(DeadLetterBrowser.countByReason(all.filter(f.matches)).map { ($0.reason, $0.count) }, uniquingKeysWith: +)
        return DeadLetterPage(topic: try topic(), total: total, inTopic: all.count, byReason: byReason, letters: shown.map(Self.item))
    }

    static func item(_ l: DeadLetterRecord) -> DeadLetterItem {
        let cut = 2048
        return DeadLetterItem(
            id: l.id, reason: l.reason, route: l.route, connector: l.connector, attempts: l.attempts, error: l.error,
            failedAt: l.failedAtMs.map(DeadLetterRecord.format), findingId: l.findingID, sourceTopic: l.sourceTopic,
            payload: l.value.map { String(decoding: $0.prefix(cut), as: UTF8.self) }, payloadTruncated: (l.value?.count ?? 0) > cut)
    }

    // MARK: Replays

    private func replayLedger() async throws(OperationsError) -> KafkaReplayLedger {
        if let ledger = ledger.withLock({ $0 }) { return ledger }
        _ = try topic()
        let (kafka, logger, progressTopic) = (self.kafka, self.logger, self.progressTopic)
        let made = try await offload { () throws(OperationsError) -> KafkaReplayLedger in
            do {
                try KafkaReplayLedger.createTopic(progressTopic, config: kafka, logger: logger)
                return try KafkaReplayLedger(config: kafka, topic: progressTopic, logger: logger)
            } catch {
                throw .unavailable("cannot open replay progress: \(error)")
            }
        }
        return ledger.withLock { l in
            if let l {
                // Another request opened it first: keep theirs.
                made.close()
                return l
            }
            l = made
            return made
        }
    }

    /// A dispatcher over the routes running now and this run's lanes.
    private func dispatcher() throws(OperationsError) -> ReplayDispatcher {
        guard let (plan, options) = running() else { throw .unavailable("the pipeline is not running yet") }
        return ReplayDispatcher(plan: plan, options: options, playbooks: playbooks(), approvals: approvalStore, owner: settings.actions.instanceID)
    }

    static func status(_ s: ReplaySummary) -> ReplayStatus {
        ReplayStatus(name: s.name, status: s.status.rawValue, reroute: s.reroute, selection: s.selection, matched: s.matched, processed: s.processed,
                     delivered: s.delivered, alreadyDone: s.alreadyDone, approvalsRequested: s.approvalsRequested, failed: s.failed,
                     skipped: s.skipped, startedAt: DeadLetterRecord.format(s.startedMs), updatedAt: DeadLetterRecord.format(s.updatedMs))
    }

    func replays() async throws(OperationsError) -> [ReplayStatus] {
        let ledger = try await replayLedger()
        ledger.refresh()
        return ledger.summaries().map(Self.status)
    }

    func startReplay(_ start: ReplayStart, by principal: String) async throws(OperationsError) -> ReplayStatus {
        let f = try filter(reason: start.reason, route: start.route, connector: start.connector, since: start.since, until: start.until, pattern: start.filter)
        let selection = [("reason", start.reason), ("route", start.route), ("connector", start.connector), ("since", start.since),
                         ("until", start.until), ("filter", start.filter)].compactMap { k, v in v.map { "--\(k) \($0)" } }.joined(separator: " ")
            + (start.reroute == true ? " --reroute" : "")
        let name = start.name ?? ReplayRequest.defaultName(selection: selection)
        guard ReplayRequest.isValidName(name) else { throw .badRequest("name: use 1 to 64 letters, digits, '.', '_' or '-'") }
        if let rate = start.rate, !(rate.isFinite && rate > 0) { throw .badRequest("rate must be a positive number of deliveries per second") }
        let request = ReplayRequest(name: name, filter: f, reroute: start.reroute ?? false, dryRun: start.dryRun ?? false,
                                    ratePerSecond: start.rate, selection: selection)
        let cancellation = ReplayCancellation()
        let claimed = runningReplays.withLock { r -> Bool in
            guard r[name] == nil else { return false }
            r[name] = cancellation
            return true
        }
        guard claimed else { throw .conflict("replay \(name) is running") }
        let letters: [DeadLetterRecord]
        let ledger: KafkaReplayLedger
        let dispatcher: ReplayDispatcher
        do {
            ledger = try await replayLedger()
            dispatcher = try self.dispatcher()
            letters = try await self.letters()
        } catch {
            _ = runningReplays.withLock { $0.removeValue(forKey: name) }
            throw error
        }
        let engine = ReplayEngine(ledger: ledger, dispatch: dispatcher, logger: logger)
        let first = FirstSummary()
        let started = AsyncStream<Void>.makeStream()
        logger.notice("replay started", metadata: ["sluice.replay": "\(name)", "admin.principal": "\(principal)", "sluice.selection": "\(selection)"])
        // The replay outlives the request; its progress is in the ledger (GET /api/v1/replays).
        Task { [self] in
            do {
                let s = try await engine.run(request, letters: letters, cancellation: cancellation) { s in
                    if first.offer(s) { started.continuation.yield() }
                }
                logger.notice("replay ended", metadata: ["sluice.replay": "\(name)", "sluice.progress": "\(s.progressLine)"])
            } catch {
                logger.error("replay stopped", metadata: ["sluice.replay": "\(name)", "error": "\(error)"])
            }
            _ = self.runningReplays.withLock { $0.removeValue(forKey: name) }
            started.continuation.finish()
        }
        for await _ in started.stream { break }
        let now = Int64(clamping: Date().timeIntervalSince1970 * 1000)
        let summary = first.value ?? ledger.summary(name) ?? ReplaySummary(name: name, status: .running, reroute: request.reroute,
                                                                                      selection: selection, startedMs: now)
        return Self.status(summary)
    }

    func cancelReplay(name: String, by principal: String) async throws(OperationsError) -> (status: ReplayStatus, elsewhere: Bool) {
        let ledger = try await replayLedger()
        let now = Int64(clamping: Date().timeIntervalSince1970 * 1000)
        if let cancellation = runningReplays.withLock({ $0[name] }) {
            cancellation.cancel()
            var s = ledger.summary(name) ?? ReplaySummary(name: name, status: .cancelled, reroute: false, selection: "", startedMs: now)
            s.status = .cancelled
            return (Self.status(s), false)
        }
        // Not here: another instance may run it. Its progress says so; the request reaches it
        // through the ledger, and it stops between two letters.
        ledger.refresh()
        guard let s = ledger.summary(name), s.status == .running else { throw .notFound("replay \(name) is not running") }
        do { try await ledger.put(ReplayCancelRequest(name: name, by: principal, atMs: now)) } catch {
            throw .unavailable(error.description)
        }
        logger.notice("replay cancel requested", metadata: ["sluice.replay": "\(name)", "admin.principal": "\(principal)"])
        return (Self.status(s), true)
    }

    // MARK: Approvals

    private func store() throws(OperationsError) -> any ApprovalStore {
        guard let approvalStore else { throw .notFound("no playbooks are configured: no run waits for approval") }
        return approvalStore
    }

    static func status(_ s: RunState, nowMs: Int64) -> ApprovalStatus {
        ApprovalStatus(runId: s.runID, route: s.route, findingId: s.findingID, step: s.step, status: s.status.rawValue,
                       requestedAt: DeadLetterRecord.format(s.requestedMs), deadline: DeadLetterRecord.format(s.deadlineMs),
                       expiresInSeconds: s.status == .pending ? Int(clamping: s.millisecondsLeft(nowMs: nowMs) / 1000) : 0,
                       defaultDecision: s.approveOnTimeout ? "approve" : "deny", decidedBy: s.decidedBy, comment: s.reason)
    }

    func approvals(all: Bool) async throws(OperationsError) -> [ApprovalStatus] {
        let now = Int64(clamping: Date().timeIntervalSince1970 * 1000)
        // Without playbooks nothing can wait: an empty list, not an error.
        guard let approvalStore else { return [] }
        return approvalStore.all().filter { all || $0.status == .pending }.map { Self.status($0, nowMs: now) }
    }

    func decide(_ decision: ApprovalDecision, by principal: String) async throws(OperationsError) -> ApprovalStatus {
        let store = try store()
        guard store.state(decision.runId) != nil else { throw .notFound("no run \(decision.runId)") }
        do {
            let s = try await ApprovalDesk.decide(decision.runId, approve: decision.decision == "approve", by: principal,
                                                  reason: decision.comment.map { String($0.prefix(1000)) }, store: store)
            logger.notice("approval decided", metadata: [
                "action.run_id": "\(s.runID)", "admin.principal": "\(principal)", "sluice.decision": "\(s.status.rawValue)",
            ])
            return Self.status(s, nowMs: Int64(clamping: Date().timeIntervalSince1970 * 1000))
        } catch {
            throw .conflict(error.message)
        }
    }
}

/// A replay's first progress report, for the answer to the request that started it.
final class FirstSummary: Sendable {
    private let summary = Mutex<ReplaySummary?>(nil)
    /// Keeps `s`; true when it is the first.
    func offer(_ s: ReplaySummary) -> Bool { summary.withLock { f in defer { f = s }; return f == nil } }
    var value: ReplaySummary? { summary.withLock { $0 } }
}
