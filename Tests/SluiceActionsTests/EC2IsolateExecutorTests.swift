import Foundation
import SluiceActions
import SluiceAWS
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

/// A small EC2 world in moto: a VPC, an application security group, instances with volumes.
struct EC2World {
    let client: AWSClient
    let vpc: String
    let appGroup: String
    let subnet: String

    static func make(_ moto: MotoServer) async throws -> EC2World {
        let creds = StaticCredentialsProvider(AWSCredentials(accessKeyID: "testing", secretAccessKey: Secret("testing")))
        let client = AWSClient(region: "us-east-1", credentials: creds, http: ActionFixtures.http, endpoint: moto.endpoint,
                               timeout: ActionFixtures.motoCallTimeout)
        let vpc = try #require(try await client.query(.ec2, action: "CreateVpc", parameters: [("CidrBlock", "10.42.0.0/16")]).text("vpc/vpcId"))
        let subnet = try #require(try await client.query(.ec2, action: "CreateSubnet", parameters: [("VpcId", vpc), ("CidrBlock", "10.42.1.0/24")]).text("subnet/subnetId"))
        let group = try #require(try await client.query(.ec2, action: "CreateSecurityGroup", parameters: [
            ("GroupName", "payments-api-\(UUID().uuidString.prefix(6))"), ("GroupDescription", "app"), ("VpcId", vpc),
        ]).text("groupId"))
        return EC2World(client: client, vpc: vpc, appGroup: group, subnet: subnet)
    }

    /// An instance with a root volume and one data volume; `tags` set at launch.
    func launch(tags: [String: String] = [:]) async throws -> String {
        // One of moto's built-in AMIs (asking for all of Amazon's returns more than a megabyte).
        let image = try await client.query(.ec2, action: "DescribeImages", parameters: [("ImageId.1", "ami-12c6146b")])
        let ami = try #require(image.first(named: "imageId")?.text)
        var params: [(String, String)] = [
            ("ImageId", ami), ("MinCount", "1"), ("MaxCount", "1"), ("InstanceType", "t3.micro"), ("SubnetId", subnet),
            ("SecurityGroupId.1", appGroup), ("BlockDeviceMapping.1.DeviceName", "/dev/xvda"), ("BlockDeviceMapping.1.Ebs.VolumeSize", "8"),
            ("BlockDeviceMapping.2.DeviceName", "/dev/sdf"), ("BlockDeviceMapping.2.Ebs.VolumeSize", "20"),
        ]
        for (i, t) in tags.sorted(by: { $0.key < $1.key }).enumerated() {
            params += [("TagSpecification.1.ResourceType", "instance"), ("TagSpecification.1.Tag.\(i + 1).Key", t.key), ("TagSpecification.1.Tag.\(i + 1).Value", t.value)]
        }
        let answer = try await client.query(.ec2, action: "RunInstances", parameters: params)
        return try #require(answer.text("instancesSet/item/instanceId"))
    }

    func describe(_ id: String) async throws -> XMLTree {
        try #require(try await client.query(.ec2, action: "DescribeInstances", parameters: [("InstanceId.1", id)])["reservationSet/item/instancesSet/item"])
    }

    func groups(_ id: String) async throws -> [String] {
        try await describe(id).all("networkInterfaceSet/item/groupSet/item").compactMap { $0.text("groupId") }
    }

    func tags(_ id: String) async throws -> [String: String] {
        var out: [String: String] = [:]
        for item in try await describe(id).all("tagSet/item") { out[item.text("key") ?? ""] = item.text("value") ?? "" }
        return out
    }

    func snapshots(of id: String) async throws -> [XMLTree] {
        try await client.query(.ec2, action: "DescribeSnapshots", parameters: [
            ("Filter.1.Name", "tag:sluice:instance"), ("Filter.1.Value.1", id),
        ]).all("snapshotSet/item")
    }
}

@Suite(.serialized) struct EC2IsolateExecutorTests {
    static let routes = """
        name: quarantine-miners
        match: {detail: {type: [{prefix: "CryptoCurrency:"}]}}
        playbook:
          - name: isolate
            action: aws.ec2.isolate
            params: {quarantine_group: sluice-quarantine}
          - name: mark
            action: aws.ec2.tag
            params:
              tags: {sluice:finding-type: "{{detail.type}}", sluice:quarantine-group: "{{steps.isolate.output.quarantine_group}}"}
            when: {steps: {isolate: {output: {already_quarantined: [false]}}}}
        """

    func runner(_ moto: MotoServer, audit: MemoryAuditSink, guards: GuardSettings = GuardSettings()) throws -> PlaybookRunner {
        var settings = ActionSettings()
        settings.aws = AWSSettings(region: "us-east-1", endpoint: moto.endpoint)
        settings.aws.accessKeyID = "testing"
        settings.aws.secretAccessKey = Secret("testing")
        settings.guards = guards
        return PlaybookRunner(playbooks: try ActionFixtures.playbooks(Self.routes), context: ActionFixtures.context(settings, environment: [:]),
                              audit: ActionAudit(sinks: [audit], logger: .init(label: "t")))
    }

    @Test func isolatesOnceRefusesProtectedInstancesAndUndoRestores() async throws {
        let moto = try await MotoServer.startShared()
        let world = try await EC2World.make(moto)
        let instance = try await world.launch()
        let volumes = try await world.describe(instance).all("blockDeviceMapping/item").compactMap { $0.text("ebs/volumeId") }
        #expect(volumes.count == 2, "root and data volume")
        #expect(try await world.groups(instance) == [world.appGroup])

        let finding = try ActionFixtures.finding("01-ec2-cryptominer.json", replacing: ["i-0a4f1c2b3d5e6f789": instance])
        let audit = MemoryAuditSink()
        let runner = try runner(moto, audit: audit)
        let payload = JSONBuilder(finding).serialized()
        #expect(await runner.run(route: "quarantine-miners", payload: payload) == .completed)

        // Through moto's API: the instance sits in a rule-less quarantine group, snapshotted and tagged.
        let groups = try await world.groups(instance)
        #expect(groups.count == 1 && groups != [world.appGroup], "\(groups)")
        let quarantine = try #require(try await world.client.query(.ec2, action: "DescribeSecurityGroups", parameters: [("GroupId.1", groups[0])])["securityGroupInfo/item"])
        #expect(quarantine.text("groupName") == "sluice-quarantine")
        #expect(quarantine.text("vpcId") == world.vpc)
        #expect(quarantine.all("ipPermissionsEgress/item").isEmpty, "the default egress rule was not revoked")
        #expect(quarantine.all("ipPermissions/item").isEmpty)
        let snapshots = try await world.snapshots(of: instance)
        #expect(Set(snapshots.compactMap { $0.text("volumeId") }) == Set(volumes))
        let tags = try await world.tags(instance)
        #expect(tags["sluice:quarantined"] == "8f52f18d300e0ed86a90afe715053ba9")
        #expect(tags["sluice:finding-type"] == "CryptoCurrency:Runtime/BitcoinTool.B")
        #expect(tags["sluice:quarantine-group"] == groups[0])
        let protection = try await world.client.query(.ec2, action: "DescribeInstanceAttribute", parameters: [("InstanceId", instance), ("Attribute", "disableApiTermination")])
        #expect(protection.text("disableApiTermination/value") == "true")
        let isolated = try #require(audit.records.first { $0.step == "isolate" })
        #expect(isolated.result == .succeeded && isolated.target == "ec2:instance \(instance)" && isolated.executor == "aws.ec2.isolate")
        #expect(isolated.output["snapshots"]?.arrayValue?.count == 2)

        // The same finding again: no second action.
        let before = audit.records.count
        #expect(await runner.run(route: "quarantine-miners", payload: payload) == .completed)
        let second = audit.records.dropFirst(before).map { "\($0.step):\($0.result.rawValue)" }
        #expect(second == ["isolate:unchanged", "mark:skipped"])
        #expect(try await world.snapshots(of: instance).count == 2)

        // undo restores the recorded groups and removes the quarantine tag.
        let restored = try await EC2IsolateExecutor.undo(instance: instance, client: world.client)
        #expect(restored.values.map { $0 } == [[world.appGroup]])
        #expect(try await world.groups(instance) == [world.appGroup])
        #expect(try await world.tags(instance)["sluice:quarantined"] == nil)
    }

    @Test func aProtectedInstanceIsRefusedAndAudited() async throws {
        let moto = try await MotoServer.startShared()
        let world = try await EC2World.make(moto)
        let instance = try await world.launch(tags: ["sluice:protected": "true", "Name": "domain-controller"])
        let finding = try ActionFixtures.finding("01-ec2-cryptominer.json", replacing: ["i-0a4f1c2b3d5e6f789": instance])
        let audit = MemoryAuditSink()
        let outcome = await (try runner(moto, audit: audit)).run(route: "quarantine-miners", payload: JSONBuilder(finding).serialized())
        guard case .refused(let step, let reason) = outcome else { Issue.record("not refused: \(outcome)"); return }
        #expect(step == "isolate" && reason.contains("sluice:protected=true"))
        #expect(audit.records.map(\.result) == [.refused])
        #expect(audit.records[0].target == "ec2:instance \(instance)")
        #expect(try await world.groups(instance) == [world.appGroup])
        #expect(try await world.snapshots(of: instance).isEmpty)
    }
}
