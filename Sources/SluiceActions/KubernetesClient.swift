import Foundation
import SluiceCore
import SluiceHTTP
import Synchronization

/// Where and how to reach a Kubernetes API server: in-cluster (the pod's service-account
/// token and CA, `KUBERNETES_SERVICE_HOST`/`_PORT`) or a kubeconfig (server, CA, bearer token
/// or client certificate of a context). The token is read from its file for every request, so
/// rotated service-account tokens are picked up.
public struct KubernetesConnection: Sendable {
    public var server: String
    public var token: String?
    public var tokenFile: String?
    public var tls: TLSOptions

    public init(server: String, token: String? = nil, tokenFile: String? = nil, tls: TLSOptions = TLSOptions()) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.token = token
        self.tokenFile = tokenFile
        self.tls = tls
    }

    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The in-cluster connection of a pod.
    public static func inCluster(environment: [String: String], directory: String = serviceAccountDirectory) throws(ActionError) -> KubernetesConnection {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"] else {
            throw .permanent("not in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set")
        }
        let tokenFile = directory + "/token"
        guard FileManager.default.isReadableFile(atPath: tokenFile) else { throw .permanent("no service-account token at \(tokenFile)") }
        var tls = TLSOptions()
        tls.caBundlePath = directory + "/ca.crt"
        let h = host.contains(":") ? "[\(host)]" : host  // IPv6 service address
        return KubernetesConnection(server: "https://\(h):\(port)", tokenFile: tokenFile, tls: tls)
    }

    /// A context of a kubeconfig file (`context` nil: its current-context). Inline `*-data`
    /// certificates and keys stay in memory (libcurl's blob options): nothing is written to disk.
    public static func kubeconfig(path: String, context: String? = nil) throws(ActionError) -> KubernetesConnection {
        guard let data = FileManager.default.contents(atPath: path) else { throw .permanent("cannot read kubeconfig \(path)") }
        let root: YAMLNode?
        do { root = try YAMLNode.load(path: path, text: try YAMLNode.text(of: data, path: path), environment: [:]) } catch {
            throw .permanent("kubeconfig: \(error.description)")
        }
        guard let root, root.isMapping else { throw .permanent("kubeconfig \(path) is not a mapping") }
        func named(_ list: String, _ name: String) -> YAMLNode? {
            root[list]?.items.first { $0["name"]?.string == name }
        }
        guard let contextName = context ?? root["current-context"]?.string, let ctx = named("contexts", contextName)?["context"] else {
            throw .permanent("kubeconfig \(path): no context \(context ?? "(current-context)")")
        }
        guard let clusterName = ctx["cluster"]?.string, let cluster = named("clusters", clusterName)?["cluster"],
              let server = cluster["server"]?.string else {
            throw .permanent("kubeconfig \(path): context \(contextName) names no cluster with a server")
        }
        let user = ctx["user"]?.string.flatMap { named("users", $0)?["user"] }
        var tls = TLSOptions()
        func file(_ key: String, in node: YAMLNode?) -> String? {
            guard let p = node?[key]?.string else { return nil }
            return p.hasPrefix("/") ? p : ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(p)
        }
        func inline(_ dataKey: String, in node: YAMLNode?) throws(ActionError) -> PEMData? {
            guard let encoded = node?[dataKey]?.string else { return nil }
            guard let bytes = Data(base64Encoded: encoded, options: .ignoreUnknownCharacters) else { throw .permanent("kubeconfig: \(dataKey) is not base64") }
            return PEMData(Array(bytes))
        }
        tls.caBundlePath = file("certificate-authority", in: cluster)
        tls.caBundle = try inline("certificate-authority-data", in: cluster)
        if cluster["insecure-skip-tls-verify"]?.string == "true" {
            tls.verifyPeer = false
            tls.verifyHost = false
        }
        tls.clientCertPath = file("client-certificate", in: user)
        tls.clientCert = try inline("client-certificate-data", in: user)
        tls.clientKeyPath = file("client-key", in: user)
        tls.clientKey = try inline("client-key-data", in: user)
        return KubernetesConnection(server: server, token: user?["token"]?.string, tokenFile: user?["tokenFile"]?.string, tls: tls)
    }

    /// From the `actions.kubernetes` settings.
    public static func from(_ settings: ActionSettings.Kubernetes, environment: [String: String]) throws(ActionError) -> KubernetesConnection {
        if settings.inCluster { return try inCluster(environment: environment) }
        let path = settings.kubeconfig ?? environment["KUBECONFIG"]?.split(separator: ":").first.map(String.init)
            ?? (environment["HOME"].map { $0 + "/.kube/config" } ?? "")
        return try kubeconfig(path: path, context: settings.context)
    }

    func bearerToken() -> String? {
        if let tokenFile, let data = FileManager.default.contents(atPath: tokenFile) {
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return token
    }
}

/// A small Kubernetes API client over the shared libcurl client: what the Kubernetes
/// executors need (get, merge patch, create, delete), with API `Status` errors classified.
public struct KubernetesClient: Sendable {
    public let connection: KubernetesConnection
    let http: HTTPClient
    let timeout: Duration

    public init(connection: KubernetesConnection, http: HTTPClient, timeout: Duration = .seconds(10)) {
        self.connection = connection
        self.http = http
        self.timeout = timeout
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: JSON
    }

    /// The request for one call (pure).
    func request(_ method: String, _ path: String, contentType: String?, body: JSON?) -> HTTPRequest {
        var headers: [(name: String, value: String)] = [("Accept", "application/json"), ("User-Agent", "sluice")]
        if let token = connection.bearerToken() { headers.append(("Authorization", "Bearer \(token)")) }
        if let contentType { headers.append(("Content-Type", contentType)) }
        return HTTPRequest(method: method, url: connection.server + path, headers: headers,
                           body: body.map { JSONBuilder($0).serialized() } ?? [], timeout: timeout, tls: connection.tls)
    }

    /// One call. 2xx and the statuses in `accept` come back; 429/5xx and transport errors are
    /// retryable; other statuses fail with the API's `Status.message`.
    public func call(_ method: String, _ path: String, contentType: String? = nil, body: JSON? = nil, accept: Set<Int> = []) async throws(ActionError) -> Response {
        let response: HTTPResponse
        do { response = try await http.execute(request(method, path, contentType: contentType, body: body)) } catch {
            throw ActionError("kubernetes: \(error.description)", retryable: error.isRetriable)
        }
        let json = (try? JSON.parse(response.bodyText)) ?? .null
        if (200..<300).contains(response.status) || accept.contains(response.status) { return Response(status: response.status, body: json) }
        let message = "kubernetes \(method) \(path): HTTP \(response.status) \(json["reason"]?.stringValue ?? ""): \(json["message"]?.stringValue ?? String(response.bodyText.prefix(200)))"
        throw ActionError(message, retryable: HTTPOutcome.statusClass(response.status) == .retryable)
    }

    static func podPath(_ namespace: String, _ name: String) -> String { "/api/v1/namespaces/\(namespace)/pods/\(name)" }
    static func nodePath(_ name: String) -> String { "/api/v1/nodes/\(name)" }
    static func networkPoliciesPath(_ namespace: String) -> String { "/apis/networking.k8s.io/v1/namespaces/\(namespace)/networkpolicies" }

    /// Object labels as a dictionary.
    static func labels(_ object: JSON) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in object.value(atPath: "metadata.labels")?.objectValue ?? [] { out[k] = v.stringValue ?? "" }
        return out
    }
}

/// Kubernetes executors share one lazily made client (settings are read on first use, so a
/// process without Kubernetes access can still run AWS playbooks).
final class KubernetesClientSource: Sendable {
    private let make: @Sendable () throws(ActionError) -> KubernetesClient
    private let made = Mutex<KubernetesClient?>(nil)
    init(context: ActionContext) {
        let settings = context.settings.kubernetes, env = context.environment, http = context.http
        make = { () throws(ActionError) -> KubernetesClient in
            KubernetesClient(connection: try KubernetesConnection.from(settings, environment: env), http: http)
        }
    }
    func client() throws(ActionError) -> KubernetesClient {
        if let c = made.withLock({ $0 }) { return c }
        let c = try make()
        made.withLock { $0 = c }
        return c
    }
}

/// Namespace and pod of a step: its parameters, else the finding's Kubernetes workload when it is a pod.
func podNames(_ request: ActionRequest) throws(ActionError) -> (namespace: String, pod: String) {
    let p = request.parameters
    let workload = "detail.resource.kubernetesDetails.kubernetesWorkloadDetails"
    let namespace = p.string("namespace") ?? request.findingString("\(workload).namespace")
    var pod = p.string("pod")
    if pod == nil, ["pods", "Pod", "pod"].contains(request.findingString("\(workload).type") ?? "") { pod = request.findingString("\(workload).name") }
    guard let namespace, let pod else { throw .permanent("no pod: give namespace and pod (the finding names no pod)") }
    guard isDNSLabel(namespace), isDNSSubdomain(pod) else { throw .permanent("invalid namespace or pod name") }
    return (namespace, pod)
}

/// RFC 1123 names, as Kubernetes requires them (no path tricks in a URL built from a finding).
func isDNSLabel(_ s: String) -> Bool {
    !s.isEmpty && s.count <= 63 && s.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" } && s.first != "-" && s.last != "-"
}

func isDNSSubdomain(_ s: String) -> Bool {
    s.count <= 253 && s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel(String($0)) }
}
