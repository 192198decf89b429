import SluiceHTTP
import Synchronization
import Testing

@testable import SluiceConnectors

/// The ticket index on an injected clock, and the shared ticketing attempt against a scripted
/// vendor: expiry, eviction of the oldest, and the 404 → search-again path.
@Suite struct FindingTicketIndexTests {
    final class FakeClock: Sendable {
        let base = ContinuousClock.now
        let offset = Mutex<Duration>(.zero)
        func advance(_ d: Duration) { offset.withLock { $0 += d } }
        var read: @Sendable () -> ContinuousClock.Instant { { [self] in base + offset.withLock { $0 } } }
    }

    @Test func anEntryExpiresAfterItsTTL() {
        let clock = FakeClock()
        let index = FindingTicketIndex(ttl: .seconds(600), now: clock.read)
        index.record("SEC-1", for: "f1")
        clock.advance(.seconds(600))
        #expect(index.ticket(for: "f1") == "SEC-1")      // exactly ttl old: still valid
        clock.advance(.milliseconds(1))
        #expect(index.ticket(for: "f1") == nil)
        clock.advance(.seconds(3600))
        #expect(index.ticket(for: "f1") == nil)          // and gone for good
    }

    @Test func recordingAgainRefreshesTheEntry() {
        let clock = FakeClock()
        let index = FindingTicketIndex(ttl: .seconds(10), now: clock.read)
        index.record("SEC-1", for: "f1")
        clock.advance(.seconds(8))
        index.record("SEC-2", for: "f1")
        clock.advance(.seconds(8))
        #expect(index.ticket(for: "f1") == "SEC-2")
    }

    @Test func atCapacityTheOldestEntryIsEvicted() {
        let clock = FakeClock()
        let index = FindingTicketIndex(capacity: 3, now: clock.read)
        for (i, id) in ["a", "b", "c"].enumerated() {
            index.record("T-\(i)", for: id)
            clock.advance(.seconds(1))
        }
        index.record("T-a2", for: "a")     // updating an entry evicts nothing and makes it the newest
        clock.advance(.seconds(1))
        index.record("T-3", for: "d")      // full: "b" is now the oldest
        #expect(index.ticket(for: "a") == "T-a2")
        #expect(index.ticket(for: "b") == nil)
        #expect(index.ticket(for: "c") == "T-2")
        #expect(index.ticket(for: "d") == "T-3")
    }

    @Test func forgetRemovesOneEntry() {
        let index = FindingTicketIndex()
        index.record("SEC-1", for: "f1")
        index.record("SEC-2", for: "f2")
        index.forget("f1")
        #expect(index.ticket(for: "f1") == nil)
        #expect(index.ticket(for: "f2") == "SEC-2")
    }

    /// A ticketing vendor scripted per call, recording what was asked of it.
    final class ScriptedVendor: TicketingConnector, Sendable {
        let index: FindingTicketIndex
        let calls = Mutex<[String]>([])
        let updateStatus: @Sendable (String) -> Int
        let search: TicketLookupAnswer

        enum TicketLookupAnswer: Sendable { case found(String), none }

        init(index: FindingTicketIndex, search: TicketLookupAnswer, updateStatus: @escaping @Sendable (String) -> Int) {
            self.index = index
            self.search = search
            self.updateStatus = updateStatus
        }

        func deliver(_ delivery: Delivery, completion: @escaping @Sendable (DeliveryOutcome) -> Void) {
            Task { completion(await attempt(delivery)) }
        }
        func findOpenTicket(findingID: String) async -> TicketLookup {
            calls.withLock { $0.append("search \(findingID)") }
            switch search {
            case .found(let t): return .found(t)
            case .none: return .none
            }
        }
        func update(ticket: String, with delivery: Delivery) async -> TicketCall {
            calls.withLock { $0.append("update \(ticket)") }
            let status = updateStatus(ticket)
            return TicketCall.classify(.success(HTTPResponse(status: status)), vendor: "test", doing: "update", errorText: { _ in nil })
        }
        func open(_ delivery: Delivery, findingID: String?) async -> TicketCall {
            calls.withLock { $0.append("open \(findingID ?? "-")") }
            return .ok(HTTPResponse(status: 201, body: Array("NEW-9".utf8)))
        }
        func ticketID(created response: HTTPResponse) -> String? { String(decoding: response.body, as: UTF8.self) }
    }

    @Test func aDeletedTicketIsForgottenAndTheSearchDecides() async {
        let index = FindingTicketIndex()
        index.record("GONE-1", for: "f1")
        let vendor = ScriptedVendor(index: index, search: .none) { $0 == "GONE-1" ? 404 : 204 }
        let outcome = await vendor.attempt(Delivery(payload: [], findingID: "f1", route: "r"))
        #expect(outcome == .delivered)
        #expect(vendor.calls.withLock { $0 } == ["update GONE-1", "search f1", "open f1"])
        #expect(index.ticket(for: "f1") == "NEW-9")
    }

    @Test func aDeletedTicketWhoseSearchFindsAnotherUpdatesThatOne() async {
        let index = FindingTicketIndex()
        index.record("GONE-1", for: "f1")
        let vendor = ScriptedVendor(index: index, search: .found("SEC-7")) { $0 == "GONE-1" ? 404 : 204 }
        #expect(await vendor.attempt(Delivery(payload: [], findingID: "f1", route: "r")) == .delivered)
        #expect(vendor.calls.withLock { $0 } == ["update GONE-1", "search f1", "update SEC-7"])
        #expect(index.ticket(for: "f1") == "SEC-7")
    }

    @Test func otherUpdateFailuresEndTheAttemptWithoutSearching() async {
        let index = FindingTicketIndex()
        index.record("SEC-1", for: "f1")
        let vendor = ScriptedVendor(index: index, search: .none) { _ in 503 }
        let outcome = await vendor.attempt(Delivery(payload: [], findingID: "f1", route: "r"))
        guard case .retryable = outcome else { Issue.record("503 must be retryable, got \(outcome)"); return }
        #expect(vendor.calls.withLock { $0 } == ["update SEC-1"])
        #expect(index.ticket(for: "f1") == "SEC-1")      // kept: the ticket exists, the vendor was busy
    }
}
