import Foundation
import Logging
import SluiceActions
import SluiceCore
import SluiceKafka
import SluiceTestSupport
import Testing

/// Approval gates with their state in a real Kafka topic (Tansu): a run waits, survives a
/// restart, and goes on when `sluice approvals approve` (the real binary) releases it.
@Suite(.serialized) struct ApprovalTests {
    static let logger = Logger(label: "test.approvals")

    static func routes(marker: String, script: String) -> String {
        """
        routes:
          - name: gated
            match: {source: [aws.guardduty]}
            playbook:
              - name: note
                action: exec
                params: {command: [\(script), "\(marker).note"]}
              - name: contain
                action: exec
                params: {command: [\(script), "\(marker).contain", "{{steps.note.output.exit_code}}"]}
                requires_approval: {timeout: 1h, default: deny}
          - name: auto
            match: {source: [aws.guardduty]}
            playbook:
              - name: contain
                action: exec
                params: {command: [\(script), "\(marker).auto"]}
                requires_approval: {timeout: 1s, default: approve}
        """
    }

    func runner(_ yaml: String, store: any ApprovalStore, audit: any ActionAuditSink, instanceID: String = "sluice-test-0") throws -> PlaybookRunner {
        var settings = ActionSettings()
        settings.instanceID = instanceID
        let r = PlaybookRunner(playbooks: try ActionFixtures.playbooks(yaml), context: ActionFixtures.context(settings, environment: [:]),
                               audit: ActionAudit(sinks: [audit], logger: Self.logger), approvals: store)
        r.start()
        return r
    }

    static func sluice(_ arguments: [String]) async throws -> (Int32, String) {
        let p = Process()
        p.executableURL = PackagePaths.sluiceBinary
        p.arguments = arguments
        let output = try await CommandRun.output(of: p)
        return (p.terminationStatus, output)
    }

    @Test func aGatedStepWaitsSurvivesARestartAndGoesOnWhenApproved() async throws {
        let broker = try await TansuBroker.start()
        try await withCleanup { cleanup in
            cleanup.add { await broker.stopAndWait() }
            try await broker.create(topics: ["sluice.approvals", "sluice.actions.audit"])
            let config = broker.clientConfig()
            let marker = FileManager.default.temporaryDirectory.appendingPathComponent("approval-\(UUID().uuidString)").path
            let script = try ActionFixtures.tempScript("touch \"$1\"; echo \"$2\" >> \"$1\"")
            let yaml = Self.routes(marker: marker, script: script)
            let producer = try KafkaProducer(config: config, logger: Self.logger)
            cleanup.addOffPool { producer.close() }
            let kafkaAudit = KafkaAuditSink(producer: producer, topic: "sluice.actions.audit", logger: Self.logger)
            let memory = MemoryAuditSink()
            let fanOut = FanOutSink(sinks: [kafkaAudit, memory])
            let payload = try ActionFixtures.findingBytes()
            let runID = "gated:8f52f18d300e0ed86a90afe715053ba9"

            // First process: the run stops at the gate.
            let store1 = try KafkaApprovalStore(config: config, topic: "sluice.approvals", logger: Self.logger)
            let runner1 = try runner(yaml, store: store1, audit: fanOut)
            store1.start()
            #expect(await runner1.run(route: "gated", payload: payload) == .parked(step: "contain"))
            #expect(FileManager.default.fileExists(atPath: marker + ".note"))
            // The same finding again while waiting: nothing new.
            guard case .duplicate = await runner1.run(route: "gated", payload: payload) else { Issue.record("expected a duplicate"); return }
            // The positive marker before the negative check: the gate was audited as waiting.
            let stepsBeforeApproval = memory.records.filter { $0.runID == runID }.map { "\($0.step):\($0.result.rawValue)" }
            #expect(stepsBeforeApproval == ["note:succeeded", "contain:awaiting_approval"])
            #expect(!FileManager.default.fileExists(atPath: marker + ".contain"))
            try await offPool { store1.close() }

            // Restart: the pending run is read back from the topic.
            let store2 = try KafkaApprovalStore(config: config, topic: "sluice.approvals", logger: Self.logger)
            cleanup.addOffPool { store2.close() }
            let pending = try #require(store2.state(runID))
            #expect(pending.status == .pending && pending.step == "contain" && pending.owner == "sluice-test-0")
            #expect(pending.steps["note"]?["status"] == "succeeded")
            let runner2 = try runner(yaml, store: store2, audit: fanOut)
            store2.start()

            let (listStatus, listed) = try await Self.sluice(["approvals", "list", "--brokers", broker.bootstrap])
            #expect(listStatus == 0 && listed.contains(runID) && listed.contains("step=contain"), "\(listed)")
            #expect(store2.state(runID)?.status == .pending)
            #expect(!FileManager.default.fileExists(atPath: marker + ".contain"), "the gated step ran before approval")

            let (status, out) = try await Self.sluice(["approvals", "approve", runID, "--brokers", broker.bootstrap, "--by", "alice"])
            #expect(status == 0, "\(out)")
            // The script touches the file, then appends: wait for the whole line, not the file.
            let released = await eventually(within: .seconds(120)) { (try? String(contentsOfFile: marker + ".contain", encoding: .utf8))?.hasSuffix("\n") == true }
            #expect(released, "approval did not release the step")
            // The output of the step before the gate survived the restart into the template.
            #expect(try String(contentsOfFile: marker + ".contain", encoding: .utf8) == "0\n")
            let finished = await eventually(within: .seconds(120)) { store2.state(runID)?.status == .finished }
            #expect(finished)
            let trail = memory.records.filter { $0.runID == runID }.map { "\($0.step):\($0.result.rawValue)" }
            #expect(trail == ["note:succeeded", "contain:awaiting_approval", "contain:approved", "contain:succeeded"], "\(trail)")
            let approval = memory.records.first { $0.result == .approved }
            #expect(approval?.detail == "approved by alice")
            let (again, _) = try await Self.sluice(["approvals", "approve", runID, "--brokers", broker.bootstrap])
            #expect(again == 1, "a decided run was decided twice")

            // Timeout: the declared default (approve) applies.
            let autoPayload = try ActionFixtures.findingBytes("02-ec2-reverse-shell.json")
            #expect(await runner2.run(route: "auto", payload: autoPayload) == .parked(step: "contain"))
            let autoApproved = await eventually(within: .seconds(120)) { FileManager.default.fileExists(atPath: marker + ".auto") }
            #expect(autoApproved, "the timeout default did not apply")
            let autoAudited = await eventually(within: .seconds(120)) { memory.records.filter { $0.route == "auto" }.count == 3 }
            #expect(autoAudited)
            let autoResults = memory.records.filter { $0.route == "auto" }.map(\.result)
            #expect(autoResults == [.awaitingApproval, .approved, .succeeded])
            let approvedByTimeout = memory.records.contains { $0.route == "auto" && $0.result == .approved && $0.detail == "approved by timeout" }
            #expect(approvedByTimeout)

            // Every record also reached the audit topic.
            producer.flush(timeoutMs: 5000)
            let reader = try KafkaTopicReader(config: config, topic: "sluice.actions.audit", logger: Self.logger)
            cleanup.addOffPool { reader.close() }
            let audited = try await offPool { try reader.readToEnd() }.compactMap { r in r.value.flatMap { try? JSON.parse(String(decoding: $0, as: UTF8.self)) }.flatMap(ActionAuditRecord.init(json:)) }
            #expect(audited.count == memory.records.count)
            let containedRecord = audited.first { $0.runID == runID && $0.step == "contain" && $0.result == .succeeded }
            let contained = try #require(containedRecord)
            #expect(contained.findingID == "8f52f18d300e0ed86a90afe715053ba9" && contained.route == "gated" && contained.executor == "exec")
            #expect(contained.target == "process \(script)")
        }
    }

    /// Two instances share the approvals through the ownership group: the one that parked a run
    /// stops, the survivor is assigned the run's partition, and when the run is approved (by the
    /// real CLI) the survivor runs the gated step, once.
    @Test func aDecidedRunIsResumedByTheInstanceThatOwnsItNow() async throws {
        let broker = try await TansuBroker.start()
        try await withCleanup { cleanup in
            cleanup.add { await broker.stopAndWait() }
            try await broker.create(topics: ["sluice.approvals"])
            let config = broker.clientConfig(TansuBroker.consumerTuning)
            let marker = FileManager.default.temporaryDirectory.appendingPathComponent("owner-\(UUID().uuidString)").path
            let script = try ActionFixtures.tempScript("touch \"$1\"; echo \"$2\" >> \"$1\"")
            let yaml = Self.routes(marker: marker, script: script)
            let runID = "gated:8f52f18d300e0ed86a90afe715053ba9"
            let group = "owners-\(UUID().uuidString.prefix(8))"

            var members: [(store: KafkaApprovalStore, runner: PlaybookRunner, audit: MemoryAuditSink)] = []
            for name in ["sluice-a", "sluice-b"] {
                let store = try KafkaApprovalStore(config: config, topic: "sluice.approvals", ownershipGroup: group, logger: Self.logger)
                let audit = MemoryAuditSink()
                members.append((store, try runner(yaml, store: store, audit: audit, instanceID: name), audit))
                store.start()
            }
            let stores = members.map(\.store)
            cleanup.addOffPool { for store in stores { store.close() } }
            // Both members are in the group: each was handed an assignment (the one partition, or none).
            let settled = await eventually(within: .seconds(90)) {
                members.allSatisfy { $0.store.rebalances >= 1 } && members.filter { $0.store.ownedPartitions == [0] }.count == 1
            }
            let rebalances = members.map(\.store.rebalances)
            #expect(settled, "the group never settled: \(rebalances) rebalances")
            let ownerPosition = members.firstIndex { $0.store.ownedPartitions == [0] }
            let ownerIndex = try #require(ownerPosition)
            let (owner, survivor) = (members[ownerIndex], members[1 - ownerIndex])
            #expect(await owner.runner.run(route: "gated", payload: try ActionFixtures.findingBytes()) == .parked(step: "contain"))
            let pendingOnSurvivor = await eventually(within: .seconds(60)) { survivor.store.state(runID)?.status == .pending }
            #expect(pendingOnSurvivor)

            // The instance that parked the run stops; the survivor takes its partition.
            try await offPool { [store = owner.store] in store.close() }
            let survivorOwnsIt = await eventually(within: .seconds(90)) { survivor.store.ownedPartitions == [0] }
            #expect(survivorOwnsIt, "the survivor was never assigned the run's partition")
            let (status, out) = try await Self.sluice(["approvals", "approve", runID, "--brokers", broker.bootstrap, "--by", "alice"])
            #expect(status == 0, "\(out)")
            let finishedOnSurvivor = await eventually(within: .seconds(120)) { survivor.store.state(runID)?.status == .finished }
            #expect(finishedOnSurvivor, "the survivor did not resume the run")
            #expect((try? String(contentsOfFile: marker + ".contain", encoding: .utf8)) == "0\n")
            let survivorSteps = survivor.audit.records.filter { $0.runID == runID }.map { "\($0.step):\($0.result.rawValue)" }
            #expect(survivorSteps == ["contain:approved", "contain:succeeded"])
            let ownerSteps = owner.audit.records.filter { $0.runID == runID }.map { "\($0.step):\($0.result.rawValue)" }
            #expect(ownerSteps == ["note:succeeded", "contain:awaiting_approval"])
        }
    }

    @Test func aDeniedStepStopsTheRun() async throws {
        let store = MemoryApprovalStore()
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("deny-\(UUID().uuidString)").path
        let script = try ActionFixtures.tempScript("touch \"$1\"")
        let audit = MemoryAuditSink()
        let r = try runner(Self.routes(marker: marker, script: script), store: store, audit: audit)
        let runID = "gated:8f52f18d300e0ed86a90afe715053ba9"
        #expect(await r.run(route: "gated", payload: try ActionFixtures.findingBytes()) == .parked(step: "contain"))
        #expect(store.all().map(\.status) == [.pending])
        _ = try await ApprovalDesk.decide(runID, approve: false, by: "bob", reason: "false positive", store: store)
        #expect(await eventually(within: .seconds(120)) { store.state(runID)?.status == .finished })
        #expect(!FileManager.default.fileExists(atPath: marker + ".contain"))
        #expect(audit.records.last?.result == .denied && audit.records.last?.detail == "denied by bob")
    }

    @Test func anUndecidedStepIsDeniedAtItsTimeoutWhenTheDefaultIsDeny() async throws {
        let store = MemoryApprovalStore()
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("timeout-\(UUID().uuidString)").path
        let script = try ActionFixtures.tempScript("touch \"$1\"")
        let audit = MemoryAuditSink()
        let yaml = """
            routes:
              - name: gated
                match: {source: [aws.guardduty]}
                playbook:
                  - name: contain
                    action: exec
                    params: {command: [\(script), "\(marker).contain"]}
                    requires_approval: {timeout: 1s, default: deny}
            """
        let r = try runner(yaml, store: store, audit: audit)
        let runID = "gated:8f52f18d300e0ed86a90afe715053ba9"
        #expect(await r.run(route: "gated", payload: try ActionFixtures.findingBytes()) == .parked(step: "contain"))
        // The positive marker: the run finished (the timeout decided and the runner resumed).
        #expect(await eventually(within: .seconds(60)) { store.state(runID)?.status == .finished })
        #expect(store.state(runID)?.decidedBy == "timeout")
        #expect(!FileManager.default.fileExists(atPath: marker + ".contain"))
        #expect(audit.records.last?.result == .denied && audit.records.last?.detail == "denied by timeout")
    }

    /// An approvals-topic record is outside data: a pending run whose `deadline_ms` is -1e300
    /// (clamped to Int64.min on reading) trapped the owner arming its timeout and
    /// `sluice approvals list` printing it (`deadline - now`). Now its time is simply up.
    @Test func aPendingRecordWithAnAbsurdDeadlineTimesOutInsteadOfTrapping() async throws {
        let broker = try await TansuBroker.start()
        try await withCleanup { cleanup in
            cleanup.add { await broker.stopAndWait() }
            try await broker.create(topics: ["sluice.approvals"])
            let config = broker.clientConfig()
            let runID = "gated:hostile-deadline"
            let record = #"{"run_id":"\#(runID)","route":"gated","finding_id":"x","step":"contain","status":"pending","requested_ms":-1e300,"deadline_ms":-1e300,"default":"deny","owner":"sluice-test-0","steps":{},"finding":null}"#
            let producer = try KafkaProducer(config: config, logger: Self.logger)
            try await producer.send(topic: "sluice.approvals", key: Array(runID.utf8), value: Array(record.utf8))
            producer.close()

            let (listStatus, listed) = try await Self.sluice(["approvals", "list", "--brokers", broker.bootstrap])
            #expect(listStatus == 0 && listed.contains(runID) && listed.contains("expires_in=0s"), "\(listed)")

            let store = try KafkaApprovalStore(config: config, topic: "sluice.approvals", logger: Self.logger)
            defer { store.close() }
            #expect(store.state(runID)?.deadlineMs == .min)
            let r = try runner(Self.routes(marker: "/nonexistent/hostile", script: "/bin/true"), store: store, audit: MemoryAuditSink())
            store.start()
            _ = r
            let timedOut = await eventually(within: .seconds(60)) { store.state(runID)?.decidedBy == "timeout" }
            #expect(timedOut, "\(String(describing: store.state(runID)))")
        }
    }

    @Test func approvalDefaultsAreOneHourAndDeny() throws {
        let yaml = """
            routes:
              - name: short
                match: {source: [aws.guardduty]}
                playbook:
                  - {name: a, action: exec, params: {command: [/bin/true]}, requires_approval: true}
                  - {name: b, action: exec, params: {command: [/bin/true]}, requires_approval: {timeout: 5m}}
                  - {name: c, action: exec, params: {command: [/bin/true]}, requires_approval: {timeout: 2s, default: approve}}
                  - {name: d, action: exec, params: {command: [/bin/true]}}
            """
        let steps = try #require(try ActionFixtures.playbooks(yaml)["short"]).steps
        #expect(steps.map { $0.approval?.timeout } == [.seconds(3600), .seconds(300), .seconds(2), nil])
        #expect(steps.map { $0.approval?.approveOnTimeout } == [false, false, true, nil])
    }
}

/// Writes each audit record to several sinks.
struct FanOutSink: ActionAuditSink {
    let sinks: [any ActionAuditSink]
    func write(_ record: ActionAuditRecord) { for s in sinks { s.write(record) } }
}
