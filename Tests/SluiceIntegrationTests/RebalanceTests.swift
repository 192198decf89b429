import Foundation
import SluiceKafka
import SluiceTestSupport
import Testing

/// Two members of one consumer group on Tansu: the second joins mid-stream, so partitions are
/// revoked from the first while its deliveries are in flight. The first waits (at most its drain
/// timeout) for that work to settle and commits it before the partitions go: a graceful rebalance
/// repeats nothing. Past the drain timeout, what has not settled is the next owner's to redeliver:
/// nothing is lost, and no more is repeated than the in-flight cap.
@Suite(.serialized) struct RebalanceTests {
    /// The marker logged when a revocation waits for in-flight work (Pipeline).
    static let waiting = "partitions revoked with work in flight: waiting for it to settle"

    /// Starts a member of group `group` with `cap` and extra arguments; returns it and its metrics port.
    static func member(_ broker: TansuBroker, _ config: TestConfig, group: String, cap: Int, extra: [String] = []) throws -> (SluiceProcess, Int) {
        let port = freeLoopbackPort()
        let p = try SluiceProcess(broker: broker, topic: "findings", group: group, dlq: "dlq", config: config,
                                  extra: ["--max-in-flight", "\(cap)", "--metrics-listen", "127.0.0.1:\(port)", "--log-level", "info"] + extra)
        return (p, port)
    }

    /// Waits until `process`'s log holds `text`; false if it never did within `timeout`.
    static func waitForLog(_ process: SluiceProcess, _ text: String, timeout: Double) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if process.output.contains(text) { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return process.output.contains(text)
    }

    /// Waits until a line of `process`'s log holds every one of `parts`; false if none did within `timeout`.
    static func waitForLogLine(_ process: SluiceProcess, containing parts: [String], timeout: Double) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if process.output.split(separator: "\n").contains(where: { line in parts.allSatisfy { line.contains($0) } }) { return true }
            if Date() >= deadline { return false }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// A group whose first member holds the first `initial` findings unsettled (the target answers
    /// 503), some on every partition, and whose second member has just been started: the
    /// rebalance is under way. The rest of the findings are produced once the test says.
    struct Scene {
        let broker: TansuBroker
        let receiver: WebhookReceiver
        let findings: [(id: String, bytes: [UInt8])]
        let config: TestConfig
        let first: SluiceProcess
        let second: SluiceProcess
        let secondPort: Int
        let inFlightAtJoin: Int

        /// The findings not produced yet.
        func produceRest() throws {
            try Findings.produce(Array(findings.dropFirst(RebalanceTests.initial)), to: "findings", broker: broker)
        }

        /// Both members, the receiver and the broker stopped, returning once they are gone.
        func stopAndWait() async {
            await second.stopAndWait()
            await first.stopAndWait()
            config.remove()
            await receiver.stopAndWait()
            await broker.stopAndWait()
        }

        /// Once every finding arrived: both members leave cleanly; what was received, lost, repeated.
        func finish() async throws -> (received: Int, lost: Set<String>, duplicates: Int) {
            // For as long as deliveries keep coming: a fixed deadline turned a slow machine
            // (load 39) into "lost" findings that were still uncommitted in Kafka.
            _ = try await waitForDelivery(of: Set(findings.map(\.id)), at: receiver, stall: 60)
            #expect(await second.terminateAndWait() == 0)
            #expect(await first.terminateAndWait() == 0)
            #expect(try await readTopicToSentinel(broker, topic: "dlq").isEmpty)
            let received = try receiver.receivedFindingIDs()
            let distinct = Set(received)
            return (received.count, Set(findings.map(\.id)).subtracting(distinct), received.count - distinct.count)
        }
    }

    static let cap = 200
    /// Fewer than the cap, spread by key over the four partitions: every partition has work in
    /// flight when the second member joins, whichever partitions it is given.
    static let initial = 160

    static func scene(group: String, drainTimeout: String) async throws -> Scene {
        let broker = try await TansuBroker.start()
        let receiver = try await WebhookReceiver.start(status: 503)
        try await broker.create(topics: ["findings"], partitions: 4)
        try await broker.create(topics: ["dlq"])   // one partition: read to a sentinel
        let findings = try Findings.unique(3000)
        try await Findings.publish(Array(findings.prefix(initial)), to: "findings", broker: broker)
        // A long request timeout: a receiver slowed by load must not turn a received request into
        // a retry, a repeat no rebalance caused.
        let config = try TestConfig(connector: "type: webhook\nurl: \(receiver.url)/hook\ntimeout: 60s\nconcurrency: 8\nretry: {attempts: 100000, backoff: 50ms, max_backoff: 1s}\n")
        let (first, firstPort) = try member(broker, config, group: group, cap: cap, extra: ["--drain-timeout", drainTimeout])
        let inFlightAtJoin = try await waitForMetric(port: firstPort, "sluice_in_flight", atLeast: initial, timeout: 90)
        let (second, secondPort) = try member(broker, config, group: group, cap: cap)
        return Scene(broker: broker, receiver: receiver, findings: findings, config: config, first: first, second: second,
                     secondPort: secondPort, inFlightAtJoin: inFlightAtJoin)
    }

    @Test func aGracefulRebalanceWaitsForInFlightWorkAndRepeatsNothing() async throws {
        // The first member, asked to give partitions up, waits for their work (the log line is
        // the marker); then the target recovers, the work settles and is committed, and the
        // partitions move. Nothing depends on the machine's speed.
        let scene = try await Self.scene(group: "graceful", drainTimeout: "300s")
        try await withCleanup { cleanup in
            cleanup.add { await scene.stopAndWait() }
            #expect(try await Self.waitForLog(scene.first, Self.waiting, timeout: 120), "the first member never waited for its revoked partitions' work")
            try await scene.receiver.setStatus(204)
            try scene.produceRest()
            // The positive marker: the second member was assigned partitions and consumed from them.
            let consumedBySecond = try await waitForMetric(port: scene.secondPort, "sluice_findings_consumed_total", atLeast: 1, timeout: 120)
            let (received, lost, duplicates) = try await scene.finish()
            print("graceful rebalance: \(scene.inFlightAtJoin) in flight on the first member when the second joined; second consumed \(consumedBySecond)+; \(received) received, lost \(lost.count), duplicates \(duplicates)")
            #expect(scene.inFlightAtJoin == Self.initial, "the first member held every finding unsettled when the second joined")
            #expect(scene.first.output.contains("revoked partitions settled: committing them before release"))
            #expect(lost.isEmpty)
            // The committed offset of each moved partition was its last settled record: the new owner
            // started right after it.
            #expect(duplicates == 0, "a graceful rebalance repeated deliveries: the commit on revocation was behind what had settled")
        }
    }

    @Test func aRevocationWaitsAtMostTheDrainTimeoutAndNothingIsLost() async throws {
        // The target stays down through the revocation: the first member gives up waiting at its
        // (short) drain timeout and lets the partitions go with their work unsettled; the new
        // owner redelivers it once the target is back. Nothing lost, repeats within the cap.
        let scene = try await Self.scene(group: "deadline", drainTimeout: "2s")
        try await withCleanup { cleanup in
            cleanup.add { await scene.stopAndWait() }
            // The markers: the first gave up waiting, and the second consumed from what it was given.
            #expect(try await Self.waitForLog(scene.first, "revoked partitions released with work unsettled", timeout: 120))
            let consumedBySecond = try await waitForMetric(port: scene.secondPort, "sluice_findings_consumed_total", atLeast: 1, timeout: 120)
            try await scene.receiver.setStatus(204)
            try scene.produceRest()
            let (received, lost, duplicates) = try await scene.finish()
            print("rebalance past the drain timeout: \(scene.inFlightAtJoin) in flight when the second joined; second consumed \(consumedBySecond)+; \(received) received, lost \(lost.count), duplicates \(duplicates) (cap \(Self.cap))")
            #expect(scene.inFlightAtJoin == Self.initial)
            #expect(lost.isEmpty)
            #expect(duplicates <= Self.cap, "more redelivered than the in-flight cap: offsets past unsettled work were committed")
        }
    }

    /// librdkafka keeps a partition's pause flag when the partition is revoked (the flag is the
    /// client's, not the assignment's): a member paused at its cap when a partition was taken away,
    /// and no longer paused when it came back, never fetched that partition again (the ScaleOut
    /// stall). Here the first member is paused (its target answers 503) when the second joins and
    /// takes half the partitions; the target recovers and the first resumes; the second leaves and
    /// its partitions come back to the first. Every finding produced after that must arrive.
    @Test func aPartitionPausedWhenRevokedIsFetchedAgainWhenItComesBack() async throws {
        let broker = try await TansuBroker.start()
        try await withCleanup { cleanup in
            cleanup.add { await broker.stopAndWait() }
            let receiver = try await WebhookReceiver.start(status: 503)
            cleanup.add { await receiver.stopAndWait() }
            try await broker.create(topics: ["findings"], partitions: 4)
            try await broker.create(topics: ["dlq"])
            let findings = try Findings.unique(1200)
            let initial = 200
            try await Findings.publish(Array(findings.prefix(initial)), to: "findings", broker: broker)
            let config = try TestConfig(connector: "type: webhook\nurl: \(receiver.url)/hook\ntimeout: 60s\nconcurrency: 8\nretry: {attempts: 100000, backoff: 50ms, max_backoff: 1s}\n")
            defer { config.remove() }
            let cap = 40
            // Debug: the pause and resume lines are the markers. No wait on revocation: nothing can
            // settle while the target answers 503, and the revocation must happen while paused.
            let (first, _) = try Self.member(broker, config, group: "paused", cap: cap, extra: ["--log-level", "debug", "--revocation-timeout", "0s"])
            cleanup.add { await first.stopAndWait() }
            #expect(try await Self.waitForLog(first, "partitions paused", timeout: 120), "the first member never paused at its cap")
            let (second, secondPort) = try Self.member(broker, config, group: "paused", cap: 200)
            cleanup.add { await second.stopAndWait() }
            // The marker: the first member's consumer logged a revocation of some partitions.
            #expect(try await Self.waitForLogLine(first, containing: ["partitions revoked", "kafka.partitions=findings"], timeout: 120),
                    "no partition was revoked from the paused first member")
            let consumedBySecond = try await waitForMetric(port: secondPort, "sluice_findings_consumed_total", atLeast: 1, timeout: 120)
            try await receiver.setStatus(204)
            // The first settles its work and resumes what it still owns; only then does the second
            // leave, so the partitions come back to a member that is not paused.
            #expect(try await Self.waitForLog(first, "partitions resumed", timeout: 120), "the first member never resumed")
            #expect(await second.terminateAndWait() == 0)
            try await Findings.publish(Array(findings.dropFirst(initial)), to: "findings", broker: broker)
            let missing = try await waitForDelivery(of: Set(findings.map(\.id)), at: receiver, stall: 60)
            let located = try await describeUndelivered(missing, broker: broker, topic: "findings", produced: findings.count)
            let received = try receiver.receivedFindingIDs()
            let duplicates = received.count - Set(received).count
            print("paused partition revoked and reassigned: second consumed \(consumedBySecond)+; \(received.count) received, not delivered \(missing.count) (\(located)), duplicates \(duplicates) (cap \(cap))")
            #expect(missing.count == 0, "not delivered: \(located)")
            // Only the first member's revoked work, released unsettled, is repeated.
            #expect(duplicates <= cap)
            #expect(await first.terminateAndWait() == 0)
            #expect(try await readTopicToSentinel(broker, topic: "dlq").isEmpty)
        }
    }

    /// How one leader-leaves-while-forming run ended.
    enum LeaderLeaveOutcome: CustomStringConvertible {
        case recovered(seconds: Double)
        /// Tansu kept the departed member as leader: its id in the survivors' JoinGroup answers
        /// after it left, and their SyncGroups answered REBALANCE_IN_PROGRESS.
        case wedgedByCoordinator(syncRefusals: Int, rejoins: Int)
        case stalled(String)

        var description: String {
            switch self {
            case .recovered(let s): "recovered in \(String(format: "%.1f", s)) s"
            case .wedgedByCoordinator(let n, let r): "wedged by Tansu (departed leader kept; \(n) SyncGroup refusals, \(r) watchdog rejoins)"
            case .stalled(let why): "stalled: \(why)"
            }
        }
    }

    /// Three members; the group's leader (the first member) leaves with SIGTERM just as a third
    /// member's join has begun a rebalance. The other two must then own every partition.
    /// `leaderArgs` are added to the leaving member only.
    static func leaderLeavesWhileForming(leaderArgs: [String], bound: Double) async throws -> LeaderLeaveOutcome {
        let broker = try await TansuBroker.start()
        return try await withCleanup { cleanup in
            cleanup.add { await broker.stopAndWait() }
            let receiver = try await WebhookReceiver.start(status: 204)
            cleanup.add { await receiver.stopAndWait() }
            try await broker.create(topics: ["findings"], partitions: 4)
            try await broker.create(topics: ["dlq"])
            try await Findings.publish(try Findings.unique(40), to: "findings", broker: broker)
            let config = try TestConfig(connector: "type: webhook\nurl: \(receiver.url)/hook\n")
            defer { config.remove() }
            // Debug with librdkafka's group log: the JoinGroup and SyncGroup answers are the markers
            // and the evidence. A short stall timeout so the watchdog acts within the bound.
            let debug = ["--log-level", "debug", "-X", "debug=cgrp", "--group-stall-timeout", "12s"]
            let (leader, leaderPort) = try member(broker, config, group: "forming", cap: 100, extra: debug + leaderArgs)
            cleanup.add { await leader.stopAndWait() }
            _ = try await waitForMetric(port: leaderPort, "sluice_findings_consumed_total", atLeast: 1, timeout: 120)
            let (b, bPort) = try member(broker, config, group: "forming", cap: 100, extra: debug)
            cleanup.add { await b.stopAndWait() }
            func owned(_ port: Int) async -> Set<String> {
                Set((await LoopbackPort.fetch(port, "/api/v1/status").flatMap(ScaleOutTests.partitions) ?? "").split(separator: ",").map(String.init))
            }
            let formed = Date().addingTimeInterval(120)
            while await owned(bPort).isEmpty, Date() < formed { try await Task.sleep(for: .milliseconds(100)) }
            guard await !owned(bPort).isEmpty else { return .stalled("the second member was never given partitions") }
            let (c, cPort) = try member(broker, config, group: "forming", cap: 100, extra: debug)
            cleanup.add { await c.stopAndWait() }
            // The marker: the coordinator answered the newcomer's first JoinGroup; the group is forming.
            guard try await waitForLog(c, "JoinGroup response", timeout: 120) else { return .stalled("the third member never joined") }
            #expect(await leader.terminateAndWait() == 0, "the leader drains and exits cleanly")
            let left = Date()
            // The leader's member id, from its own JoinGroup answers ("... (me), my MemberId X").
            let leaderID = leader.output.split(separator: "\n").lazy.compactMap { line -> Substring? in
                guard line.contains("(me), my MemberId "), let r = line.range(of: "my MemberId ") else { return nil }
                return line[r.upperBound...].prefix { $0 != "," && $0 != " " }
            }.first.map(String.init)
            if await eventually(within: .seconds(bound), every: .milliseconds(200), { await owned(bPort).union(owned(cPort)).count == 4 }) {
                return .recovered(seconds: Date().timeIntervalSince(left))
            }
            let survivors = b.output + c.output
            let refusals = survivors.components(separatedBy: "SyncGroup error: Broker: Group rebalance in progress").count - 1
            let rejoins = survivors.components(separatedBy: "consumer group stuck rebalancing").count - 1
            if let leaderID, refusals > 0, survivors.contains("LeaderId \(leaderID),") {
                return .wedgedByCoordinator(syncRefusals: refusals, rejoins: rejoins)
            }
            return .stalled("b owns \(await owned(bPort).sorted()), c owns \(await owned(cPort).sorted()); leader id \(leaderID ?? "unknown"); \(refusals) SyncGroup refusals")
        }
    }

    /// Runs the scene `REBALANCE_LEADER_RUNS` times (default 1) and reports each outcome.
    static func leaderLeaveRuns(leaderArgs: [String], bound: Double) async throws -> [LeaderLeaveOutcome] {
        let runs = max(1, Int(ProcessInfo.processInfo.environment["REBALANCE_LEADER_RUNS"] ?? "") ?? 1)
        var outcomes: [LeaderLeaveOutcome] = []
        for _ in 0..<runs { outcomes.append(try await leaderLeavesWhileForming(leaderArgs: leaderArgs, bound: bound)) }
        return outcomes
    }

    /// Tansu 0.6.0 keeps a leader that left with LeaveGroup while the group was forming: the
    /// others' SyncGroups are refused for good, and rejoining as new members (the watchdog) does
    /// not help, since every JoinGroup answer still names the departed leader. A wedged run is
    /// reported as the known Tansu issue; any other stall fails.
    @Test func aLeaderLeavingWhileTheGroupFormsWedgesTansu() async throws {
        let outcomes = try await Self.leaderLeaveRuns(leaderArgs: [], bound: 60)
        print("leader leaves with LeaveGroup while forming: \(outcomes.map(\.description).joined(separator: "; "))")
        for outcome in outcomes {
            switch outcome {
            case .recovered: break
            case .wedgedByCoordinator:
                withKnownIssue("Tansu 0.6.0 keeps a departed leader of a forming group (README, On Tansu; docs/scale-out.md)") {
                    Issue.record(Comment(rawValue: outcome.description))
                }
            case .stalled(let why): Issue.record(Comment(rawValue: why))
            }
        }
    }

    /// The mitigation: a leader that leaves without LeaveGroup (`--no-leave-group`) is dropped by
    /// session timeout, and Tansu then picks a new leader: the group forms again, every run.
    @Test func aLeaderLeavingWithoutLeaveGroupLetsTheGroupFormAgain() async throws {
        let outcomes = try await Self.leaderLeaveRuns(leaderArgs: ["--no-leave-group"], bound: 60)
        print("leader leaves without LeaveGroup while forming: \(outcomes.map(\.description).joined(separator: "; "))")
        for outcome in outcomes {
            if case .recovered = outcome { continue }
            Issue.record(Comment(rawValue: outcome.description))
        }
    }
}
