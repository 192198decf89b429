import SluiceAWS
import SluiceCore

/// `aws.ec2.isolate`: quarantines an EC2 instance and keeps the evidence.
///
/// 1. Finds (or creates) the quarantine security group in the instance's VPC and makes sure it
///    has no rules at all — the default allow-all egress rule of a new group is revoked.
/// 2. Detaches the instance from its Auto Scaling group (so the group neither replaces nor
///    terminates it), without lowering the desired capacity.
/// 3. For every network interface: records its current groups in the interface's
///    `sluice:original-groups` tag, then replaces them with the quarantine group.
/// 4. Turns on termination protection and snapshots the attached EBS volumes (optional).
/// 5. Tags the instance `sluice:quarantined=<finding id>` — last, so an interrupted run is
///    completed by the next one, and an instance carrying the tag is left alone (a no-op).
///
/// `sluice action undo --instance i-…` restores the recorded groups.
///
/// ```yaml
/// - name: isolate
///   action: aws.ec2.isolate
///   params:
///     instance_id: "{{detail.resource.instanceDetails.instanceId}}"   # the default
///     quarantine_group: sluice-quarantine      # group name, default sluice-quarantine
///     snapshot: true                           # default true
///     termination_protection: true             # default true
///     detach_from_asg: true                    # default true
/// ```
public struct EC2IsolateExecutor: EC2InstanceExecutor {
    public static let kind = "aws.ec2.isolate"
    public static let summary = "Quarantine an EC2 instance: rule-less security group on every ENI, snapshots, termination protection, ASG detach"
    public static let isIsolation = true
    public static let parameters = [
        ActionParameter("instance_id", .string, help: "default: the finding's instance"),
        ActionParameter("region", .string, help: "default: the finding's region"),
        ActionParameter("quarantine_group", .string, help: "name of the quarantine security group (default sluice-quarantine)"),
        ActionParameter("snapshot", .bool, help: "snapshot attached EBS volumes (default true)"),
        ActionParameter("termination_protection", .bool, help: "turn on termination protection (default true)"),
        ActionParameter("detach_from_asg", .bool, help: "detach from its Auto Scaling group (default true)"),
    ]
    public static let quarantinedTag = "sluice:quarantined"
    public static let originalGroupsTag = "sluice:original-groups"

    public let aws: AWSClients

    public init(context: ActionContext) { aws = context.aws }

    public func execute(_ request: ActionRequest, target: ActionTarget) async throws(ActionError) -> ActionOutput {
        let p = request.parameters
        let client = try aws.client(for: request)
        let instance = try await EC2Instance.describe(target.id, client: client)
        if let by = instance.tags[Self.quarantinedTag] {
            return ActionOutput(["instance_id": .string(instance.id), "already_quarantined": true, "quarantined_for": .string(by)], changed: false)
        }
        guard let vpc = instance.vpcID else { throw .permanent("instance \(instance.id) is not in a VPC") }
        let group = try await Self.quarantineGroup(name: p.string("quarantine_group") ?? "sluice-quarantine", vpc: vpc, client: client)

        var asg: JSON = .null
        if try p.bool("detach_from_asg", default: true), let name = try await Self.autoScalingGroup(of: instance.id, client: client) {
            do {
                _ = try await client.query(.autoScaling, action: "DetachInstances", parameters: [
                    ("AutoScalingGroupName", name), ("InstanceIds.member.1", instance.id), ("ShouldDecrementDesiredCapacity", "false"),
                ])
            } catch { throw ActionError(error) }
            asg = .string(name)
        }

        var original: [(key: String, value: JSON)] = []
        for eni in instance.networkInterfaces {
            original.append((eni.id, .array(eni.groups.map { .string($0) })))
            if eni.groups == [group] { continue }  // moved by an earlier, interrupted run: its tag holds the originals
            _ = try await ec2Call(client, "CreateTags", queryList("ResourceId", [eni.id]) + queryTags([(Self.originalGroupsTag, eni.groups.joined(separator: ","))]))
            try await Self.setGroups([group], interface: eni.id, instance: instance, client: client)
        }
        if try p.bool("termination_protection", default: true) {
            _ = try await ec2Call(client, "ModifyInstanceAttribute", [("InstanceId", instance.id), ("DisableApiTermination.Value", "true")])
        }
        var snapshots: [JSON] = []
        if try p.bool("snapshot", default: true) {
            snapshots = try await EC2SnapshotExecutor.snapshot(volumes: instance.volumes, of: instance.id, findingID: request.findingID, client: client)
        }
        _ = try await ec2Call(client, "CreateTags", queryList("ResourceId", [instance.id])
            + queryTags([(Self.quarantinedTag, request.findingID), ("sluice:quarantine-group", group)]))
        return ActionOutput([
            "instance_id": .string(instance.id), "quarantine_group": .string(group), "original_groups": .object(original),
            "snapshots": .array(snapshots), "auto_scaling_group": asg, "already_quarantined": false,
        ])
    }

    /// The group named `name` in `vpc`, created when missing; every rule it has is revoked.
    static func quarantineGroup(name: String, vpc: String, client: AWSClient) async throws(ActionError) -> String {
        let found = try await ec2Call(client, "DescribeSecurityGroups", [
            ("Filter.1.Name", "vpc-id"), ("Filter.1.Value.1", vpc), ("Filter.2.Name", "group-name"), ("Filter.2.Value.1", name),
        ])
        var groupID: String
        var group = found["securityGroupInfo/item"]
        if let existing = group?.text("groupId") {
            groupID = existing
        } else {
            let created = try await ec2Call(client, "CreateSecurityGroup", [
                ("GroupName", name), ("GroupDescription", "Sluice quarantine: no inbound or outbound traffic"), ("VpcId", vpc),
            ])
            guard let id = created.text("groupId") else { throw .retryable("CreateSecurityGroup returned no groupId") }
            groupID = id
            _ = try await ec2Call(client, "CreateTags", queryList("ResourceId", [id]) + queryTags([("sluice:quarantine", "true"), ("Name", name)]))
            group = try await ec2Call(client, "DescribeSecurityGroups", queryList("GroupId", [id]))["securityGroupInfo/item"]
        }
        for (direction, action) in [("ipPermissionsEgress", "RevokeSecurityGroupEgress"), ("ipPermissions", "RevokeSecurityGroupIngress")] {
            let rules = revokeParameters(group?.all("\(direction)/item") ?? [])
            if !rules.isEmpty { _ = try await ec2Call(client, action, [("GroupId", groupID)] + rules) }
        }
        return groupID
    }

    /// `IpPermissions.N.*` members that name exactly the rules given (pure).
    static func revokeParameters(_ rules: [XMLTree]) -> [(String, String)] {
        var out: [(String, String)] = []
        for (i, rule) in rules.enumerated() {
            let n = "IpPermissions.\(i + 1)"
            out.append(("\(n).IpProtocol", rule.text("ipProtocol") ?? "-1"))
            if let from = rule.text("fromPort") { out.append(("\(n).FromPort", from)) }
            if let to = rule.text("toPort") { out.append(("\(n).ToPort", to)) }
            for (j, r) in rule.all("ipRanges/item").enumerated() { out.append(("\(n).IpRanges.\(j + 1).CidrIp", r.text("cidrIp") ?? "")) }
            for (j, r) in rule.all("ipv6Ranges/item").enumerated() { out.append(("\(n).Ipv6Ranges.\(j + 1).CidrIpv6", r.text("cidrIpv6") ?? "")) }
            for (j, g) in rule.all("groups/item").enumerated() { out.append(("\(n).Groups.\(j + 1).GroupId", g.text("groupId") ?? "")) }
        }
        return out
    }

    /// Sets an interface's groups. For the primary interface the instance's groups are set too
    /// (ModifyInstanceAttribute changes the same thing in AWS; tools that read the instance-level
    /// view, moto among them, see it at once).
    static func setGroups(_ groups: [String], interface: String, instance: EC2Instance, client: AWSClient) async throws(ActionError) {
        _ = try await ec2Call(client, "ModifyNetworkInterfaceAttribute", [("NetworkInterfaceId", interface)] + queryList("SecurityGroupId", groups))
        if interface == instance.primaryInterface {
            _ = try await ec2Call(client, "ModifyInstanceAttribute", [("InstanceId", instance.id)] + queryList("GroupId", groups))
        }
    }

    static func autoScalingGroup(of instance: String, client: AWSClient) async throws(ActionError) -> String? {
        do {
            let answer = try await client.query(.autoScaling, action: "DescribeAutoScalingInstances", parameters: [("InstanceIds.member.1", instance)])
            return answer.first(named: "AutoScalingGroupName")?.text
        } catch { throw ActionError(error) }
    }

    /// Restores the groups recorded on each network interface and removes the quarantine tags.
    /// Returns the groups restored per interface (empty: the instance was not quarantined).
    public static func undo(instance id: String, client: AWSClient) async throws(ActionError) -> [String: [String]] {
        let instance = try await EC2Instance.describe(id, client: client)
        let enis = try await ec2Call(client, "DescribeNetworkInterfaces", queryList("NetworkInterfaceId", instance.networkInterfaces.map(\.id)))
        var restored: [String: [String]] = [:]
        for item in enis.all("networkInterfaceSet/item") {
            guard let eni = item.text("networkInterfaceId"), let recorded = ec2Tags(item["tagSet"])[originalGroupsTag] else { continue }
            let groups = recorded.split(separator: ",").map(String.init)
            guard !groups.isEmpty else { continue }
            try await setGroups(groups, interface: eni, instance: instance, client: client)
            _ = try await ec2Call(client, "DeleteTags", queryList("ResourceId", [eni]) + [("Tag.1.Key", originalGroupsTag)])
            restored[eni] = groups
        }
        if instance.tags[quarantinedTag] != nil || !restored.isEmpty {
            _ = try await ec2Call(client, "DeleteTags", queryList("ResourceId", [id]) + [("Tag.1.Key", quarantinedTag), ("Tag.2.Key", "sluice:quarantine-group")])
        }
        return restored
    }
}
