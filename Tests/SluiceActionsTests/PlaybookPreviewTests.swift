import Foundation
import SluiceActions
import SluiceCore
import SluiceTestSupport
import Testing

/// Playbooks seen before they act (issue 11, point 3), through the real binary: `sluice test`
/// previews each step, and a dry run needs no cloud credentials.
@Suite struct PlaybookPreviewTests {
    static let root = PackagePaths.root

    /// The shipped quarantine playbook for the shipped EC2 miner finding, step by step: `when`
    /// outcomes, rendered parameters, the approval, the target the finding names, what stays
    /// unresolved, and the guards of the run configuration (here the finding's account is protected).
    @Test func sluiceTestShowsEachStepOfTheMatchingPlaybook() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("preview-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("sluice.yaml")
        try "actions:\n  guards:\n    protected_accounts: [\"111122223333\"]\n    max_per_hour: {aws.ec2.isolate: 5}\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let (status, output) = try await CommandRun.result(of: PackagePaths.sluiceBinary, [
            "test", "--event", "examples/findings/01-ec2-cryptominer.json", "--routes", "examples/playbooks",
            "--connectors", "connectors/examples", "--config", config.path,
        ], in: Self.root)
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let start = try #require(lines.firstIndex(of: "route quarantine-compromised-instances  (examples/playbooks/quarantine.yaml:10)"), "\(output)")
        let preview = Array(lines[start...].drop { $0 != "playbook:" }.prefix(34))
        let expected = [
            "playbook:",
            "guards in force (actions.guards of \(config.path)): protected tags: sluice:protected=true; protected accounts: 111122223333; "
                + "protected namespaces: kube-system; max per hour: aws.ec2.isolate 5; max per hour per route: none; max concurrent isolations: none",
            "1. evidence  [aws.ec2.snapshot]",
            "when: always",
            "target: ec2:instance i-0a4f1c2b3d5e6f789",
            "unresolved: instance tags (protected-tag guard) and state: looked up when the step runs",
            "guard: would be refused: protected: account 111122223333 is protected",
            "guard: no cap on how often it runs (actions.guards sets none for aws.ec2.snapshot)",
            "on failure: stop",
            "2. isolate  [aws.ec2.isolate]",
            "when: always",
            #"params: {"quarantine_group":"sluice-quarantine","snapshot":"false"}"#,
            "approval: waits up to 1800s for sluice approvals approve|deny; then approves",
            "target: ec2:instance i-0a4f1c2b3d5e6f789",
            "unresolved: instance tags (protected-tag guard) and state: looked up when the step runs",
            "guard: would be refused: protected: account 111122223333 is protected",
            "guard: at most 5 aws.ec2.isolate actions per hour",
            "on failure: compensate",
            "compensation of isolate: page-on-failure  [http]",
            "when: always",
        ]
        #expect(Array(preview.prefix(expected.count)) == expected, "\(preview)")
        #expect(preview.contains("3. open-case  [http]"), "\(preview)")
        #expect(preview.contains("when: decided when it runs (reads steps.isolate)"), "\(preview)")
        #expect(preview.contains("unresolved: body: from an earlier step's output"), "\(preview)")
        // The SOAR token is a header value: redacted in the preview as in the audit trail.
        #expect(!output.contains("Bearer example"), "\(output)")
    }

    /// Without --config, `sluice test` previews with the built-in defaults, as `sluice run`
    /// without --config acts, and says so: every step has a guard line (once there was none, and
    /// nothing told a missing cap from a guard not shown).
    @Test func withoutConfigTheGuardsShownAreTheBuiltInDefaultsAndSaySo() async throws {
        let (status, output) = try await CommandRun.result(of: PackagePaths.sluiceBinary, [
            "test", "--event", "examples/findings/01-ec2-cryptominer.json", "--routes", "examples/playbooks",
            "--connectors", "connectors/examples",
        ], in: Self.root)
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let start = try #require(lines.firstIndex(of: "route quarantine-compromised-instances  (examples/playbooks/quarantine.yaml:10)"), "\(output)")
        let preview = Array(lines[start...].drop { $0 != "playbook:" }.prefix(20))
        #expect(preview.dropFirst().first == "guards in force (built-in defaults: no --config given, as `sluice run` without --config): "
            + "protected tags: sluice:protected=true; protected accounts: none; protected namespaces: kube-system; "
            + "max per hour: none; max per hour per route: none; max concurrent isolations: none", "\(preview)")
        #expect(preview.contains("guard: no cap on how often it runs (actions.guards sets none for aws.ec2.snapshot)"), "\(preview)")
        #expect(preview.contains("guard: no cap on how often it runs (actions.guards sets none for aws.ec2.isolate)"), "\(preview)")
    }

    /// A dry run (`dry_run: true` on the route, or `--dry-run-actions`) with no AWS variables and
    /// HOME an empty directory: it says what it would do from the finding alone and marks what it
    /// could not resolve (here a pod on an EC2 finding), instead of failing and dead-lettering.
    @Test(arguments: [(routeDryRun: true, flag: false), (routeDryRun: false, flag: true)])
    func aDryRunNeedsNoCloudCredentials(routeDryRun: Bool, flag: Bool) async throws {
        let (status, output) = try await Self.runOffline(route: """
            name: quarantine-miners
            match: {detail: {type: [{prefix: "CryptoCurrency:Runtime/"}]}}
            playbook:
              dry_run: \(routeDryRun)
              steps:
                - name: isolate
                  action: aws.ec2.isolate
                - name: pod
                  action: kubernetes.isolate-pod
            """, extra: ["--summary"] + (flag ? ["--dry-run-actions"] : []))

        #expect(status == 0, "\(output)")
        #expect(!output.contains("sluice.reason="), "nothing may be dead-lettered: \(output)")
        let dryRuns = output.split(separator: "\n").filter { $0.contains("action dry_run") }
        #expect(dryRuns.count == 2, "\(output)")
        #expect(dryRuns.first?.contains("ec2:instance i-0a4f1c2b3d5e6f789") == true, "\(dryRuns)")
        #expect(dryRuns.first?.contains("unresolved: instance tags (protected-tag guard) and state: looked up when the step runs") == true, "\(dryRuns)")
        #expect(dryRuns.last?.contains("unresolved: target: no pod: give namespace and pod (the finding names no pod)") == true, "\(dryRuns)")
        // The playbook lane settled the finding: one delivery, nothing dead-lettered.
        let rows = output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(rows.contains(["quarantine-miners", "1", "0", "0", "0"]), "route: delivered, suppressed, held, dead-lettered\n\(output)")
    }
}

extension PlaybookPreviewTests {
    /// Issue 11.3: in a dry run, a step whose `when` reads an earlier step's output (quarantine's
    /// `open-case`) cannot be decided — the earlier step did nothing. It is shown as it would run,
    /// its condition unresolved, never "skipped: when condition not met"; a condition on the
    /// finding alone is still decided (skipped), and nothing reaches the step's URL.
    @Test func aDryRunMarksAConditionOnAnEarlierStepUnresolved() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let (status, output) = try await Self.runOffline(route: """
                name: quarantine-miners
                match: {detail: {type: [{prefix: "CryptoCurrency:Runtime/"}]}}
                playbook:
                  dry_run: true
                  steps:
                    - name: isolate
                      action: aws.ec2.isolate
                    - name: open-case
                      action: http
                      when: {steps: {isolate: {output: {already_quarantined: [false]}}}}
                      params:
                        url: \(receiver.url)/cases
                        body: '{"instance": "{{steps.isolate.output.instance_id}}"}'
                    - name: low-only
                      action: http
                      when: {detail: {severity: [{numeric: ["<", 1]}]}}
                      params:
                        url: \(receiver.url)/low
                """)

            #expect(status == 0, "\(output)")
            let lines = output.split(separator: "\n")
            let openCase = lines.filter { $0.contains("action.step=open-case") }
            #expect(openCase.count == 1 && openCase[0].contains("action dry_run"), "\(output)")
            #expect(openCase.first?.contains("unresolved: when: reads steps.isolate, decided when the step runs") == true, "\(openCase)")
            #expect(!output.contains("action.step=open-case action.detail=when condition not met"), "\(output)")
            let lowOnly = lines.filter { $0.contains("action.step=low-only") }
            #expect(lowOnly.count == 1 && lowOnly[0].contains("action skipped") && lowOnly[0].contains("when condition not met"), "\(output)")
            #expect(try receiver.totalRequests() == 0)
        }
    }

    /// `sluice run --input` of the shipped EC2 miner finding through `route` (one route file, no
    /// connectors), with no AWS variables and HOME an empty directory: its exit status and output.
    static func runOffline(route: String, extra: [String] = []) async throws -> (Int32, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dry-\(UUID().uuidString)")
        for sub in ["routes", "connectors", "home"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        try route.write(to: dir.appendingPathComponent("routes/quarantine.yaml"), atomically: true, encoding: .utf8)
        let finding = try String(contentsOf: root.appendingPathComponent("examples/findings/01-ec2-cryptominer.json"), encoding: .utf8)
        let input = dir.appendingPathComponent("findings.ndjson")
        try (finding.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined() + "\n")
            .write(to: input, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") && $0.key != "KUBECONFIG" }
        environment["HOME"] = dir.appendingPathComponent("home").path
        // Belt and braces: were a lookup attempted, it must fail here, never reach a metadata address.
        environment["AWS_EC2_METADATA_DISABLED"] = "true"
        let p = Process()
        p.executableURL = PackagePaths.sluiceBinary
        p.arguments = ["run", "--input", input.path, "--routes", dir.appendingPathComponent("routes").path,
                       "--connectors", dir.appendingPathComponent("connectors").path] + extra
        p.environment = environment
        p.standardInput = FileHandle.nullDevice
        let output = try await CommandRun.output(of: p)
        return (p.terminationStatus, output)
    }
}

/// Finding text in the preview cannot drive the terminal: control characters come out escaped.
@Suite struct PlaybookPreviewHostileTextTests {
    @Test func aHostileInstanceIDIsShownEscaped() throws {
        let playbook = Playbook(route: "r", steps: [PlaybookStep(name: "isolate", action: "aws.ec2.isolate")])
        let finding = try JSON.parse(#"{"source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{"accountId":"1","region":"us-east-1","resource":{"instanceDetails":{"instanceId":"i-1\u001b[2J\n"}}}}"#)
        let lines = PlaybookPreview(playbook: playbook, finding: finding, settings: ActionSettings()).lines
        #expect(lines.contains { $0.hasSuffix(#"target: ec2:instance i-1\u001b[2J\n"#) }, "\(lines)")
        #expect(!lines.joined().contains("\u{1b}"))
    }
}

extension PlaybookPreviewTests {
    /// A playbook's parameters read the summary of any input format, not GuardDuty's only: for a
    /// Falco finding `{{sluice.severity_label}}` and `{{sluice.title}}` rendered empty.
    @Test func parametersReadTheSummaryOfEveryFormat() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("preview-falco-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try """
        name: falco-shells
        match: {"sluice": {"format": ["falco"]}}
        playbook:
          - name: open-case
            action: http
            params:
              url: https://soar.example.com/api/cases
              body: '{"severity": "{{sluice.severity_label}}", "title": "{{sluice.title}}", "resource": "{{sluice.resource_type}}"}'
        """.write(to: dir.appendingPathComponent("falco.yaml"), atomically: true, encoding: .utf8)
        let (status, output) = try await CommandRun.result(of: PackagePaths.sluiceBinary, [
            "test", "--event", "examples/findings/falco/01-k8s-terminal-shell-sidekick.json", "--routes", dir.path,
            "--connectors", "connectors/examples",
        ], in: Self.root)
        #expect(status == 0, "\(output)")
        // Falco's Notice is severity 2, Low (docs/formats.md §4); the rule is the title.
        #expect(output.contains(#"params: {"body":"{\"severity\": \"Low\", \"title\": \"Terminal shell in container\", \"resource\": \"KubernetesPod\"}""#), "\(output)")
    }
}
