import Logging
import SluiceActions
import SluiceConnectors
import SluiceHTTP
import SluiceKafka

/// The playbook side of `sluice run`: one lane whose connector is the playbook runner, so runs
/// get the lanes' at-least-once settlement, retries and dead-lettering. With brokers, the audit
/// trail goes to `actions.audit_topic` and approval state to `actions.approvals_topic` (both must
/// exist; make the approvals topic compacted); offline, approvals live in memory only.
struct PlaybookLane {
    let lane: DeliveryLane
    /// Its playbooks are replaced by a reload.
    let runner: PlaybookRunner
    /// Where runs wait for approval (the admin API lists and decides them).
    let approvalStore: any ApprovalStore
    private let approvals: KafkaApprovalStore?
    private let auditProducer: KafkaProducer?

    static func make(loaded: LoadedConfiguration, settings: ActionSettings, kafka: KafkaConfig, http: HTTPClient, environment: [String: String],
                     deadLetters: DeadLetterWriter, stats: RunStats, stopping: StopSignal, logger: Logger,
                     budget: (any ActionBudget)? = nil, approvalsGroup: String? = nil) throws -> PlaybookLane? {
        guard !loaded.playbooks.isEmpty else { return nil }
        let log = logger.with("sluice.part", "actions")
        let hasBrokers = kafka["bootstrap.servers"] != nil
        var sinks: [any ActionAuditSink] = []
        var auditProducer: KafkaProducer?
        if hasBrokers, let topic = settings.auditTopic {
            let producer = try KafkaProducer(config: kafka, logger: log)
            sinks.append(KafkaAuditSink(producer: producer, topic: topic, logger: log))
            auditProducer = producer
        }
        var store: KafkaApprovalStore?
        let approvals: any ApprovalStore
        if hasBrokers {
            let s = try KafkaApprovalStore(config: kafka, topic: settings.approvalsTopic, ownershipGroup: approvalsGroup, logger: log)
            store = s
            approvals = s
        } else {
            log.warning("no brokers: approval state is kept in memory and lost at exit")
            approvals = MemoryApprovalStore()
        }
        let context = ActionContext(http: http, environment: environment, settings: settings, logger: log)
        let runner = PlaybookRunner(playbooks: loaded.playbooks, context: context, audit: ActionAudit(sinks: sinks, logger: log), approvals: approvals,
                                    budget: budget)
        runner.start()
        store?.start()
        var policy = DeliveryPolicy()
        policy.concurrency = 16
        policy.timeout = .seconds(300)
        let lane = DeliveryLane(name: "playbooks", connector: PlaybookConnector(runner: runner), policy: policy,
                                deadLetters: deadLetters, stats: stats, stopping: stopping, logger: logger)
        log.info("playbooks", metadata: ["sluice.playbooks": "\(loaded.playbooks.count)", "sluice.dry_run": "\(settings.dryRun)"])
        return PlaybookLane(lane: lane, runner: runner, approvalStore: approvals, approvals: store, auditProducer: auditProducer)
    }

    func close() {
        approvals?.close()
        auditProducer?.close()
    }
}
