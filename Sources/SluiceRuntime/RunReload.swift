import Foundation
import Logging
import SluiceActions
import SluiceAdmin
import SluiceConnectors
import SluiceCore
import SluiceKafka
import SluiceState

/// `POST /-/reload`, SIGHUP and `--watch` (docs/state.md, "Reload"; docs/playbooks.md): validate
/// everything and make whatever the new configuration needs that the run does not have yet —
/// lanes of new and changed connectors; the Hold stage (offline); consuming Kafka, the key owner
/// with its repartition and changelog topics, the inhibition feed; the playbook lane with its
/// approvals, audit and shared caps — then swap the rules and routes in one step. Nothing changes
/// when anything fails: what was made is undone and the run goes on with its configuration.
/// Unchanged connectors keep their lanes and connections; replaced lanes finish their work
/// (LaneSet). Parts made late are started under `LateServices` and stop with the run.
struct RunReload: Sendable {
    let settings: RunSettings
    let environment: [String: String]
    let logger: Logger
    let kafka: KafkaConfig
    let connectorFiles: ConnectorFiles
    let makeLane: @Sendable (ConnectorDefinition) throws -> DeliveryLane
    let lanes: LaneSet
    /// Binds each route's targets to the current lanes (the playbook lane included once it exists).
    let bind: @Sendable (LoadedConfiguration) -> [[BoundTarget]]
    let pipeline: Pipeline
    let stats: RunStats
    let gateRun: HoldGateRun
    let bridge: AdminBridge?
    let late: LateServices
    /// Consuming Kafka: the Kafka-backed parts of the Hold stage (always there: silences).
    let state: StateSetup?
    let playbookSetup: PlaybookSetup
    let hold: LateSlot<HoldStage>
    let owner: LateSlot<KafkaHoldOwner>
    let inhibitFeedStarted: LateSlot<Bool>
    let playbooks: LateSlot<PlaybookLane>

    /// One at a time (the caller holds a lock: SIGHUP, the API and `--watch` may ask at once).
    func reload() -> Result<AdminBridge.Reloaded, Diagnostics> {
        // Refused from the SIGTERM on, not only once `LateServices` stops: the source drains
        // first while the admin server and SIGHUP still answer, and a reload taken then swapped
        // the plan under the drain and started a state owner (`ReloadWhileStoppingTests`).
        guard !pipeline.stopping.isStopped else {
            logger.error("reload failed: the run goes on with the configuration it had", metadata: ["error": "the run is stopping"])
            return .failure(Diagnostics([Diagnostic(path: settings.routesDirectory, message: "the run is stopping")]))
        }
        let fresh: LoadedConfiguration
        let freshInhibit: [InhibitRule]
        do throws(Diagnostics) {
            fresh = try LoadedConfiguration.load(routesDirectory: settings.routesDirectory, connectorsDirectory: settings.connectorsDirectory,
                                                 environment: environment)
            freshInhibit = try HoldRuleLoader.loadInhibitRules(directory: settings.routesDirectory, environment: environment)
        } catch { return .failure(error) }
        let problems = fresh.connectorsNeedingBrokers(runHasBrokers: kafka["bootstrap.servers"] != nil)
            + fresh.connectorsMissingAWSPrerequisites(offline: settings.input != nil, environment: environment)
        guard problems.isEmpty else { return .failure(Diagnostics(problems)) }
        let freshRules = HoldStage.rules(of: fresh.table.routes)

        // Made now, started (or undone) below.
        var made: [RunPart] = []
        var newHold: HoldStage?
        var newOwner: KafkaHoldOwner?
        var newPlaybooks: PlaybookLane?
        var startsInhibitFeed = false
        func failure(_ message: String) -> Result<AdminBridge.Reloaded, Diagnostics> {
            RunPart.discard(made)
            newPlaybooks?.close()
            logger.error("reload failed: the run goes on with the configuration it had", metadata: ["error": "\(message)"])
            return .failure(Diagnostics([Diagnostic(path: settings.routesDirectory, message: message)]))
        }

        // Offline, the Hold stage exists once some rule uses it (in memory; consuming Kafka it
        // always does, for silences).
        if hold.current == nil, !freshRules.isEmpty || !freshInhibit.isEmpty {
            newHold = HoldStage(routes: fresh.table.routes, inhibitRules: freshInhibit, held: stats.held)
        }
        var needsOwner = false
        if let state {
            needsOwner = !freshRules.isEmpty && owner.current == nil
            startsInhibitFeed = !freshInhibit.isEmpty && inhibitFeedStarted.current == nil
            // Topics first: a topic that cannot be created fails the reload before anything starts.
            if needsOwner || startsInhibitFeed {
                do { try StateSetup.create(state.topics, keyed: needsOwner, inhibit: startsInhibitFeed, config: kafka, logger: logger) } catch {
                    return failure("the state topics the new rules need cannot be created: \(error)")
                }
            }
            if startsInhibitFeed {
                do { made.append(try state.inhibitFeed()) } catch {
                    return failure("the inhibition topic \(state.topics.inhibit) cannot be read: \(error)")
                }
            }
        }
        if playbooks.current == nil, !fresh.playbooks.isEmpty {
            do { newPlaybooks = try playbookSetup.make(fresh, parts: &made) } catch {
                return failure("the first playbook's approvals, audit or shared caps cannot be set up: \(error)")
            }
        }
        var replacements: [String: DeliveryLane] = [:]
        let changes = connectorFiles.changes(in: fresh)
        for definition in fresh.connectors where changes.changed.contains(definition.name) {
            do { replacements[definition.name] = try makeLane(definition) } catch {
                for lane in replacements.values { lane.connector.shutdown() }
                RunPart.discard(made)
                newPlaybooks?.close()
                return .failure(Diagnostics([Diagnostic(path: definition.location.path, line: definition.location.line,
                                                        column: definition.location.column,
                                                        message: "connector '\(definition.name)': \(error)")]))
            }
        }
        // The owner last: nothing that can fail comes after it (undoing it means a consumer close).
        if needsOwner, let state {
            guard let gate = pipeline.activePlan.gate else {
                for lane in replacements.values { lane.connector.shutdown() }
                return failure("state rules need the Hold stage, which this run does not have")
            }
            do {
                let (o, parts) = try state.keyOwner(rules: freshRules, gate: gate)
                newOwner = o
                made += parts
            } catch {
                for lane in replacements.values { lane.connector.shutdown() }
                return failure("the owner of the state keys cannot be set up: \(error)")
            }
        }

        // The swap. The new owner is the run's before its loop starts: `/-/ready` is false from
        // here until it restored its partitions. (Adopted and then not started — the run is
        // stopping — it decides nothing: without restored engines every item is forwarded.)
        if let newOwner { state?.adopt(newOwner) }
        guard late.start(made) else {
            for lane in replacements.values { lane.connector.shutdown() }
            return failure("the run is stopping")
        }
        if let newOwner { owner.set(newOwner) }
        if let newHold { hold.set(newHold) }
        if startsInhibitFeed { inhibitFeedStarted.set(true) }
        if let newPlaybooks {
            lanes.addFixed(newPlaybooks.lane)
            playbooks.set(newPlaybooks)
        }
        lanes.replace(replacements, removing: changes.removed, definitions: fresh.connectors)
        playbooks.current?.runner.replacePlaybooks(fresh.playbooks)
        connectorFiles.accept(fresh)
        if !replacements.isEmpty || !changes.removed.isEmpty {
            logger.notice("connectors reloaded", metadata: [
                "sluice.replaced": "\(replacements.keys.sorted().joined(separator: ","))",
                "sluice.removed": "\(changes.removed.sorted().joined(separator: ","))"])
        }
        let started = (newHold == nil ? [] : ["hold stage"]) + (newOwner == nil ? [] : ["state owner"])
            + (startsInhibitFeed ? ["inhibition feed"] : []) + (newPlaybooks == nil ? [] : ["playbooks"])
        if !started.isEmpty { logger.notice("reload started", metadata: ["sluice.started": "\(started.joined(separator: ","))"]) }
        // The rules first, then the plan: a record planned with the old plan in between is
        // decided by the new rules, like the items already on their way to their key's owner.
        hold.current?.replaceRules(routes: fresh.table.routes, inhibitRules: freshInhibit)
        owner.current?.replaceRules(freshRules)
        bridge?.inhibitRules.withLock { $0 = freshInhibit }
        pipeline.replacePlan(RoutingPlan(table: fresh.table, targets: bind(fresh), hold: hold.current, useEventTime: settings.input != nil,
                                         forwarder: state?.forwarder, inhibitRules: freshInhibit, limits: settings.pipeline.decodeLimits,
                                         gateRun: gateRun))
        return .success(AdminBridge.Reloaded(configuration: fresh, restartedConnectors: (Array(replacements.keys) + changes.removed).sorted()))
    }
}
