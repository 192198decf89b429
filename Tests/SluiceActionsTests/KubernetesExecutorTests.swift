import Foundation
import SluiceActions
import SluiceCore
import SluiceTestSupport
import Testing

/// The Kubernetes executors against the Kubernetes API contract (scripts/receivers/vendors/
/// kubernetes.py: paths, verbs, content types, bearer token, NetworkPolicy schema through the
/// `kubernetes-validate` package). No API server can be installed here.
@Suite(.serialized) struct KubernetesExecutorTests {
    static let token = "sluice-t0ken"

    static func kubeconfig(server: String, token: String) throws -> String {
        try kubeconfig(cluster: "{server: \"\(server)\"}", user: "{token: \(token)}")
    }

    /// A kubeconfig file with one context, its cluster and user given as YAML flow mappings.
    static func kubeconfig(cluster: String, user: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kubeconfig-\(UUID().uuidString)").path
        try """
            apiVersion: v1
            kind: Config
            current-context: test
            clusters:
              - name: local
                cluster: \(cluster)
            users:
              - name: sluice
                user: \(user)
            contexts:
              - name: test
                context: {cluster: local, user: sluice}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let routes = """
        routes:
          - name: contain-pod
            match: {detail: {resource: {resourceType: [EKSCluster]}}}
            playbook:
              - name: isolate
                action: kubernetes.isolate-pod
                params: {pod: "{{detail.resource.kubernetesDetails.kubernetesWorkloadDetails.name}}-7d9f8c6b5-x2x9z"}
              - name: cordon
                action: kubernetes.cordon-node
                params: {node: ip-10-0-1-17.ec2.internal}
          - name: kill-pod
            match: {detail: {resource: {resourceType: [EKSCluster]}}}
            playbook:
              - name: delete
                action: kubernetes.delete-pod
                params: {namespace: "{{detail.resource.kubernetesDetails.kubernetesWorkloadDetails.namespace}}", pod: report-worker-7d9f8c6b5-x2x9z, grace_period: "0"}
          - name: system-pod
            match: {detail: {resource: {resourceType: [EKSCluster]}}}
            playbook:
              - name: isolate
                action: kubernetes.isolate-pod
                params: {namespace: kube-system, pod: coredns-5d78c9869d-abcde}
        """

    func runner(kubeconfig: String, audit: MemoryAuditSink) throws -> PlaybookRunner {
        var settings = ActionSettings()
        settings.kubernetes.kubeconfig = kubeconfig
        return PlaybookRunner(playbooks: try ActionFixtures.playbooks(Self.routes), context: ActionFixtures.context(settings, environment: [:]),
                              audit: ActionAudit(sinks: [audit], logger: .init(label: "t")))
    }

    @Test func isolateCordonAndDeleteFollowTheAPIContract() async throws {
        let server = try await WebhookReceiver.start(vendor: "kubernetes", options: [
            "token": Self.token, "nodes": "ip-10-0-1-17.ec2.internal",
            "pods": "reporting/report-worker-7d9f8c6b5-x2x9z,kube-system/coredns-5d78c9869d-abcde",
        ])
        try await withCleanup { cleanup in
            cleanup.add { await server.stopAndWait() }
            let audit = MemoryAuditSink()
            let r = try runner(kubeconfig: try Self.kubeconfig(server: server.url, token: Self.token), audit: audit)
            let payload = try ActionFixtures.findingBytes("03-eks-container-mining.json")
            #expect(await r.run(route: "contain-pod", payload: payload) == .completed)
            #expect(try server.violations() == [])

            let store = try #require(try server.store() as? [String: Any])
            let pods = try #require(store["pods"] as? [String: [String: Any]])
            let pod = try #require(pods["reporting/report-worker-7d9f8c6b5-x2x9z"]?["metadata"] as? [String: Any])
            #expect((pod["labels"] as? [String: String]) == ["app": "report-worker-7d9f8c6b5-x2x9z", "sluice.io/quarantine": "true"])
            #expect((pod["annotations"] as? [String: String])?["sluice.io/quarantined-for"] == "f44a1452def533e5209a9c6cbd2833ec")
            let policies = try #require(store["networkpolicies"] as? [String: [String: Any]])
            let policy = try #require(policies["reporting/sluice-quarantine"])
            let spec = try #require(policy["spec"] as? [String: Any])
            #expect((spec["policyTypes"] as? [String]) == ["Ingress", "Egress"])
            #expect(spec["ingress"] == nil && spec["egress"] == nil, "a deny-all policy has no rules")
            #expect(((spec["podSelector"] as? [String: Any])?["matchLabels"] as? [String: String]) == ["sluice.io/quarantine": "true"])
            let node = try #require((store["nodes"] as? [String: [String: Any]])?["ip-10-0-1-17.ec2.internal"])
            #expect((node["spec"] as? [String: Any])?["unschedulable"] as? Bool == true)
            let requests = try #require(store["requests"] as? [[String: String]]).map { "\($0["method"]!) \($0["path"]!) \($0["content_type"]!)" }
            #expect(requests == [
                "GET /api/v1/namespaces/reporting/pods/report-worker-7d9f8c6b5-x2x9z ",
                "POST /apis/networking.k8s.io/v1/namespaces/reporting/networkpolicies application/json",
                "PATCH /api/v1/namespaces/reporting/pods/report-worker-7d9f8c6b5-x2x9z application/merge-patch+json",
                "GET /api/v1/nodes/ip-10-0-1-17.ec2.internal ",
                "PATCH /api/v1/nodes/ip-10-0-1-17.ec2.internal application/strategic-merge-patch+json",
            ])

            // Again: both already done, nothing patched.
            #expect(await r.run(route: "contain-pod", payload: payload) == .completed)
            #expect(audit.records.suffix(2).map(\.result) == [.unchanged, .unchanged])

            // A protected namespace is never touched.
            guard case .refused(_, let reason) = await r.run(route: "system-pod", payload: payload) else { Issue.record("kube-system not refused"); return }
            #expect(reason.contains("namespace kube-system is protected"))

            // delete-pod: gone, then unchanged.
            #expect(await r.run(route: "kill-pod", payload: payload) == .completed)
            #expect(audit.records.last?.result == .succeeded)
            let after = try #require(try server.store() as? [String: Any])
            #expect((after["pods"] as? [String: Any])?["reporting/report-worker-7d9f8c6b5-x2x9z"] == nil)
            let again = try runner(kubeconfig: try Self.kubeconfig(server: server.url, token: Self.token), audit: audit)
            #expect(await again.run(route: "kill-pod", payload: payload) == .completed)
            #expect(audit.records.last?.result == .unchanged)
            #expect(try server.violations() == [])
        }
    }

    @Test func aWrongTokenIsRefusedByTheServerAndFailsTheStepForGood() async throws {
        let server = try await WebhookReceiver.start(vendor: "kubernetes", options: ["token": Self.token, "pods": "reporting/report-worker-7d9f8c6b5-x2x9z"])
        try await withCleanup { cleanup in
            cleanup.add { await server.stopAndWait() }
            let audit = MemoryAuditSink()
            let r = try runner(kubeconfig: try Self.kubeconfig(server: server.url, token: "stolen"), audit: audit)
            let outcome = await r.run(route: "contain-pod", payload: try ActionFixtures.findingBytes("03-eks-container-mining.json"))
            guard case .failed(let step, let error, _) = outcome else { Issue.record("expected a failure, got \(outcome)"); return }
            #expect(step == "isolate" && !error.retryable && error.message.contains("HTTP 401"))
            #expect(try server.violations().count == 1)
        }
    }

    @Test func theNetworkPolicyIsValidForTheKubernetesSchema() async throws {
        let policy = KubernetesIsolatePodExecutor.networkPolicy(name: "sluice-quarantine", namespace: "reporting", label: ("sluice.io/quarantine", "true"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("policy-\(UUID().uuidString).json")
        try Data(JSONBuilder(policy).serialized()).write(to: file)
        let p = Process()
        p.executableURL = PackagePaths.root.appendingPathComponent(".tools/venv/bin/kubernetes-validate")
        p.arguments = ["--strict", "-k", "1.30.0", file.path]
        let text = try await CommandRun.output(of: p)
        #expect(p.terminationStatus == 0, "\(text)")
        #expect(text.contains("passed for resource networkpolicy/sluice-quarantine"), "\(text)")
    }

    @Test func inClusterConnectionUsesTheServiceAccountFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sa-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "token-1\n".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        try "CA".write(toFile: dir + "/ca.crt", atomically: true, encoding: .utf8)
        let c = try KubernetesConnection.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.100.0.1", "KUBERNETES_SERVICE_PORT": "443"], directory: dir)
        #expect(c.server == "https://10.100.0.1:443")
        #expect(c.tls.caBundlePath == dir + "/ca.crt" && c.tls.verifyPeer)
        #expect(c.tokenFile == dir + "/token")
        #expect(throws: ActionError.self) { try KubernetesConnection.inCluster(environment: [:], directory: dir) }
    }

    /// A kubeconfig that is not UTF-8 is refused with where, not read with U+FFFD in a name.
    @Test func aKubeconfigThatIsNotUTF8IsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kubeconfig-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(Array("current-context: prod\ncontexts:\n- name: pr".utf8) + [0xFF, 0x6F, 0x64] + Array("\n".utf8)).write(to: URL(fileURLWithPath: path))
        do {
            _ = try KubernetesConnection.kubeconfig(path: path)
            Issue.record("a kubeconfig with invalid UTF-8 loaded")
        } catch {
            #expect("\(error)".contains("\(path):3:11: invalid UTF-8"), "\(error)")
        }
    }

    /// Inline client key and certificates stay in memory: no temporary file is ever written.
    @Test func kubeconfigKeyMaterialNeverTouchesTheDisk() throws {
        let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIKEYMATERIAL\n-----END PRIVATE KEY-----\n"
        let cert = "-----BEGIN CERTIFICATE-----\nMIIBCERT\n-----END CERTIFICATE-----\n"
        let b64 = { (s: String) in Data(s.utf8).base64EncodedString() }
        let path = try Self.kubeconfig(cluster: "{server: \"https://127.0.0.1:6443\", certificate-authority-data: \(b64(cert))}",
                                       user: "{client-certificate-data: \(b64(cert)), client-key-data: \(b64(key))}")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let tmp = FileManager.default.temporaryDirectory.path
        let before = Set(try FileManager.default.contentsOfDirectory(atPath: tmp))
        let connection = try KubernetesConnection.kubeconfig(path: path)
        let created = Set(try FileManager.default.contentsOfDirectory(atPath: tmp)).subtracting(before)
        #expect(created.filter { $0.hasPrefix("sluice-kube-") }.isEmpty, "\(created)")
        #expect(connection.tls.clientKeyPath == nil && connection.tls.clientCertPath == nil && connection.tls.caBundlePath == nil)
        #expect(connection.tls.clientKey?.bytes == Array(key.utf8))
        #expect(connection.tls.clientCert?.bytes == Array(cert.utf8))
        #expect(connection.tls.caBundle?.bytes == Array(cert.utf8))
        #expect(!"\(connection)".contains("KEYMATERIAL"))
    }
}
