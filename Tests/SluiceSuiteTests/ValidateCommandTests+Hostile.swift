import Foundation
import SluiceTestSupport
import Testing

/// Configuration files are outside data: `sluice validate` (the binary) meets each hostile file
/// with a `path:line:column:` error and exits 1 of its own accord, never by a signal. Several
/// of these trapped or ran away before their fix: the 1,000 nested sections (SIGSEGV), the
/// 10 MB template (minutes), `max_depth` of Int64.max (accepted, then `run` trapped), a NUL byte
/// (reported at 1:1) and invalid UTF-8 (read as U+FFFD, no error at all).
extension ValidateCommandTests {
    struct HostileFile: Sendable, CustomStringConvertible {
        enum Kind: Sendable { case route, connector, runConfiguration }
        var name: String
        var kind: Kind
        var bytes: [UInt8]
        /// The error expected: `name:line:column: message` (the message's beginning).
        var expected: String
        var description: String { name }
    }

    static func route(_ rest: String) -> [UInt8] {
        Array("name: hostile\nmatch: {source: [aws.guardduty]}\ntargets: [soc-webhook]\n\(rest)".utf8)
    }

    static func templated(_ template: String) -> [UInt8] {
        Array("name: hostile\nmatch: {source: [aws.guardduty]}\ntargets:\n  - connector: soc-webhook\n    template: '\(template)'\n".utf8)
    }

    static let hostileFiles: [HostileFile] = [
        // Absurd durations.
        HostileFile(name: "window.yaml", kind: .route, bytes: route("dedupe: {key: [detail.id], window: 99999999999d}\n"),
                    expected: "window.yaml:4:36: route 'hostile': dedupe: `window` must be a duration"),
        HostileFile(name: "repeat.yaml", kind: .route,
                    bytes: route("group: {by: [detail.type], wait: 0s, interval: 1m, repeat: 9223372036854775808ms}\n"),
                    expected: "repeat.yaml:4:60: route 'hostile': group: `repeat` must be a duration"),
        HostileFile(name: "timeout.yaml", kind: .connector,
                    bytes: Array("name: t\ntype: webhook\nurl: http://127.0.0.1:9/a\ntimeout: 99999999999999999999s\n".utf8),
                    expected: "timeout.yaml:4:10: 'timeout' is out of range: at most 3650d"),
        HostileFile(name: "drain.yaml", kind: .runConfiguration, bytes: Array("drain_timeout: 1e300s\n".utf8),
                    expected: "drain.yaml:1:16: 'drain_timeout' is out of range: at most 3650d"),
        // Huge, negative and zero numbers.
        HostileFile(name: "throttle.yaml", kind: .route, bytes: route("throttle: {key: [detail.id], limit: -1, per: 0s}\n"),
                    expected: "throttle.yaml:4:37: 'limit' must be at least 1"),
        HostileFile(name: "per.yaml", kind: .route, bytes: route("throttle: {key: [detail.id], limit: 5, per: 0s}\n"),
                    expected: "per.yaml:4:45: route 'hostile': throttle: `per` must be a duration"),
        HostileFile(name: "depth.yaml", kind: .runConfiguration, bytes: Array("max_depth: 9223372036854775807\n".utf8),
                    expected: "depth.yaml:1:12: 'max_depth' must be at most 1024"),
        HostileFile(name: "bytes.yaml", kind: .runConfiguration, bytes: Array("max_message_bytes: 99999999999999999999999\n".utf8),
                    expected: "bytes.yaml:1:20: 'max_message_bytes' must be an integer"),
        HostileFile(name: "inflight.yaml", kind: .runConfiguration, bytes: Array("max_in_flight: 0\n".utf8),
                    expected: "inflight.yaml:1:16: 'max_in_flight' must be at least 1"),
        HostileFile(name: "port.yaml", kind: .connector, bytes: Array("name: s\ntype: syslog\nhost: 127.0.0.1\nport: 99999999999999999999\n".utf8),
                    expected: "port.yaml:4:7: 'port' must be an integer"),
        HostileFile(name: "rate.yaml", kind: .connector, bytes: Array("name: r\ntype: webhook\nurl: http://127.0.0.1:9/a\nrate_limit: 1e308\n".utf8),
                    expected: "rate.yaml:4:13: 'rate_limit' must be between 0.001 and 1000000"),
        // Deep nesting: of YAML, of a JSON pattern, of template sections.
        HostileFile(name: "deep.yaml", kind: .route,
                    bytes: Array(("name: hostile\nmatch: " + String(repeating: "{a: ", count: 5000) + "[1]" + String(repeating: "}", count: 5000) + "\ntargets: [soc-webhook]\n").utf8),
                    expected: "deep.yaml:2:4000: invalid YAML: Maximum nesting level reached"),
        HostileFile(name: "deepjson.yaml", kind: .route,
                    bytes: Array(("name: hostile\nmatch: '" + String(repeating: #"{"a":"#, count: 5000) + "[1]" + String(repeating: "}", count: 5000) + "'\ntargets: [soc-webhook]\n").utf8),
                    expected: "deepjson.yaml:2:8: pattern string is not valid JSON (too_deep)"),
        HostileFile(name: "deepconfig.yaml", kind: .runConfiguration,
                    bytes: Array((0..<3000).map { String(repeating: "  ", count: $0) + "a\($0):\n" }.joined().utf8),
                    expected: "deepconfig.yaml:1000:1999: invalid YAML: Maximum nesting level reached"),
        HostileFile(name: "sections.yaml", kind: .route, bytes: templated(String(repeating: "{{#a}}", count: 1000) + String(repeating: "{{/a}}", count: 1000)),
                    expected: "sections.yaml:4:16: route 'hostile', target 'soc-webhook': invalid template: template line 1, column 193: sections nested deeper than 32 levels"),
        // A NUL byte, invalid UTF-8.
        HostileFile(name: "nul.yaml", kind: .route, bytes: Array("name: hostile\nmatch: {source: [aws.guard".utf8) + [0] + Array("duty]}\ntargets: [soc-webhook]\n".utf8),
                    expected: "nul.yaml:2:27: invalid YAML: control characters are not allowed"),
        HostileFile(name: "utf8.yaml", kind: .route, bytes: Array("name: hostile\nmatch: {source: [aws.guard".utf8) + [0xFF, 0xFE] + Array("duty]}\ntargets: [soc-webhook]\n".utf8),
                    expected: "utf8.yaml:2:27: invalid UTF-8: a configuration file must be UTF-8 text"),
        HostileFile(name: "utf8connector.yaml", kind: .connector, bytes: Array("name: u\ntype: webhook\nurl: http://127.0.0.1:9/".utf8) + [0xC3, 0x28] + [0x0A],
                    expected: "utf8connector.yaml:3:25: invalid UTF-8: a configuration file must be UTF-8 text"),
        // 10 MB strings: a duration, a template of nested sections.
        HostileFile(name: "big.yaml", kind: .route, bytes: route("dedupe: {key: [detail.id], window: " + String(repeating: "9", count: 10_000_000) + "s}\n"),
                    expected: "big.yaml:4:36: route 'hostile': dedupe: `window` must be a duration"),
        HostileFile(name: "bigtemplate.yaml", kind: .route, bytes: templated(String(repeating: "{{#a}}", count: 800_000) + String(repeating: "{{/a}}", count: 800_000)),
                    expected: "bigtemplate.yaml:4:16: route 'hostile', target 'soc-webhook': invalid template: template line 1, column 193: sections nested deeper than 32 levels"),
    ]

    @Test(arguments: hostileFiles)
    func aHostileConfigurationFileIsALocatedErrorNeverASignal(_ file: HostileFile) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("validate-hostile-\(UUID().uuidString)")
        let routes = dir.appendingPathComponent("routes"), connectors = dir.appendingPathComponent("connectors")
        try FileManager.default.createDirectory(at: routes, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: connectors, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: Self.root.appendingPathComponent("connectors/soc-webhook.yaml"), to: connectors.appendingPathComponent("soc-webhook.yaml"))
        var arguments = ["validate", "--routes", routes.path, "--connectors", connectors.path]
        switch file.kind {
        case .route: try Data(file.bytes).write(to: routes.appendingPathComponent(file.name))
        case .connector: try Data(file.bytes).write(to: connectors.appendingPathComponent(file.name))
        case .runConfiguration:
            try Data(file.bytes).write(to: dir.appendingPathComponent(file.name))
            try "name: fine\nmatch: {source: [aws.guardduty]}\ntargets: [soc-webhook]\n".write(to: routes.appendingPathComponent("fine.yaml"), atomically: true, encoding: .utf8)
            arguments += ["--config", dir.appendingPathComponent(file.name).path]
        }
        let p = Process()
        p.executableURL = SluiceCommand.binary
        p.arguments = arguments
        p.currentDirectoryURL = Self.root
        let output = try await CommandRun.output(of: p)
        #expect(p.terminationReason == .exit, "\(file.name): ended by signal \(p.terminationStatus)")
        #expect(p.terminationStatus == 1, "\(file.name): \(output.prefix(2000))")
        let lines = output.split(separator: "\n").map { $0.replacingOccurrences(of: dir.path + "/", with: "")
            .replacingOccurrences(of: "routes/", with: "").replacingOccurrences(of: "connectors/", with: "") }
        #expect(lines.contains { $0.hasPrefix(file.expected) }, "\(file.name): \(lines.map { $0.prefix(300) })")
    }
}
