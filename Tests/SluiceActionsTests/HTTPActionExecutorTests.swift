import Foundation
import SluiceActions
import SluiceCore
import SluiceTestSupport
import Testing

@Suite struct HTTPActionExecutorTests {
    @Test func templatedBodyReachesTheEndpointAndStatusesAreClassified() async throws {
        let receiver = try WebhookReceiver(status: 200)
        defer { receiver.stop() }
        let yaml = """
            name: soar
            match: {source: [aws.guardduty]}
            playbook:
              - name: open-case
                action: http
                params:
                  url: \(receiver.url)/cases
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
        #expect(record.parameters["headers"]?["X-Team"] == "ir")

        // 503 is retried by the step's retry, then the run fails retryably (nothing changed).
        try await receiver.setStatus(503)
        let again = PlaybookRunner(playbooks: playbooks, context: ActionFixtures.context(), audit: ActionAudit(sinks: [audit], logger: .init(label: "t")))
        let failed = await again.run(route: "soar", payload: try ActionFixtures.findingBytes())
        guard case .failed(_, let error, let changed) = failed else { Issue.record("expected a failure, got \(failed)"); return }
        #expect(error.retryable && !changed)
        #expect(PlaybookConnector.classify(failed) == .retryable("playbook step 'open-case': HTTP 503"))
        #expect(audit.records.filter { $0.result == .failed }.count == 3)
        try await receiver.setStatus(400, body: "bad")
        let rejected = await again.run(route: "soar", payload: try ActionFixtures.findingBytes())
        guard case .failed(_, let e2, _) = rejected else { Issue.record("expected a failure"); return }
        #expect(!e2.retryable)
    }
}
