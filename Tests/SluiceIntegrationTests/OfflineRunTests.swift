import Foundation
import SluiceTestSupport
import Testing

/// Offline runs (`sluice run --input`) through the real binary: a connector that cannot work
/// stops the run before it reads input, dead letters go to `--dead-letter-file`, and a run that
/// dead-lettered anything exits 2 (issue 11, point 1).
@Suite struct OfflineRunTests {
    /// The README's offline command, run as written from the repository root with the shipped
    /// routes and connectors: the kafka archive connector has no brokers, so the run stops at
    /// once and says why, instead of retrying for a minute and promising a redelivery.
    @Test func theReadmeOfflineExampleStopsAtOnceAndSaysWhy() async throws {
        let readme = try String(contentsOf: PackagePaths.root.appendingPathComponent("README.md"), encoding: .utf8)
        let line = try #require(readme.split(separator: "\n").first { $0.hasPrefix("sluice run --input") }, "README has no offline example")
        let words = line.split(separator: "#").first!.split(separator: " ").map(String.init)
        let (status, output) = try await CommandRun.result(of: PackagePaths.sluiceBinary, Array(words.dropFirst()), in: PackagePaths.root)
        #expect(status == 1, "\(output)")
        #expect(output.contains("connectors/findings-archive.yaml:2:1: connector 'findings-archive' (kafka) has no brokers: set brokers: in its file, or run with --brokers"), "\(output)")
        // Stopped before reading: nothing consumed, nothing dead-lettered, no promise of redelivery.
        #expect(!output.contains("dead-lettered"), "\(output)")
        #expect(!output.contains("redelivered"), "\(output)")
    }

    /// `validate` tells what it can: a kafka connector naming no brokers, when no run
    /// configuration gives them; with a configuration that has brokers, no warning.
    @Test func validateWarnsOfAKafkaConnectorWithoutBrokers() async throws {
        let config = try TestConfig(connector: "type: kafka\ntopic: archive\n")
        defer { config.remove() }
        let plain = try await CommandRun.result(of: PackagePaths.sluiceBinary, ["validate", "--routes", "routes", "--connectors", "connectors"], in: config.directory)
        #expect(plain.status == 0, "\(plain.output)")
        #expect(plain.output.contains("connectors/hook.yaml:1:1: warning: connector 'hook' (kafka) has no brokers"), "\(plain.output)")
        try "brokers: 127.0.0.1:9\n".write(to: config.directory.appendingPathComponent("sluice.yaml"), atomically: true, encoding: .utf8)
        let withBrokers = try await CommandRun.result(of: PackagePaths.sluiceBinary, ["validate", "--config", "sluice.yaml"], in: config.directory)
        #expect(withBrokers.status == 0, "\(withBrokers.output)")
        #expect(!withBrokers.output.contains("warning:"), "\(withBrokers.output)")
        #expect(withBrokers.output.contains("ok: 1 routes"), "\(withBrokers.output)")
    }

    /// An environment with no AWS region and no credentials source but the metadata service.
    static let noAWS = ["AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "", "AWS_ACCESS_KEY_ID": "",
                        "AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONFIG_FILE": "/nonexistent/sluice-test/config",
                        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/sluice-test/credentials"]

    /// An aws-* target with no region stops any run, and offline one with no credentials source
    /// but the instance metadata service (which a laptop or CI runner does not have) stops too,
    /// before reading input, located at the connector's file; `validate` warns of both.
    @Test func anAWSTargetThatCannotWorkStopsTheRunBeforeInput() async throws {
        let config = try TestConfig(connector: "type: aws-eventbridge\nevent_bus: security-findings\n")
        defer { config.remove() }
        let input = config.directory.appendingPathComponent("in.ndjson")
        try Data(try Findings.unique(1)[0].bytes + [0x0A]).write(to: input)
        let run = ["run", "--input", input.path, "--routes", "routes", "--connectors", "connectors"]
        let noRegion = try await CommandRun.result(of: PackagePaths.sluiceBinary, run, environment: Self.noAWS, in: config.directory)
        #expect(noRegion.status == 1, "\(noRegion.output)")
        #expect(noRegion.output.contains("connectors/hook.yaml:1:1: connector 'hook' (aws-eventbridge) has no AWS region: set region: in its file, or AWS_REGION"),
                "\(noRegion.output)")
        #expect(!noRegion.output.contains("dead-lettered"), "\(noRegion.output)")

        var withRegion = Self.noAWS
        withRegion["AWS_REGION"] = "eu-west-1"
        let noCredentials = try await CommandRun.result(of: PackagePaths.sluiceBinary, run, environment: withRegion, in: config.directory)
        #expect(noCredentials.status == 1, "\(noCredentials.output)")
        #expect(noCredentials.output.contains("connectors/hook.yaml:1:1: connector 'hook' (aws-eventbridge) has no AWS credentials source but the instance metadata service"),
                "\(noCredentials.output)")
        let validate = try await CommandRun.result(of: PackagePaths.sluiceBinary, ["validate", "--routes", "routes", "--connectors", "connectors"],
                                                   environment: withRegion, in: config.directory)
        #expect(validate.status == 0, "\(validate.output)")
        #expect(validate.output.contains("connectors/hook.yaml:1:1: warning: connector 'hook' (aws-eventbridge) has no AWS credentials source"), "\(validate.output)")

        // Credentials in the environment: the run goes on to the input.
        withRegion["AWS_ACCESS_KEY_ID"] = "AKIAEXAMPLE"
        let validated = try await CommandRun.result(of: PackagePaths.sluiceBinary, ["validate", "--routes", "routes", "--connectors", "connectors"],
                                                    environment: withRegion, in: config.directory)
        #expect(!validated.output.contains("warning:"), "\(validated.output)")
    }

    /// A split record whose parts would multiply its other fields by the length of its array (a
    /// 500 KB field and 170,000 `{}`: 85 GB of parts) is dead-lettered too_large, and the finding
    /// after it is delivered.
    @Test func aSplitRecordBuiltToMultiplyIsDeadLetteredAndTheNextFindingDelivered() async throws {
        try await withRunHarness { harness in
            let (receiver, config) = try await harness.webhook()
            let hostile = #"{"SchemaVersion":"2018-10-08","pad":""# + String(repeating: "x", count: 500_000) + #"","Findings":["#
                + Array(repeating: "{}", count: 170_000).joined(separator: ",") + "]}"
            let after = try Findings.unique(1)
            let run = try await OfflineRun([(id: "hostile", bytes: Array(hostile.utf8))] + after, config: config)
            #expect(run.status == 2, "\(run.output.suffix(2000))")
            #expect(run.deadLetters.count == 1)
            #expect(run.deadLetters.first?["reason"] as? String == "too_large")
            #expect((run.deadLetters.first?["error"] as? String)?.hasPrefix("170000 findings, each with the record's other 500057 bytes") == true,
                    "\(run.deadLetters.first?["error"] ?? "none")")
            #expect(receiver.count == 1)
        }
    }

    /// A target that refuses every finding: each dead letter is one NDJSON record in the file
    /// (reason, route, connector, the target's answer, the line, the original finding), none on
    /// stderr, and the run exits 2. A run where everything arrived exits 0.
    @Test func deadLettersGoToTheFileAndTheRunExitsTwo() async throws {
        try await withRunHarness { harness in
            let (_, config) = try await harness.webhook(status: 400)
            let findings = try Findings.unique(3)
            let run = try await OfflineRun(findings, config: config)
            #expect(run.status == 2, "\(run.output)")
            #expect(!run.output.contains("{\"reason\""), "dead letters belong in the file: \(run.output)")
            #expect(!run.output.contains("redelivered"), "\(run.output)")
            let letters = run.deadLetters
            #expect(letters.count == 3)
            for letter in letters {
                #expect(letter["reason"] as? String == "permanent_error")
                #expect(letter["route"] as? String == "all-findings")
                #expect(letter["connector"] as? String == "hook")
                #expect((letter["error"] as? String)?.contains("400") == true, "\(letter)")
            }
            let letterLines = Set(letters.compactMap { ($0["line"] as? NSNumber)?.intValue })
            #expect(letterLines == [1, 2, 3])
            // The log names an input line as a line, never as a Kafka offset.
            let logged = run.output.split(separator: "\n").filter { $0.contains("dead-lettered") }
            let loggedLines = Set(logged.compactMap { line in line.range(of: #"input\.line=\d+"#, options: .regularExpression).map { String(line[$0]) } })
            #expect(loggedLines == ["input.line=1", "input.line=2", "input.line=3"], "\(run.output)")
            #expect(!run.output.contains("kafka.offset"), "\(run.output)")
            let originals = try letters.map { letter -> String in
                let text = try #require(letter["original"] as? String)
                let finding = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
                return try #require((finding["detail"] as? [String: Any])?["id"] as? String)
            }
            #expect(Set(originals) == Set(findings.map(\.id)))

            // The same findings to a target that takes them: exit 0, an empty dead-letter file.
            let (taking, good) = try await harness.webhook()
            let ok = try await OfflineRun(findings, config: good)
            #expect(ok.status == 0, "\(ok.output)")
            #expect(ok.deadLetters.isEmpty)
            #expect(FileManager.default.fileExists(atPath: good.directory.appendingPathComponent("dead.ndjson").path))
            #expect(Set(try taking.receivedFindingIDs()) == Set(findings.map(\.id)))
        }
    }

    /// A JSON template with a value unquoted (`{{detail.severity}}`) breaks on a finding whose
    /// severity is text: that delivery is dead-lettered `render_failed` without being sent, and
    /// the other finding is delivered.
    @Test func aJSONTemplateThatRendersInvalidJSONIsDeadLetteredRenderFailed() async throws {
        try await withRunHarness { harness in
            let (receiver, config) = try await harness.webhook(extra: #"template: '{"severity": {{detail.severity}}, "id": "{{detail.id}}"}'"#)
            let findings = try Findings.unique(2)
            var odd = try #require(try JSONSerialization.jsonObject(with: Data(findings[1].bytes)) as? [String: Any])
            var detail = try #require(odd["detail"] as? [String: Any])
            detail["severity"] = "HIGH"
            odd["detail"] = detail
            let oddBytes = [UInt8](try JSONSerialization.data(withJSONObject: odd))
            let run = try await OfflineRun([findings[0], (findings[1].id, oddBytes)], config: config)
            #expect(run.status == 2, "\(run.output)")
            #expect(try receiver.receivedFindingIDs() == [findings[0].id])
            let bodies = try receiver.records().map(\.body)
            #expect(bodies.count == 1)
            #expect(bodies.first?.contains(#""id": "\#(findings[0].id)""#) == true, "\(bodies)")
            let letters = run.deadLetters
            #expect(letters.count == 1)
            #expect(letters.first?["reason"] as? String == "render_failed")
            #expect(letters.first?["route"] as? String == "all-findings")
            #expect(letters.first?["connector"] as? String == "hook")
            #expect(letters.first?["attempts"] as? NSNumber == 0)
            #expect((letters.first?["error"] as? String)?.contains("invalid JSON") == true, "\(letters)")
        }
    }
}
