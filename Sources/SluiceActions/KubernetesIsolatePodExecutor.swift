import SluiceCore

/// `kubernetes.isolate-pod`: cuts a pod off the network and keeps it running for forensics.
/// First a deny-all NetworkPolicy (no ingress or egress rule, both policy types) selecting the
/// quarantine label is created in the pod's namespace (409 AlreadyExists: it is there); then the
/// pod gets the label with a JSON merge patch (`application/merge-patch+json`), with the finding
/// id in an annotation. A pod already labelled is left alone. The pod leaves its Service
/// endpoints only if the selector excludes the label; its controller does not replace it.
///
/// ```yaml
/// - name: isolate
///   action: kubernetes.isolate-pod
///   params:
///     namespace: "{{detail.resource.kubernetesDetails.kubernetesWorkloadDetails.namespace}}"  # the default
///     pod: "{{detail.resource.kubernetesDetails.kubernetesWorkloadDetails.name}}"  # default when the workload is a pod
///     label: sluice.io/quarantine=true          # the default
///     policy_name: sluice-quarantine            # the default
/// ```
public struct KubernetesIsolatePodExecutor: ActionExecutor {
    public static let kind = "kubernetes.isolate-pod"
    public static let summary = "Label a pod (JSON merge patch) and apply a deny-all NetworkPolicy selecting that label"
    public static let isIsolation = true
    public static let parameters = [
        ActionParameter("namespace", .string, help: "default: the finding's workload namespace"),
        ActionParameter("pod", .string, help: "default: the finding's workload when it is a pod"),
        ActionParameter("label", .string, help: "key=value selecting quarantined pods (default sluice.io/quarantine=true)"),
        ActionParameter("policy_name", .string, help: "name of the deny-all NetworkPolicy (default sluice-quarantine)"),
    ]

    let kubernetes: KubernetesClientSource

    public init(context: ActionContext) { kubernetes = KubernetesClientSource(context: context) }

    static func label(_ request: ActionRequest) throws(ActionError) -> (key: String, value: String) {
        let text = request.parameters.string("label") ?? "sluice.io/quarantine=true"
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else { throw .permanent("label must be key=value") }
        return (String(text[..<eq]), String(text[text.index(after: eq)...]))
    }

    public static func plannedTarget(_ request: ActionRequest) throws(ActionError) -> PlannedTarget? {
        let (namespace, pod) = try podNames(request)
        return PlannedTarget(ActionTarget(kind: "kubernetes:pod", id: pod, namespace: namespace),
                             unresolved: ["pod labels (protected-tag guard): looked up when the step runs"])
    }

    public func target(_ request: ActionRequest) async throws(ActionError) -> ActionTarget {
        let (namespace, pod) = try podNames(request)
        let object = try await kubernetes.client().call("GET", KubernetesClient.podPath(namespace, pod)).body
        return ActionTarget(kind: "kubernetes:pod", id: pod, namespace: namespace, tags: KubernetesClient.labels(object))
    }

    /// The deny-all policy (pure: validated against the Kubernetes schema in tests).
    public static func networkPolicy(name: String, namespace: String, label: (key: String, value: String)) -> JSON {
        [
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": ["name": .string(name), "namespace": .string(namespace), "labels": ["app.kubernetes.io/managed-by": "sluice"]],
            "spec": [
                "podSelector": ["matchLabels": .object([(label.key, .string(label.value))])],
                "policyTypes": ["Ingress", "Egress"],
            ],
        ]
    }

    /// The merge patch that labels the pod (pure).
    static func labelPatch(label: (key: String, value: String), findingID: String) -> JSON {
        ["metadata": ["labels": .object([(label.key, .string(label.value))]), "annotations": ["sluice.io/quarantined-for": .string(findingID)]]]
    }

    public func execute(_ request: ActionRequest, target: ActionTarget) async throws(ActionError) -> ActionOutput {
        let (namespace, pod) = try podNames(request)
        let label = try Self.label(request)
        let policy = request.parameters.string("policy_name") ?? "sluice-quarantine"
        guard isDNSSubdomain(policy) else { throw .permanent("invalid policy_name") }
        let client = try kubernetes.client()
        var output: [(key: String, value: JSON)] = [
            ("namespace", .string(namespace)), ("pod", .string(pod)), ("label", .string("\(label.key)=\(label.value)")), ("network_policy", .string(policy)),
        ]
        if target.tags[label.key] == label.value {
            output.append(("already_isolated", true))
            return ActionOutput(.object(output), changed: false)
        }
        let created = try await client.call("POST", KubernetesClient.networkPoliciesPath(namespace), contentType: "application/json",
                                            body: Self.networkPolicy(name: policy, namespace: namespace, label: label), accept: [409])
        _ = try await client.call("PATCH", KubernetesClient.podPath(namespace, pod), contentType: "application/merge-patch+json",
                                  body: Self.labelPatch(label: label, findingID: request.findingID))
        output.append(("policy_created", .bool(created.status != 409)))
        output.append(("already_isolated", false))
        return ActionOutput(.object(output))
    }
}
