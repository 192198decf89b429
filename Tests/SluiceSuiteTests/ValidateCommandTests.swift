import Foundation
import SluiceTestSupport
import Testing

/// Issue 11, points 5–7 through the command a newcomer runs.
@Suite struct ValidateCommandTests {
    static let root = PackagePaths.root

    /// A routes directory of `files` beside the shipped connectors; returns its path.
    static func routes(_ files: [String: String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("validate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return dir
    }

    static func run(_ arguments: [String]) async throws -> (Int32, [String]) {
        let (status, output) = try await SluiceCommand.run(arguments, in: root)
        return (status, output.split(separator: "\n").map(String.init))
    }

    @Test func oneRunReportsEveryErrorOfEveryFileWhereItIs() async throws {
        let dir = try Self.routes([
            "a.yaml": "name: broken\nmatch: [\n",
            "b.yaml": """
                name: two-problems
                match:
                  source: [aws.guardduty]
                  detail:
                    severity: [{numeric: [">=", "high"]}]
                    type: [{prefix: 5}]
                targets:
                  - soc-webhok
                  - connector: platform-webhook
                    template: '{"title": "{{detail.title}"}'
                """,
            "c.json": #"{"name": "from-json", "match": {"source": ["aws.guardduty"]}, "targets": ["nope"]}"#,
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let (status, lines) = try await Self.run(["validate", "--routes", dir.path, "--connectors", "connectors"])
        #expect(status == 1)
        let located = lines.map { $0.replacingOccurrences(of: dir.path + "/", with: "") }
        #expect(located.count == 6, "\(located)")
        #expect(located.first?.hasPrefix("a.yaml:3:1: invalid YAML") == true, "\(located)")
        #expect(located.contains { $0.hasPrefix("b.yaml:5:17: route 'two-problems': match: detail.severity: Value of >= must be numeric") }, "\(located)")
        #expect(located.contains { $0.hasPrefix("b.yaml:6:13: route 'two-problems': match: detail.type: prefix match pattern must be a string") }, "\(located)")
        #expect(located.contains { $0.hasPrefix("b.yaml:8:5: route 'two-problems': target 'soc-webhok' is not a connector instance (did you mean 'soc-webhook'?)") }, "\(located)")
        #expect(located.contains { $0.hasPrefix("b.yaml:9:16: route 'two-problems', target 'platform-webhook': invalid template: template line 1, column 12: tag `{{detail.title}") }, "\(located)")
        #expect(located.contains { $0.hasPrefix("c.json:1:75: route 'from-json': target 'nope' is not a connector instance") }, "\(located)")
    }

    /// Issue 14 / 11.6: a JSON template that reads the view's numbers unquoted
    /// (`{{sluice.severity_id}}`, always present) validates, in a route and in a connector file,
    /// and renders JSON. The check once rendered a summary without the view and refused it as
    /// "not JSON" (`{"s": , …}`), though every delivery would have been JSON.
    @Test func aJSONTemplateOnTheViewsNumbersValidatesAndRendersJSON() async throws {
        let template = #"{"s": {{sluice.severity_id}}, "f": "{{sluice.format}}", "n": {{sluice.part.index}}, "c": {{sluice.count}}}"#
        let dir = try Self.routes([
            "r.yaml": "name: view-json\nmatch: {sluice: {format: [{exists: true}]}}\ntargets:\n  - connector: soc-webhook\n    template: '\(template)'\n  - view-hook\n",
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let connectors = dir.appendingPathComponent("connectors")
        try FileManager.default.createDirectory(at: connectors, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.root.appendingPathComponent("connectors/soc-webhook.yaml"), to: connectors.appendingPathComponent("soc-webhook.yaml"))
        try "name: view-hook\ntype: webhook\nurl: http://127.0.0.1:9/view\ntemplate: '\(template)'\n"
            .write(to: connectors.appendingPathComponent("view-hook.yaml"), atomically: true, encoding: .utf8)
        let (status, lines) = try await Self.run(["validate", "--routes", dir.path, "--connectors", connectors.path])
        #expect(status == 0, "\(lines)")
        #expect(!lines.contains { $0.contains("not JSON") }, "\(lines)")
        #expect(lines.last?.hasPrefix("ok: 1 routes") == true, "\(lines)")
        // What a Falco critical alert (priority Critical → 5, docs/formats.md §4) would be sent.
        let (testStatus, shown) = try await Self.run(["test", "--routes", dir.path, "--connectors", connectors.path,
                                                      "--event", "examples/findings/falco/03-k8s-drop-and-execute-critical.json"])
        #expect(testStatus == 0, "\(shown)")
        #expect(shown.filter { $0.trimmingCharacters(in: .whitespaces) == #"{"s": 5, "f": "falco", "n": 0, "c": 1}"# }.count == 2, "\(shown)")
    }

    /// `validate` of one route per file (`name`, `match` in flow YAML) sending a template fit for
    /// GuardDuty only (`{{detail.severity}}` unquoted) to soc-webhook: its status, its output,
    /// and the "not JSON" lines with paths relative to the routes directory.
    static func notJSONWarnings(of files: [String: (name: String, match: String)]) async throws -> (Int32, [String], [String]) {
        let template = #"{"severity": {{detail.severity}}, "title": "{{sluice.title}}"}"#
        let dir = try routes(files.mapValues { "name: \($0.name)\nmatch: \($0.match)\ntargets:\n  - connector: soc-webhook\n    template: '\(template)'\n" })
        defer { try? FileManager.default.removeItem(at: dir) }
        let (status, lines) = try await run(["validate", "--routes", dir.path, "--connectors", "connectors"])
        return (status, lines, lines.map { $0.replacingOccurrences(of: dir.path + "/", with: "") }.filter { $0.contains("not JSON") })
    }

    /// Issue 14 / 11.6: a JSON template fit for GuardDuty only (`{{detail.severity}}` unquoted) on
    /// a route that Falco, OCSF and ASFF findings reach is a warning at the target (run would
    /// dead-letter those `render_failed`); on a GuardDuty-only route it is quiet.
    @Test func aTemplateThatBreaksOnAnotherFormatTheRouteTakesIsAWarning() async throws {
        let (status, lines, located) = try await Self.notJSONWarnings(of: [
            "a.yaml": ("any-detector", #"{sluice: {severity_id: [{numeric: [">=", 4]}]}}"#),
            "b.yaml": ("guardduty-only", "{source: [aws.guardduty]}"),
        ])
        #expect(status == 0, "\(lines)")
        #expect(located.count == 1, "\(lines)")
        #expect(located.first?.hasPrefix(#"a.yaml:4:16: warning: route 'any-detector', target 'soc-webhook': the payload is sent as JSON but, rendered for a sample Falco alert (examples/findings/falco/03-k8s-drop-and-execute-critical.json), is not JSON (not_json): {"severity": , "title": "Drop and execute new binary in container"}"#) == true, "\(located)")
        #expect(located.first?.hasSuffix("this route matches such findings, and run would dead-letter them (render_failed)") == true, "\(located)")
    }

    /// A route on low severities only was matched by none of the (high-severity) samples, so its
    /// GuardDuty-only template was never checked against the Falco, OCSF or ASFF findings it takes.
    @Test func aTemplateThatBreaksOnALowSeverityFindingOfAnotherFormatIsAWarning() async throws {
        let (status, lines, located) = try await Self.notJSONWarnings(of: ["low.yaml": ("low-any-format", "{sluice: {severity_id: [1, 2]}}")])
        #expect(status == 0, "\(lines)")
        #expect(located.count == 1, "\(lines)")
        #expect(located.first?.hasPrefix(#"low.yaml:4:16: warning: route 'low-any-format', target 'soc-webhook': the payload is sent as JSON but, rendered for a sample Falco alert (examples/findings/falco/03-k8s-drop-and-execute-critical.json) at priority Notice, is not JSON (not_json): {"severity": , "title": "Drop and execute new binary in container"}"#) == true, "\(located)")
    }

    /// A typo in a connector's key names the connector type, suggests the close key and lists
    /// every key the type takes (its own first), at the key's line and column.
    @Test func anUnknownConnectorKeyListsTheKeysOfItsType() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("validate-keys-\(UUID().uuidString)")
        let connectors = dir.appendingPathComponent("connectors")
        try FileManager.default.createDirectory(at: connectors, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "name: hook\ntype: webhook\nurll: http://127.0.0.1:9/a\nmethodd: POST\nzzz: 1\n"
            .write(to: connectors.appendingPathComponent("hook.yaml"), atomically: true, encoding: .utf8)
        let routes = try Self.routes(["r.yaml": "name: r\nmatch: {source: [aws.guardduty]}\ntargets: [hook]\n"])
        defer { try? FileManager.default.removeItem(at: routes) }
        let (status, lines) = try await Self.run(["validate", "--routes", routes.path, "--connectors", connectors.path])
        #expect(status == 1, "\(lines)")
        let located = lines.map { $0.replacingOccurrences(of: dir.path + "/", with: "") }
        let keys = "url, method, headers, content_type, tls, signing, ocsf_version, format, "
            + "name, type, concurrency, timeout, rate_limit, burst, retry, circuit_breaker, template"
        #expect(located.contains(#"connectors/hook.yaml:3:1: unknown key "urll" for a webhook connector (did you mean "url"?); expected one of: "# + keys), "\(located)")
        #expect(located.contains(#"connectors/hook.yaml:4:1: unknown key "methodd" for a webhook connector (did you mean "method"?); expected one of: "# + keys), "\(located)")
        #expect(located.contains(#"connectors/hook.yaml:5:1: unknown key "zzz" for a webhook connector; expected one of: "# + keys), "\(located)")
    }

    @Test func warningsDoNotFailValidation() async throws {
        let dir = try Self.routes([
            "r.yaml": """
                name: lint-me
                match:
                  source: [aws.guardduty]
                  detail:
                    resourceType: [Instance]
                    severity: ["8"]
                targets:
                  - connector: soc-webhook
                    template: '{"title": "{{detail.titel}}"}'
                """,
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let (status, lines) = try await Self.run(["validate", "--routes", dir.path, "--connectors", "connectors"])
        #expect(status == 0, "\(lines)")
        let located = lines.map { $0.replacingOccurrences(of: dir.path + "/", with: "") }
        #expect(located.count == 5, "\(located)")
        #expect(located[0].hasPrefix("r.yaml:5:5: warning: route 'lint-me': match: a GuardDuty finding has no field `detail.resourceType` (did you mean detail.resource.resourceType?)"), "\(located)")
        #expect(located[1].hasPrefix("r.yaml:6:16: warning: route 'lint-me': match: `detail.severity` is a number"), "\(located)")
        #expect(located[2].hasPrefix("r.yaml:8:16: warning: route 'lint-me', target 'soc-webhook': template line 1, column 12: a GuardDuty finding has no field `detail.titel`, so {{detail.titel}} renders empty (did you mean {{detail.title}}?)"), "\(located)")
        // The shipped archive connector produces to Kafka and names no brokers of its own.
        #expect(located[3].hasPrefix("connectors/findings-archive.yaml:2:1: warning: connector 'findings-archive' (kafka) has no brokers"), "\(located)")
        #expect(located[4].hasPrefix("ok: 1 routes"), "\(located)")
    }

    /// A connector's template warning is placed at its `template:` key, and it is still reported
    /// when another connector has an error (one pass reports everything); a route naming the
    /// broken connector is not also told that it does not exist.
    @Test func connectorTemplateWarningsAreLocatedAndSurviveAnotherConnectorsError() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("validate-connectors-\(UUID().uuidString)")
        let connectors = dir.appendingPathComponent("connectors")
        try FileManager.default.createDirectory(at: connectors, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try """
            name: hook-a
            type: webhook
            url: http://127.0.0.1:9/a
            template: '{"title": "{{sluice.titel}}", "id": "{{detail.id}}"}'
            """.write(to: connectors.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try "name: hook-b\ntype: webhook\n".write(to: connectors.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        let routes = try Self.routes(["r.yaml": "name: both\nmatch: {source: [aws.guardduty]}\ntargets: [hook-a, hook-b]\n"])
        defer { try? FileManager.default.removeItem(at: routes) }
        let (status, lines) = try await Self.run(["validate", "--routes", routes.path, "--connectors", connectors.path])
        #expect(status == 1, "\(lines)")
        let located = lines.map { $0.replacingOccurrences(of: connectors.path + "/", with: "") }
        #expect(located.contains { $0.hasPrefix("b.yaml:") && $0.contains("url") && !$0.contains("warning:") }, "\(located)")
        #expect(located.contains { $0.hasPrefix("a.yaml:4:1: warning: connector 'hook-a': template line 1, column 12: the sluice view has no field `sluice.titel` (did you mean `sluice.title`?)") }, "\(located)")
        #expect(!located.contains { $0.contains("'hook-b' is not a connector instance") }, "\(located)")
    }

    @Test func aJSONTemplateThatRendersBrokenJSONIsAnError() async throws {
        let dir = try Self.routes([
            "r.yaml": "name: r\nmatch: {source: [aws.guardduty]}\ntargets:\n  - connector: soc-webhook\n    template: '{\"title\": {{detail.title}}}'\n",
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let (status, lines) = try await Self.run(["validate", "--routes", dir.path, "--connectors", "connectors"])
        #expect(status == 1)
        #expect(lines.contains { $0.contains("r.yaml:4:16: route 'r', target 'soc-webhook': the payload is sent as JSON but, rendered for a sample GuardDuty finding, is not JSON") }, "\(lines)")
    }

    @Test func explainSaysWhyEachOtherRouteDidNotMatch() async throws {
        let (status, lines) = try await Self.run(["test", "--event", "examples/findings/09-ec2-ssh-bruteforce-low.json", "--explain"])
        #expect(status == 0)
        let text = lines.joined(separator: "\n")
        #expect(text.contains("""
            route runtime-high-to-soc did not match:
              detail.service.featureName: wanted "RuntimeMonitoring"; the event has detail.service.featureName = "FlowLogs"
            """), "\(text)")
        #expect(text.contains("""
            route containers-to-platform did not match:
              detail.resource.resourceType: wanted "EKSCluster" or "ECSCluster"; the event has detail.resource.resourceType = "Instance"
            """), "\(text)")
    }
}

extension ValidateCommandTests {
    /// Placed at the instance's `template:` key (line 4), not at the top of its file.
    @Test func aConnectorTemplateWithAMisspeltFieldWarns() async throws {
        let connectors = try Self.routes([
            "hook.yaml": "name: soc-webhook\ntype: webhook\nurl: http://127.0.0.1:9/x\ntemplate: '{\"t\": \"{{detail.servce.count}}\"}'\n",
            "archive.yaml": "name: findings-archive\ntype: webhook\nurl: http://127.0.0.1:9/y\n",
            "platform.yaml": "name: platform-webhook\ntype: webhook\nurl: http://127.0.0.1:9/z\n",
        ])
        defer { try? FileManager.default.removeItem(at: connectors) }
        let (status, lines) = try await Self.run(["validate", "--connectors", connectors.path])
        #expect(status == 0, "\(lines)")
        #expect(lines.contains { $0.hasPrefix(connectors.path + "/hook.yaml:4:1: warning: connector 'soc-webhook': template line 1, column 8: a GuardDuty finding has no field `detail.servce.count`") && $0.contains("{{detail.service.count}}") }, "\(lines)")
    }
}

extension ValidateCommandTests {
    @Test func explainInJSONListsTheMisses() async throws {
        let (status, output) = try await SluiceCommand.run(
            ["test", "--event", "examples/findings/08-s3-anomalous-behavior.json", "--explain", "--json"], in: Self.root)
        #expect(status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let misses = try #require(json["misses"] as? [[String: Any]])
        // routes/all-detectors.yaml comes first (file-name order); its routes read the view.
        #expect(misses.compactMap { $0["route"] as? String }
                == ["severe-from-any-detector-to-soc", "falco-kubernetes-to-platform", "runtime-high-to-soc", "containers-to-platform"])
        let reasons = misses.compactMap { $0["reasons"] as? [String] }
        #expect(reasons.last == [#"detail.resource.resourceType: wanted "EKSCluster" or "ECSCluster"; the event has detail.resource.resourceType = "S3Bucket""#], "\(reasons)")
    }
}
