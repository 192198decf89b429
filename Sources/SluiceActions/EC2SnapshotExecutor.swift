import SluiceAWS
import SluiceCore

/// `aws.ec2.snapshot`: snapshots the EBS volumes attached to an instance (or the listed ones),
/// each tagged with the finding and the instance, for forensics.
///
/// ```yaml
/// - name: evidence
///   action: aws.ec2.snapshot
///   params:
///     instance_id: "{{detail.resource.instanceDetails.instanceId}}"   # the default
///     volume_ids: [vol-0123456789abcdef0]      # default: every attached volume
/// ```
public struct EC2SnapshotExecutor: EC2InstanceExecutor {
    public static let kind = "aws.ec2.snapshot"
    public static let summary = "Snapshot the EBS volumes of an EC2 instance, tagged with the finding"
    public static let parameters = [
        ActionParameter("instance_id", .string, help: "default: the finding's instance"),
        ActionParameter("region", .string, help: "default: the finding's region"),
        ActionParameter("volume_ids", .list, help: "default: every attached volume"),
    ]

    public let aws: AWSClients

    public init(context: ActionContext) { aws = context.aws }

    public func execute(_ request: ActionRequest, target: ActionTarget) async throws(ActionError) -> ActionOutput {
        let client = try aws.client(for: request)
        var volumes = request.parameters.list("volume_ids")
        if volumes.isEmpty { volumes = try await EC2Instance.describe(target.id, client: client).volumes }
        let snapshots = try await Self.snapshot(volumes: volumes, of: target.id, findingID: request.findingID, client: client)
        return ActionOutput(["instance_id": .string(target.id), "snapshots": .array(snapshots)])
    }

    /// One snapshot per volume; returns `[{volume_id, snapshot_id}]`.
    static func snapshot(volumes: [String], of instance: String, findingID: String, client: AWSClient) async throws(ActionError) -> [JSON] {
        var out: [JSON] = []
        for volume in volumes {
            let answer = try await ec2Call(client, "CreateSnapshot", [
                ("VolumeId", volume), ("Description", "Sluice evidence: finding \(findingID), instance \(instance)"),
            ])
            guard let snapshot = answer.text("snapshotId") else { throw .retryable("CreateSnapshot returned no snapshotId") }
            _ = try await ec2Call(client, "CreateTags", queryList("ResourceId", [snapshot])
                + queryTags([("sluice:finding", findingID), ("sluice:instance", instance), ("sluice:volume", volume)]))
            out.append(["volume_id": .string(volume), "snapshot_id": .string(snapshot)])
        }
        return out
    }
}
