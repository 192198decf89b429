import Foundation
import SluiceCore
import SluiceRuntime
import SluiceSuite
import SluiceTestSupport
import Testing

/// Issue 11, point 8: route tests for CI.
@Suite struct RouteSuiteTests {
    static let root = PackagePaths.root

    static func shippedConfiguration() throws -> LoadedConfiguration {
        try LoadedConfiguration.load(routesDirectory: root.appendingPathComponent("routes").path,
                                     connectorsDirectory: root.appendingPathComponent("connectors").path, environment: [:])
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("route-suite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func theShippedSuitePassesOnTheShippedRoutes() throws {
        let cases = try RouteSuite.load(directory: Self.root.appendingPathComponent("routes/tests").path)
        #expect(cases.count >= 6)
        let outcomes = RouteSuite.run(cases, configuration: try Self.shippedConfiguration())
        for o in outcomes { #expect(o.passed, "\(o.name): \(o.diff)") }
    }

    /// A case file that is not UTF-8 is an error at its first bad byte, not text with U+FFFD in it.
    @Test func aCaseFileThatIsNotUTF8IsALocatedError() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bad.yaml").path
        try Data(Array("cases:\n  - name: caf".utf8) + [0xE9] + Array("\n".utf8)).write(to: URL(fileURLWithPath: path))
        do {
            _ = try RouteSuite.load(directory: dir.path)
            Issue.record("a case file with invalid UTF-8 loaded")
        } catch {
            #expect(error.items.map(\.description) == ["\(path):2:14: invalid UTF-8: a configuration file must be UTF-8 text"])
        }
    }

    @Test func aMismatchIsADiff() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let finding = Self.root.appendingPathComponent("examples/findings/09-ec2-ssh-bruteforce-low.json").path
        try """
            cases:
              - name: wrong expectations
                event: \(finding)
                routes: [runtime-high-to-soc]
                targets: [soc-webhook]
                payloads:
                  - connector: findings-archive
                    contains: ["no such text"]
            """.write(to: dir.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        let outcomes = RouteSuite.run(try RouteSuite.load(directory: dir.path), configuration: try Self.shippedConfiguration())
        #expect(outcomes.count == 1)
        #expect(Array(outcomes[0].diff.prefix(5)) == [
            "- route runtime-high-to-soc", "+ route archive-all-findings",
            "- target soc-webhook", "+ target findings-archive",
            "- payload for findings-archive contains \"no such text\"",
        ], "\(outcomes[0].diff)")
    }

    @Test func caseFileErrorsAreLocated() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "cases:\n  - name: x\n    event: missing.json\n    route: [a]\n".write(to: dir.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        do {
            _ = try RouteSuite.load(directory: dir.path)
            Issue.record("loaded a broken case file")
        } catch {
            let text = error.items.map(\.description)
            #expect(text.contains { $0.contains("c.yaml:3:12: cannot read event file missing.json") }, "\(text)")
            #expect(text.contains { $0.contains("c.yaml:4:5: unknown case key 'route': did you mean 'routes'?") }, "\(text)")
        }
    }

    /// docs/formats.md §7: a record with two findings is judged finding by finding, against
    /// `parts:` or each against the case's routes, and says what each finding took.
    @Test func aSplitRecordIsJudgedFindingByFinding() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for sub in ["routes", "connectors", "cases"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try """
            routes:
              - name: medium
                match: {"sluice": {"severity_id": [3]}}
                targets: [hook]
              - name: low
                match: {"sluice": {"severity_id": [2]}}
                targets: [hook]
            """.write(to: dir.appendingPathComponent("routes/r.yaml"), atomically: true, encoding: .utf8)
        try "name: hook\ntype: webhook\nurl: http://127.0.0.1:9/\n".write(to: dir.appendingPathComponent("connectors/hook.yaml"), atomically: true, encoding: .utf8)
        let split = Self.root.appendingPathComponent("examples/findings/asff/04-custom-action-two-findings.json").path
        try """
            cases:
              - name: parts as they are
                event: \(split)
                parts:
                  - routes: [medium]
                  - routes: [low]
                    targets: [hook]
              - name: parts swapped
                event: \(split)
                parts:
                  - routes: [low]
                  - routes: [low]
              - name: one expectation for both
                event: \(split)
                routes: [medium]
            """.write(to: dir.appendingPathComponent("cases/c.yaml"), atomically: true, encoding: .utf8)
        let configuration = try LoadedConfiguration.load(routesDirectory: dir.appendingPathComponent("routes").path,
                                                         connectorsDirectory: dir.appendingPathComponent("connectors").path, environment: [:])
        let outcomes = RouteSuite.run(try RouteSuite.load(directory: dir.appendingPathComponent("cases").path), configuration: configuration)
        #expect(outcomes.count == 3)
        #expect(outcomes[0].passed, "\(outcomes[0].diff)")
        #expect(outcomes[0].routesTaken == [["medium"], ["low"]])
        #expect(outcomes[1].diff == ["finding 1 of 2: - route low", "finding 1 of 2: + route medium"])
        #expect(outcomes[2].diff == ["finding 2 of 2: - route medium", "finding 2 of 2: + route low"])
    }

    /// The command CI runs: exit 0 on the shipped suite, 1 with a diff on a mismatch.
    @Test func theCommandExitsNonZeroWithADiff() async throws {
        func sluice(_ arguments: [String]) async throws -> (Int32, String) { try await SluiceCommand.run(arguments, in: Self.root) }
        let (ok, okOutput) = try await sluice(["test", "--suite", "routes/tests"])
        #expect(ok == 0, "\(okOutput)")
        #expect(okOutput.contains(" passed, 0 failed"))
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "cases:\n  - name: S3 finding\n    event: \(Self.root.path)/examples/findings/08-s3-anomalous-behavior.json\n    routes: []\n"
            .write(to: dir.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        let (failed, output) = try await sluice(["test", "--suite", dir.path])
        #expect(failed == 1)
        #expect(output.contains("FAIL  S3 finding") && output.contains("+ route archive-all-findings") && output.contains("0 passed, 1 failed"), "\(output)")
    }
}
