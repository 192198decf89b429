import Foundation
import Logging
import SluiceCore
import SluiceFormats
import SluiceGuardDuty
import SluiceHTTP
import Synchronization

/// Runs playbooks: for each step, the `when` condition, the approval gate, parameter rendering,
/// target resolution, dry run, blast-radius guards, attempts with retry, failure handling and
/// compensation — every decision written to the audit trail.
///
/// A run is named `route:finding-id`. A run that reaches an approval gate is parked: its state
/// (finding, outputs so far) goes to the approval store and the run returns; the decision (or
/// the gate's timeout default) resumes it, in this process or after a restart.
public final class PlaybookRunner: Sendable {
    /// The playbooks by route; a reload replaces them (`replacePlaybooks`).
    public var playbooks: [String: Playbook] { current.withLock { $0 } }
    private let current: Mutex<[String: Playbook]>
    public let settings: ActionSettings
    let executors: [String: any ActionExecutor]
    let guards: ActionGuards
    /// Caps and concurrent isolations: `guards` in this process, or a budget shared by all instances.
    let budget: any ActionBudget
    let audit: ActionAudit
    let approvals: (any ApprovalStore)?
    let logger: Logger
    private let active = Mutex<Set<String>>([])
    /// Decided runs being resumed here (run id and step): a decision can be reported twice (the
    /// record, then a partition this instance gains), and must run the step once.
    private let resuming = Mutex<Set<String>>([])

    public enum Outcome: Sendable, Equatable {
        /// Every step ran, was skipped, or failed with `on_failure: continue`.
        case completed
        /// Waiting at an approval gate.
        case parked(step: String)
        /// An approval was denied (or timed out with `default: deny`).
        case denied(step: String)
        /// A guard refused a step and the run stopped there.
        case refused(step: String, reason: String)
        /// A step failed and the run stopped (after compensation, if declared). `changed`: some
        /// earlier step already changed something, so running the playbook again is not harmless.
        case failed(step: String, error: ActionError, changed: Bool)
        /// The same run is already under way, finished, or parked: nothing done.
        case duplicate(String)
    }

    public init(playbooks: [String: Playbook], context: ActionContext, audit: ActionAudit, approvals: (any ApprovalStore)? = nil,
                executors: [any ActionExecutor]? = nil, budget: (any ActionBudget)? = nil) {
        self.current = Mutex(playbooks)
        self.settings = context.settings
        let list = executors ?? ActionRegistry.types.map { $0.init(context: context) }
        self.executors = Dictionary(list.map { (type(of: $0).kind, $0) }, uniquingKeysWith: { $1 })
        let guards = ActionGuards(settings: context.settings.guards)
        self.guards = guards
        self.budget = budget ?? guards
        self.audit = audit
        self.approvals = approvals
        self.logger = context.logger
    }

    /// Resumes decided runs owned by this instance and arms the timeouts of pending ones; from
    /// then on, every decision written to the store resumes its run. Call once after creation.
    public func start() {
        guard let approvals else { return }
        approvals.onChange { [self] state in handle(state) }
        for state in approvals.all() { handle(state) }
    }

    private func handle(_ state: RunState) {
        guard let approvals, approvals.resumesHere(state, instanceID: settings.instanceID) else { return }
        switch state.status {
        case .pending: scheduleTimeout(state, store: approvals)
        case .approved, .denied:
            let key = state.runID + "\u{0}" + state.step
            guard resuming.withLock({ $0.insert(key).inserted }) else { return }
            Task {
                _ = await resume(state)
                _ = resuming.withLock { $0.remove(key) }
            }
        case .finished: break
        }
    }

    private func scheduleTimeout(_ state: RunState, store: any ApprovalStore) {
        let wait = state.millisecondsLeft(nowMs: Self.nowMs())
        Task { [self] in
            try? await Task.sleep(for: .milliseconds(wait))
            guard let current = store.state(state.runID), current.status == .pending, current.step == state.step else { return }
            let decided = current.decided(approve: current.approveOnTimeout, by: "timeout", reason: "no decision within the approval timeout")
            do { try await store.put(decided) } catch {
                logger.error("cannot record approval timeout", metadata: ["action.run_id": "\(state.runID)", "error": "\(error)"])
                return
            }
        }
    }

    /// Runs the playbook of `route` for a finding given as its bytes (an EventBridge event or a
    /// bare GuardDuty finding).
    public func run(route: String, payload: [UInt8]) async -> Outcome {
        guard let playbook = playbooks[route] else { return .failed(step: "-", error: .permanent("route '\(route)' has no playbook"), changed: false) }
        guard let finding = Self.normalize(payload) else {
            return .failed(step: "-", error: .permanent("the payload is not a JSON finding"), changed: false)
        }
        return await run(playbook, finding: finding)
    }

    public func run(_ playbook: Playbook, finding: JSON) async -> Outcome {
        let findingID = Self.findingID(finding)
        let runID = "\(playbook.route):\(findingID)"
        if let state = approvals?.state(runID) {
            switch state.status {
            case .pending: return .duplicate("run \(runID) is waiting for approval of step '\(state.step)'")
            case .finished: return .duplicate("run \(runID) already finished")
            case .approved, .denied:
                // Decided: its owner resumes it (another instance, when the run's partition moved).
                guard approvals?.resumesHere(state, instanceID: settings.instanceID) ?? true else {
                    return .duplicate("run \(runID) was decided; the instance that owns it resumes it")
                }
                return await resume(state)
            }
        }
        return await execute(playbook, finding: finding, findingID: findingID, runID: runID, resumed: nil)
    }

    /// A reload's playbooks, for runs that start or resume from now on. A run resumed after a
    /// reload continues with the playbook as it is now: the steps it has not done yet, by name; a
    /// gate whose step it had no approval for waits for one again.
    public func replacePlaybooks(_ playbooks: [String: Playbook]) {
        current.withLock { $0 = playbooks }
    }

    /// Continues a decided run from its stored state.
    func resume(_ state: RunState) async -> Outcome {
        // A stale notification (the run finished, or moved on to a later gate) resumes nothing.
        if let current = approvals?.state(state.runID), current.status == .finished || current.step != state.step || current.status == .pending {
            return .duplicate("run \(state.runID) is \(current.status.rawValue) at step '\(current.step)'")
        }
        guard let playbook = playbooks[state.route] else {
            logger.error("decided run names a route without a playbook", metadata: ["action.run_id": "\(state.runID)", "route.name": "\(state.route)"])
            return .duplicate("no playbook for route \(state.route)")
        }
        let outcome = await execute(playbook, finding: state.finding, findingID: state.findingID, runID: state.runID, resumed: state)
        if case .parked = outcome { return outcome }
        if case .duplicate = outcome { return outcome }
        var done = approvals?.state(state.runID) ?? state
        done.status = .finished
        try? await approvals?.put(done)
        return outcome
    }

    private struct RunProgress {
        var steps: [(key: String, value: JSON)] = []
        var changed = false
        var stepsJSON: JSON { .object(steps) }
        mutating func record(_ name: String, _ status: String, _ output: JSON) {
            steps.removeAll { $0.key == name }
            steps.append((name, ["status": .string(status), "output": output]))
        }
    }

    private func execute(_ playbook: Playbook, finding: JSON, findingID: String, runID: String, resumed: RunState?) async -> Outcome {
        let claimed = active.withLock { $0.insert(runID).inserted }
        guard claimed else { return .duplicate("run \(runID) is under way") }
        defer { _ = active.withLock { $0.remove(runID) } }

        let dryRun = settings.dryRun || playbook.dryRun
        var progress = RunProgress()
        if let done = resumed?.steps.objectValue { progress.steps = done }
        var approved = Set(resumed?.approvedSteps ?? [])
        let summary = FindingSummary.of(event: finding)
        let base = ActionRequest(finding: finding, findingID: findingID, route: playbook.route, step: "", runID: runID, parameters: ActionParameters())

        for step in playbook.steps where !progress.steps.contains(where: { $0.key == step.name }) {
            let context = Self.context(finding, steps: progress.stepsJSON)
            // A dry run's earlier steps did nothing, so a condition on their outcome cannot be
            // decided: the step is shown as it would run, its condition marked unresolved.
            let undecided = dryRun ? step.when.flatMap { Self.undecidedInDryRun($0, steps: progress.stepsJSON) } : nil
            if undecided == nil, let when = step.when, !when.matches(context) {
                audit.record(record(base, step, target: "-", params: .null, .skipped, detail: "when condition not met"))
                progress.record(step.name, "skipped", .null)
                continue
            }
            if let gate = step.approval, !approved.contains(step.name) {
                if dryRun {
                    audit.record(record(base, step, target: "-", params: .null, .awaitingApproval, detail: "dry run: would wait for approval"))
                } else {
                    switch await gateDecision(gate, step: step, base: base, progress: progress.stepsJSON, approved: Array(approved), resumed: resumed) {
                    case .proceed: approved.insert(step.name)
                    case .park: return .parked(step: step.name)
                    case .deny(let who):
                        audit.record(record(base, step, target: "-", params: .null, .denied, detail: "denied by \(who)"))
                        return .denied(step: step.name)
                    case .parkFailed(let error):
                        return .failed(step: step.name, error: ActionError(error.message, retryable: true), changed: false)
                    }
                }
            }
            let result = await perform(step, base: base, context: context, summary: summary, dryRun: dryRun, undecided: undecided)
            progress.record(step.name, result.status, result.output)
            if result.changed { progress.changed = true }
            guard let failure = result.failure else { continue }
            if let reason = result.refusal {
                if step.onFailure == .continue { continue }
                return .refused(step: step.name, reason: reason)
            }
            switch step.onFailure {
            case .continue: continue
            case .stop: return .failed(step: step.name, error: failure, changed: progress.changed)
            case .compensate:
                for c in step.compensation {
                    let ctx = Self.context(finding, steps: progress.stepsJSON)
                    let r = await perform(c, base: base, context: ctx, summary: summary, dryRun: dryRun)
                    progress.record(c.name, r.status, r.output)
                }
                audit.record(record(base, step, target: "-", params: .null, .compensated,
                                    detail: "ran \(step.compensation.count) compensation step(s) after: \(failure.message)"))
                return .failed(step: step.name, error: failure, changed: progress.changed)
            }
        }
        return .completed
    }

    private enum GateDecision {
        case proceed, park
        case deny(String)
        case parkFailed(ActionError)
    }

    private func gateDecision(_ gate: ApprovalGate, step: PlaybookStep, base: ActionRequest, progress: JSON, approved: [String], resumed: RunState?) async -> GateDecision {
        guard let approvals else { return .deny("policy: no approvals store is configured") }
        if let s = approvals.state(base.runID) ?? resumed, s.step == step.name {
            switch s.status {
            case .approved:
                audit.record(record(base, step, target: "-", params: .null, .approved, detail: "approved by \(s.decidedBy ?? "?")"))
                return .proceed
            case .denied: return .deny(s.decidedBy ?? "?")
            case .pending: return .park
            case .finished: break
            }
        }
        let now = Self.nowMs()
        let state = RunState(
            runID: base.runID, route: base.route, findingID: base.findingID, step: step.name, status: .pending, requestedMs: now,
            deadlineMs: now + gate.timeout.wholeMilliseconds, approveOnTimeout: gate.approveOnTimeout, approvedSteps: approved,
            steps: progress, finding: base.finding, owner: settings.instanceID)
        do { try await approvals.put(state) } catch { return .parkFailed(error) }
        audit.record(record(base, step, target: "-", params: .null, .awaitingApproval,
                            detail: "waiting up to \(gate.timeout.wholeMilliseconds / 1000)s; default \(gate.approveOnTimeout ? "approve" : "deny")"))
        return .park
    }

    private struct StepResult {
        var status: String
        var output: JSON
        var changed = false
        var failure: ActionError?
        var refusal: String?
    }

    /// One step: render, resolve the target, dry run or guards, attempts.
    private func perform(_ step: PlaybookStep, base: ActionRequest, context: JSON, summary: FindingSummary?, dryRun: Bool,
                         undecided: String? = nil) async -> StepResult {
        guard let executor = executors[step.action] else {
            let e = ActionError.permanent("no executor '\(step.action)'")
            audit.record(record(base, step, target: "-", params: .null, .failed, detail: e.message))
            return StepResult(status: "failed", output: .null, failure: e)
        }
        let type = type(of: executor)
        var request = base
        request.step = step.name
        request.parameters = ActionParameters(step.parameters.mapValues { $0.render(context, summary: summary) })
        request.templates = step.parameters
        let params = request.parameters.redacted(type.parameters)
        // Errors echo what was sent (a 401 body with the token): scrubbed before the audit and the
        // dead-letter reason see them.
        let scrubber = SecretScrubber(request.parameters.secretValues(type.parameters))
        if dryRun { return await dryRunStep(step, executor: executor, request: request, params: params, base: base, undecided: undecided) }
        var target: ActionTarget?
        var ticket: ActionBudgetTicket?
        defer { if let ticket { budget.finished(ticket) } }
        for attempt in 1...max(1, step.retry.attempts) {
            let start = ContinuousClock.now
            do throws(ActionError) {
                let t: ActionTarget
                if let known = target { t = known } else {
                    t = try await executor.target(request)
                    target = t
                }
                if ticket == nil {
                    // Protected resources are refused before any budget is spent.
                    let decision: ActionBudgetDecision = if let reason = ActionGuards.protection(of: t, settings: guards.settings) {
                        .refused(reason)
                    } else {
                        await budget.reserve(kind: type.kind, isIsolation: type.isIsolation, route: base.route, target: t)
                    }
                    switch decision {
                    case .refused(let reason):
                        audit.record(record(base, step, target: t.description, params: params, .refused, detail: reason, executor: type.kind))
                        return StepResult(status: "refused", output: ["reason": .string(reason)], failure: .permanent(reason), refusal: reason)
                    case .admitted(let admitted):
                        ticket = admitted
                    }
                }
                let out = try await executor.execute(request, target: t)
                if !out.changed, let ticket { budget.refund(ticket) }
                var r = record(base, step, target: t.description, params: params, out.changed ? .succeeded : .unchanged,
                               detail: "", executor: type.kind)
                r.durationMs = (ContinuousClock.now - start).wholeMilliseconds
                r.attempt = attempt
                r.output = Self.scrubbed(out.output, by: scrubber)  // a reply may echo what was sent
                audit.record(r)
                return StepResult(status: out.changed ? "succeeded" : "unchanged", output: out.output, changed: out.changed)
            } catch {
                let error = ActionError(scrubber.scrub(error.message), retryable: error.retryable)
                var r = record(base, step, target: target?.description ?? "-", params: params, .failed, detail: error.message, executor: type.kind)
                r.durationMs = (ContinuousClock.now - start).wholeMilliseconds
                r.attempt = attempt
                audit.record(r)
                if !error.retryable || attempt == step.retry.attempts {
                    // A step that declares `retry:` owns its attempts: once they are spent, the run
                    // must not be started again by the delivery lane (`attempts: 1` runs once).
                    let exhausted = step.retry.declared && error.retryable
                        ? ActionError("\(error.message) (after \(attempt) attempt\(attempt == 1 ? "" : "s"))", retryable: false) : error
                    return StepResult(status: "failed", output: ["error": .string(exhausted.message)], failure: exhausted)
                }
                try? await Task.sleep(for: step.retry.delay(after: attempt))
            }
        }
        return StepResult(status: "failed", output: .null, failure: .permanent("no attempt made"))
    }

    /// A dry run says what the step would do from the finding alone — no lookup, no credentials —
    /// and marks what it could not resolve instead of failing: a dry run never dead-letters a
    /// finding for what only the live target could tell.
    private func dryRunStep(_ step: PlaybookStep, executor: any ActionExecutor, request: ActionRequest, params: JSON,
                            base: ActionRequest, undecided: String?) async -> StepResult {
        let type = type(of: executor)
        var target: ActionTarget?
        var unresolved: [String] = undecided.map { [$0] } ?? []
        do throws(ActionError) {
            if let planned = try type.plannedTarget(request) {
                target = planned.target
                unresolved += planned.unresolved
            } else {
                target = try await executor.target(request)
            }
        } catch {
            unresolved.append("target: \(error.message)")
        }
        var note = target.flatMap { ActionGuards.protection(of: $0, settings: guards.settings) }.map { "dry run (would be refused: \($0))" }
            ?? "dry run: would run"
        if !unresolved.isEmpty { note += "; unresolved: " + unresolved.joined(separator: "; ") }
        audit.record(record(base, step, target: target?.description ?? "-", params: params, .dryRun, detail: note, executor: type.kind))
        var output: [(key: String, value: JSON)] = [("dry_run", true)]
        if let target { output.append(("target", .string(target.description))) }
        if !unresolved.isEmpty { output.append(("unresolved", .array(unresolved.map { .string($0) }))) }
        return StepResult(status: "dry_run", output: .object(output))
    }

    private func record(_ base: ActionRequest, _ step: PlaybookStep, target: String, params: JSON, _ result: ActionAuditRecord.Result,
                        detail: String, executor: String? = nil) -> ActionAuditRecord {
        ActionAuditRecord(runID: base.runID, findingID: base.findingID, route: base.route, step: step.name,
                          executor: executor ?? step.action, target: target, parameters: params, result: result, detail: detail)
    }

    // MARK: Pure helpers

    /// In a dry run, why `when` cannot be decided: it reads an earlier step that only ran dry
    /// (its output holds no real outcome). nil when it reads no step, or only steps that were
    /// skipped (their status is known).
    static func undecidedInDryRun(_ when: StepCondition, steps: JSON) -> String? {
        guard let read = when.pattern["steps"]?.objectValue?.map({ $0.key }), !read.isEmpty else { return nil }
        let dry = read.filter { steps[$0]?["status"]?.stringValue != "skipped" }
        guard !dry.isEmpty else { return nil }
        return "when: reads \(dry.map { "steps.\($0)" }.joined(separator: ", ")), decided when the step runs (a dry run has no real outcome)"
    }

    /// The template and `when` context: the finding with `steps` beside its own keys.
    static func context(_ finding: JSON, steps: JSON) -> JSON {
        guard case .object(var members) = finding else { return ["steps": steps] }
        members.removeAll { $0.key == "steps" }
        members.append(("steps", steps))
        return .object(members)
    }

    /// The finding as routes saw it, through the one decoder `run` uses (issue 11.2): bare
    /// GuardDuty findings wrapped as EventBridge delivers them, the view under `sluice`, the run's
    /// limits. A delivery's payload holds one finding (split records are delivered per finding).
    public static func normalize(_ payload: [UInt8]) -> JSON? {
        guard case .success(let findings) = FindingDecoder().decodeOwned(payload) else { return nil }
        return findings.first?.event
    }

    public static func findingID(_ finding: JSON) -> String {
        finding["sluice"]?["id"]?.stringValue ?? GuardDutyEnvelope.findingID(finding) ?? "unknown"
    }

    /// `json` with every string scrubbed: for the audit copy of an output (later steps still read
    /// the output as the target sent it).
    static func scrubbed(_ json: JSON, by scrubber: SecretScrubber) -> JSON {
        guard !scrubber.isEmpty else { return json }
        switch json {
        case .string(let s): return .string(scrubber.scrub(s))
        case .array(let a): return .array(a.map { scrubbed($0, by: scrubber) })
        case .object(let m): return .object(m.map { ($0.key, scrubbed($0.value, by: scrubber)) })
        default: return json
        }
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
