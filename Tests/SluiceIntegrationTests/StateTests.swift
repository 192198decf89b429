import Foundation
import Logging
import SluiceKafka
import SluiceTestSupport
import Synchronization
import Testing

/// Issue 12 end to end: the real binary, a real Tansu broker, a real HTTP receiver. State lives in
/// Kafka only; instances of one group behave as one, across restarts and kill -9.
@Suite(.serialized) struct StateTests {
    /// A config whose one route carries `state` (YAML lines of the route).
    static func config(_ receiver: WebhookReceiver, state: String) throws -> TestConfig {
        let config = try TestConfig.webhook(receiver.url)
        try writeRoute(config, state: state)
        return config
    }

    /// The config's one route, to the webhook, with `state` (YAML lines of the route).
    static func writeRoute(_ config: TestConfig, state: String) throws {
        try """
        name: all-findings
        match: {"source": ["aws.guardduty"]}
        targets: [hook]
        \(state)
        """.write(to: config.directory.appendingPathComponent("routes/all.yaml"), atomically: true, encoding: .utf8)
    }

    /// Produces each finding to an explicit partition, round robin over a shuffled order, so copies
    /// of one finding land on different partitions (and so on different instances). The flush is
    /// waited for on a thread of its own.
    static func produceShuffled(_ findings: [(id: String, bytes: [UInt8])], topic: String, partitions: Int32, broker: TansuBroker) async throws {
        try await offPool {
            let producer = try KafkaProducer(config: broker.clientConfig(["linger.ms": "5"]), logger: Logger(label: "test"))
            let failures = Atomic<Int>(0)
            for (i, f) in findings.shuffled().enumerated() {
                try producer.produce(topic: topic, partition: Int32(i) % partitions, key: Array(f.id.utf8), value: f.bytes) { error in
                    if error != nil { failures.add(1, ordering: .relaxed) }
                }
            }
            producer.close(timeoutMs: 30_000)
            guard failures.load(ordering: .relaxed) == 0 else { throw HarnessError("\(failures.load(ordering: .relaxed)) records not produced") }
        }
    }

    /// A broker with three-partition `findings` and `dlq` topics, and a webhook receiver: both
    /// stopped by `cleanup` when the test's body ends.
    static func brokerAndReceiver(stoppedBy cleanup: Cleanup) async throws -> (TansuBroker, WebhookReceiver) {
        let broker = try await TansuBroker.start()
        cleanup.add { await broker.stopAndWait() }
        let receiver = try await WebhookReceiver.start()
        cleanup.add { await receiver.stopAndWait() }
        try await broker.create(topics: ["findings", "dlq"], partitions: 3)
        return (broker, receiver)
    }

    /// `sluice_held_total` summed over instances' /metrics (each read on a thread of its own).
    static func held(_ ports: [Int]) async -> Int {
        var sum = 0
        for port in ports {
            let text = await LoopbackPort.fetch(port, "/metrics") ?? ""
            sum += text.split(separator: "\n").filter { $0.hasPrefix("sluice_held_total{") }
                .compactMap { Int($0.split(separator: " ").last ?? "") }.reduce(0, +)
        }
        return sum
    }

    /// Whether `topic` holds a record yet (read to its end on a thread of its own; throws when the
    /// read takes over 60 s).
    static func topicHasRecords(_ broker: TansuBroker, topic: String) async throws -> Bool {
        try await offPool {
            let reader = try KafkaTopicReader(config: broker.clientConfig(), topic: topic, logger: Logger(label: "test"))
            defer { reader.close() }
            return !(try reader.readToEnd(timeoutMs: 60_000)).isEmpty
        }
    }

    static func waitUntil(timeout: Double, every interval: Duration = .milliseconds(200), _ condition: () async throws -> Bool) async throws -> Bool {
        try await eventually(within: .seconds(timeout), every: interval, condition)
    }

    /// The ids of the silences an instance's hold stage has now (its admin API, open on loopback
    /// when no token is configured; read on a thread of its own).
    static func silenceIDs(_ port: Int) async -> Set<String> {
        guard let reply = await LoopbackPort.fetch(port, "/api/v1/silences"), let head = reply.range(of: "\r\n\r\n"),
              let list = try? JSONSerialization.jsonObject(with: Data(reply[head.upperBound...].utf8)) as? [[String: Any]] else { return [] }
        return Set(list.compactMap { $0["id"] as? String })
    }

    /// Changelog records as of now, read with assigned partitions (no consumer group to join).
    static func changelog(_ broker: TansuBroker, group: String) throws -> [KafkaRecord] {
        let reader = try KafkaTopicReader(config: broker.clientConfig(), topic: "sluice.hold.\(group).changelog", logger: Logger(label: "test"))
        defer { reader.close() }
        return try reader.readToEnd(timeoutMs: 60_000)
    }

    /// Records in the group's repartition topic as of now (read on a thread of its own).
    static func repartitionRecords(_ broker: TansuBroker, group: String) async throws -> Int {
        try await offPool {
            let reader = try KafkaTopicReader(config: broker.clientConfig(), topic: "sluice.hold.\(group).repartition", logger: Logger(label: "test"))
            defer { reader.close() }
            return try reader.readToEnd(timeoutMs: 60_000).count
        }
    }

    /// Dedupe keys whose delivery is recorded in the changelog (read on a thread of its own).
    static func deliveredKeys(_ broker: TansuBroker, group: String) async throws -> Int {
        try await offPool {
            Set(try changelog(broker, group: group).filter { r in
                r.key?.first == UInt8(ascii: "d") && r.value.map { !String(decoding: $0, as: UTF8.self).contains(#""l":null"#) } == true
            }.compactMap(\.key)).count
        }
    }

    func instance(_ broker: TansuBroker, _ config: TestConfig, group: String, metricsPort: Int) throws -> SluiceProcess {
        try SluiceProcess(broker: broker, topic: "findings", group: group, dlq: "dlq", config: config,
                          extra: ["--state-partitions", "3", "--metrics-listen", "127.0.0.1:\(metricsPort)"])
    }

    /// Two instances, each owning some hold partitions: copies whose key the reading instance owns
    /// are decided there (never written to the repartition topic), the others cross it to their
    /// owner. Still exactly one delivery per key, and a restart holds every repeat.
    @Test func dedupeAcrossTwoInstancesThenRestartStillTenDeliveries() async throws {
        try await withCleanup { cleanup in
            let (broker, receiver) = try await Self.brokerAndReceiver(stoppedBy: cleanup)
            let config = try Self.config(receiver, state: "dedupe: {key: [detail.id], window: 1h}")
            defer { config.remove() }
            let distinct = try Findings.unique(10)
            let fifty = (0..<5).flatMap { _ in distinct }

            let ports = [try LoopbackPort.free(), try LoopbackPort.free()]
            let a = try instance(broker, config, group: "dedupe", metricsPort: ports[0])
            cleanup.add { await a.stopAndWait() }
            let b = try instance(broker, config, group: "dedupe", metricsPort: ports[1])
            cleanup.add { await b.stopAndWait() }
            // Both own (and restored) hold partitions before anything is read: each decides the keys
            // it owns where it read them (the local fast path) and forwards the others.
            let bothReady = try await Self.waitUntil(timeout: 120) {
                for port in ports where await LoopbackPort.fetch(port, "/-/ready")?.hasPrefix("HTTP/1.1 200") != true { return false }
                return true
            }
            #expect(bothReady)
            try await Self.produceShuffled(fifty, topic: "findings", partitions: 3, broker: broker)

            // Signal: every copy was decided — 10 delivered, 40 counted as held.
            let settled = try await Self.waitUntil(timeout: 120) { await Self.held(ports) >= 40 && receiver.count >= 10 }
            let forwarded = try await Self.repartitionRecords(broker, group: "dedupe")
            print("dedupe, two instances: \(receiver.count) deliveries, \(await Self.held(ports)) held, \(forwarded) of 50 through the repartition topic")
            #expect(settled)
            #expect(receiver.count == 10)
            #expect(Set(try receiver.receivedFindingIDs()) == Set(distinct.map(\.id)))
            // Some copies were decided where they were read, some crossed to the other instance.
            #expect(forwarded > 0)
            #expect(forwarded < 50)
            // Stop both the hard way once every delivery is recorded: state must be in Kafka, not in them.
            let recorded = try await Self.waitUntil(timeout: 60) { try await Self.deliveredKeys(broker, group: "dedupe") >= 10 }
            #expect(recorded)
            await a.killHardAndWait()
            await b.killHardAndWait()

            // One instance, the same 50 again: the state restored from the changelog holds them all.
            let port = try LoopbackPort.free()
            let c = try instance(broker, config, group: "dedupe", metricsPort: port)
            cleanup.add { await c.stopAndWait() }
            try await Self.produceShuffled(fifty, topic: "findings", partitions: 3, broker: broker)
            let heldAll = try await Self.waitUntil(timeout: 120) { await Self.held([port]) >= 50 }
            print("dedupe after restart: \(receiver.count) deliveries, \(await Self.held([port])) held")
            #expect(heldAll)
            #expect(receiver.count == 10)
            if !heldAll { print(c.output.suffix(3000)) }
            #expect(await c.terminateAndWait() == 0)
        }
    }

    @Test func throttleTwentyOfFiftyThenOneDigestOfThirty() async throws {
        try await withCleanup { cleanup in
            let (broker, receiver) = try await Self.brokerAndReceiver(stoppedBy: cleanup)
            let config = try Self.config(receiver, state: "throttle: {key: [source], limit: 20, per: 10s}")
            defer { config.remove() }
            let port = try LoopbackPort.free()
            let sluice = try instance(broker, config, group: "throttle", metricsPort: port)
            cleanup.add { await sluice.stopAndWait() }
            try await Self.produceShuffled(try Findings.unique(50), topic: "findings", partitions: 3, broker: broker)

            let done = try await Self.waitUntil(timeout: 120) { receiver.count >= 21 }
            #expect(done)
            let records = try receiver.records()
            let findings = records.filter { $0.header("X-Sluice-Finding-Id") != nil }
            let digests = records.filter { $0.header("X-Sluice-Finding-Id") == nil }
            print("throttle 20 per 10 s, 50 findings: \(findings.count) deliveries, \(digests.count) digest(s): \(digests.first?.body.prefix(160) ?? "")")
            #expect(findings.count == 20)
            #expect(digests.count == 1)
            #expect(digests.first?.body.contains(#""total":30"#) == true)
            #expect(digests.first?.body.contains("and 20 more") == true)
            #expect(await Self.held([port]) == 30)
            #expect(await sluice.terminateAndWait() == 0)
            #expect(try receiver.records().count == 21)  // the drain sent nothing more
        }
    }

    @Test func groupTimerSurvivesKillNine() async throws {
        try await withCleanup { cleanup in
            let (broker, receiver) = try await Self.brokerAndReceiver(stoppedBy: cleanup)
            let config = try Self.config(receiver, state: "group: {by: [source], wait: 15s, interval: 1m, repeat: 1h}")
            defer { config.remove() }
            let port = try LoopbackPort.free()
            let sluice = try instance(broker, config, group: "group9", metricsPort: port)
            cleanup.add { await sluice.stopAndWait() }
            let published = Date()
            try await Self.produceShuffled(try Findings.unique(3), topic: "findings", partitions: 3, broker: broker)

            // Signal: the group's record is in the changelog (the owner held all three and wrote it).
            let written = try await Self.waitUntil(timeout: 60) {
                guard await Self.held([port]) >= 3 else { return false }
                return !(try await offPool { try Self.changelog(broker, group: "group9") }).isEmpty
            }
            #expect(written)
            #expect(receiver.count == 0)  // still within `wait`
            await sluice.killHardAndWait()
            try await sluice.relaunch()

            let arrived = try await Self.waitUntil(timeout: 90) { receiver.count >= 1 }
            #expect(arrived)
            let digest = try receiver.records().first
            let after = (Double(digest?.receivedMs ?? 0) / 1000) - published.timeIntervalSince1970
            print("group wait 15 s, kill -9 during the wait: digest \(String(format: "%.1f", after)) s after publishing: \(digest?.body.prefix(120) ?? "")")
            #expect(after >= 15, "the digest came before the group's wait was over")
            #expect(digest?.body.contains(#""total":3"#) == true)
            // Graceful stop: the drain sends nothing more (no second digest).
            #expect(await sluice.terminateAndWait() == 0)
            #expect(receiver.count == 1)
        }
    }

    /// Offline (`--input`): the same engine with state in memory and the findings' own time;
    /// pending digests are flushed at end of input; `--summary` shows what was held.
    @Test func offlineRunDedupesThrottlesAndFlushesDigestsAtEnd() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let config = try Self.config(receiver, state: """
                dedupe: {key: [source, detail.id], window: 1h}
                throttle: {key: [source], limit: 5, per: 30d}
                """)
            defer { config.remove() }
            let distinct = try Findings.unique(12)
            let input = config.directory.appendingPathComponent("findings.ndjson")
            try Data((0..<3).flatMap { _ in distinct }.flatMap { $0.bytes + [0x0A] }).write(to: input)
            let (status, summary) = try await Self.cli(["run", "--input", input.path, "--routes", config.routes,
                                                        "--connectors", config.connectors, "--summary", "--log-level", "warning"])
            print(summary)
            #expect(status == 0)
            let records = try receiver.records()
            // The closures are outside the #expects: in a closure's body, with the `!= nil` filter
            // inside `#expect(…)`, Swift 6.3.1 ran its code for the `== nil` one too, and `digests`
            // held the five deliveries (AwaitedCleanup.swift).
            let findingDeliveries = records.filter { $0.header("X-Sluice-Finding-Id") != nil }
            let digests = records.filter { $0.header("X-Sluice-Finding-Id") == nil }
            let lines = summary.split(separator: "\n")
            let heldByDedupe = lines.contains { $0.hasPrefix("held (dedupe) all-findings → hook") && $0.hasSuffix(" 24") }
            let heldByThrottle = lines.contains { $0.hasPrefix("held (throttle)") && $0.hasSuffix(" 7") }
            // 12 distinct: 5 delivered, 7 throttled into one digest sent at end of input; 24 repeats held by dedupe.
            #expect(findingDeliveries.count == 5)
            #expect(digests.count == 1)
            #expect(digests.first?.body.contains(#""total":7"#) == true)
            // The sample findings span 17 days of `time`: offline windows run on that clock.
            #expect(heldByDedupe)
            #expect(heldByThrottle)
        }
    }

    /// Runs `sluice` with `arguments` to completion; returns its exit status and standard output.
    /// The reading and the waiting happen on a thread of their own.
    static func cli(_ arguments: [String]) async throws -> (Int32, String) {
        try await offPool {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ChildProcess.unblockingSignals + [SluiceProcess.binary.path] + arguments
            let out = Pipe.closedOnExec()
            p.standardOutput = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, text)
        }
    }

    /// A silence made with the CLI holds on both instances within a second, survives kill -9 of
    /// every instance, and stops holding at its `ends_at`.
    @Test func silenceFromTheCLIHoldsOnBothInstancesSurvivesKillNineAndEnds() async throws {
        try await withCleanup { cleanup in
            let (broker, receiver) = try await Self.brokerAndReceiver(stoppedBy: cleanup)
            let config = try TestConfig.webhook(receiver.url)
            defer { config.remove() }
            let ports = [try LoopbackPort.free(), try LoopbackPort.free()]
            let a = try instance(broker, config, group: "silence", metricsPort: ports[0])
            cleanup.add { await a.stopAndWait() }
            let b = try instance(broker, config, group: "silence", metricsPort: ports[1])
            cleanup.add { await b.stopAndWait() }
            // Both consuming: a first batch over every partition is delivered.
            try await Self.produceShuffled(try Findings.unique(6), topic: "findings", partitions: 3, broker: broker)
            let sixDelivered = try await Self.waitUntil(timeout: 90) { receiver.count >= 6 }
            #expect(sixDelivered)

            let (status, id) = try await Self.cli(["silence", "add", "--brokers", broker.bootstrap, "--matchers", #"{"source":["aws.guardduty"]}"#,
                                              "--duration", "45s", "--created-by", "test", "--comment", "maintenance window"])
            let added = Date()
            let cliExited = ContinuousClock.now
            #expect(status == 0)
            let silenceID = id.trimmingCharacters(in: .whitespacesAndNewlines)
            // The requirement under test: within a second every instance holds. Its marker is the
            // silence in each instance's own hold stage (GET /api/v1/silences answers from it), so no
            // finding is produced before both have it and none can slip through on a slow machine.
            let visible = try await Self.waitUntil(timeout: 60, every: .milliseconds(20)) {
                for port in ports where await !Self.silenceIDs(port).contains(silenceID) { return false }
                return true
            }
            let visibleAfter = ContinuousClock.now - cliExited
            #expect(visible)
            try await Self.produceShuffled(try Findings.unique(12), topic: "findings", partitions: 3, broker: broker)
            _ = try await Self.waitUntil(timeout: 60, every: .milliseconds(20)) { await Self.held(ports) >= 1 }
            let firstHeldAfter = ContinuousClock.now - cliExited
            let heldFirst = try await Self.waitUntil(timeout: 60) { await Self.held(ports) >= 12 }
            print("silence: on both instances \(visibleAfter) after the CLI exited, first held \(firstHeldAfter) after it; "
                  + "\(await Self.held(ports)) held on two instances, \(receiver.count) delivered")
            #expect(heldFirst)
            #expect(receiver.count == 6)
            // Each instance follows the silences topic (a poll every 100 ms): about half a second on a
            // quiet machine, printed above. The bound is what only an instance that does not follow
            // the topic (a periodic refresh, a restart) misses, not a share of a loaded machine.
            #expect(visibleAfter < .seconds(10), "the silence reached both instances \(visibleAfter) after the CLI exited")
            #expect(try await Self.cli(["silence", "list", "--brokers", broker.bootstrap]).1.contains(silenceID))

            await a.killHardAndWait()
            await b.killHardAndWait()
            try await a.relaunch()
            try await b.relaunch()
            try await Self.produceShuffled(try Findings.unique(9), topic: "findings", partitions: 3, broker: broker)
            let heldAfterKill = try await Self.waitUntil(timeout: 90) { await Self.held(ports) >= 9 }
            #expect(heldAfterKill)
            #expect(receiver.count == 6)

            // After ends_at the silence holds nothing.
            let ends = added.addingTimeInterval(46)
            while Date() < ends { try await Task.sleep(for: .milliseconds(200)) }
            try await Self.produceShuffled(try Findings.unique(4), topic: "findings", partitions: 3, broker: broker)
            let tenDelivered = try await Self.waitUntil(timeout: 60) { receiver.count >= 10 }
            #expect(tenDelivered)
            #expect(await a.terminateAndWait() == 0)
            #expect(await b.terminateAndWait() == 0)
        }
    }

    /// An inhibition source seen before a kill -9 still inhibits its targets after the restart:
    /// sources live in the inhibit topic, read whole by every instance.
    @Test func inhibitionHoldsAcrossKillNine() async throws {
        try await withCleanup { cleanup in
            let (broker, receiver) = try await Self.brokerAndReceiver(stoppedBy: cleanup)
            let config = try TestConfig.webhook(receiver.url)
            defer { config.remove() }
            try config.writeMinerInhibitRule()
            let port = try LoopbackPort.free()
            let sluice = try instance(broker, config, group: "inhibit", metricsPort: port)
            cleanup.add { await sluice.stopAndWait() }
            let samples = try Findings.unique(9)
            try await Self.produceShuffled([samples[0]], topic: "findings", partitions: 3, broker: broker)
            let recorded = try await Self.waitUntil(timeout: 90) {
                guard receiver.count >= 1 else { return false }
                return try await Self.topicHasRecords(broker, topic: "sluice.inhibit.inhibit")
            }
            #expect(recorded)
            await sluice.killHardAndWait()
            try await sluice.relaunch()

            try await Self.produceShuffled(Array(samples[1...]), topic: "findings", partitions: 3, broker: broker)
            let settled = try await Self.waitUntil(timeout: 90) { await Self.held([port]) >= 4 && receiver.count >= 5 }
            print("inhibition after kill -9: \(await Self.held([port])) held, \(receiver.count) delivered")
            #expect(settled)
            #expect(await sluice.terminateAndWait() == 0)
            // The source, and the other account's four. The source may come twice: the kill can land
            // before its offset was committed, and at-least-once redelivers it (seen under load).
            let received = try receiver.receivedFindingIDs()
            let othersReceived = received.filter { $0 != samples[0].id }
            #expect(othersReceived.count == 4, "\(received)")
            #expect(Set(received) == Set([samples[0], samples[2], samples[3], samples[5], samples[7]].map(\.id)))
        }
    }
}
