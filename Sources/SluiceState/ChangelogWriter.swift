import SluiceKafka
import Synchronization

/// Writes changelog records with at most one produce request per partition in flight: records
/// written while one is unacknowledged wait here, and go out together when its last record is
/// acknowledged. So one key's records keep their order (nothing is sent past an unacknowledged
/// request, retried or not), and they batch by themselves, as many per request as came during
/// one round trip.
///
/// Why not leave the batching to librdkafka: an idempotent producer sends no new request for a
/// partition with five or more *records* unacknowledged (`rd_kafka_toppar_producer_serve` takes
/// `RD_KAFKA_IDEMP_MAX_INFLIGHT - rktp_msgs_inflight`, a count of records, as its request
/// budget), and while the next batch is due its broker thread polls without waiting until an
/// acknowledgement comes. On the bench's dedupe leg, one changelog record per finding, that
/// thread spun through most of each round trip (docs/state.md). Here librdkafka never holds a
/// due batch behind an unacknowledged one, so it has nothing to spin on.
final class ChangelogWriter: Sendable {
    /// One record and what to tell once the broker took it (nil) or did not (the error).
    struct Record: Sendable {
        var key: [UInt8]
        var value: [UInt8]?
        var acknowledged: @Sendable (KafkaError?) -> Void
    }

    private struct Partition {
        /// Records handed to librdkafka and not yet reported.
        var unacknowledged = 0
        /// Records waiting for those reports, in the order they were written.
        var waiting: [Record] = []
    }

    let producer: KafkaProducer
    let topic: String
    private let partitions = Mutex<[Int32: Partition]>([:])

    init(producer: KafkaProducer, topic: String) {
        self.producer = producer
        self.topic = topic
    }

    /// Writes `record` to partition `p` now if nothing of `p` is unacknowledged, else after.
    /// Records of one partition reach the broker in the order of these calls.
    func write(_ record: Record, partition p: Int32) {
        let now = partitions.withLock { ps -> Bool in
            // In place (`default:`): a copy of the partition would copy its waiting records.
            if ps[p, default: Partition()].unacknowledged == 0, ps[p, default: Partition()].waiting.isEmpty {
                ps[p, default: Partition()].unacknowledged = 1
                return true
            }
            ps[p, default: Partition()].waiting.append(record)
            return false
        }
        if now { send([record], partition: p) }
    }

    /// Records written and not yet acknowledged or failed (waiting here or in librdkafka).
    var outstanding: Int {
        partitions.withLock { ps in ps.values.reduce(0) { $0 + $1.unacknowledged + $1.waiting.count } }
    }

    /// Sends what waits behind no unacknowledged record (left waiting while librdkafka's queue
    /// was full): the owner calls this on its ticks.
    func sendStalled() {
        for p in partitions.withLock({ ps in ps.filter { $0.value.unacknowledged == 0 && !$0.value.waiting.isEmpty }.map(\.key) }) {
            send(takeWaiting(p), partition: p)
        }
    }

    /// Waits up to `timeoutMs` until every record written so far is acknowledged or failed.
    /// False on timeout.
    func flush(timeoutMs: Int32) -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(timeoutMs)
        while outstanding > 0 {
            sendStalled()
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            let (seconds, attoseconds) = left.components
            _ = producer.flush(timeoutMs: Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1))
        }
        return true
    }

    /// The waiting records of `p`, now counted as unacknowledged (nothing of `p` is).
    private func takeWaiting(_ p: Int32) -> [Record] {
        partitions.withLock { ps in
            guard let part = ps[p], part.unacknowledged == 0, !part.waiting.isEmpty else { return [] }
            ps[p] = Partition(unacknowledged: part.waiting.count, waiting: [])
            return part.waiting
        }
    }

    /// One record of `p` reported: the waiting ones go out once none is unacknowledged.
    private func reported(_ p: Int32) {
        let next = partitions.withLock { ps -> [Record] in
            ps[p]?.unacknowledged -= 1
            guard let part = ps[p], part.unacknowledged == 0, !part.waiting.isEmpty else { return [] }
            ps[p] = Partition(unacknowledged: part.waiting.count, waiting: [])
            return part.waiting
        }
        if !next.isEmpty { send(next, partition: p) }
    }

    /// Hands `records` (already counted as unacknowledged) to librdkafka without waiting: this
    /// runs on the producer's poll thread too. Those it has no room for wait again, in front.
    private func send(_ records: [Record], partition p: Int32) {
        for (i, record) in records.enumerated() {
            let taken: Bool
            do throws(KafkaError) {
                taken = try producer.produceIfRoom(topic: topic, partition: p, key: record.key, value: record.value) { [self] error in
                    record.acknowledged(error)
                    reported(p)
                }
            } catch {
                record.acknowledged(error)  // the producer is closed: the owner writes the key again or gives up
                reported(p)
                continue
            }
            if !taken {
                let rest = records[i...]
                partitions.withLock { ps in
                    ps[p]?.unacknowledged -= rest.count
                    ps[p]?.waiting.insert(contentsOf: rest, at: 0)
                }
                return
            }
        }
    }
}
