import SluiceCore
import Testing

@testable import SluiceActions

/// Issue 10 point 1: audit and approval records read back from their topics (written by any
/// instance, or by hand) never trap on their numbers.
@Suite struct AuditNumberTests {
    @Test func auditRecordNumbersOutOfRangeAreClamped() throws {
        let json = try JSON.parse(#"{"run_id": "r1", "result": "failed", "attempt": 1e300, "duration_ms": -1e300, "time_ms": 1e300}"#)
        let record = try #require(ActionAuditRecord(json: json))
        #expect(record.attempt == Int.max)
        #expect(record.durationMs == Int64.min)
        #expect(record.timeMs == Int64.max)
    }

    @Test func approvalTimesOutOfRangeAreClamped() throws {
        let json = try JSON.parse(#"{"run_id": "r1", "status": "pending", "step": "isolate", "requested_ms": -1e300, "deadline_ms": 1e300}"#)
        let state = try #require(RunState(json: json))
        #expect(state.requestedMs == Int64.min)
        #expect(state.deadlineMs == Int64.max)
    }
}
