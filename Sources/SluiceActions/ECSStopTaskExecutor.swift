import SluiceAWS
import SluiceCore

/// `aws.ecs.stop-task`: stops the ECS task a runtime finding names, with a reason that shows in
/// the task's `stoppedReason` (the service, if any, starts a clean replacement).
///
/// ```yaml
/// - name: stop
///   action: aws.ecs.stop-task
///   params:
///     cluster: "{{detail.resource.ecsClusterDetails.arn}}"             # the default
///     task: "{{detail.resource.ecsClusterDetails.taskDetails.arn}}"    # the default
///     reason: "Sluice: {{detail.type}} ({{detail.id}})"
/// ```
public struct ECSStopTaskExecutor: ActionExecutor {
    public static let kind = "aws.ecs.stop-task"
    public static let summary = "Stop an ECS task with a reason"
    public static let parameters = [
        ActionParameter("cluster", .string, help: "cluster name or ARN (default: the finding's)"),
        ActionParameter("task", .string, help: "task ARN (default: the finding's)"),
        ActionParameter("reason", .string, help: "stoppedReason (default: names the finding)"),
        ActionParameter("region", .string, help: "default: the finding's region"),
    ]

    let aws: AWSClients

    public init(context: ActionContext) { aws = context.aws }

    static func names(_ request: ActionRequest) throws(ActionError) -> (cluster: String, task: String) {
        let p = request.parameters
        guard let cluster = p.string("cluster") ?? request.findingString("detail.resource.ecsClusterDetails.arn"),
              let task = p.string("task") ?? request.findingString("detail.resource.ecsClusterDetails.taskDetails.arn") else {
            throw .permanent("no ECS task: the finding names none and the step gives no cluster/task")
        }
        return (cluster, task)
    }

    public static func plannedTarget(_ request: ActionRequest) throws(ActionError) -> PlannedTarget? {
        let (cluster, task) = try names(request)
        return PlannedTarget(ActionTarget(kind: "ecs:task", id: task, account: request.findingString("detail.accountId"),
                                          region: plannedRegion(request), namespace: cluster))
    }

    public func target(_ request: ActionRequest) async throws(ActionError) -> ActionTarget {
        let (cluster, task) = try Self.names(request)
        return ActionTarget(kind: "ecs:task", id: task, account: request.findingString("detail.accountId"),
                            region: try aws.client(for: request).region, namespace: cluster)
    }

    public func execute(_ request: ActionRequest, target: ActionTarget) async throws(ActionError) -> ActionOutput {
        let (cluster, task) = try Self.names(request)
        let reason = request.parameters.string("reason") ?? "Stopped by Sluice: finding \(request.findingID)"
        let body: JSONBuilder = ["cluster": .string(cluster), "task": .string(task), "reason": .string(String(reason.prefix(255)))]
        let answer: JSON
        let client = try aws.client(for: request)
        do { answer = try await client.json(.ecs, operation: "StopTask", body: body) } catch { throw ActionError(error) }
        return ActionOutput(["task": .string(task), "last_status": answer.value(atPath: "task.lastStatus") ?? .null,
                             "stopped_reason": answer.value(atPath: "task.stoppedReason") ?? .null])
    }
}
