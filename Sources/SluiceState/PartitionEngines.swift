/// The hold engines of the partitions this instance owns, by partition number. Partitions
/// below `denseLimit` (every real topic's) sit in a flat array, so `engines[p]?.offer(…)`
/// mutates the engine where it is: a dictionary's `_modify` moved the whole engine out and back
/// on every access, three to four accesses per finding, about 1 µs of the dedupe leg's router
/// CPU per finding (docs/state.md). Other numbers (never assigned by a real broker, but not
/// trusted to be in range) go to a dictionary, never an index out of bounds.
struct PartitionEngines: Sendable {
    static let denseLimit: Int32 = 4096
    private var dense: [HoldEngine?] = []
    private var sparse: [Int32: HoldEngine] = [:]

    subscript(p: Int32) -> HoldEngine? {
        get {
            guard p >= 0, p < Self.denseLimit else { return sparse[p] }
            return Int(p) < dense.count ? dense[Int(p)] : nil
        }
        _modify {
            if p >= 0, p < Self.denseLimit {
                let i = Int(p)
                if i >= dense.count { dense.append(contentsOf: repeatElement(nil, count: i + 1 - dense.count)) }
                yield &dense[i]
            } else {
                yield &sparse[p]
            }
        }
    }

    /// The partitions that have an engine, in ascending order.
    var partitions: [Int32] {
        dense.indices.compactMap { dense[$0] == nil ? nil : Int32($0) } + sparse.keys.sorted()
    }
}
