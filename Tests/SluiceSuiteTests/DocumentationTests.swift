import Foundation
import SluiceTestSupport
import Testing

/// Issue 11, point 9: what the documentation shows works as written.
@Suite struct DocumentationTests {
    static let root = PackagePaths.root

    /// The Markdown a newcomer reads.
    static func documents() throws -> [URL] {
        var out = ["README.md", "routes/README.md", "examples/README.md", "deploy/README.md"].map { root.appendingPathComponent($0) }
        let docs = root.appendingPathComponent("docs")
        out += try FileManager.default.contentsOfDirectory(atPath: docs.path).filter { $0.hasSuffix(".md") }.sorted()
            .map { docs.appendingPathComponent($0) }
        return out
    }

    /// Each ```yaml block, with whether the line before it marks it as a fragment.
    static func yamlSnippets(_ text: String) -> [(yaml: String, line: Int, fragment: Bool)] {
        let lines = text.components(separatedBy: "\n")
        var out: [(String, Int, Bool)] = []
        var i = 0
        while i < lines.count {
            if lines[i].trimmingCharacters(in: .whitespaces) == "```yaml" {
                let fragment = i > 0 && lines[i - 1].hasPrefix("<!-- snippet: fragment")
                var body: [String] = []
                var j = i + 1
                while j < lines.count, lines[j].trimmingCharacters(in: .whitespaces) != "```" { body.append(lines[j]); j += 1 }
                out.append((body.joined(separator: "\n") + "\n", i + 1, fragment))
                i = j
            }
            i += 1
        }
        return out
    }

    /// Every YAML snippet is a route file, a route test file, a connector or a run configuration,
    /// and `sluice validate` (or `sluice test --suite`) accepts it — or it says it is a fragment.
    @Test func everyYAMLSnippetValidatesAsWritten() async throws {
        var checked = 0
        for doc in try Self.documents() {
            let text = try String(contentsOf: doc, encoding: .utf8)
            for (yaml, line, fragment) in Self.yamlSnippets(text) where !fragment {
                let at = "\(doc.lastPathComponent):\(line)"
                // A checkout-like directory: the snippet beside the shipped connectors and examples.
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("doc-snippet-\(UUID().uuidString)")
                defer { try? FileManager.default.removeItem(at: dir) }
                let routes = dir.appendingPathComponent("routes")
                try FileManager.default.createDirectory(at: routes.appendingPathComponent("tests"), withIntermediateDirectories: true)
                try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("examples"), withDestinationURL: Self.root.appendingPathComponent("examples"))
                try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("connectors"), withDestinationURL: Self.root.appendingPathComponent("connectors"))
                let keys = Set(yaml.components(separatedBy: "\n").compactMap { l -> String? in
                    guard let c = l.firstIndex(of: ":"), let f = l.first, f != " ", f != "#", f != "-" else { return nil }
                    return String(l[..<c])
                })
                let result: (Int32, String)
                if keys.contains("cases") {
                    try yaml.write(to: routes.appendingPathComponent("tests/snippet.yaml"), atomically: true, encoding: .utf8)
                    try FileManager.default.copyItem(at: Self.root.appendingPathComponent("routes/guardduty.yaml"), to: routes.appendingPathComponent("guardduty.yaml"))
                    result = try await SluiceCommand.run(["test", "--suite", "routes/tests"], in: dir)
                } else if keys.contains("match") || keys.contains("routes") {
                    try yaml.write(to: routes.appendingPathComponent("snippet.yaml"), atomically: true, encoding: .utf8)
                    result = try await SluiceCommand.run(["validate"], in: dir)
                } else if keys.contains("brokers") || keys.contains("actions") || keys.contains("topics") {
                    try yaml.write(to: dir.appendingPathComponent("sluice.yaml"), atomically: true, encoding: .utf8)
                    try FileManager.default.copyItem(at: Self.root.appendingPathComponent("routes/guardduty.yaml"), to: routes.appendingPathComponent("guardduty.yaml"))
                    result = try await SluiceCommand.run(["validate", "--config", "sluice.yaml"], in: dir)
                } else {
                    Issue.record("\(at): a YAML snippet that is neither a route, a route test nor a run configuration; mark it `<!-- snippet: fragment … -->` if it is a part")
                    continue
                }
                #expect(result.0 == 0, "\(at): \(result.1)")
                // Beside the shipped connectors: their kafka archive names no brokers (a run gives them).
                let warnings = result.1.split(separator: "\n").filter { $0.contains("warning:") && !$0.contains("(kafka) has no brokers") }
                #expect(warnings.isEmpty, "\(at): \(result.1)")
                checked += 1
            }
        }
        #expect(checked >= 2)
    }

    @Test func theExampleRunConfigurationHasEveryKeyAndValidates() async throws {
        let (status, output) = try await SluiceCommand.run(["validate", "--config", "examples/sluice.yaml"], in: Self.root)
        #expect(status == 0, "\(output)")
        let text = try String(contentsOf: Self.root.appendingPathComponent("examples/sluice.yaml"), encoding: .utf8)
        // Every key the run configuration reads (RunSettings+File.swift, ActionSettings, AWSSettings,
        // GuardSettings), written down here by hand so a key added without documentation fails.
        let keys = [
            "brokers", "topics", "group", "dead_letter_topic", "routes", "connectors", "max_in_flight", "drain_timeout",
            "progress_interval", "failure_warning_interval", "state_topic_prefix", "state_partitions",
            "max_message_bytes", "max_depth", "metrics_listen", "admin", "listen", "tokens_file", "max_body_bytes",
            "request_timeout", "idle_timeout", "recent_findings", "log_level", "log_format", "kafka", "actions", "dry_run",
            "audit_topic", "approvals_topic", "instance_id", "aws", "region", "endpoint", "profile", "credentials",
            "access_key_id", "secret_access_key", "session_token", "assume_role", "role_arn", "session_name", "external_id",
            "sts_endpoint", "kubernetes", "in_cluster", "kubeconfig", "context", "guards", "protected_accounts",
            "protected_tags", "protected_namespaces", "max_per_hour", "max_per_hour_per_route", "max_concurrent_isolations",
        ]
        for key in keys { #expect(text.contains("\(key):"), "examples/sluice.yaml lacks \(key)") }
    }

    /// The run flags' intervals have keys of their own in the file, checked where they are.
    @Test func intervalSettingsInTheFileAreChecked() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("interval-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "progress_interval: soon\nfailure_warning_interval: 0s\nstate_partitions: 5000\ndrain_timeout: 30s\n"
            .write(to: dir.appendingPathComponent("s.yaml"), atomically: true, encoding: .utf8)
        let (status, output) = try await SluiceCommand.run(["validate", "--config", "s.yaml", "--routes", Self.root.appendingPathComponent("routes").path,
                                                "--connectors", Self.root.appendingPathComponent("connectors").path], in: dir)
        #expect(status == 1)
        #expect(output.contains("s.yaml:1:20: 'progress_interval' must be a duration such as 500ms, 10s, 5m or 24h"), "\(output)")
        #expect(output.contains("s.yaml:2:27: 'failure_warning_interval' must be above 0"), "\(output)")
        #expect(output.contains("s.yaml:3:19:"), "\(output)")
        try "progress_interval: 0\nfailure_warning_interval: 1m\nstate_topic_prefix: team-a.\n"
            .write(to: dir.appendingPathComponent("ok.yaml"), atomically: true, encoding: .utf8)
        let (okStatus, okOutput) = try await SluiceCommand.run(["validate", "--config", "ok.yaml", "--routes", Self.root.appendingPathComponent("routes").path,
                                                "--connectors", Self.root.appendingPathComponent("connectors").path], in: dir)
        #expect(okStatus == 0, "\(okOutput)")
    }

    @Test func logSettingsInTheFileAreChecked() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("log-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "log_level: loud\nlog_format: xml\nlog_levle: info\n".write(to: dir.appendingPathComponent("s.yaml"), atomically: true, encoding: .utf8)
        let (status, output) = try await SluiceCommand.run(["validate", "--config", "s.yaml", "--routes", Self.root.appendingPathComponent("routes").path,
                                                "--connectors", Self.root.appendingPathComponent("connectors").path], in: dir)
        #expect(status == 1)
        #expect(output.contains("s.yaml:1:12: 'log_level' must be one of: trace, debug, info, notice, warning, error, critical"), "\(output)")
        #expect(output.contains("s.yaml:2:13: 'log_format' must be text or json"), "\(output)")
        #expect(output.contains("s.yaml:3:1: unknown key 'log_levle' (did you mean 'log_level'?)"), "\(output)")
    }

    @Test func versionNamesTheCommitAndTheLoadedLibrdkafka() async throws {
        let (status, output) = try await SluiceCommand.run(["--version"], in: Self.root)
        #expect(status == 0)
        // The commit is checked against git itself, not against what the build wrote.
        let root = Self.root
        let head = try await offPool {
            let git = Process()
            git.executableURL = URL(fileURLWithPath: "/usr/bin/git")
            git.arguments = ["-C", root.path, "rev-parse", "--short=12", "HEAD"]
            let out = Pipe.closedOnExec()
            git.standardOutput = out
            try git.run()
            let head = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            git.waitUntilExit()
            return head
        }
        #expect(output.hasPrefix("sluice 0.1.0 (commit \(head)"), "\(output) vs \(head)")
        #expect(output.range(of: #"librdkafka \d+\.\d+\.\d+"#, options: .regularExpression) != nil, "\(output)")
    }

    @Test func noInternalPathsInTheDocumentation() throws {
        for doc in try Self.documents() {
            let text = try String(contentsOf: doc, encoding: .utf8)
            for privatePath in ["/work/", "/tmp/bash_jobs", ".build/debug"] {
                #expect(!text.contains(privatePath), "\(doc.lastPathComponent) mentions \(privatePath)")
            }
        }
    }

    @Test func licenseIsApache2() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("LICENSE"), encoding: .utf8)
        #expect(text.contains("Apache License") && text.contains("Version 2.0, January 2004"))
    }
}
