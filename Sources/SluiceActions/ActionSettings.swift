import SluiceAWS
import SluiceCore

/// Settings shared by every playbook run: the `actions:` section of the run configuration.
///
/// ```yaml
/// actions:
///   dry_run: false                      # true: log and audit what would be done, do nothing
///   audit_topic: sluice.actions.audit   # every attempt, refusal and decision
///   approvals_topic: sluice.approvals   # run state of approval gates (key = run id, latest wins)
///   instance_id: sluice-0               # owner of the runs this process parks (stable across restarts)
///   aws:                                # AWSSettings: region, endpoint, profile, credentials, assume_role
///     region: us-east-1                 # default when a finding names none
///     endpoint: http://127.0.0.1:5000   # one endpoint for every service (moto, LocalStack)
///   kubernetes:
///     in_cluster: true                  # service-account token and CA; or:
///     kubeconfig: /etc/sluice/kubeconfig
///     context: prod                     # kubeconfig context (default: current-context)
///   guards:
///     protected_tags: ["sluice:protected=true", "DoNotIsolate"]   # key=value, or key (any value)
///     protected_accounts: ["111122223333"]
///     protected_namespaces: [kube-system]
///     max_per_hour: {aws.ec2.isolate: 10, default: 100}        # per executor
///     max_per_hour_per_route: 50
///     max_concurrent_isolations: 5
/// ```
public struct ActionSettings: Sendable {
    public var dryRun = false
    public var auditTopic: String? = "sluice.actions.audit"
    public var approvalsTopic = "sluice.approvals"
    public var instanceID = "sluice"
    /// Region (default when a finding names none), endpoint, credentials: see `AWSSettings`.
    public var aws = AWSSettings()
    public var kubernetes = Kubernetes()
    public var guards = GuardSettings()

    public struct Kubernetes: Sendable {
        public var inCluster = false
        public var kubeconfig: String?
        public var context: String?
        public init(inCluster: Bool = false, kubeconfig: String? = nil, context: String? = nil) {
            self.inCluster = inCluster
            self.kubeconfig = kubeconfig
            self.context = context
        }
    }

    public init() {}

    /// Reads an `actions:` mapping; problems are reported on `reader`.
    public static func read(_ r: MappingReader) -> ActionSettings {
        var s = ActionSettings()
        if let v = r.bool("dry_run") { s.dryRun = v }
        if let v = r.string("audit_topic") { s.auditTopic = v.isEmpty ? nil : v }
        if let v = r.string("approvals_topic") { s.approvalsTopic = v }
        if let v = r.string("instance_id") { s.instanceID = v }
        if let a = r.nested("aws", what: "aws"), let aws = AWSSettings.read(from: a) { s.aws = aws }
        if let k = r.nested("kubernetes", what: "kubernetes") {
            s.kubernetes.inCluster = k.bool("in_cluster") ?? false
            s.kubernetes.kubeconfig = k.string("kubeconfig")
            s.kubernetes.context = k.string("context")
        }
        if let g = r.nested("guards", what: "guards") { s.guards = GuardSettings.read(g) }
        return s
    }
}

/// Blast-radius limits: what is never touched, and how much may be done how fast.
public struct GuardSettings: Sendable {
    /// `key=value` (that value) or `key` (any value): a resource carrying one is never touched.
    public var protectedTags: [(key: String, value: String?)] = [("sluice:protected", "true")]
    public var protectedAccounts: Set<String> = []
    public var protectedNamespaces: Set<String> = ["kube-system"]
    /// Actions per rolling hour by executor kind; `default` applies to kinds not listed.
    public var maxPerHour: [String: Int] = [:]
    public var maxPerHourPerRoute: Int?
    public var maxConcurrentIsolations: Int?

    public init() {}

    /// One line naming every guard in force, for `sluice test`: with the built-in defaults no
    /// step had a guard line, and nothing said that caps were off rather than not shown.
    public var summary: String {
        func list(_ items: [String]) -> String { items.isEmpty ? "none" : items.joined(separator: ", ") }
        func cap(_ value: Int?) -> String { value.map { String($0) } ?? "none" }
        let tags: [String] = protectedTags.map { tag in tag.value.map { "\(tag.key)=\($0)" } ?? tag.key }
        let caps: [String] = maxPerHour.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        let parts: [String] = [
            "protected tags: \(list(tags))",
            "protected accounts: \(list(protectedAccounts.sorted()))",
            "protected namespaces: \(list(protectedNamespaces.sorted()))",
            "max per hour: \(list(caps))",
            "max per hour per route: \(cap(maxPerHourPerRoute))",
            "max concurrent isolations: \(cap(maxConcurrentIsolations))",
        ]
        return parts.joined(separator: "; ")
    }

    static func read(_ r: MappingReader) -> GuardSettings {
        var g = GuardSettings()
        if let tags = r.node("protected_tags") {
            g.protectedTags = tags.items.compactMap(\.string).map { text in
                guard let eq = text.firstIndex(of: "=") else { return (text, nil) }
                return (String(text[..<eq]), String(text[text.index(after: eq)...]))
            }
            if !tags.isSequence { r.report(tags.error("'protected_tags' must be a list of key=value or key")) }
        }
        if let a = r.node("protected_accounts") {
            g.protectedAccounts = Set(a.items.compactMap(\.string))
            if !a.isSequence { r.report(a.error("'protected_accounts' must be a list of account ids")) }
        }
        if let n = r.node("protected_namespaces") {
            g.protectedNamespaces = Set(n.items.compactMap(\.string))
            if !n.isSequence { r.report(n.error("'protected_namespaces' must be a list of namespaces")) }
        }
        for (kind, value) in r.stringMap("max_per_hour") ?? [] {
            if let n = Int(value), n >= 0 { g.maxPerHour[kind] = n } else {
                r.report(r.node.error("max_per_hour.\(kind) must be a non-negative integer"))
            }
        }
        g.maxPerHourPerRoute = r.int("max_per_hour_per_route", min: 0)
        g.maxConcurrentIsolations = r.int("max_concurrent_isolations", min: 0)
        return g
    }
}
