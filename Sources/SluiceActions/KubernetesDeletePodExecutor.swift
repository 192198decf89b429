import SluiceCore

/// `kubernetes.delete-pod`: deletes a pod (its controller starts a clean one). A pod already
/// gone is unchanged, not an error.
///
/// ```yaml
/// - name: kill
///   action: kubernetes.delete-pod
///   params:
///     namespace: reporting
///     pod: report-worker-7d9f8c6b5-x2x9z
///     grace_period: 0          # seconds; default: the pod's own
/// ```
public struct KubernetesDeletePodExecutor: ActionExecutor {
    public static let kind = "kubernetes.delete-pod"
    public static let summary = "Delete a pod"
    public static let parameters = [
        ActionParameter("namespace", .string, help: "default: the finding's workload namespace"),
        ActionParameter("pod", .string, help: "default: the finding's workload when it is a pod"),
        ActionParameter("grace_period", .integer, help: "termination grace period in seconds"),
    ]

    let kubernetes: KubernetesClientSource

    public init(context: ActionContext) { kubernetes = KubernetesClientSource(context: context) }

    public static func plannedTarget(_ request: ActionRequest) throws(ActionError) -> PlannedTarget? {
        let (namespace, pod) = try podNames(request)
        return PlannedTarget(ActionTarget(kind: "kubernetes:pod", id: pod, namespace: namespace),
                             unresolved: ["pod labels (protected-tag guard): looked up when the step runs"])
    }

    public func target(_ request: ActionRequest) async throws(ActionError) -> ActionTarget {
        let (namespace, pod) = try podNames(request)
        let object = try await kubernetes.client().call("GET", KubernetesClient.podPath(namespace, pod), accept: [404])
        return ActionTarget(kind: "kubernetes:pod", id: pod, namespace: namespace, tags: KubernetesClient.labels(object.body))
    }

    public func execute(_ request: ActionRequest, target: ActionTarget) async throws(ActionError) -> ActionOutput {
        let (namespace, pod) = try podNames(request)
        var path = KubernetesClient.podPath(namespace, pod)
        if let grace = try request.parameters.int("grace_period") {
            guard grace >= 0 else { throw .permanent("grace_period must be at least 0") }
            path += "?gracePeriodSeconds=\(grace)"
        }
        let answer = try await kubernetes.client().call("DELETE", path, accept: [404])
        return ActionOutput(["namespace": .string(namespace), "pod": .string(pod), "deleted": .bool(answer.status != 404)], changed: answer.status != 404)
    }
}
