import Foundation
import SluiceTestSupport
import Testing

/// The API's other decision: an operator denies a waiting step with a comment. The step's default
/// is approve, so only the denial can stop it; the action audit is the marker that it was applied.
extension OperationsAPITests {
    @Test func denyingAWaitingStepThroughTheAPIStopsTheRunAndKeepsTheComment() async throws {
        let router = try await PlaybookRouter(group: "approvals-deny", tokens: true) { soar in
            Self.caseStep(soar, path: "cases") + "\n    requires_approval: {timeout: 10m, default: approve}"
        }
        try await withCleanup { cleanup in
            cleanup.add { await router.stopAndWait() }
            let (broker, soar, port, sluice) = (router.broker, router.soar, router.port, router.sluice)
            #expect(await LoopbackPort.accepts(port, within: 60))
            try await Findings.publish(try Findings.unique(1), to: "findings", broker: broker)
            let waiting = try await Self.waitingRuns(port)
            let runID = try #require(waiting.first?["runId"] as? String, "no run waits for approval: \(sluice.output.suffix(2000))")
            #expect(waiting.first?["defaultDecision"] as? String == "approve")

            let body = #"{"runId": "\#(runID)", "decision": "deny", "comment": "false positive: the scanner's own host"}"#
            #expect(try Self.call(port, "POST", "/api/v1/approvals", body: body, token: Self.viewerToken).status == 403)
            let denied = try Self.call(port, "POST", "/api/v1/approvals", body: body, token: Self.operatorToken)
            #expect(denied.status == 200, "\(denied.body)")

            // The owner applied it: the action audit says who denied the step.
            var deniedRecord: String?
            for _ in 0..<120 where deniedRecord == nil {
                let audit = try await readTopicToSentinel(broker, topic: "sluice.actions.audit")
                deniedRecord = audit.compactMap { $0.value.map { String(decoding: $0, as: UTF8.self) } }.first { $0.contains("denied by alice") }
                if deniedRecord == nil { try await Task.sleep(for: .milliseconds(500)) }
            }
            #expect(deniedRecord != nil, "no denial in the action audit: \(sluice.output.suffix(2000))")
            let decided = Self.array(try Self.call(port, "GET", "/api/v1/approvals?all=true", token: Self.viewerToken).body).first { $0["runId"] as? String == runID }
            #expect(decided?["decidedBy"] as? String == "alice" && decided?["comment"] as? String == "false positive: the scanner's own host", "\(decided ?? [:])")
            #expect(["denied", "finished"].contains(decided?["status"] as? String ?? ""), "\(decided ?? [:])")
            #expect(soar.count == 0, "a denied step never runs")
            #expect(sluice.output.contains("admin.principal=alice"), "\(sluice.output.suffix(2000))")
        }
    }
}
