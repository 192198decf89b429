import Foundation
import SluiceTestSupport
import Testing
import Yams

/// `deploy/`: what can be checked on a machine with no container engine — the Kubernetes
/// manifests against the API schemas, the Prometheus rules with their unit tests, the systemd
/// unit's syntax and sandbox, the configuration the manifests ship, and that every metric the
/// dashboard and the alerts query is one a running Sluice serves.
@Suite struct DeploymentTests {
    static let deploy = PackagePaths.root.appendingPathComponent("deploy")

    /// Runs a command to its end; returns exit status and combined output.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                    in directory: URL? = nil) throws -> (status: Int32, output: String) {
        try CommandRun.run(URL(fileURLWithPath: executable), arguments, environment: environment, in: directory)
    }

    /// `run`, with the output read and the exit awaited off the cooperative pool.
    static func result(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                       in directory: URL? = nil) async throws -> (status: Int32, output: String) {
        try await CommandRun.result(of: URL(fileURLWithPath: executable), arguments, environment: environment, in: directory)
    }

    static func files(_ folder: String, ext: String) throws -> [String] {
        let dir = deploy.appendingPathComponent(folder)
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(ext) }.sorted()
            .map { dir.appendingPathComponent($0).path }
    }

    @Test func kubernetesManifestsMatchTheAPISchemas() async throws {
        let manifests = try Self.files("kubernetes", ext: ".yaml")
        #expect(manifests.count == 5)
        let validator = PackagePaths.root.appendingPathComponent(".tools/venv/bin/kubernetes-validate").path
        let (status, output) = try await Self.result(validator, ["--strict", "-k", "1.30.0"] + manifests)
        #expect(status == 0, "\(output)")
        #expect(output.components(separatedBy: " passed for resource ").count - 1 == manifests.count, "\(output)")
    }

    @Test func kubernetesDeploymentIsHardenedAndProbed() throws {
        let text = try String(contentsOfFile: Self.deploy.appendingPathComponent("kubernetes/deployment.yaml").path, encoding: .utf8)
        let doc = try #require(try Yams.load(yaml: text) as? [String: Any])
        let spec = try #require((doc["spec"] as? [String: Any])?["template"] as? [String: Any])
        let pod = try #require(spec["spec"] as? [String: Any])
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        let security = try #require(container["securityContext"] as? [String: Any])
        #expect(security["allowPrivilegeEscalation"] as? Bool == false)
        #expect(security["readOnlyRootFilesystem"] as? Bool == true)
        #expect((security["capabilities"] as? [String: Any])?["drop"] as? [String] == ["ALL"])
        #expect((pod["securityContext"] as? [String: Any])?["runAsNonRoot"] as? Bool == true)
        for (probe, path) in [("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")] {
            let get = (container[probe] as? [String: Any])?["httpGet"] as? [String: Any]
            #expect(get?["path"] as? String == path, "\(probe)")
        }
        // Longer than the default drain timeout (30 s), so SIGTERM can drain and commit.
        #expect((pod["terminationGracePeriodSeconds"] as? Int ?? 0) > 30)
    }

    /// The routes, connector and run configuration the ConfigMap ships pass `sluice validate`.
    @Test func configMapContentValidates() async throws {
        let text = try String(contentsOfFile: Self.deploy.appendingPathComponent("kubernetes/configmap.yaml").path, encoding: .utf8)
        let doc = try #require(try Yams.load(yaml: text) as? [String: Any])
        let data = try #require(doc["data"] as? [String: String])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-deploy-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        for sub in ["routes", "connectors"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try #require(data["routes.yaml"]).write(to: dir.appendingPathComponent("routes/routes.yaml"), atomically: true, encoding: .utf8)
        try #require(data["soc-slack.yaml"]).write(to: dir.appendingPathComponent("connectors/soc-slack.yaml"), atomically: true, encoding: .utf8)
        // The run configuration too, with its directories pointed at the copies (each mount path
        // must be in it, so a renamed mount cannot go unnoticed).
        var run = try #require(data["sluice.yaml"])
        #expect(run.contains("dead_letter_topic:") && run.contains("watch: true"), "\(run)")
        for sub in ["routes", "connectors"] {
            #expect(run.contains("\(sub): /etc/sluice/\(sub)\n"), "\(run)")
            run = run.replacingOccurrences(of: "/etc/sluice/\(sub)", with: dir.appendingPathComponent(sub).path)
        }
        try run.write(to: dir.appendingPathComponent("sluice.yaml"), atomically: true, encoding: .utf8)
        let (status, output) = try await Self.result(SluiceProcess.binary.path, ["validate", "--config", dir.appendingPathComponent("sluice.yaml").path],
            environment: ["SLACK_WEBHOOK_URL": "https://hooks.example.invalid/services/x"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("1 routes") && output.contains("run configuration \(dir.appendingPathComponent("sluice.yaml").path)"), "\(output)")
    }

    /// Routes and connectors are mounted as whole directories, never through subPath: the kubelet
    /// updates a ConfigMap directory in place (a `..data` symlink swap, which `--watch` sees:
    /// `WatchTests.aConfigMapStyleSymlinkSwapIsReloaded`), but a subPath mount never changes.
    @Test func kubernetesMountsRoutesAndConnectorsSoEditsReachThePod() throws {
        let text = try String(contentsOfFile: Self.deploy.appendingPathComponent("kubernetes/deployment.yaml").path, encoding: .utf8)
        let doc = try #require(try Yams.load(yaml: text) as? [String: Any])
        let pod = try #require(((doc["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        let mounts = try #require(container["volumeMounts"] as? [[String: Any]])
        let volumes = try #require(pod["volumes"] as? [[String: Any]])
        for dir in ["/etc/sluice/routes", "/etc/sluice/connectors"] {
            let mount = try #require(mounts.first { $0["mountPath"] as? String == dir }, "nothing mounted at \(dir)")
            #expect(mount["subPath"] == nil, "\(dir) is a subPath mount: ConfigMap edits never reach it")
            let volume = volumes.first { $0["name"] as? String == mount["name"] as? String }
            #expect((volume?["configMap"] as? [String: Any])?["name"] as? String == "sluice-config", "\(volume ?? [:])")
        }
        #expect(!mounts.contains { ($0["mountPath"] as? String ?? "").hasPrefix("/etc/sluice/routes/") || ($0["mountPath"] as? String ?? "").hasPrefix("/etc/sluice/connectors/") })
    }

    @Test func prometheusRulesPassTheirUnitTests() async throws {
        let dir = Self.deploy.appendingPathComponent("prometheus")
        let check = try await Self.result("/usr/bin/promtool", ["check", "rules", "alerts.yaml"], in: dir)
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("SUCCESS: 6 rules found"), "\(check.output)")
        let test = try await Self.result("/usr/bin/promtool", ["test", "rules", "alerts_test.yaml"], in: dir)
        #expect(test.status == 0, "\(test.output)")
    }

    /// The Grafana dashboard is JSON Grafana can import (title, uid, schemaVersion, panels), and
    /// every panel's query is PromQL that promtool parses: each becomes a recording rule, with
    /// Grafana's `$__rate_interval` set to 5m. A typo in a panel would otherwise show only in Grafana.
    @Test func grafanaDashboardIsJSONWithValidPromQLInEveryPanel() async throws {
        let data = try Data(contentsOf: Self.deploy.appendingPathComponent("grafana/sluice.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(dashboard["title"] as? String == "Sluice")
        #expect((dashboard["uid"] as? String)?.isEmpty == false)
        #expect(dashboard["schemaVersion"] is Int)
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        var rules: [[String: String]] = []
        for (i, panel) in panels.enumerated() {
            let targets = panel["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty, "panel \(i) (\(panel["title"] as? String ?? "untitled")) has no query")
            for (j, target) in targets.enumerated() {
                let expr = try #require(target["expr"] as? String, "panel \(i) target \(j)")
                rules.append(["record": "grafana:panel_\(i)_\(j)", "expr": expr.replacingOccurrences(of: "$__rate_interval", with: "5m")])
            }
        }
        #expect(panels.count >= 8 && rules.count >= panels.count, "\(panels.count) panels, \(rules.count) queries")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-grafana-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // JSON is YAML: promtool reads the rules file as written.
        let file = dir.appendingPathComponent("panels.json")
        try JSONSerialization.data(withJSONObject: ["groups": [["name": "grafana-panels", "rules": rules]]]).write(to: file)
        let check = try await Self.result("/usr/bin/promtool", ["check", "rules", file.path])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("SUCCESS: \(rules.count) rules found"), "\(check.output)")
    }

    @Test func systemdUnitVerifiesAndIsSandboxed() async throws {
        // verify needs ExecStart's binary to exist: point it at the one under test.
        let unit = try String(contentsOfFile: Self.deploy.appendingPathComponent("systemd/sluice.service").path, encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/sluice", with: SluiceProcess.binary.path)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("sluice.service").path
        try unit.write(toFile: path, atomically: true, encoding: .utf8)
        let verify = try await Self.result("/usr/bin/systemd-analyze", ["verify", path])
        #expect(verify.status == 0, "\(verify.output)")
        // systemd's own exposure score, 0 (locked down) to 10 (--threshold is in tenths): at most 2.0.
        let security = try await Self.result("/usr/bin/systemd-analyze", ["security", "--offline=true", "--threshold=20", path])
        #expect(security.status == 0, "\(security.output.suffix(400))")
    }

    /// Every `sluice_*` metric the dashboard and the alert rules query is a family that a live
    /// run serves on /metrics (a renamed metric would otherwise leave a blank panel).
    @Test func dashboardAndAlertsQueryMetricsThatExist() async throws {
        let queried = try Self.queriedMetricNames()
        #expect(queried.count >= 7, "\(queried)")

        var metrics = ""
        // A port picked free can be taken by another test's server before ours binds it; ours
        // then exits and the scrape would read the other process. Such a run is tried again.
        for _ in 0..<3 {
            if let scraped = try await Self.scrapeALiveRun() { metrics = scraped; break }
        }
        #expect(!metrics.isEmpty, "no run of our own answered /metrics")
        // A run whose port was taken by another test's server used to keep running (its admin
        // server failed, its stdin source did not stop), so the scrape read the other server: it
        // now exits, and is tried again above.
        #expect(Self.showsOwnDelivery(metrics), "no own delivery in the scrape: \(metrics.prefix(300))")
        // Lines split on any newline: "\r\n" is one Character, so splitting on "\n" glued the
        // head's last line to the first family, and that family (in the exposition's random
        // order) went missing about one run in four.
        let served = Set(metrics.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("# TYPE ") }.compactMap { $0.split(separator: " ").dropFirst(2).first.map(String.init) })
        for name in queried {
            let family = ["_bucket", "_sum", "_count"].reduce(name) { n, suffix in
                n.hasSuffix(suffix) && served.contains(String(n.dropLast(suffix.count))) ? String(n.dropLast(suffix.count)) : n
            }
            #expect(served.contains(family), "\(name) is queried by deploy/ but not served; served: \(served.sorted())")
        }
    }

    static func showsOwnDelivery(_ metrics: String) -> Bool {
        metrics.contains(#"sluice_deliveries_total{connector="hook",route="all-findings"} 1"#)
            || metrics.contains(#"sluice_deliveries_total{route="all-findings",connector="hook"} 1"#)
    }

    /// /metrics of a live offline run after one delivery; nil when the run did not hold its port
    /// (it exited) by the time of the scrape.
    static func scrapeALiveRun() async throws -> String? {
        return try await withRunHarness { harness in
            let (receiver, config) = try await harness.webhook()
            let port = freeLoopbackPort()
            let run = try harness.stdinRun(config, metricsPort: port, extra: ["--log-level", "error"])
            let p = run.process
            // One delivery, so the labelled families (deliveries, delivery time) have samples.
            let finding = try #require(try Findings.unique(1).first)
            run.send([finding.bytes])
            try await receiver.waitForCount(1, timeout: 120)
            guard await LoopbackPort.accepts(port, within: 60) else { return nil }
            // The receiver counts the request before the router records the delivery: scrape until
            // this run's own delivery is counted (a positive marker).
            let metrics = await eventually(within: .seconds(120)) {
                await LoopbackPort.fetch(port, "/metrics") ?? ""
            } until: { showsOwnDelivery($0) || !p.isRunning }
            guard p.isRunning else { return nil }
            try? run.stdin.fileHandleForWriting.close()
            await ChildProcess.stopAndWait(p, grace: 30)
            return metrics
        }
    }

    /// `sluice_…` identifiers in the Grafana dashboard and the alert rules.
    static func queriedMetricNames() throws -> Set<String> {
        var text = try String(contentsOfFile: deploy.appendingPathComponent("grafana/sluice.json").path, encoding: .utf8)
        text += try String(contentsOfFile: deploy.appendingPathComponent("prometheus/alerts.yaml").path, encoding: .utf8)
        let regex = try NSRegularExpression(pattern: "sluice_[a-z_]+")
        let range = NSRange(text.startIndex..., in: text)
        return Set(regex.matches(in: text, range: range).compactMap { Range($0.range, in: text).map { String(text[$0]) } })
    }
}
