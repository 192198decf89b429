import SluiceAWS
import SluiceCore

/// `aws.ec2.tag`: sets tags on an EC2 instance (values are templates: the finding type, its
/// severity label…). Unchanged when every tag already has its value.
///
/// ```yaml
/// - name: mark
///   action: aws.ec2.tag
///   params:
///     tags: {sluice:finding-type: "{{detail.type}}", sluice:severity: "{{sluice.severity_label}}"}
/// ```
public struct EC2TagExecutor: EC2InstanceExecutor {
    public static let kind = "aws.ec2.tag"
    public static let summary = "Tag an EC2 instance (templated tag values)"
    public static let parameters = [
        ActionParameter("tags", .map, required: true, help: "tag keys and (templated) values"),
        ActionParameter("instance_id", .string, help: "default: the finding's instance"),
        ActionParameter("region", .string, help: "default: the finding's region"),
    ]

    public let aws: AWSClients

    public init(context: ActionContext) { aws = context.aws }

    public func execute(_ request: ActionRequest, target: ActionTarget) async throws(ActionError) -> ActionOutput {
        let tags = request.parameters.map("tags").sorted { $0.key < $1.key }
        guard !tags.isEmpty else { throw .permanent("no tags to set") }
        let missing = tags.filter { target.tags[$0.key] != $0.value }
        let output: JSON = ["instance_id": .string(target.id), "tags": .object(tags.map { ($0.key, .string($0.value)) })]
        if missing.isEmpty { return ActionOutput(output, changed: false) }
        let client = try aws.client(for: request)
        _ = try await ec2Call(client, "CreateTags", queryList("ResourceId", [target.id]) + queryTags(missing.map { ($0.key, $0.value) }))
        return ActionOutput(output)
    }
}
