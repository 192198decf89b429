/// One changelog write of dedupe state: a bucket of many keys' entries, and the records it
/// leaves with nothing live, tombstoned after it (docs/state.md, "A changelog of buckets").
/// Written by the partition's owner in the order taken: a bucket that supersedes an older one
/// always reaches the partition before that older one's tombstone.
public struct DedupeBucketWrite: Sendable {
    /// The bucket's sequence, and its value (nil: no entry to write, only tombstones).
    public var sequence: UInt32
    public var value: [UInt8]?
    /// The keys the bucket holds (a failed write writes their state again).
    var ids: [DedupeID]
    /// Buckets with no live entry left, and per-key records of earlier versions left behind.
    public var tombstonedBuckets: [UInt32]
    var stalePerKey: [DedupeID]
    /// The changelog keys of `stalePerKey` (`d \0 route \0 hex`).
    public var stalePerKeyKeys: [[UInt8]]

    /// Records this write produces: the bucket (if any), then the tombstones.
    public var recordCount: Int { (value == nil ? 0 : 1) + tombstonedBuckets.count + stalePerKeyKeys.count }
}

/// The changelog of buckets: instead of one record per changed dedupe key, the owner collects
/// the changed keys of a partition into an open bucket and writes it as one record (at 256
/// entries, or 5 ms after its first: `KafkaHoldOwner`). Every dedupe new key used to cost one
/// produce call, one delivery report, one settle and one record in the broker.
extension HoldEngine {
    /// Entries a bucket holds at most.
    public static let bucketCapacity = 256

    /// The changes of the last decision: dedupe keys go into the open bucket (`bucketed`: some
    /// key with a record joined it, so the decision waits for that bucket's acknowledgement);
    /// throttle and group records are returned to be written one per key, as before.
    public mutating func takeChangesIntoBucket() -> (records: [StateChange], bucketed: Bool) {
        var bucketed = false
        if !changedDedupe.isEmpty {
            for id in changedDedupe {
                guard let s = dedupe[id], s.lastDelivery != nil else {
                    dedupe.releaseHome(of: id)  // no record to write: the old one no longer counts
                    continue
                }
                if dedupe.bucket(of: id) != openBucket {
                    dedupe.place(id, inBucket: openBucket)
                    openBucketIDs.append(id)
                }
                bucketed = true
            }
            changedDedupe.removeAll(keepingCapacity: true)
        }
        return (takeThrottleAndGroupChanges(), bucketed)
    }

    /// Entries in the open bucket (the owner writes it once it holds `bucketCapacity`).
    public var openBucketCount: Int { openBucketIDs.count }

    /// Something to write: entries in the open bucket, or records to tombstone.
    public var hasBucketWrite: Bool { !openBucketIDs.isEmpty || dedupe.hasReleasedRecords }

    /// The open bucket with its entries' state now, and the tombstones it allows; the next
    /// bucket opens. nil when there is nothing to write.
    public mutating func takeBucket() -> DedupeBucketWrite? {
        guard hasBucketWrite else { return nil }
        var entries: [DedupeBucketFormat.Entry] = []
        var ids: [DedupeID] = []
        entries.reserveCapacity(openBucketIDs.count)
        ids.reserveCapacity(openBucketIDs.count)
        for id in openBucketIDs where dedupe.bucket(of: id) == openBucket {
            guard let s = dedupe[id] else { continue }
            entries.append(DedupeBucketFormat.Entry(route: id.route, high: id.high, low: id.low, state: s.persisted))
            ids.append(id)
        }
        let sequence = openBucket
        openBucketIDs.removeAll(keepingCapacity: true)
        if !entries.isEmpty { openBucket = nextSequence(after: openBucket) }
        let released = dedupe.takeReleasedRecords(except: entries.isEmpty ? sequence : 0)
        return DedupeBucketWrite(
            sequence: sequence, value: entries.isEmpty ? nil : DedupeBucketFormat.encode(routes: routeNames, entries: entries), ids: ids,
            tombstonedBuckets: released.buckets, stalePerKey: released.perKey,
            stalePerKeyKeys: released.perKey.map { StateCodec.key(StateChange(kind: .dedupe, key: changelogKey($0), record: nil)) })
    }

    /// A bucket write the broker did not take: its keys join the open bucket with their state
    /// now (never the bytes that failed: a newer entry may have followed), its tombstones are
    /// written again.
    public mutating func requeue(_ write: DedupeBucketWrite) {
        for id in write.ids { mark(id) }
        dedupe.requeueReleased(buckets: write.tombstonedBuckets, perKey: write.stalePerKey)
    }

    /// Every key held now as buckets of `bucketCapacity` (what a changelog compacted to this
    /// state holds; the bench writes it to measure a restore).
    public mutating func allBuckets() -> [DedupeBucketWrite] {
        var out: [DedupeBucketWrite] = []
        for id in dedupe.ids(where: { _, s in s.lastDelivery != nil }) {
            mark(id)
            if changedDedupe.count == Self.bucketCapacity {
                _ = takeChangesIntoBucket()
                if let w = takeBucket() { out.append(w) }
            }
        }
        _ = takeChangesIntoBucket()
        if let w = takeBucket() { out.append(w) }
        return out
    }

    /// The sequence after `s`; it wraps past 2³² − 2 buckets (a partition writing 10,000 a
    /// second for 13 years), never traps.
    func nextSequence(after s: UInt32) -> UInt32 { s >= UInt32.max - 1 ? 1 : s + 1 }

    /// Ends a restore: keys whose latest entry is in a tombstoned bucket (expired, or their
    /// rule removed) are forgotten, as a compacted changelog would no longer hold them. One
    /// pass over the keys, after the last record.
    public mutating func finishRestore() {
        if tombstonedWhileRestoring.isEmpty { return }
        dedupe.removeKeys(inBuckets: tombstonedWhileRestoring)
        tombstonedWhileRestoring = []
    }

    /// Replays a bucket (nil: its tombstone). Each entry is its key's latest state unless a
    /// later record of the key follows (last write wins, in offset order). False when the
    /// value is not a bucket (skipped whole, counted by the caller).
    mutating func restoreBucket(_ sequence: UInt32, value: UnsafeRawBufferPointer?) -> Bool {
        if sequence >= openBucket { openBucket = nextSequence(after: sequence) }
        guard let value else {
            dedupe.forgetBucket(sequence)
            tombstonedWhileRestoring.insert(sequence)
            return true
        }
        guard let bucket = DedupeBucketFormat.decode(value) else { return false }
        var routes: [UInt16?] = []
        routes.reserveCapacity(bucket.routes.count)
        for name in bucket.routes { routes.append(index(ofRoute: name)) }
        for e in bucket.entries {
            guard let r = routes[Int(e.route)] else { continue }  // past 65,535 routes: not deduplicated
            let id = DedupeID(high: e.high, low: e.low, route: r)
            dedupe[id] = e.state
            dedupe.place(id, inBucket: sequence)
        }
        return true
    }
}
