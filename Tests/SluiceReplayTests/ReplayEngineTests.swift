import Foundation
import Logging
import SluiceCore
import SluiceKafka
import SluiceTestSupport
import Synchronization
import Testing
@testable import SluiceReplay

/// A dispatch that records what it was asked to deliver and fails the targets told to fail.
final class RecordingDispatch: ReplayDispatch {
    let delivered = Mutex<[String]>([])
    let failing = Mutex<Set<String>>([])

    func targets(for letter: DeadLetterRecord, reroute: Bool) -> Result<[ReplayTarget], ReplaySkip> {
        if reroute { return .success([ReplayTarget(route: "r1", connector: "a"), ReplayTarget(route: "r2", connector: "b")]) }
        guard let route = letter.route, let connector = letter.connector else { return .failure(ReplaySkip("no target")) }
        return .success([ReplayTarget(route: route, connector: connector)])
    }

    func deliver(_ letter: DeadLetterRecord, to targets: [ReplayTarget], replay name: String) async -> [ReplayTarget: ReplayTargetOutcome] {
        var out: [ReplayTarget: ReplayTargetOutcome] = [:]
        for t in targets {
            if failing.withLock({ $0.contains(t.connector) }) {
                out[t] = .failed("503")
            } else {
                delivered.withLock { $0.append("\(name) \(letter.id) \(t.route) \(t.connector)") }
                out[t] = .delivered
            }
        }
        return out
    }
}

func letter(_ offset: Int64, reason: String = "retries_exhausted", route: String? = "r1", connector: String? = "a",
            failedAt: String = "2026-12-06T10:00:00Z", findingID: String = "f") -> DeadLetterRecord {
    var headers = [KafkaHeader("sluice-reason", reason), KafkaHeader("sluice-attempts", "3"), KafkaHeader("sluice-failed-at", failedAt)]
    if let route { headers.append(KafkaHeader("sluice-route", route)) }
    if let connector { headers.append(KafkaHeader("sluice-connector", connector)) }
    let value = #"{"source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{"id":"\#(findingID)-\#(offset)","severity":8}}"#
    return DeadLetterRecord(KafkaRecord(topic: "dlq", partition: 0, offset: offset, value: Array(value.utf8), headers: headers))
}

@Suite struct ReplayEngineTests {
    @Test func deadLetterHeadersAreReadBack() {
        let l = letter(7, failedAt: "2026-12-06T10:00:00Z")
        #expect(l.id == "0-7")
        #expect(l.reason == "retries_exhausted")
        #expect(l.route == "r1" && l.connector == "a" && l.attempts == 3)
        #expect(l.failedAtMs == 1_796_551_200_000)
        #expect(l.findingID == "f-7")
        // A record Sluice did not write: reason unknown, no crash on missing or odd headers.
        let foreign = DeadLetterRecord(KafkaRecord(topic: "dlq", partition: 1, offset: 2, value: nil,
                                                   headers: [KafkaHeader(name: "sluice-attempts", value: Array("1e999".utf8))]))
        #expect(foreign.reason == "unknown" && foreign.attempts == 0 && foreign.findingID == nil)
    }

    @Test func filtersTakeReasonRouteConnectorTimeAndPattern() throws {
        let letters = [letter(0), letter(1, reason: "permanent_error"), letter(2, route: "r2"), letter(3, connector: "b"),
                       letter(4, failedAt: "2026-12-06T12:00:00Z")]
        var f = DeadLetterFilter(reason: "retries_exhausted", route: "r1", connector: "a")
        #expect(letters.filter(f.matches).map(\.offset) == [0, 4])
        f.untilMs = DeadLetterRecord.parseTime("2026-12-06T11:00:00Z")
        #expect(letters.filter(f.matches).map(\.offset) == [0])
        var p = DeadLetterFilter()
        try p.setPattern(#"{"detail": {"id": ["f-3"]}}"#)
        #expect(letters.filter(p.matches).map(\.offset) == [3])
        var bad = DeadLetterFilter()
        #expect(throws: DeadLetterFilterError.self) { try bad.setPattern("{not json") }
    }

    @Test func runningTheSameReplayTwiceDeliversNothingTwice() async throws {
        let dispatch = RecordingDispatch()
        let ledger = MemoryReplayLedger()
        let engine = ReplayEngine(ledger: ledger, dispatch: dispatch, logger: Logger(label: "test"))
        let letters = (0..<5).map { letter(Int64($0)) } + [letter(5, connector: "b")]
        dispatch.failing.withLock { $0 = ["b"] }
        let first = try await engine.run(ReplayRequest(name: "r"), letters: letters)
        #expect(first.delivered == 5 && first.failed == 1 && first.alreadyDone == 0 && first.status == .finished)
        // The target that failed comes back; everything else was done.
        dispatch.failing.withLock { $0 = [] }
        let second = try await engine.run(ReplayRequest(name: "r"), letters: letters)
        #expect(second.delivered == 1 && second.alreadyDone == 5 && second.failed == 0)
        let third = try await engine.run(ReplayRequest(name: "r"), letters: letters)
        #expect(third.delivered == 0 && third.alreadyDone == 6)
        let all = dispatch.delivered.withLock { $0 }
        #expect(all.count == 6 && Set(all).count == 6, "\(all)")
        // Another name is another replay.
        let other = try await engine.run(ReplayRequest(name: "other"), letters: letters)
        #expect(other.delivered == 6)
    }

    @Test func dryRunDeliversAndRecordsNothing() async throws {
        let dispatch = RecordingDispatch()
        let ledger = MemoryReplayLedger()
        let engine = ReplayEngine(ledger: ledger, dispatch: dispatch, logger: Logger(label: "test"))
        let letters = [letter(0), letter(1, route: nil, connector: nil)]
        let plan = engine.plan(ReplayRequest(name: "d", dryRun: true), letters: letters)
        #expect(plan.map(\.targets.count) == [1, 0] && plan[1].skip == ReplaySkip("no target"))
        let s = try await engine.run(ReplayRequest(name: "d", dryRun: true), letters: letters)
        #expect(s.delivered == 1 && s.skipped == 1)
        #expect(dispatch.delivered.withLock { $0 }.isEmpty)
        #expect(ledger.summaries().isEmpty && ledger.entries(replay: "d").isEmpty)
    }

    @Test func rerouteGoesToEveryMatchedTargetAndResumesPerTarget() async throws {
        let dispatch = RecordingDispatch()
        let engine = ReplayEngine(ledger: MemoryReplayLedger(), dispatch: dispatch, logger: Logger(label: "test"))
        dispatch.failing.withLock { $0 = ["b"] }
        let letters = [letter(0, route: nil, connector: nil)]
        let first = try await engine.run(ReplayRequest(name: "x", reroute: true), letters: letters)
        #expect(first.delivered == 1 && first.failed == 1)
        dispatch.failing.withLock { $0 = [] }
        let second = try await engine.run(ReplayRequest(name: "x", reroute: true), letters: letters)
        #expect(second.delivered == 1 && second.alreadyDone == 1)
        #expect(dispatch.delivered.withLock { $0 } == ["x 0-0 r1 a", "x 0-0 r2 b"])
    }

    @Test func cancellationStopsBetweenLetters() async throws {
        let dispatch = RecordingDispatch()
        let engine = ReplayEngine(ledger: MemoryReplayLedger(), dispatch: dispatch, logger: Logger(label: "test"))
        let cancel = ReplayCancellation()
        let s = try await engine.run(ReplayRequest(name: "c"), letters: (0..<10).map { letter(Int64($0)) }, cancellation: cancel) { s in
            if s.processed == 3 { cancel.cancel() }
        }
        #expect(s.status == .cancelled && s.processed == 3 && s.delivered == 3)
        let rest = try await engine.run(ReplayRequest(name: "c"), letters: (0..<10).map { letter(Int64($0)) })
        #expect(rest.delivered == 7 && rest.alreadyDone == 3)
    }

    @Test func replayNamesAreRestrictedAndDefaultNamesStable() {
        #expect(ReplayRequest.isValidName("jira-2026.12_06"))
        #expect(!ReplayRequest.isValidName("a\r\nX-Evil: 1"))
        #expect(!ReplayRequest.isValidName(""))
        #expect(!ReplayRequest.isValidName(String(repeating: "a", count: 65)))
        #expect(ReplayRequest.defaultName(selection: "--connector jira") == ReplayRequest.defaultName(selection: "--connector jira"))
        #expect(ReplayRequest.defaultName(selection: "--connector jira") != ReplayRequest.defaultName(selection: "--connector slack"))
    }
}

/// The Kafka ledger against the memory one, on a real Tansu broker: the same writes, then a
/// fresh ledger reads the topic back and must agree with the reference, entry for entry.
@Suite(.serialized) struct KafkaReplayLedgerTests {
    @Test func kafkaLedgerAgreesWithTheMemoryReferenceAfterReopening() async throws {
        let broker = try await TansuBroker.start()
        try await withCleanup { cleanup in
            cleanup.add { await broker.stopAndWait() }
            let config = broker.clientConfig()
            let logger = Logger(label: "test")
            try KafkaReplayLedger.createTopic("sluice.replays", config: config, logger: logger)
            let kafka = try KafkaReplayLedger(config: config, topic: "sluice.replays", logger: logger)
            let memory = MemoryReplayLedger()
            var rng = SplitMix(state: 13)
            let targets = [ReplayTarget(route: "r1", connector: "a"), ReplayTarget(route: "r1", connector: "playbooks"), ReplayTarget(route: "r/2", connector: "b")]
            for i in 0..<60 {
                let outcome: ReplayTargetOutcome = switch rng.next() % 3 {
                case 0: .delivered
                case 1: .failed("503 \(i)")
                default: .approvalRequested(runID: "r1:f:replay:n")
                }
                let entry = ReplayEntry(replay: ["n", "m"][Int(rng.next() % 2)], letter: "0-\(rng.next() % 10)",
                                        target: targets[Int(rng.next() % 3)], outcome: outcome, atMs: Int64(i))
                try await kafka.put(entry)
                try await memory.put(entry)
            }
            var s = ReplaySummary(name: "n", status: .finished, reroute: true, selection: "--reason x", startedMs: 5)
            s.delivered = 4
            s.failed = 2
            try await kafka.put(s)
            try await memory.put(s)
            try await offPool { kafka.close() }
            let reopened = try KafkaReplayLedger(config: config, topic: "sluice.replays", logger: logger)
            cleanup.addOffPool { reopened.close() }
            for name in ["n", "m"] {
                #expect(reopened.done(replay: name) == memory.done(replay: name))
                let reopenedEntries = Set(reopened.entries(replay: name).map { "\($0.letter) \($0.target) \($0.outcome)" })
                let memoryEntries = Set(memory.entries(replay: name).map { "\($0.letter) \($0.target) \($0.outcome)" })
                #expect(reopenedEntries == memoryEntries)
            }
            #expect(!memory.done(replay: "n").isEmpty, "the generated writes include finished targets")
            #expect(reopened.summaries() == memory.summaries())
        }
    }
}

/// A dispatch that asks, through the ledger, that the replay stop once it has delivered
/// `cancelAfter` letters — as `DELETE /api/v1/replays` on another instance does — and then
/// takes 20 ms a letter, so the engine's once-a-second look at the ledger comes while letters remain.
final class CancellingDispatch: ReplayDispatch {
    let ledger: MemoryReplayLedger
    let cancelAfter: Int
    let delivered = Atomic<Int>(0)
    init(ledger: MemoryReplayLedger, cancelAfter: Int) {
        self.ledger = ledger
        self.cancelAfter = cancelAfter
    }
    func targets(for letter: DeadLetterRecord, reroute: Bool) -> Result<[ReplayTarget], ReplaySkip> {
        .success([ReplayTarget(route: "r1", connector: "a")])
    }
    func deliver(_ letter: DeadLetterRecord, to targets: [ReplayTarget], replay name: String) async -> [ReplayTarget: ReplayTargetOutcome] {
        if delivered.add(1, ordering: .relaxed).newValue == cancelAfter {
            try? await ledger.put(ReplayCancelRequest(name: name, by: "alice", atMs: Int64(Date().timeIntervalSince1970 * 1000)))
        }
        try? await Task.sleep(for: .milliseconds(20))
        return Dictionary(uniqueKeysWithValues: targets.map { ($0, .delivered) })
    }
}

@Suite struct ReplayCancelRequestTests {
    @Test func aCancelRequestedThroughTheLedgerStopsTheReplayBetweenLetters() async throws {
        let ledger = MemoryReplayLedger()
        let dispatch = CancellingDispatch(ledger: ledger, cancelAfter: 3)
        let engine = ReplayEngine(ledger: ledger, dispatch: dispatch, logger: Logger(label: "test"))
        // 500 letters at 20 ms each would take 10 s; the engine looks at the ledger after 1 s.
        let letters = (0..<500).map { letter(Int64($0)) }
        let summary = try await engine.run(ReplayRequest(name: "long"), letters: letters)
        #expect(summary.status == .cancelled)
        #expect(summary.processed >= 3 && summary.processed < 500, "\(summary.progressLine)")
        #expect(ledger.summary("long")?.status == .cancelled, "the stop is recorded for every instance to see")
    }

    @Test func aCancelRequestOlderThanTheRunIsIgnored() async throws {
        let ledger = MemoryReplayLedger()
        try await ledger.put(ReplayCancelRequest(name: "again", by: "alice", atMs: 0))  // asked of an earlier run
        let dispatch = CancellingDispatch(ledger: MemoryReplayLedger(), cancelAfter: -1)
        let engine = ReplayEngine(ledger: ledger, dispatch: dispatch, logger: Logger(label: "test"))
        let summary = try await engine.run(ReplayRequest(name: "again"), letters: (0..<60).map { letter(Int64($0)) })
        #expect(summary.status == .finished && summary.delivered == 60)
    }

    @Test func cancelRequestsRoundTripThroughTheLedgerRecordFormat() {
        var state = LedgerState()
        let request = ReplayCancelRequest(name: "n", by: "alice", atMs: 1_796_551_200_000)
        let applied = state.apply(record: Array(request.json.serialized().utf8))
        #expect(applied)
        #expect(state.cancels["n"] == request)
        #expect(String(decoding: request.key, as: UTF8.self) == #"["cancel","n"]"#)
    }
}
