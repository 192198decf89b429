import Foundation
import Logging
import SluiceTestSupport
import Synchronization
import Testing
@testable import SluiceKafka

/// Offset commits the group refuses because it moved on (a rebalance began, this member's
/// generation or id went stale), given on demand by librdkafka's in-process mock cluster: the
/// consumer loses nothing, never commits past unsettled work, says so once in the log and counts
/// it (`commitFailures`), and a later commit sends the offsets it kept. With REBALANCE_IN_PROGRESS
/// (Apache Kafka's answer during a rebalance) librdkafka keeps the assignment; with
/// ILLEGAL_GENERATION (Tansu 0.6.0's) or UNKNOWN_MEMBER_ID it drops it as lost and rejoins.
@Suite(.serialized) struct CommitFailureTests {
    /// Kafka protocol error codes (the protocol's own table, not Sluice's).
    static let illegalGeneration: Int32 = 22
    static let unknownMemberID: Int32 = 25
    static let rebalanceInProgress: Int32 = 27

    /// Log lines kept for the test to read, from `level` up; `onLine` sees each one after it is
    /// kept, on the logging thread.
    final class CapturedLog: Sendable {
        let lines = Mutex<[String]>([])
        private let level: Logger.Level
        private let onLine: @Sendable (String) -> Void
        init(level: Logger.Level = .info, onLine: @escaping @Sendable (String) -> Void = { _ in }) {
            self.level = level
            self.onLine = onLine
        }
        var logger: Logger {
            var l = Logger(label: "commit-test") { _ in Handler(log: self) }
            l.logLevel = level
            return l
        }
        func contains(_ parts: String...) -> Bool { lines.withLock { $0.contains { line in parts.allSatisfy { line.contains($0) } } } }
        struct Handler: LogHandler {
            let log: CapturedLog
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .info
            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }
            func log(event: LogEvent) {
                let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                let line = "\(event.level) \(event.message) \(fields)"
                log.lines.withLock { $0.append(line) }
                log.onLine(line)
            }
        }
    }

    /// A mock cluster whose one-partition topic `findings` holds ten records, offsets 0..<10.
    static func clusterWithTenFindings(_ log: CapturedLog) async throws -> KafkaMockCluster {
        let cluster = try KafkaMockCluster(logger: log.logger)
        try cluster.createTopic("findings", partitions: 1)
        let producer = try KafkaProducer(config: KafkaConfig(["bootstrap.servers": cluster.bootstrapServers]), logger: log.logger)
        for i in 0..<10 { try await producer.send(topic: "findings", value: Array("finding \(i)".utf8)) }
        try await offPool { producer.close() }
        return cluster
    }

    /// What one run saw: records by offset (repeats included), revocations, the commits' outcomes.
    struct Seen: Sendable {
        var offsets: [Int64] = []
        var revocations = 0
        var committedAfterFailure: Int64?
        var committedAtEnd: Int64?
        var thrownCode: Int32?
        var refusalAnswers = 0
        var refusedWindow = 0
        var confirmedAtEnd = false
        var refusedWindowAtEnd = -1
    }

    @Test(arguments: [illegalGeneration, rebalanceInProgress, unknownMemberID])
    func aRefusedCommitLosesNothingAndCommitsNothingUnsettled(code: Int32) async throws {
        try LibrdkafkaVersion.check()
        let log = CapturedLog()
        let cluster = try await Self.clusterWithTenFindings(log)
        let p0 = TopicPartition("findings", 0)
        let reason = OffsetCommitOutcome(kafkaErrorCode: code).reason

        let seen = try await offPool { () throws -> Seen in
            // Commits only when the test says: an auto-commit would take the injected error.
            let consumer = try KafkaConsumer(
                config: KafkaConfig(["bootstrap.servers": cluster.bootstrapServers, "group.id": "g-\(code)", "enable.auto.commit": "false",
                                     "session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]),
                topics: ["findings"], logger: log.logger)
            defer { consumer.close() }
            let revocations = Atomic<Int>(0)
            let answers = Mutex<[OffsetCommitAnswer]>([])
            consumer.onCommitAnswered { answer in answers.withLock { $0.append(answer) } }
            consumer.onRebalance { if case .revoked = $0 { revocations.add(1, ordering: .relaxed) } }
            var seen = Seen()
            var tracker = OffsetTracker()
            var tickets: [Int64: OffsetTracker.Ticket] = [:]
            // Once the refusal is seen, records read again (after a rejoin) settle on arrival.
            var settleOnArrival = false
            func pollUntil(_ done: () -> Bool) {
                let deadline = Date().addingTimeInterval(60)  // only a broken consumer gets near it
                while !done(), Date() < deadline {
                    if case .record(let r) = consumer.poll(timeoutMs: 100) {
                        seen.offsets.append(r.offset)
                        let ticket = tracker.track(p0, offset: r.offset)
                        tickets[r.offset] = ticket
                        if settleOnArrival {
                            _ = tracker.settle(ticket)
                            consumer.storeOffsets(tracker.takeAdvanced())
                        }
                    }
                }
            }
            pollUntil { seen.offsets.count >= 10 }
            // Everything settles but offset 6: the committable offset is 6, whatever settles after it.
            for o: Int64 in [0, 1, 2, 3, 4, 5, 7, 8, 9] { if let t = tickets[o] { _ = tracker.settle(t) } }
            consumer.storeOffsets(tracker.takeAdvanced())
            cluster.failNext(.offsetCommit, with: [code])
            do throws(KafkaError) { try consumer.commitSync() } catch { seen.thrownCode = error.rdkafkaError }
            // The answer is served by the next polls: the count is the marker.
            pollUntil { consumer.commitFailures[reason] == 1 }
            seen.committedAfterFailure = try consumer.committed([p0])[p0]
            // The answer names the partition as refused; the tracker then counts its settled work
            // (offsets 0..<6) as what the next owner would read again.
            seen.refusalAnswers = answers.withLock { $0.map { ($0.committed, $0.refused) } }.filter { $0.1.contains(p0) }.count
            tracker.markCommitted()
            for answer in answers.withLock({ $0 }) { tracker.commitAnswered(committed: answer.committed, refused: answer.refused) }
            seen.refusedWindow = tracker.refusedWindow
            // Offset 6 settles; commit until the group takes it (a rejoin may come first).
            if let t = tickets[6] { _ = tracker.settle(t) }
            settleOnArrival = true
            consumer.storeOffsets(tracker.takeAdvanced())
            var committed = false
            pollUntil {
                committed = committed || (try? consumer.commitSync()) != nil && (try? consumer.committed([p0])[p0]) == 10
                return committed
            }
            seen.committedAtEnd = try consumer.committed([p0])[p0]
            // The group's confirmation reaches the tracker on a poll after the commit.
            pollUntil { answers.withLock { $0.contains { $0.committed[p0] == 10 } } }
            for answer in answers.withLock({ $0 }) { tracker.commitAnswered(committed: answer.committed, refused: answer.refused) }
            seen.confirmedAtEnd = answers.withLock { $0.contains { $0.committed[p0] == 10 } }
            seen.refusedWindowAtEnd = tracker.refusedWindow
            seen.revocations = revocations.load(ordering: .relaxed)
            return seen
        }
        print("commit refused with \(reason): offsets seen \(seen.offsets), revocations \(seen.revocations), committed after failure \(seen.committedAfterFailure.map(String.init) ?? "none"), at end \(seen.committedAtEnd.map(String.init) ?? "none")")
        #expect(seen.thrownCode == code, "commitSync reports the group's answer")
        #expect(seen.committedAfterFailure == nil, "the refused commit committed nothing")
        #expect(log.contains("offset commit refused, the group moved on", "kafka.error=\(reason)"))
        #expect(seen.committedAtEnd == 10, "a later commit sends the offsets the consumer kept")
        #expect(seen.refusalAnswers == 1, "the refusal reaches onCommitAnswered, naming the partition")
        #expect(seen.refusedWindow == 6, "offsets 0..<6 settled and not confirmed count against the cap")
        #expect(seen.confirmedAtEnd && seen.refusedWindowAtEnd == 0, "the confirmed commit clears the refusal")
        #expect(Array(seen.offsets.prefix(10)) == Array(0..<10), "every record was read")
        if code == Self.rebalanceInProgress {
            // The member keeps its assignment: nothing is read twice, the next commit sends offset 6 on.
            #expect(seen.revocations == 0)
            #expect(seen.offsets.count == 10, "read again: \(seen.offsets.dropFirst(10))")
        } else {
            // librdkafka drops the assignment as lost and rejoins; the partition comes straight
            // back, and reading starts at the first unsettled record (6), not at the old commit (none).
            #expect(seen.revocations == 1)
            #expect(Array(seen.offsets.dropFirst(10)) == [6, 7, 8, 9])
            #expect(log.contains("partitions given back start after their settled work", "findings[0]@6"))
            #expect(log.contains("partitions revoked", "kafka.commit=skipped_assignment_lost"))
        }
    }
}
