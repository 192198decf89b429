import SluiceCore

/// `kubernetes.cordon-node`: marks a node unschedulable (`spec.unschedulable: true`, a strategic
/// merge patch as `kubectl cordon` sends), so no new pod lands on a compromised node. Its pods
/// keep running; draining is a decision for a human.
///
/// ```yaml
/// - name: cordon
///   action: kubernetes.cordon-node
///   params:
///     node: "{{steps.lookup.output.json.node}}"   # required
/// ```
public struct KubernetesCordonNodeExecutor: ActionExecutor {
    public static let kind = "kubernetes.cordon-node"
    public static let summary = "Cordon a node (mark it unschedulable)"
    public static let parameters = [
        ActionParameter("node", .string, required: true, help: "node name"),
    ]

    let kubernetes: KubernetesClientSource

    public init(context: ActionContext) { kubernetes = KubernetesClientSource(context: context) }

    static func node(_ request: ActionRequest) throws(ActionError) -> String {
        let node = try request.parameters.requiredString("node")
        guard isDNSSubdomain(node) else { throw .permanent("invalid node name") }
        return node
    }

    public static func plannedTarget(_ request: ActionRequest) throws(ActionError) -> PlannedTarget? {
        PlannedTarget(ActionTarget(kind: "kubernetes:node", id: try node(request)),
                      unresolved: ["node labels (protected-tag guard): looked up when the step runs"])
    }

    public func target(_ request: ActionRequest) async throws(ActionError) -> ActionTarget {
        let node = try Self.node(request)
        let object = try await kubernetes.client().call("GET", KubernetesClient.nodePath(node)).body
        var tags = KubernetesClient.labels(object)
        if object.value(atPath: "spec.unschedulable")?.boolValue == true { tags["sluice:unschedulable"] = "true" }
        return ActionTarget(kind: "kubernetes:node", id: node, tags: tags)
    }

    public func execute(_ request: ActionRequest, target: ActionTarget) async throws(ActionError) -> ActionOutput {
        if target.tags["sluice:unschedulable"] == "true" { return ActionOutput(["node": .string(target.id), "unschedulable": true], changed: false) }
        _ = try await kubernetes.client().call("PATCH", KubernetesClient.nodePath(target.id), contentType: "application/strategic-merge-patch+json",
                                               body: ["spec": ["unschedulable": true]])
        return ActionOutput(["node": .string(target.id), "unschedulable": true])
    }
}
