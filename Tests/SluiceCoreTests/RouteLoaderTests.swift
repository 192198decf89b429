import Foundation
import Testing
@testable import SluiceCore

@Suite(.guardDutyFindingModel) struct RouteLoaderTests {
    func load(_ text: String, env: [String: String] = [:]) throws(Diagnostics) -> [Route] {
        try RouteLoader.load(path: "routes/x.yaml", text: text, environment: env)
    }

    func errors(_ text: String, env: [String: String] = [:]) -> [String] {
        do {
            _ = try load(text, env: env)
            return []
        } catch { return error.items.map(\.description) }
    }

    @Test func oneRoutePerFile() throws {
        let routes = try load(
            """
            name: high-severity
            description: High and critical findings to the SOC
            match:
              source: [aws.guardduty]
              detail:
                severity: [{numeric: [">=", 7]}]
            suppress:
              - {"detail": {"service": {"resourceRole": ["ACTOR"]}}}
            targets:
              - soc-slack
              - connector: jira
                template: "{{detail.title}}"
              - connector: webhook
                input_paths: {type: "$.detail.type"}
                template: '{"t": "<type>"}'
            order: 10
            stop: true
            """)
        #expect(routes.count == 1)
        let r = routes[0]
        #expect(r.name == "high-severity")
        #expect(r.match == ["source": ["aws.guardduty"], "detail": ["severity": [["numeric": [">=", 7]]]]])
        #expect(r.suppress.count == 1)
        #expect(r.targets.map(\.connector) == ["soc-slack", "jira", "webhook"])
        #expect(r.targets[1].template == "{{detail.title}}")
        #expect(r.targets[2].inputPaths == ["type": "$.detail.type"])
        #expect(r.order == 10 && r.stop && r.enabled)
        #expect(r.location.line == 1)
    }

    @Test func severalRoutesAndJSONVerbatim() throws {
        let routes = try load(
            """
            routes:
              - name: a
                match: {"detail-type": ["GuardDuty Finding"], "detail": {"severity": [8.90]}}
                targets: [x]
              - name: b
                enabled: false
                match: |
                  {"source": ["aws.guardduty"]}
                targets: [y]
            """)
        #expect(routes.map(\.name) == ["a", "b"])
        #expect(routes[0].match["detail"]?["severity"] == [8.9])
        #expect(routes[1].match == ["source": ["aws.guardduty"]])
        #expect(!routes[1].enabled)
    }

    @Test func interpolatesEnvironment() throws {
        let routes = try load("name: r\nmatch: {account: [\"${ACCOUNT}\"]}\ntargets: [\"${SINK:-slack}\"]\n", env: ["ACCOUNT": "123456789012"])
        #expect(routes[0].match == ["account": ["123456789012"]])
        #expect(routes[0].targets[0].connector == "slack")
        #expect(errors("name: r\nmatch: {account: [\"${NOPE}\"]}\ntargets: [x]\n") == ["routes/x.yaml:2:20: environment variable NOPE is not set (use ${NOPE:-default} for a default)"])
    }

    /// `${VAR}` goes into parsed scalar values: a value cannot change the document, and a YAML
    /// error shows the file as written, never a substituted secret.
    @Test func environmentIsSubstitutedIntoParsedValuesOnly() throws {
        let env = ["TOKEN": "abc\" # not a comment: [", "MULTI": "x\nstop: true", "SECRET": "hunter2-S3CRET"]
        let routes = try load("name: r\ndescription: \"${TOKEN}\"\nmatch: {a: [x]}\ntargets: [\"${MULTI}\"]\n", env: env)
        #expect(routes[0].description == "abc\" # not a comment: [")
        #expect(routes[0].targets[0].connector == "x\nstop: true")
        #expect(routes[0].stop == false)
        let broken = errors("name: r\ndescription: ${SECRET}\nmatch: {a: [x]\ntargets: [x]\n", env: env)
        #expect(!broken.isEmpty)
        #expect(!broken.joined().contains("hunter2"), "\(broken)")
        // Positions of interpolation errors still point into the file.
        #expect(errors("name: r\nmatch: {a: [x]}\ndescription: plain ${NOPE}\ntargets: [x]\n") == [
            "routes/x.yaml:3:20: environment variable NOPE is not set (use ${NOPE:-default} for a default)"])
    }

    @Test func locatedErrors() {
        #expect(errors("name: r\nmatch: {a: [x]}\ntargets: [x]\nstopp: true\n") == [
            "routes/x.yaml:4:1: unknown route key 'stopp': did you mean 'stop'? (expected one of: dedupe, description, digest_template, enabled, group, match, name, order, playbook, stop, suppress, targets, throttle)"
        ])
        #expect(errors("name: r\nmatch:\n  a: [{numeric: [\">\", 9, \"<\", 1]}]\ntargets: [x]\n") == [
            "routes/x.yaml:3:8: route 'r': match: a: Bottom must be less than top"
        ])
        #expect(errors("name: r\nmatch: {a: [x]}\ntargets:\n  - connector: j\n    templat: x\n") == [
            "routes/x.yaml:5:5: route 'r': unknown target key 'templat': did you mean 'template'? (expected one of: connector, input_paths, template)"
        ])
        #expect(errors("match: {a: [x]}\ntargets: []\n").count == 2)
        #expect(errors("name: r\nmatch: {a: [x\ntargets: [x]\n").first?.hasPrefix("routes/x.yaml:3:") == true)
    }

    @Test func directoryAndTrustedIPs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-routes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "# scanners\n198.51.100.0/24\n2001:db8::/32 # v6 office\n\n203.0.113.9\n".write(to: dir.appendingPathComponent("trusted.txt"), atomically: true, encoding: .utf8)
        try """
            name: net
            match: {detail: {service: {action: {actionType: [NETWORK_CONNECTION]}}}}
            suppress:
              - trusted_ips: trusted.txt
            targets: [x]
            """.write(to: dir.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        try "name: all\nmatch: {source: [aws.guardduty]}\ntargets: [y]\norder: 1\n".write(to: dir.appendingPathComponent("a.yml"), atomically: true, encoding: .utf8)
        try "not a route".write(to: dir.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        let routes = try RouteLoader.load(directory: dir.path, environment: [:])
        #expect(routes.map(\.name) == ["all", "net"])
        let table = try RouteTable(routes: routes)
        func ip(_ address: String) throws -> [Int] {
            let event = try JSON.parse(#"{"source":"aws.guardduty","detail":{"service":{"action":{"actionType":"NETWORK_CONNECTION","networkConnectionAction":{"remoteIpDetails":{"ipAddressV4":"\#(address)"}}}}}}"#)
            let parser = JSONParser()
            return try parser.parse(event.serialized()) { table.match($0.root) }.get()
        }
        #expect(try ip("198.51.100.77") == [0])
        #expect(try ip("203.0.113.9") == [0])
        #expect(try ip("192.0.2.1") == [0, 1])

        try "name: all\nmatch: {source: [aws.guardduty]}\ntargets: [y]\n".write(to: dir.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        #expect(throws: Diagnostics.self) { try RouteLoader.load(directory: dir.path, environment: [:]) }
    }

    @Test func orderAndStop() throws {
        let routes = try load(
            """
            routes:
              - {name: catch-all, match: {source: [aws.guardduty]}, targets: [a]}
              - {name: first, match: {source: [aws.guardduty]}, targets: [b], order: 1, stop: true}
              - {name: second, match: {source: [aws.guardduty]}, targets: [c], order: 2}
            """)
        let table = try RouteTable(routes: routes)
        #expect(table.routes.map(\.name) == ["first", "second", "catch-all"])
        let parser = JSONParser()
        let matched = try parser.parse(#"{"source":"aws.guardduty"}"#) { table.match($0.root) }.get()
        #expect(matched == [0])
        #expect(table.referenceMatch(["source": "aws.guardduty"]) == [0])
    }
}
