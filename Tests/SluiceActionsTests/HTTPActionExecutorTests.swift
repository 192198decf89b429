import Foundation
@testable import SluiceActions
import SluiceCore
import SluiceTestSupport
import Testing

@Suite struct HTTPActionExecutorTests {
    @Test func templatedBodyReachesTheEndpointAndStatusesAreClassified() async throws {
        let receiver = try await WebhookReceiver.start(status: 200)
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let yaml = """
                name: soar
                match: {source: [aws.guardduty]}
                playbook:
                  - name: open-case
                    action: http
                    params:
                      url: \(receiver.url)/cases
                      allow_loopback: true
                      headers: {Authorization: "Bearer s3cret", X-Team: ir}
                      body: '{"finding": "{{detail.id}}", "title": "{{detail.title}}", "sev": "{{sluice.severity_label}}"}'
                    retry: {attempts: 3, backoff: 10ms}
                """
            let playbooks = try ActionFixtures.playbooks(yaml)
            let audit = MemoryAuditSink()
            let runner = PlaybookRunner(playbooks: playbooks, context: ActionFixtures.context(), audit: ActionAudit(sinks: [audit], logger: .init(label: "t")))
            let outcome = await runner.run(route: "soar", payload: try ActionFixtures.findingBytes())
            #expect(outcome == .completed)
            let got = try #require(try receiver.records().first)
            #expect(got.path == "/cases")
            #expect(got.header("Authorization") == "Bearer s3cret")
            let body = try JSON.parse(got.body)
            #expect(body["finding"] == "8f52f18d300e0ed86a90afe715053ba9")
            #expect(body["sev"] == "High")
            let record = try #require(audit.records.last)
            #expect(record.result == .succeeded)
            #expect(record.parameters["headers"]?["Authorization"] == "<redacted>")
            #expect(record.parameters["headers"]?["X-Team"] == "<redacted>")  // not on the allow-list

            // 503 is retried by the step's declared retry; once its attempts are spent the run fails
            // permanently, so the delivery lane does not start it again.
            try await receiver.setStatus(503)
            let again = PlaybookRunner(playbooks: playbooks, context: ActionFixtures.context(), audit: ActionAudit(sinks: [audit], logger: .init(label: "t")))
            let failed = await again.run(route: "soar", payload: try ActionFixtures.findingBytes())
            guard case .failed(_, let error, let changed) = failed else { Issue.record("expected a failure, got \(failed)"); return }
            #expect(!error.retryable && !changed)
            #expect(PlaybookConnector.classify(failed) == .permanent("playbook step 'open-case': HTTP 503 (after 3 attempts)"))
            let failedRecords = audit.records.filter { $0.result == .failed }
            #expect(failedRecords.count == 3)
            try await receiver.setStatus(400, body: "bad")
            let rejected = await again.run(route: "soar", payload: try ActionFixtures.findingBytes())
            guard case .failed(_, let e2, _) = rejected else { Issue.record("expected a failure"); return }
            #expect(!e2.retryable)
        }
    }

    /// Route `soar` whose one step calls the http action with `params` (a YAML flow mapping).
    static func soar(_ params: String) -> String {
        "name: soar\nmatch: {source: [aws.guardduty]}\nplaybook:\n  - name: open-case\n    action: http\n    params: \(params)\n"
    }

    static func runner(_ yaml: String, audit: MemoryAuditSink = MemoryAuditSink()) throws -> (PlaybookRunner, Playbook) {
        let playbooks = try ActionFixtures.playbooks(yaml)
        let runner = PlaybookRunner(playbooks: playbooks, context: ActionFixtures.context(), audit: ActionAudit(sinks: [audit], logger: .init(label: "t")))
        return (runner, try #require(playbooks["soar"]))
    }

    /// The finding with its id replaced (JSON-escaped text in, so CR/LF arrive as characters).
    static func finding(id escaped: String) throws -> JSON {
        try ActionFixtures.finding("01-ec2-cryptominer.json", replacing: ["8f52f18d300e0ed86a90afe715053ba9": escaped])
    }

    @Test func findingCRLFNeverBecomesAHeader() async throws {
        let receiver = try await WebhookReceiver.start(status: 200)
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let (runner, playbook) = try Self.runner(Self.soar(#"{url: "\#(receiver.url)/cases", allow_loopback: true, headers: {X-Case: "case-{{detail.id}}"}}"#))
            let outcome = await runner.run(playbook, finding: try Self.finding(id: #"f1\r\nX-Injected: yes\u0000\nX-Other: 1"#))
            #expect(outcome == .completed)
            let got = try #require(try receiver.records().first)
            #expect(got.header("X-Injected") == nil && got.header("X-Other") == nil, "\(got.headers)")
            #expect(got.header("X-Case") == "case-f1X-Injected: yesX-Other: 1")
            #expect(got.header("X-Sluice-Finding-Id") == "f1X-Injected: yesX-Other: 1")
        }
    }

    @Test func urlValuesArePercentEncodedAndCannotChangeTheURLShape() async throws {
        let receiver = try await WebhookReceiver.start(status: 200)
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let yaml = { (url: String) in Self.soar("{url: \"\(url)\", allow_loopback: true}") }
            let hostile = try Self.finding(id: "../../admin/delete?x=1&y=#frag")
            let (encoded, p1) = try Self.runner(yaml(receiver.url + "/cases/{{detail.id}}?finding={{detail.id}}"))
            #expect(await encoded.run(p1, finding: hostile) == .completed)
            let got = try #require(try receiver.records().first)
            #expect(got.path == "/cases/..%2F..%2Fadmin%2Fdelete%3Fx%3D1%26y%3D%23frag?finding=..%2F..%2Fadmin%2Fdelete%3Fx%3D1%26y%3D%23frag")

            // Unescaped ({{{…}}}) values that add segments, or a bare "..", are refused before any request.
            for (url, id) in [(receiver.url + "/cases/{{{detail.id}}}", "../../admin"), (receiver.url + "/cases/{{detail.id}}/x", ".."),
                              ("http://{{detail.id}}/cases", "127.0.0.1:\(receiver.port)")] {
                let (runner, playbook) = try Self.runner(yaml(url))
                let outcome = await runner.run(playbook, finding: try Self.finding(id: id))
                guard case .failed(_, let error, _) = outcome else { Issue.record("\(url) with \(id): \(outcome)"); continue }
                #expect(!error.retryable && error.message.contains("refused"), "\(error)")
            }
            #expect(receiver.count == 1)
        }
    }

    @Test func loopbackAndMetadataAddressesNeedAnExplicitAllow() async throws {
        let receiver = try await WebhookReceiver.start(status: 200)
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            for url in [receiver.url + "/cases", "http://localhost:\(receiver.port)/cases", "http://[::1]:\(receiver.port)/cases"] {
                let (runner, playbook) = try Self.runner(Self.soar("{url: \"\(url)\"}"))
                let outcome = await runner.run(playbook, finding: try ActionFixtures.finding())
                guard case .failed(_, let error, _) = outcome else { Issue.record("\(url): \(outcome)"); continue }
                #expect(!error.retryable && error.message.contains("allow_loopback"), "\(error)")
            }
            #expect(receiver.count == 0)

            // Metadata and link-local literals: refused while building the request, before any I/O.
            for host in ["169.254.169.254", "169.254.170.2", "[fd00:ec2::254]", "[fe80::1]", "[::ffff:169.254.169.254]", "0.0.0.0"] {
                var params = ActionParameters(["url": .string("http://\(host)/latest/meta-data/")])
                do throws(ActionError) {
                    _ = try HTTPActionExecutor.makeRequest(ActionRequest(finding: [:], findingID: "f", route: "r", step: "s", runID: "r:f", parameters: params))
                    Issue.record("\(host) was not refused")
                } catch {
                    #expect(error.message.contains("link-local") || error.message.contains("loopback"), "\(error)")
                }
                params.values["allow_link_local"] = .string("true")
                params.values["allow_loopback"] = .string("true")
            }

            // With the explicit allow, loopback is reached.
            let (allowed, playbook) = try Self.runner(Self.soar("{url: \"\(receiver.url)/ok\", allow_loopback: true}"))
            #expect(await allowed.run(playbook, finding: try ActionFixtures.finding()) == .completed)
            #expect(receiver.count == 1)
        }
    }

    @Test func auditRedactsHeadersQueryValuesUserinfoAndEchoedSecrets() async throws {
        let receiver = try await WebhookReceiver.start(status: 401)
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            try await receiver.setStatus(401, body: "token Zq9SoarCredential77 is not valid for key k-abcdef")
            let audit = MemoryAuditSink()
            let port = receiver.port
            let url = "http://ops:pa55word@127.0.0.1:\(port)/cases?api_key=k-abcdef&mode=fast"
            let headers = "{X-Soar-Credential: Zq9SoarCredential77, Content-Type: application/json}"
            let (runner, playbook) = try Self.runner(Self.soar("{url: \"\(url)\", allow_loopback: true, headers: \(headers)}"), audit: audit)
            let outcome = await runner.run(playbook, finding: try ActionFixtures.finding())
            guard case .failed(_, let error, _) = outcome else { Issue.record("\(outcome)"); return }
            let record = try #require(audit.records.last)
            let text = record.json.serialized() + error.message + "\(PlaybookConnector.classify(outcome))"
            for secret in ["Zq9SoarCredential77", "k-abcdef", "pa55word", "ops:"] {
                #expect(!text.contains(secret), "\(secret) leaked: \(text)")
            }
            #expect(record.parameters["headers"]?["Content-Type"] == "application/json")
            #expect(record.parameters["url"]?.stringValue == "http://<redacted>@127.0.0.1:\(port)/cases?api_key=<redacted>&mode=<redacted>")
            #expect(error.message.contains("HTTP 401: token <redacted> is not valid for key <redacted>"), "\(error.message)")

            // A success that echoes the credential: the audit's copy of the output is scrubbed too.
            try await receiver.setStatus(200, body: #"{"seen": "Zq9SoarCredential77"}"#)
            #expect(await runner.run(playbook, finding: try ActionFixtures.finding()) == .completed)
            let succeeded = try #require(audit.records.last)
            #expect(succeeded.result == .succeeded)
            #expect(succeeded.output["body"]?["seen"] == "<redacted>")
        }
    }
}
