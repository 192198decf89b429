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

    /// One unit of work finished (delivered or dead-lettered).
    func finishOne() {
        if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { onSettled(self) }
    }
}
