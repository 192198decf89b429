import Foundation
import Logging
import SluiceActions
import SluiceConnectors
import SluiceCore
import SluiceHTTP
import SluiceKafka
import SluiceReplay
import Synchronization

/// Binds replays (SluiceReplay) to the configured routes and connectors: a replayed letter is
/// rendered as the pipeline renders it and goes through the same lanes (retry, backoff, breaker,
/// rate limit, timeouts), with `Delivery.replay` set so HTTP targets see `X-Sluice-Replay`.
/// A delivery that fails again is not dead-lettered a second time: its failure is recorded in the
/// replay's progress, and running the replay again retries it.
///
/// Playbook targets are never run straight away: a replay asks for a fresh approval (a pending
/// run `route:finding:replay:NAME` in the approvals topic, owned by `actions.instance_id`), and
/// the owning instance runs the playbook only once someone approves it.
public final class ReplayDispatcher: ReplayDispatch {
    /// The connector name playbook targets carry in dead letters (the playbook lane's name).
    public static let playbookTarget = "playbooks"
    /// How long a replayed playbook run waits for its approval; unanswered, it is denied.
    public static let approvalTimeout: Duration = .seconds(3600)

    let loaded: LoadedConfiguration
    private let lanes: [String: DeliveryLane]
    private let usesSummary: [String: Bool]
    private let approvals: (any ApprovalStore)?
    private let owner: String
    private let http: HTTPClient
    private let closeApprovals: @Sendable () -> Void
    private let stats = RunStats()

    /// Loads routes and connectors as `sluice run` would; the approvals topic is opened only
    /// when a route has a playbook and brokers are set.
    public init(settings: RunSettings, environment: [String: String], logger: Logger) throws {
        let loaded = try LoadedConfiguration.load(routesDirectory: settings.routesDirectory, connectorsDirectory: settings.connectorsDirectory,
                                                  environment: environment)
        self.loaded = loaded
        var kafka = KafkaConfig(settings.kafka)
        if let brokers = settings.brokers { kafka["bootstrap.servers"] = brokers }
        http = HTTPClient()
        let context = ConnectorContext(http: http, kafka: kafka, environment: environment, logger: logger)
        let stopping = StopSignal()
        // Failed replays are recorded in the replay's progress, not written as new dead letters.
        let deadLetters = DeadLetterWriter(topic: nil, producer: nil, fallback: .nullDevice, logger: logger, stats: stats, stopping: stopping)
        var lanes: [String: DeliveryLane] = [:]
        for definition in loaded.connectors {
            lanes[definition.name] = DeliveryLane(
                name: definition.name, connector: try definition.make(context: context), policy: definition.policy,
                deadLetters: deadLetters, stats: stats, stopping: stopping, logger: logger)
        }
        self.lanes = lanes
        usesSummary = Dictionary(loaded.connectors.map { ($0.name, $0.usesSummary) }, uniquingKeysWith: { a, _ in a })
        owner = settings.actions.instanceID
        if !loaded.playbooks.isEmpty, kafka["bootstrap.servers"] != nil {
            let store = try KafkaApprovalStore(config: kafka, topic: settings.actions.approvalsTopic, logger: logger)
            approvals = store
            closeApprovals = { store.close() }
        } else {
            approvals = nil
            closeApprovals = {}
        }
    }

    public func targets(for letter: DeadLetterRecord, reroute: Bool) -> Result<[ReplayTarget], ReplaySkip> {
        let routes = loaded.table.routes
        if reroute {
            guard let event = letter.findingJSON else { return .failure(ReplaySkip("the letter is not a JSON finding")) }
            var out: [ReplayTarget] = []
            for i in loaded.table.referenceMatch(event) {
                out += routes[i].targets.map { ReplayTarget(route: routes[i].name, connector: $0.connector) }
                if loaded.playbooks[routes[i].name] != nil { out.append(ReplayTarget(route: routes[i].name, connector: Self.playbookTarget)) }
            }
            return out.isEmpty ? .failure(ReplaySkip("no route matches the finding now")) : .success(out)
        }
        guard let route = letter.route, let connector = letter.connector else {
            return .failure(ReplaySkip("no failed target recorded (\(letter.reason)): replay it with --reroute"))
        }
        let target = ReplayTarget(route: route, connector: connector)
        if connector == Self.playbookTarget {
            return loaded.playbooks[route] == nil ? .failure(ReplaySkip("route '\(route)' has no playbook now")) : .success([target])
        }
        guard let r = routes.first(where: { $0.name == route }) else { return .failure(ReplaySkip("route '\(route)' is not configured now")) }
        guard r.targets.contains(where: { $0.connector == connector }) else {
            return .failure(ReplaySkip("route '\(route)' no longer sends to '\(connector)'"))
        }
        return .success([target])
    }

    public func deliver(_ letter: DeadLetterRecord, to targets: [ReplayTarget], replay name: String) async -> [ReplayTarget: ReplayTargetOutcome] {
        await withTaskGroup(of: (ReplayTarget, ReplayTargetOutcome).self) { group in
            for target in targets {
                group.addTask { (target, await self.deliver(letter, to: target, replay: name)) }
            }
            var out: [ReplayTarget: ReplayTargetOutcome] = [:]
            for await (t, o) in group { out[t] = o }
            return out
        }
    }

    private func deliver(_ letter: DeadLetterRecord, to target: ReplayTarget, replay name: String) async -> ReplayTargetOutcome {
        if target.connector == Self.playbookTarget { return await requestApproval(letter, route: target.route, replay: name) }
        guard let i = loaded.table.routes.firstIndex(where: { $0.name == target.route }),
              let j = loaded.table.routes[i].targets.firstIndex(where: { $0.connector == target.connector }),
              let lane = lanes[target.connector] else { return .failed("target \(target) is not configured") }
        let event = letter.findingJSON
        let findingID = event.flatMap { GuardDutyEnvelope.findingID($0) }
        var payload = letter.value ?? []
        var summary: FindingSummary?
        if let renderer = loaded.renderers[i][j] {
            guard let event else { return .failed("the letter is not a JSON finding: cannot render its template") }
            summary = FindingSummary(event: event)
            payload = renderer.render(event, summary: summary)
        } else if usesSummary[target.connector] == true, let event {
            summary = FindingSummary(event: event)
        }
        var delivery = Delivery(payload: payload, key: findingID.map { Array($0.utf8) } ?? letter.key, findingID: findingID,
                                route: target.route, summary: summary)
        delivery.replay = name
        let record = SourceRecord(topic: letter.sourceTopic, partition: letter.sourcePartition ?? 0, offset: letter.sourceOffset ?? -1,
                                  key: letter.key, value: letter.value)
        let failure = LastStatus()
        let delivered: Bool = await withCheckedContinuation { continuation in
            let message = InFlightMessage(record: record, ticket: nil, work: 1, onSettled: { _ in })
            var job = DeliveryJob(message: message, route: target.route, delivered: stats.deliveryCounter(route: target.route, connector: target.connector),
                                  delivery: delivery, firstAttempt: .now)
            job.report = { status in failure.set(status) }
            job.onOutcome = { ok in continuation.resume(returning: ok) }
            lane.submit(job)
        }
        if delivered { return .delivered }
        let status = failure.value ?? "failed"
        return .failed([status, lane.health.lastError].compactMap { $0 }.joined(separator: ": "))
    }

    /// A fresh pending run for the route's playbook: nothing runs until someone approves it.
    private func requestApproval(_ letter: DeadLetterRecord, route: String, replay name: String) async -> ReplayTargetOutcome {
        guard let approvals else { return .failed("playbook replays need the approvals topic (brokers and actions.approvals_topic)") }
        guard let playbook = loaded.playbooks[route] else { return .failed("route '\(route)' has no playbook now") }
        guard let value = letter.value, let finding = PlaybookRunner.normalize(value) else { return .failed("the letter is not a JSON finding") }
        let findingID = PlaybookRunner.findingID(finding)
        let runID = "\(route):\(findingID):replay:\(name)"
        // Asked before (a rerun of the replay): the same request stands, whatever its decision.
        if approvals.state(runID) != nil { return .approvalRequested(runID: runID) }
        let now = Int64(clamping: Date().timeIntervalSince1970 * 1000)
        let state = RunState(runID: runID, route: route, findingID: findingID, step: playbook.steps.first?.name ?? "-", status: .pending,
                             requestedMs: now, deadlineMs: now + Self.approvalTimeout.wholeMilliseconds, approveOnTimeout: false,
                             finding: finding, owner: owner)
        do { try await approvals.put(state) } catch { return .failed("cannot request the approval: \(error.message)") }
        return .approvalRequested(runID: runID)
    }

    /// Releases connections and the approvals store.
    public func close() {
        for lane in lanes.values { lane.connector.shutdown() }
        http.shutdown()
        closeApprovals()
    }
}

/// The last status a lane reported for one job (its dead-letter reason), read after it settled.
final class LastStatus: Sendable {
    private let status = Mutex<String?>(nil)
    func set(_ s: String) { status.withLock { $0 = s } }
    var value: String? { status.withLock { $0 } }
}
