import SluiceKafka
import Synchronization

/// A consumed record whose work is under way. It settles once every delivery it caused has
/// succeeded or been dead-lettered; only then may its offset be committed.
final class InFlightMessage: Sendable {
    let record: SourceRecord
    let ticket: OffsetTracker.Ticket?
    private let remaining: Atomic<Int>
    private let onSettled: @Sendable (InFlightMessage) -> Void

    init(record: SourceRecord, ticket: OffsetTracker.Ticket?, work: Int, onSettled: @escaping @Sendable (InFlightMessage) -> Void) {
        self.record = record
        self.ticket = ticket
        self.remaining = Atomic(work)
        self.onSettled = onSettled
    }

    /// One more unit of work. Only while the caller's own unit is unfinished (so the count
    /// cannot have reached zero): a step that turns into two waits (a delivery, and the state
    /// record its outcome writes).
    func addUnit() {
        remaining.add(1, ordering: .relaxed)
    }

    /// One unit of work finished (delivered or dead-lettered).
    func finishOne() {
        if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { onSettled(self) }
    }
}
