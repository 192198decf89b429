import Foundation
import Logging
import SluiceTestSupport
import Synchronization
import Testing
@testable import SluiceKafka

/// Issues 13 and 16: two members of one group on librdkafka's mock cluster, and the commit that
/// member A makes when the group takes a partition from it for B is refused (the group moved on:
/// ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID pushed on OffsetCommit). ScaleOut
/// only counts such refusals on Tansu; here each offset is checked: B starts at the last commit,
/// it repeats exactly the work A had finished and not committed, nothing unsettled is committed,
/// and every record is settled by one of them.
///
/// The scene, on each of two partitions of ten records: A settles 0..<3 and commits them, settles
/// 3..<7 (stored, not committed) and holds 7..<10 unsettled — the pipeline's revocation wait ran
/// out — when B joins. The revocation stores what settled and forgets the rest, as the pipeline does.
@Suite(.serialized) struct RevocationCommitRefusedTests {
    static let records: Int64 = 10
    /// A settled and committed offsets 0..<3 of each partition before B joined.
    static let committedByA: Int64 = 3
    /// A settled offsets 3..<7 too; stored, the commit carrying them was the refused one.
    static let finishedByA: Int64 = 7
    static let p0 = TopicPartition("findings", 0)
    static let p1 = TopicPartition("findings", 1)

    /// One member's books, shared with its rebalance handler (which runs inside its poll).
    final class Member: Sendable {
        let name: String
        let tracker = Mutex(OffsetTracker())
        let tickets = Mutex<[TopicPartition: [Int64: OffsetTracker.Ticket]]>([:])
        /// Offsets read, in order, repeats included.
        let read = Mutex<[TopicPartition: [Int64]]>([:])
        /// How many times this member settled each offset while it owned its partition
        /// (settlements of a revoked partition's tickets do not count: the tracker ignores them).
        let settled = Mutex<[TopicPartition: [Int64: Int]]>([:])
        let revocations = Mutex<[[TopicPartition]]>([])
        /// Offsets stored for each partition, in order: what any commit of this member could send.
        let stored = Mutex<[TopicPartition: [Int64]]>([:])
        let settleOnArrival: Bool

        init(_ name: String, settleOnArrival: Bool) {
            self.name = name
            self.settleOnArrival = settleOnArrival
        }

        func arrived(_ r: KafkaRecord, consumer: KafkaConsumer) {
            let p = TopicPartition(r.topic, r.partition)
            read.withLock { $0[p, default: []].append(r.offset) }
            let ticket = tracker.withLock { $0.track(p, offset: r.offset) }
            tickets.withLock { $0[p, default: [:]][r.offset] = ticket }
            if settleOnArrival { settle(p, [r.offset], consumer: consumer) }
        }

        /// Settles `offsets` of `p` (those read) and stores what became committable.
        func settle(_ p: TopicPartition, _ offsets: some Sequence<Int64>, consumer: KafkaConsumer) {
            for o in offsets {
                guard let ticket = tickets.withLock({ $0[p]?[o] }) else { continue }
                // A settlement the tracker takes (the ticket is of the partition's current
                // assignment) lowers its unsettled count; one of a revoked partition does not.
                let owned = tracker.withLock { t -> Bool in
                    let before = t.unsettledCount
                    _ = t.settle(ticket)
                    return t.unsettledCount < before
                }
                if owned { settled.withLock { $0[p, default: [:]][o, default: 0] += 1 } }
            }
            store(consumer)
        }

        func store(_ consumer: KafkaConsumer) {
            let advanced = tracker.withLock { $0.takeAdvanced() }
            stored.withLock { for (p, o) in advanced { $0[p, default: []].append(o) } }
            consumer.storeOffsets(advanced)
        }

        /// The pipeline's revocation (its wait for in-flight work over): store what settled, so
        /// the commit made on revocation carries it, and forget the partitions.
        func install(on consumer: KafkaConsumer) {
            consumer.onRebalance { [weak consumer, self] event in
                guard case .revoked(let parts) = event, let consumer else { return }
                store(consumer)
                tracker.withLock { $0.revoke(parts) }
                revocations.withLock { $0.append(parts) }
            }
        }

        func lastRead(_ p: TopicPartition) -> Int64? { read.withLock { $0[p]?.last } }
    }

    struct Outcome: Sendable {
        var committedBeforeJoin: [TopicPartition: Int64] = [:]
        /// Once B read its partitions to the end, before anyone committed again.
        var committedAfterMove: [TopicPartition: Int64] = [:]
        /// The offsets settled by either member when `committedAfterMove` was read.
        var settledAtMove: [TopicPartition: Set<Int64>] = [:]
        /// After A's commit with its kept partition's tail still unsettled.
        var committedWithTailUnsettled: [TopicPartition: Int64] = [:]
        var committedAtEnd: [TopicPartition: Int64] = [:]
        var assignmentA: Set<TopicPartition> = []
        var assignmentB: Set<TopicPartition> = []
        var revocationsA: [[TopicPartition]] = []
        var readA: [TopicPartition: [Int64]] = [:]
        var readB: [TopicPartition: [Int64]] = [:]
        var settledA: [TopicPartition: [Int64: Int]] = [:]
        var settledB: [TopicPartition: [Int64: Int]] = [:]
        var storedA: [TopicPartition: [Int64]] = [:]
        var failuresA: [String: Int] = [:]
    }

    @Test(arguments: [CommitFailureTests.illegalGeneration, CommitFailureTests.rebalanceInProgress, CommitFailureTests.unknownMemberID])
    func aRefusedRevocationCommitLosesNothingAndRepeatsOnlyTheUncommittedWork(code: Int32) async throws {
        try LibrdkafkaVersion.check()
        let log = CommitFailureTests.CapturedLog()
        let cluster = try KafkaMockCluster(logger: log.logger)
        try cluster.createTopic("findings", partitions: 2)
        let producer = try KafkaProducer(config: KafkaConfig(["bootstrap.servers": cluster.bootstrapServers]), logger: log.logger)
        for p: Int32 in [0, 1] {
            for i in 0..<Self.records {
                try producer.produce(topic: "findings", partition: p, value: Array("finding \(p)/\(i)".utf8)) { _ in }
            }
        }
        #expect(producer.flush(timeoutMs: 30_000), "the mock cluster took the records")
        try await offPool { producer.close() }
        let reason = OffsetCommitOutcome(kafkaErrorCode: code).reason
        let both = [Self.p0, Self.p1]
        let group = "revoke-\(code)"

        let out = try await offPool { () throws -> Outcome in
            // Commits only when the test says (or on revocation): an auto-commit would take the injected error.
            let config = KafkaConfig(["bootstrap.servers": cluster.bootstrapServers, "group.id": group, "enable.auto.commit": "false",
                                      "session.timeout.ms": "6000", "heartbeat.interval.ms": "500"])
            let a = try KafkaConsumer(config: config, topics: ["findings"], logger: log.logger)
            defer { a.close() }
            let memberA = Member("A", settleOnArrival: false)
            memberA.install(on: a)
            var members: [(KafkaConsumer, Member)] = [(a, memberA)]
            /// Polls every member (one thread, as each consumer requires) until `done`; false after
            /// 90 s, which only a broken group gets near.
            func pump(_ done: () throws -> Bool) rethrows -> Bool {
                let deadline = Date().addingTimeInterval(90)
                while try !done() {
                    guard Date() < deadline else { return false }
                    for (consumer, member) in members {
                        if case .record(let r) = consumer.poll(timeoutMs: 50) { member.arrived(r, consumer: consumer) }
                    }
                }
                return true
            }
            var out = Outcome()
            guard pump({ both.allSatisfy { memberA.lastRead($0) == Self.records - 1 } }) else { throw HarnessError("A never read both partitions") }
            for p in both { memberA.settle(p, 0..<Self.committedByA, consumer: a) }
            try a.commitSync()
            out.committedBeforeJoin = try a.committed(both)
            for p in both { memberA.settle(p, Self.committedByA..<Self.finishedByA, consumer: a) }

            // The next OffsetCommit (A's, on revocation: B never commits before the test says) is refused.
            cluster.failNext(.offsetCommit, with: [code])
            let b = try KafkaConsumer(config: config, topics: ["findings"], logger: log.logger)
            defer { b.close() }
            let memberB = Member("B", settleOnArrival: true)
            memberB.install(on: b)
            members.append((b, memberB))
            // Markers: the refusal was answered, the group settled on two disjoint halves, and
            // each member read what it owns to its end.
            let moved = pump {
                guard (a.commitFailures[reason] ?? 0) >= 1, !a.assignment.isEmpty, !b.assignment.isEmpty,
                      a.assignment.union(b.assignment) == Set(both), a.assignment.isDisjoint(with: b.assignment) else { return false }
                return b.assignment.allSatisfy { memberB.lastRead($0) == Self.records - 1 }
                    && a.assignment.allSatisfy { memberA.lastRead($0) == Self.records - 1 }
            }
            guard moved else {
                throw HarnessError("the group never settled: A \(a.assignment) B \(b.assignment), failures \(a.commitFailures), revocations \(memberA.revocations.withLock { $0 })")
            }
            out.committedAfterMove = try a.committed(both)
            // Nothing is polled in between: nothing settles between the two looks.
            out.settledAtMove = Dictionary(uniqueKeysWithValues: both.map { p in
                (p, Set(memberA.settled.withLock { $0[p]?.keys.map { $0 } ?? [] } + memberB.settled.withLock { $0[p]?.keys.map { $0 } ?? [] }))
            })
            // A commits what it stored for the partitions it kept; their tail (7..<10) is still
            // unsettled. (After a churn the group may refuse it too: the next commits send it again.)
            try? a.commitSync()
            out.committedWithTailUnsettled = try a.committed(both)
            // Everything A holds settles now: on the partition it lost this is ignored (B owns it).
            for p in both { memberA.settle(p, 0..<Self.records, consumer: a) }
            // Commit until the group took both members' offsets (a refusal's answer comes by poll).
            let settledAll = pump {
                try? a.commitSync()
                try? b.commitSync()
                return (try? a.committed(both)) == [Self.p0: Self.records, Self.p1: Self.records]
            }
            out.committedAtEnd = try a.committed(both)
            if !settledAll { print("the final commits never reached offset 10 on both partitions") }
            out.assignmentA = a.assignment
            out.assignmentB = b.assignment
            out.revocationsA = memberA.revocations.withLock { $0 }
            out.readA = memberA.read.withLock { $0 }
            out.readB = memberB.read.withLock { $0 }
            out.settledA = memberA.settled.withLock { $0 }
            out.settledB = memberB.settled.withLock { $0 }
            out.storedA = memberA.stored.withLock { $0 }
            out.failuresA = a.commitFailures
            return out
        }
        print("revocation commit refused with \(reason): A owns \(out.assignmentA), B owns \(out.assignmentB), A's revocations \(out.revocationsA), "
            + "A read \(out.readA), B read \(out.readB), committed after the move \(out.committedAfterMove), with A's tail unsettled \(out.committedWithTailUnsettled), at end \(out.committedAtEnd)")

        #expect(out.committedBeforeJoin == [Self.p0: 3, Self.p1: 3])
        #expect((out.failuresA[reason] ?? 0) >= 1, "the injected refusal was answered: \(out.failuresA)")
        #expect(log.contains("partitions revoked without committing their settled work", "kafka.commit=\(reason)"),
                "the refusal is said on the revocation")
        #expect(out.assignmentB.count == 1 && out.assignmentA.count == 1, "one partition each")
        #expect(out.committedAtEnd == [Self.p0: 10, Self.p1: 10])
        for p in both {
            // Nothing unsettled committed: once the partitions moved, each commit is at least the
            // one before the join and no further than the settled prefix.
            let committed = out.committedAfterMove[p] ?? -1
            let settledPrefix = Int64((0..<10).first { !out.settledAtMove[p, default: []].contains(Int64($0)) } ?? 10)
            #expect(committed >= 3 && committed <= settledPrefix, "\(p): committed \(committed), settled \(out.settledAtMove[p, default: []].sorted())")
            // How often each offset was settled, by either member.
            var times: [Int64: Int] = [:]
            for counts in [out.settledA[p, default: [:]], out.settledB[p, default: [:]]] {
                for (o, n) in counts { times[o, default: 0] += n }
            }
            // Nothing lost: every record settled by the member that owned its partition then.
            #expect(Set(times.keys) == Set(Int64(0)..<10), "\(p): \(times)")
            // What was committed before the join is never repeated.
            #expect(!times.contains { $0.key < 3 && $0.value > 1 }, "\(p) settled more than once: \(times)")
            print("\(p): settled more than once \(times.filter { $0.value > 1 }.sorted { $0.key < $1.key })")
        }
        let movedPartition = try #require(out.assignmentB.first)
        let keptPartition = try #require(out.assignmentA.first)
        guard code == CommitFailureTests.rebalanceInProgress, out.revocationsA.count == 1 else {
            // ILLEGAL_GENERATION and UNKNOWN_MEMBER_ID: librdkafka may drop A's assignment as lost
            // (and forget its member id), A joins again and the group rebalances once more, so
            // partitions can move twice and B's own revocation commit can be refused in that
            // churn; observed in both shapes here. REBALANCE_IN_PROGRESS on a loaded machine too
            // (a full `make test` beside the bench: A revoked twice, its kept partition read again
            // from its commit at 7). What holds in every shape is checked above.
            if out.revocationsA.count > 1 { print("code \(code): A was revoked \(out.revocationsA.count) times: the general checks only") }
            return
        }
        // REBALANCE_IN_PROGRESS: the group keeps A's membership; only the partition that moved
        // is revoked, and its commit stays at 3 until B commits.
        #expect(out.committedAfterMove == [Self.p0: 3, Self.p1: 3])
        #expect(out.revocationsA == [[movedPartition]])
        // B reads its partition once from 3 to the end: it repeats exactly 3..<7, once each —
        // the work A had finished and not committed — and A's kept partition not at all.
        #expect(out.readB == [movedPartition: Array(Int64(3)..<10)])
        #expect(out.readA[keptPartition] == Array(Int64(0)..<10), "A read its kept partition once")
        let movedTimes = out.settledA[movedPartition, default: [:]].merging(out.settledB[movedPartition, default: [:]]) { $0 + $1 }
        #expect(movedTimes.filter { $0.value > 1 } == [3: 2, 4: 2, 5: 2, 6: 2], "\(movedTimes)")
        #expect(out.settledB[keptPartition] == nil)
        // A never stored (so never committed) an offset past its unsettled work: 3 then 7 on
        // each partition, and 10 on the one it kept only once its tail settled; its commit with
        // that tail unsettled took the kept partition to 7, not further.
        #expect(out.storedA[movedPartition] == [3, 7])
        #expect(out.storedA[keptPartition] == [3, 7, 10])
        #expect(out.committedWithTailUnsettled == [movedPartition: 3, keptPartition: 7])
    }
}
