import Foundation
import Logging
import SluiceActions
import SluiceAWS
import SluiceCore
import SluiceKafka
import SluiceTestSupport
import Testing

/// End to end through `sluice run`: a GuardDuty runtime finding naming a moto instance is
/// published to Kafka (Tansu); the route's playbook quarantines the instance; the audit topic
/// tells the story.
@Suite(.serialized) struct PlaybookPipelineTests {
    @Test func aPublishedFindingQuarantinesItsInstanceThroughTheActionLane() async throws {
        let moto = try await MotoServer.startShared()
        let world = try await EC2World.make(moto)
        let instance = try await world.launch()
        let broker = try await TansuBroker.start()
        try await withCleanup { cleanup in
            cleanup.add { await broker.stopAndWait() }
            try await broker.create(topics: ["guardduty.findings", "sluice.dead-letter", "sluice.actions.audit", "sluice.approvals"])

            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("routes"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("connectors"), withIntermediateDirectories: true)
            try """
                name: quarantine-miners
                match: {detail: {type: [{prefix: "CryptoCurrency:Runtime/"}]}}
                playbook:
                  - name: isolate
                    action: aws.ec2.isolate
                """.write(to: dir.appendingPathComponent("routes/quarantine.yaml"), atomically: true, encoding: .utf8)
            try """
                brokers: \(broker.bootstrap)
                topics: [guardduty.findings]
                group: sluice-pipeline-test
                dead_letter_topic: sluice.dead-letter
                routes: \(dir.path)/routes
                connectors: \(dir.path)/connectors
                kafka: {session.timeout.ms: "6000", heartbeat.interval.ms: "500", topic.metadata.refresh.interval.ms: "1000"}
                actions:
                  instance_id: pipeline-test
                  aws:
                    region: us-east-1
                    endpoint: \(moto.endpoint)
                    credentials: {access_key_id: testing, secret_access_key: testing}
                """.write(to: dir.appendingPathComponent("sluice.yaml"), atomically: true, encoding: .utf8)

            let (validated, text) = try await ApprovalTests.sluice(["validate", "--routes", dir.path + "/routes", "--connectors", dir.path + "/connectors"])
            #expect(validated == 0 && text.contains("1 playbooks"), "\(text)")

            let sluice = Process()
            sluice.executableURL = PackagePaths.sluiceBinary
            sluice.arguments = ["run", "--config", dir.appendingPathComponent("sluice.yaml").path]
            let log = dir.appendingPathComponent("sluice.log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            sluice.standardOutput = handle
            sluice.standardError = handle
            try sluice.run()
            defer { if sluice.isRunning { kill(sluice.processIdentifier, SIGKILL) } }

            let finding = try ActionFixtures.finding("01-ec2-cryptominer.json", replacing: ["i-0a4f1c2b3d5e6f789": instance])
            let producer = try KafkaProducer(config: broker.clientConfig(), logger: Logger(label: "test"))
            try await producer.send(topic: "guardduty.findings", value: JSONBuilder(finding).serialized())
            try await offPool { producer.close() }

            var quarantined = false
            for _ in 0..<300 where !quarantined {
                try await Task.sleep(for: .milliseconds(200))
                quarantined = try await world.tags(instance)["sluice:quarantined"] != nil
            }
            let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            #expect(quarantined, "the playbook did not quarantine the instance; sluice said:\n\(output.suffix(3000))")
            #expect(try await world.groups(instance) != [world.appGroup])

            kill(sluice.processIdentifier, SIGTERM)
            await sluice.waitForExit()
            let reader = try KafkaTopicReader(config: broker.clientConfig(), topic: "sluice.actions.audit", logger: Logger(label: "test"))
            cleanup.addOffPool { reader.close() }
            let audited = try await offPool { try reader.readToEnd() }.compactMap { r in r.value.flatMap { try? JSON.parse(String(decoding: $0, as: UTF8.self)) }.flatMap(ActionAuditRecord.init(json:)) }
            let steps = audited.map { "\($0.route)/\($0.step)/\($0.result.rawValue)/\($0.target)" }
            // One isolation, audited last. An attempt that failed first (moto answering slowly on a
            // loaded machine: seen under AddressSanitizer) is audited as failed and retried.
            let isolated = "quarantine-miners/isolate/succeeded/ec2:instance \(instance)"
            let retried = "quarantine-miners/isolate/failed/ec2:instance \(instance)"
            let succeeded = steps.filter { $0 == isolated }.count
            let others = steps.filter { $0 != isolated && $0 != retried }
            #expect(succeeded == 1 && steps.last == isolated && others.isEmpty, "\(steps)")
        }
    }
}
