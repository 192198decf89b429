import DequeModule

/// Decides how far each partition's committed offset may advance: up to, not past, the lowest
/// offset whose work is not yet settled. A pure state machine (no I/O, no locking): the caller
/// serialises access and stores the offsets it returns.
///
/// Records of one partition arrive in offset order, so each partition keeps a deque of
/// (offset, settled) in arrival order; settling marks an entry and pops the settled prefix.
public struct OffsetTracker: Sendable {
    struct Entry {
        var offset: Int64
        var settled: Bool
    }

    struct PartitionState {
        var generation: UInt64
        var entries: Deque<Entry> = []
        /// Next offset to commit once the front is settled (last popped offset + 1).
        var watermark: Int64?
        /// The watermark last handed out by `takeAdvanced()`.
        var taken: Int64?
        /// The offset the group holds committed for this partition, as far as this member knows:
        /// the first offset it read in this assignment (where the group's commit stood, or its
        /// settled work's end for a partition given straight back), then each commit the group
        /// confirmed.
        var confirmed: Int64
        /// Records settled (popped) since the last `markCommitted()`.
        var settledSinceMark = 0
        /// Commits asked for and not answered yet: the watermark each asked for, with how many
        /// records it covers beyond the previous ask. Oldest first; usually zero or one.
        var asks: [CommitAsk] = []
    }

    struct CommitAsk {
        var offset: Int64
        var records: Int
    }

    /// A token handed out when a record is tracked; settling needs it back, so a record tracked
    /// before a partition was revoked and reassigned cannot move the new assignment's offsets.
    public struct Ticket: Sendable, Hashable {
        public let partition: TopicPartition
        public let offset: Int64
        let generation: UInt64
    }

    private var partitions: [TopicPartition: PartitionState] = [:]
    private var nextGeneration: UInt64 = 1
    /// Partitions whose last commit the group refused (a rebalance under way, a coordinator
    /// away): their settled work since the last confirmed commit would be read again by the
    /// next owner, so it counts as uncommitted until a commit of theirs is confirmed. Usually empty.
    private var refused: Set<TopicPartition> = []

    public init() {}

    /// Number of records tracked and not yet settled, across partitions.
    public private(set) var unsettledCount = 0
    /// Records whose offsets are not committable yet: unsettled, or settled behind an unsettled one.
    public private(set) var trackedCount = 0
    /// Records that became committable since the last `markCommitted()`.
    public private(set) var committableSinceMark = 0
    /// Records in commits asked for (`markCommitted()`) that the group has not confirmed yet:
    /// a crash now would repeat them as surely as uncommitted ones.
    public private(set) var awaitingConfirmation = 0

    /// Records a redelivery would repeat if the process died now: tracked ones, those committable
    /// but not yet committed, those in commits asked for and not confirmed yet, and — on a
    /// partition whose last commit the group refused — those settled since its last confirmed
    /// commit (offsets, so a gap counts too; it may overlap `committableSinceMark`: an
    /// over-estimate, never an under-estimate). The pipeline caps this number, so neither a
    /// commit in flight nor a refused one lets the window a crash repeats grow past the cap.
    public var uncommittedCount: Int { trackedCount + committableSinceMark + awaitingConfirmation + refusedWindow }

    /// Settled offsets on partitions whose last commit was refused, not confirmed since.
    public var refusedWindow: Int {
        guard !refused.isEmpty else { return 0 }
        var n: Int64 = 0
        for p in refused {
            if let state = partitions[p], let w = state.watermark, w > state.confirmed { n += w - state.confirmed }
        }
        return Int(clamping: n)
    }

    /// A commit's answer, per partition: `committed` holds the offsets the group confirmed,
    /// `refused` the partitions whose commit it did not take. A confirmed offset is the group's
    /// start for that partition from now on; a refused partition counts its unconfirmed settled
    /// work as uncommitted until a later commit of it is confirmed (librdkafka keeps the stored
    /// offsets and sends them again).
    ///
    /// Asks the answer covers stop counting: confirmed ones, and those of refused partitions
    /// (their refused window counts them now). `abandoned`: partitions whose commit was refused
    /// for good, whose asks stop counting too (such a refusal does not hold the source).
    /// `nothingToCommit`: the group held every stored offset already, so no ask is outstanding.
    public mutating func commitAnswered(committed: [TopicPartition: Int64], refused refusedParts: some Sequence<TopicPartition>,
                                        abandoned: some Sequence<TopicPartition> = [TopicPartition](), nothingToCommit: Bool = false) {
        for (p, offset) in committed {
            refused.remove(p)
            guard partitions[p] != nil else { continue }
            awaitingConfirmation -= Self.update(&partitions[p]!) { state in
                if offset > state.confirmed { state.confirmed = offset }
                var answered = 0
                while let ask = state.asks.first, ask.offset <= offset {
                    answered += ask.records
                    state.asks.removeFirst()
                }
                return answered
            }
        }
        for p in refusedParts where partitions[p] != nil && committed[p] == nil {
            refused.insert(p)
            dropAsks(p)
        }
        for p in abandoned { dropAsks(p) }
        if nothingToCommit { for p in Array(partitions.keys) { dropAsks(p) } }
    }

    /// The caller committed every committable offset (or asked for it): each partition's
    /// settled records since the last mark wait for the group's confirmation. A refused
    /// partition's are in its refused window already.
    public mutating func markCommitted() {
        committableSinceMark = 0
        for p in Array(partitions.keys) {  // a copy: iterating the live view while mutating would copy the table
            let isRefused = refused.contains(p)
            Self.update(&partitions[p]!) { state in
                guard state.settledSinceMark > 0 else { return }
                if !isRefused, let watermark = state.watermark {
                    state.asks.append(CommitAsk(offset: watermark, records: state.settledSinceMark))
                    awaitingConfirmation += state.settledSinceMark
                }
                state.settledSinceMark = 0
            }
        }
    }

    /// Stops counting a partition's asks (answered by a refusal, or the partition gone).
    private mutating func dropAsks(_ p: TopicPartition) {
        guard let n = partitions[p]?.asks.reduce(0, { $0 + $1.records }), n > 0 else { return }
        awaitingConfirmation -= n
        partitions[p]?.asks.removeAll()
    }

    /// Starts tracking a record. Offsets of a partition must be tracked in increasing order;
    /// an offset at or below the last tracked one (a re-fetch after a seek) restarts the partition.
    public mutating func track(_ partition: TopicPartition, offset: Int64) -> Ticket {
        if partitions[partition] == nil { partitions[partition] = newState(from: offset) }
        if let last = partitions[partition]!.entries.last, offset <= last.offset {
            let old = partitions[partition]!.entries
            unsettledCount -= old.lazy.filter { !$0.settled }.count
            trackedCount -= old.count
            refused.remove(partition)
            dropAsks(partition)
            partitions[partition] = newState(from: offset)
        }
        unsettledCount += 1
        trackedCount += 1
        // Mutated in place through the dictionary: copying the state out would copy its deque.
        return Self.update(&partitions[partition]!) { state in
            state.entries.append(Entry(offset: offset, settled: false))
            return Ticket(partition: partition, offset: offset, generation: state.generation)
        }
    }

    /// Marks a record settled. Returns the offset now committable for its partition when it
    /// advanced (the next offset to consume, as Kafka commits it), nil otherwise.
    public mutating func settle(_ ticket: Ticket) -> Int64? {
        guard partitions[ticket.partition]?.generation == ticket.generation,
              let settled = Self.update(&partitions[ticket.partition]!, { state -> (advanced: Int64?, popped: Int)? in
                  guard let index = Self.index(of: ticket.offset, in: state.entries), !state.entries[index].settled else { return nil }
                  state.entries[index].settled = true
                  var advanced: Int64?
                  var popped = 0
                  while let first = state.entries.first, first.settled {
                      state.entries.removeFirst()
                      popped += 1
                      advanced = first.offset + 1
                  }
                  if let advanced { state.watermark = advanced }
                  state.settledSinceMark += popped
                  return (advanced, popped)
              })
        else { return nil }
        unsettledCount -= 1
        trackedCount -= settled.popped
        committableSinceMark += settled.popped
        return settled.advanced
    }

    /// The offset that may be committed for a partition now, if any record was settled.
    public func committable(_ partition: TopicPartition) -> Int64? { partitions[partition]?.watermark }

    /// Partitions whose committable offset moved since the last call, with that offset: what
    /// to store before a commit.
    public mutating func takeAdvanced() -> [TopicPartition: Int64] {
        var out: [TopicPartition: Int64] = [:]
        for key in Array(partitions.keys) {  // a copy: iterating the live view while mutating would copy the table
            Self.update(&partitions[key]!) { state in
                if let w = state.watermark, w != state.taken {
                    out[key] = w
                    state.taken = w
                }
            }
        }
        return out
    }

    /// Forgets revoked partitions; settlements of their outstanding tickets are ignored.
    public mutating func revoke(_ revoked: some Sequence<TopicPartition>) {
        for p in revoked {
            refused.remove(p)
            dropAsks(p)
            if let state = partitions.removeValue(forKey: p) {
                unsettledCount -= state.entries.lazy.filter { !$0.settled }.count
                trackedCount -= state.entries.count
            }
        }
    }

    /// Records of `parts` tracked and not yet settled: what a revocation waits for.
    public func unsettledCount(in parts: some Sequence<TopicPartition>) -> Int {
        parts.reduce(0) { n, p in n + (partitions[p]?.entries.lazy.filter { !$0.settled }.count ?? 0) }
    }

    /// Partitions with unsettled records.
    public var busyPartitions: [TopicPartition] { partitions.filter { !$0.value.entries.isEmpty }.map(\.key) }

    /// A partition's state from its first offset read: where the group's commit stood.
    private mutating func newState(from offset: Int64) -> PartitionState {
        defer { nextGeneration += 1 }
        return PartitionState(generation: nextGeneration, confirmed: offset)
    }

    private static func update<R>(_ state: inout PartitionState, _ body: (inout PartitionState) -> R) -> R { body(&state) }

    private static func index(of offset: Int64, in entries: Deque<Entry>) -> Int? {
        var lo = 0
        var hi = entries.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let o = entries[mid].offset
            if o == offset { return mid }
            if o < offset { lo = mid + 1 } else { hi = mid - 1 }
        }
        return nil
    }
}
