import Foundation
import Logging
import SluiceActions
import SluiceConnectors
import SluiceCore
import SluiceHTTP
import SluiceKafka
import SluiceReplay
import Synchronization

/// Binds replays (SluiceReplay) to routes and lanes: a letter is decoded, planned and rendered
/// by the pipeline's own `Planner` (any input format, the failed part of a split record, OCSF
/// out, templates, render checks) and goes through a delivery lane (retry, backoff, breaker, rate
/// limit, timeouts), with `Delivery.replay` set so HTTP targets see `X-Sluice-Replay`. A replay
/// started through the admin API uses the running instance's routes and lanes, so replayed
/// deliveries share the live traffic's rate limits and breakers and count in its metrics;
/// `sluice dlq replay` opens lanes of its own. A delivery that fails again is not dead-lettered a
/// second time: its failure is recorded in the replay's progress, and running the replay again
/// retries it.
///
/// Playbook targets are never run straight away: a replay asks for a fresh approval (a pending
/// run `route:finding:replay:NAME` in the approvals topic, owned by `actions.instance_id`), and
/// the owning instance runs the playbook only once someone approves it.
public final class ReplayDispatcher: ReplayDispatch {
    /// The connector name playbook targets carry in dead letters (the playbook lane's name).
    public static let playbookTarget = "playbooks"
    /// How long a replayed playbook run waits for its approval; unanswered, it is denied.
    public static let approvalTimeout: Duration = .seconds(3600)

    private let plan: RoutingPlan
    /// One planner (it owns simdjson parsers); replays plan one letter at a time.
    private let planner: Mutex<Planner>
    private let playbooks: [String: Playbook]
    private let approvals: (any ApprovalStore)?
    private let owner: String
    /// Closes what this dispatcher opened itself (nothing when it borrows a run's lanes).
    private let release: @Sendable () -> Void

    /// A replay in a running instance (the admin API): its current routes and its lanes.
    init(plan: RoutingPlan, options: PipelineOptions, playbooks: [String: Playbook], approvals: (any ApprovalStore)?, owner: String,
         release: @escaping @Sendable () -> Void = {}) {
        self.plan = plan
        planner = Mutex(Planner(plan: plan, maxMessageBytes: options.maxMessageBytes, maxDepth: options.maxDepth, formats: options.formats))
        self.playbooks = playbooks
        self.approvals = approvals
        self.owner = owner
        self.release = release
    }

    /// `sluice dlq replay`: routes and connectors loaded as `sluice run` would, with lanes of its
    /// own; the approvals topic is opened only when a route has a playbook and brokers are set.
    public convenience init(settings: RunSettings, environment: [String: String], logger: Logger) throws {
        let loaded = try LoadedConfiguration.load(routesDirectory: settings.routesDirectory, connectorsDirectory: settings.connectorsDirectory,
                                                  environment: environment)
        var kafka = KafkaConfig(settings.kafka)
        if let brokers = settings.brokers { kafka["bootstrap.servers"] = brokers }
        let http = HTTPClient()
        let context = ConnectorContext(http: http, kafka: kafka, environment: environment, logger: logger)
        let stats = RunStats()
        let stopping = StopSignal()
        let deadLetters = DeadLetterWriter(topic: nil, producer: nil, fallback: .nullDevice, logger: logger, stats: stats, stopping: stopping)
        var lanes: [String: DeliveryLane] = [:]
        var usesSummary: [String: Bool] = [:]
        for definition in loaded.connectors {
            lanes[definition.name] = DeliveryLane(
                name: definition.name, connector: try definition.make(context: context), policy: definition.policy,
                deadLetters: deadLetters, stats: stats, stopping: stopping, logger: logger)
            usesSummary[definition.name] = definition.usesSummary
        }
        let targets: [[BoundTarget]] = loaded.table.routes.enumerated().map { i, route in
            route.targets.enumerated().compactMap { j, t in
                lanes[t.connector].map {
                    BoundTarget(lane: $0, renderer: loaded.renderers[i][j], usesSummary: usesSummary[t.connector] ?? false,
                                delivered: stats.deliveryCounter(route: route.name, connector: t.connector))
                }
            }
        }
        var approvals: (any ApprovalStore)?
        var closeApprovals: @Sendable () -> Void = {}
        if !loaded.playbooks.isEmpty, kafka["bootstrap.servers"] != nil {
            let store = try KafkaApprovalStore(config: kafka, topic: settings.actions.approvalsTopic, logger: logger)
            approvals = store
            closeApprovals = { store.close() }
        }
        let connectors = Array(lanes.values.map(\.connector))
        let closeStore = closeApprovals
        self.init(plan: RoutingPlan(table: loaded.table, targets: targets), options: settings.pipeline, playbooks: loaded.playbooks,
                  approvals: approvals, owner: settings.actions.instanceID, release: {
                      for c in connectors { c.shutdown() }
                      http.shutdown()
                      closeStore()
                  })
    }

    public func targets(for letter: DeadLetterRecord, reroute: Bool) -> Result<[ReplayTarget], ReplaySkip> {
        let routes = plan.table.routes
        if reroute {
            guard let event = letter.findingJSON else { return .failure(ReplaySkip("the letter is not a finding")) }
            var out: [ReplayTarget] = []
            for i in plan.table.referenceMatch(event) {
                out += routes[i].targets.map { ReplayTarget(route: routes[i].name, connector: $0.connector) }
                if playbooks[routes[i].name] != nil { out.append(ReplayTarget(route: routes[i].name, connector: Self.playbookTarget)) }
            }
            return out.isEmpty ? .failure(ReplaySkip("no route matches the finding now")) : .success(out)
        }
        guard let route = letter.route, let connector = letter.connector else {
            return .failure(ReplaySkip("no failed target recorded (\(letter.reason)): replay it with --reroute"))
        }
        let target = ReplayTarget(route: route, connector: connector)
        if connector == Self.playbookTarget {
            return playbooks[route] == nil ? .failure(ReplaySkip("route '\(route)' has no playbook now")) : .success([target])
        }
        guard let r = routes.first(where: { $0.name == route }) else { return .failure(ReplaySkip("route '\(route)' is not configured now")) }
        guard r.targets.contains(where: { $0.connector == connector }) else {
            return .failure(ReplaySkip("route '\(route)' no longer sends to '\(connector)'"))
        }
        return .success([target])
    }

    public func deliver(_ letter: DeadLetterRecord, to targets: [ReplayTarget], replay name: String) async -> [ReplayTarget: ReplayTargetOutcome] {
        var outcomes: [ReplayTarget: ReplayTargetOutcome] = [:]
        var jobs: [(target: ReplayTarget, lane: DeliveryLane, job: DeliveryJob)] = []
        let sends = targets.filter { $0.connector != Self.playbookTarget }
        if !sends.isEmpty {
            // Planned as the pipeline planned it, to the failed routes whether or not they match now.
            let routeIndices = Set(sends.compactMap { t in plan.table.routes.firstIndex { $0.name == t.route } }).sorted()
            let record = SourceRecord(topic: letter.sourceTopic, partition: letter.sourcePartition ?? 0, offset: letter.sourceOffset ?? -1,
                                      key: letter.key, value: letter.value)
            let outcome = planner.withLock { $0.replan(record, part: letter.partIndex) { _ in routeIndices } }
            var planned: [(route: String, target: BoundTarget, delivery: Delivery)] = []
            switch outcome {
            case .rejected(let reason, let detail):
                for t in sends { outcomes[t] = .failed("the letter cannot be decoded (\(reason.rawValue)): \(detail)") }
            case .unmatched: break
            case .deliveries(let list): planned = list
            }
            for t in sends where outcomes[t] == nil {
                let mine = planned.filter { $0.route == t.route && $0.target.lane.name == t.connector }
                if mine.isEmpty { outcomes[t] = .failed("target \(t) is not configured"); continue }
                for p in mine {
                    var delivery = p.delivery
                    delivery.replay = name
                    var job = DeliveryJob(message: InFlightMessage(record: record, ticket: nil, work: 1, onSettled: { _ in }),
                                          route: t.route, delivered: p.target.delivered, delivery: delivery, firstAttempt: .now)
                    job.deadLettersOnFailure = false
                    jobs.append((t, p.target.lane, job))
                }
            }
        }
        let playbookTargets = targets.filter { $0.connector == Self.playbookTarget }
        return await withTaskGroup(of: (ReplayTarget, ReplayTargetOutcome).self) { group in
            for (target, lane, job) in jobs {
                group.addTask { (target, await Self.run(job, in: lane)) }
            }
            for target in playbookTargets {
                group.addTask { (target, await self.requestApproval(letter, route: target.route, replay: name)) }
            }
            // A target of a split letter without its part index gets one job per finding: it is
            // delivered only when all of them are.
            for await (t, o) in group {
                if case .failed = outcomes[t] { continue }
                outcomes[t] = o
            }
            return outcomes
        }
    }

    private static func run(_ job: DeliveryJob, in lane: DeliveryLane) async -> ReplayTargetOutcome {
        var job = job
        let failure = LastStatus()
        let delivered: Bool = await withCheckedContinuation { continuation in
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
        guard let playbook = playbooks[route] else { return .failed("route '\(route)' has no playbook now") }
        guard let finding = letter.findingJSON else { return .failed("the letter is not a finding") }
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

    /// Releases what this dispatcher opened (connections, the approvals store).
    public func close() { release() }
}

/// The last status a lane reported for one job (its dead-letter reason), read after it settled.
final class LastStatus: Sendable {
    private let status = Mutex<String?>(nil)
    func set(_ s: String) { status.withLock { $0 = s } }
    var value: String? { status.withLock { $0 } }
}
