import Foundation
import SluiceActions
import SluiceAWS
import SluiceCore
import SluiceTestSupport
import Testing

/// aws.iam.disable-access-key, aws.ecs.stop-task, aws.ec2.snapshot against moto.
@Suite(.serialized) struct AWSExecutorTests {
    func runner(_ moto: MotoServer, _ routes: String, audit: MemoryAuditSink) throws -> PlaybookRunner {
        var settings = ActionSettings()
        settings.aws = AWSSettings(region: "us-east-1", endpoint: moto.endpoint)
        settings.aws.accessKeyID = "testing"
        settings.aws.secretAccessKey = Secret("testing")
        return PlaybookRunner(playbooks: try ActionFixtures.playbooks(routes), context: ActionFixtures.context(settings, environment: [:]),
                              audit: ActionAudit(sinks: [audit], logger: .init(label: "t")))
    }

    @Test func anAccessKeyFindingDeactivatesTheKeyOnce() async throws {
        let moto = try await MotoServer.startShared()
        let world = try await EC2World.make(moto)
        let iam = world.client
        let user = "svc-reporting-\(UUID().uuidString.prefix(6))"
        _ = try await iam.query(.iam, action: "CreateUser", parameters: [("UserName", user)])
        let key = try #require(try await iam.query(.iam, action: "CreateAccessKey", parameters: [("UserName", user)]).first(named: "AccessKeyId")?.text)
        let finding = try ActionFixtures.finding("07-iam-tor-caller.json", replacing: ["AKIA2B711E0FB7A78824": key, "\"svc-reporting\"": "\"\(user)\""])
        let audit = MemoryAuditSink()
        let r = try runner(moto, """
            name: disable-keys
            match: {detail: {resource: {resourceType: [AccessKey]}}}
            playbook: [{name: disable, action: aws.iam.disable-access-key}]
            """, audit: audit)
        let payload = JSONBuilder(finding).serialized()
        #expect(await r.run(route: "disable-keys", payload: payload) == .completed)
        let listed = try await iam.query(.iam, action: "ListAccessKeys", parameters: [("UserName", user)])
        #expect(listed.first(named: "Status")?.text == "Inactive")
        #expect(await r.run(route: "disable-keys", payload: payload) == .completed)
        #expect(audit.records.map(\.result) == [.succeeded, .unchanged])
        #expect(audit.records[0].target == "iam:access-key \(user)/\(key)")
    }

    @Test func anECSFindingStopsItsTaskWithAReason() async throws {
        let moto = try await MotoServer.startShared()
        let world = try await EC2World.make(moto)
        let ecs = world.client
        let cluster = "checkout-\(UUID().uuidString.prefix(6))"
        _ = try await ecs.json(.ecs, operation: "CreateCluster", body: ["clusterName": .string(cluster)])
        // An EC2-backed cluster (moto's Fargate RunTask with awsvpc fails inside moto).
        let host = try await world.launch()
        _ = try await ecs.json(.ecs, operation: "RegisterContainerInstance", body: [
            "cluster": .string(cluster), "instanceIdentityDocument": .string(#"{"instanceId": "\#(host)"}"#),
        ])
        _ = try await ecs.json(.ecs, operation: "RegisterTaskDefinition", body: JSONBuilder([
            "family": "checkout-api", "containerDefinitions": [["name": "checkout-api", "image": "busybox", "essential": true, "memory": 128, "cpu": 128]],
        ] as JSON))
        let ran = try await ecs.json(.ecs, operation: "RunTask", body: ["cluster": .string(cluster), "taskDefinition": "checkout-api", "count": 1])
        let taskARN = try #require(ran["tasks"]?.arrayValue?.first?["taskArn"]?.stringValue)
        let clusterARN = "arn:aws:ecs:us-east-1:\(MotoServer.accountID):cluster/\(cluster)"
        let finding = try ActionFixtures.finding("05-ecs-fargate-reverse-shell.json", replacing: [
            "arn:aws:ecs:us-east-1:111122223333:task/checkout-fargate/936bb7b27de60e84b05ece34bac534ed": taskARN,
            "arn:aws:ecs:us-east-1:111122223333:cluster/checkout-fargate": clusterARN,
        ])
        let audit = MemoryAuditSink()
        let r = try runner(moto, """
            name: stop-tasks
            match: {detail: {resource: {resourceType: [ECSCluster]}}}
            playbook: [{name: stop, action: aws.ecs.stop-task, params: {reason: "Sluice: {{detail.type}}"}}]
            """, audit: audit)
        #expect(await r.run(route: "stop-tasks", payload: JSONBuilder(finding).serialized()) == .completed)
        let described = try await ecs.json(.ecs, operation: "DescribeTasks", body: ["cluster": .string(cluster), "tasks": [.string(taskARN)]])
        let task = try #require(described["tasks"]?.arrayValue?.first)
        #expect(task["stoppedReason"]?.stringValue == "Sluice: Execution:Runtime/ReverseShell")
        #expect(task["desiredStatus"]?.stringValue == "STOPPED")
        #expect(audit.records.first?.target == "ecs:task \(clusterARN)/\(taskARN)")
    }

    @Test func snapshotAndTagExecutors() async throws {
        let moto = try await MotoServer.startShared()
        let world = try await EC2World.make(moto)
        let instance = try await world.launch()
        let finding = try ActionFixtures.finding("02-ec2-reverse-shell.json", replacing: ["i-03e5d7c9b1a2f4e68": instance])
        let audit = MemoryAuditSink()
        let r = try runner(moto, """
            name: evidence
            match: {source: [aws.guardduty]}
            playbook:
              - {name: snap, action: aws.ec2.snapshot}
              - {name: mark, action: aws.ec2.tag, params: {tags: {sluice:snapshots: "{{#steps.snap.output.snapshots}}{{snapshot_id}} {{/steps.snap.output.snapshots}}"}}}
            """, audit: audit)
        #expect(await r.run(route: "evidence", payload: JSONBuilder(finding).serialized()) == .completed, "\(audit.records.map(\.detail))")
        let snapshots = try await world.snapshots(of: instance).compactMap { $0.text("snapshotId") }
        #expect(snapshots.count == 2)
        let tag = try await world.tags(instance)["sluice:snapshots"] ?? ""
        #expect(Set(tag.split(separator: " ").map(String.init)) == Set(snapshots))
    }
}
