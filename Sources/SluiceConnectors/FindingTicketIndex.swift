import Synchronization

/// Which ticket (Jira issue key, ServiceNow sys_id) this process last opened or updated for a
/// finding id, and a turnstile so that two deliveries of the same finding never race to open
/// two tickets. Ticketing connectors (`jira`, `servicenow`) share it.
///
/// The index only saves searches: the vendor's search stays the source of truth, after a
/// restart and once an entry is older than `ttl` (the ticket may have been closed meanwhile).
/// It holds at most `capacity` entries; the oldest go first.
final class FindingTicketIndex: Sendable {
    private struct Entry {
        var ticket: String
        var stored: ContinuousClock.Instant
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Finding ids with a delivery in progress, and the deliveries waiting for them.
        var busy: [String: [CheckedContinuation<Void, Never>]] = [:]
    }

    private let state = Mutex(State())
    let ttl: Duration
    let capacity: Int
    /// The clock; tests inject one to step through `ttl` without waiting.
    private let now: @Sendable () -> ContinuousClock.Instant

    init(ttl: Duration = .seconds(600), capacity: Int = 10_000, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.ttl = ttl
        self.capacity = capacity
        self.now = now
    }

    /// The ticket recorded for `findingID`, unless it has expired.
    func ticket(for findingID: String) -> String? {
        let now = now()
        return state.withLock { s in
            guard let e = s.entries[findingID] else { return nil }
            if now - e.stored > ttl {
                s.entries[findingID] = nil
                return nil
            }
            return e.ticket
        }
    }

    func record(_ ticket: String, for findingID: String) {
        let now = now()
        state.withLock { s in
            if s.entries[findingID] == nil, s.entries.count >= capacity,
               let oldest = s.entries.min(by: { $0.value.stored < $1.value.stored })?.key {
                s.entries[oldest] = nil
            }
            s.entries[findingID] = Entry(ticket: ticket, stored: now)
        }
    }

    func forget(_ findingID: String) {
        _ = state.withLock { $0.entries.removeValue(forKey: findingID) }
    }

    /// Runs `body` with no other delivery of the same finding id in progress in this process.
    func serialized<T>(_ findingID: String, _ body: () async -> T) async -> T {
        await acquire(findingID)
        defer { release(findingID) }
        return await body()
    }

    private func acquire(_ id: String) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let runNow = state.withLock { s -> Bool in
                if s.busy[id] == nil {
                    s.busy[id] = []
                    return true
                }
                s.busy[id, default: []].append(c)
                return false
            }
            if runNow { c.resume() }
        }
    }

    private func release(_ id: String) {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard var waiters = s.busy[id], !waiters.isEmpty else {
                s.busy[id] = nil
                return nil
            }
            let first = waiters.removeFirst()
            s.busy[id] = waiters
            return first
        }
        next?.resume()
    }
}
