/// Every action executor, one line each: a new executor is one file and one line here.
public enum ActionRegistry {
    public static let types: [any ActionExecutor.Type] = [
        ExecActionExecutor.self,
        HTTPActionExecutor.self,
        EC2IsolateExecutor.self,
        EC2SnapshotExecutor.self,
        EC2TagExecutor.self,
        ECSStopTaskExecutor.self,
        IAMDisableAccessKeyExecutor.self,
        KubernetesIsolatePodExecutor.self,
        KubernetesDeletePodExecutor.self,
        KubernetesCordonNodeExecutor.self,
    ]

    public static let byKind: [String: any ActionExecutor.Type] = Dictionary(types.map { ($0.kind, $0) }, uniquingKeysWith: { a, _ in a })
}
