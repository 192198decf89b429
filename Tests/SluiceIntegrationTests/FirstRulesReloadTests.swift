import Foundation
import Logging
import SluiceKafka
import SluiceTestSupport
import Testing

/// A reload that adds what the run did not start with (issues 12 and 13; docs/state.md, "Reload"):
/// the first state rule, the first inhibit rule, the first playbook — on Tansu through
/// `POST /-/reload` with an admin token, and offline through SIGHUP. Markers: the receiver's
/// requests, `sluice_held_total`, `/-/ready`, the reload's reply, the run's exit status.
@Suite(.serialized) struct FirstRulesReloadTests {
    static let token = "first-rules-reload-0123456789abcdef"

    /// A run consuming `findings` with the admin server (an admin token) and `--state-partitions 3`.
    static func start(_ harness: RunHarness, broker: TansuBroker, config: TestConfig, group: String, extra: [String] = []) throws
        -> (sluice: SluiceProcess, port: Int) {
        let file = config.directory.appendingPathComponent("tokens")
        try "ops admin \(token)\n".write(to: file, atomically: true, encoding: .utf8)
        let port = try LoopbackPort.free()
        let sluice = try harness.sluice(broker, group: group, config: config,
                                        extra: ["--state-partitions", "3", "--admin-listen", "127.0.0.1:\(port)", "--admin-tokens", file.path,
                                                 // Info: the owner's "state restored" lines are markers.
                                                 "--log-level", "info"] + extra)
        return (sluice, port)
    }

    /// The raw reply to `POST /-/reload` with the admin token.
    static func reload(_ port: Int) throws -> String {
        let fd = try #require(LoopbackPort.connect(port))
        defer { close(fd) }
        let request = Array("POST /-/reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer \(token)\r\nContent-Length: 0\r\n\r\n".utf8)
        #expect(send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count)
        return String(decoding: LoopbackPort.readResponse(fd) ?? [], as: UTF8.self)
    }

    /// Whether `/-/ready` answers 200 (read on a thread of its own).
    static func ready(_ port: Int) async -> Bool { await LoopbackPort.fetch(port, "/-/ready")?.hasPrefix("HTTP/1.1 200") == true }

    /// `GET /api/v1/status` with the admin token.
    static func status(_ port: Int) throws -> [String: Any] {
        let fd = try #require(LoopbackPort.connect(port))
        defer { close(fd) }
        let request = Array("GET /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer \(token)\r\n\r\n".utf8)
        #expect(send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count)
        let reply = String(decoding: LoopbackPort.readResponse(fd) ?? [], as: UTF8.self)
        let body = reply.range(of: "\r\n\r\n").map { String(reply[$0.upperBound...]) } ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }

    /// Issue 12/13: a run started with no state rules gains `dedupe` by a reload: two copies
    /// before it are two deliveries, five copies after it one; SIGTERM exits 0, and a restart
    /// (now starting with the rule) holds every further copy from the restored changelog.
    @Test func firstDedupeByReloadHoldsCopiesAndSurvivesARestart() async throws {
        try await withRunHarness { harness in
            let (broker, receiver, config) = try await harness.brokerAndWebhook(partitions: 3)
            try StateTests.writeRoute(config, state: "")
            let (sluice, port) = try Self.start(harness, broker: broker, config: config, group: "first-dedupe")
            let ready = try await StateTests.waitUntil(timeout: 120) { await Self.ready(port) }
            #expect(ready, "\(sluice.output.suffix(2000))")
            let findings = try Findings.unique(2)

            try await StateTests.produceShuffled([findings[0], findings[0]], topic: "findings", partitions: 3, broker: broker)
            try await receiver.waitForCount(2, timeout: 60)
            // Nothing of keyed state was set up for a run without state rules.
            #expect(!sluice.output.contains("state restored"), "\(sluice.output.suffix(2000))")

            try StateTests.writeRoute(config, state: "dedupe: {key: [detail.id], window: 1h}")
            let reply = try Self.reload(port)
            #expect(reply.hasPrefix("HTTP/1.1 200"), "\(reply) \(sluice.output.suffix(2000))")
            // Not ready from the reply on, until the new owner joined its group and restored.
            let notReady = await LoopbackPort.fetch(port, "/-/ready") ?? ""
            #expect(notReady.hasPrefix("HTTP/1.1 503") && notReady.contains("state.restored"), "\(notReady)")
            let restored = try await StateTests.waitUntil(timeout: 120) { await Self.ready(port) && sluice.output.contains("state restored") }
            #expect(restored, "\(sluice.output.suffix(3000))")

            try await StateTests.produceShuffled(Array(repeating: findings[1], count: 5), topic: "findings", partitions: 3, broker: broker)
            // Signal: all five decided — one delivered, four held.
            let decided = try await StateTests.waitUntil(timeout: 120) { await StateTests.held([port]) >= 4 && receiver.count >= 3 }
            let heldNow = await StateTests.held([port])
            #expect(decided, "\(receiver.count) deliveries, \(heldNow) held: \(sluice.output.suffix(3000))")
            #expect(receiver.count == 3)
            let copiesOfSecond = try receiver.receivedFindingIDs().filter { $0 == findings[1].id }
            #expect(copiesOfSecond.count == 1)
            // The run stops in order, the late owner included.
            let status = await sluice.terminateAndWait()
            #expect(status == 0, "\(sluice.output.suffix(3000))")

            // The restart starts with the rule: the changelog holds the key, every copy is held.
            try await sluice.relaunch()
            let readyAfterRestart = try await StateTests.waitUntil(timeout: 120) { await Self.ready(port) }
            #expect(readyAfterRestart, "\(sluice.output.suffix(2000))")
            try await StateTests.produceShuffled(Array(repeating: findings[1], count: 5), topic: "findings", partitions: 3, broker: broker)
            let heldAll = try await StateTests.waitUntil(timeout: 120) { await StateTests.held([port]) >= 5 }
            #expect(heldAll, "\(sluice.output.suffix(3000))")
            #expect(receiver.count == 3)
            #expect(await sluice.terminateAndWait() == 0)
        }
    }

    /// The first inhibit rule by a reload: the inhibition topic and its feed start; a source seen
    /// after the reload holds its account's other findings, also after a restart.
    @Test func firstInhibitRuleByReloadHoldsTargetsAcrossARestart() async throws {
        try await withRunHarness { harness in
            let (broker, receiver, config) = try await harness.brokerAndWebhook(partitions: 3)
            let (sluice, port) = try Self.start(harness, broker: broker, config: config, group: "first-inhibit")
            let ready = try await StateTests.waitUntil(timeout: 120) { await Self.ready(port) }
            #expect(ready, "\(sluice.output.suffix(2000))")
            // The sample findings: #0 (a miner on account 1111…) is the source; #1, #4, #6, #8 are
            // other findings of that account; #2, #3, #5, #7 are on another account.
            let samples = try Findings.unique(9)
            try await StateTests.produceShuffled([samples[1]], topic: "findings", partitions: 3, broker: broker)
            try await receiver.waitForCount(1, timeout: 60)

            try config.writeMinerInhibitRule()
            let reply = try Self.reload(port)
            #expect(reply.hasPrefix("HTTP/1.1 200"), "\(reply) \(sluice.output.suffix(2000))")

            try await StateTests.produceShuffled([samples[0]], topic: "findings", partitions: 3, broker: broker)
            let recorded = try await StateTests.waitUntil(timeout: 90) {
                guard receiver.count >= 2 else { return false }
                return try await StateTests.topicHasRecords(broker, topic: "sluice.inhibit.first-inhibit")
            }
            #expect(recorded, "\(sluice.output.suffix(2000))")
            try await StateTests.produceShuffled([samples[4], samples[2]], topic: "findings", partitions: 3, broker: broker)
            let settled = try await StateTests.waitUntil(timeout: 90) { await StateTests.held([port]) >= 1 && receiver.count >= 3 }
            let heldNow = await StateTests.held([port])
            #expect(settled, "\(heldNow) held, \(receiver.count) delivered: \(sluice.output.suffix(2000))")
            #expect(await sluice.terminateAndWait() == 0, "\(sluice.output.suffix(3000))")

            try await sluice.relaunch()
            let readyAfterRestart = try await StateTests.waitUntil(timeout: 120) { await Self.ready(port) }
            #expect(readyAfterRestart, "\(sluice.output.suffix(2000))")
            try await StateTests.produceShuffled([samples[6], samples[3]], topic: "findings", partitions: 3, broker: broker)
            let after = try await StateTests.waitUntil(timeout: 90) { await StateTests.held([port]) >= 1 && receiver.count >= 4 }
            #expect(after, "\(sluice.output.suffix(2000))")
            #expect(await sluice.terminateAndWait() == 0)
            let received = try receiver.receivedFindingIDs()
            // The source may come twice (at-least-once across the restart); the held ones never.
            #expect(Set(received) == Set([samples[1], samples[0], samples[2], samples[3]].map(\.id)), "\(received)")
            #expect(!received.contains(samples[4].id) && !received.contains(samples[6].id))
        }
    }

    /// The first playbook by a reload (approvals, audit and shared caps set up then): a matching
    /// finding runs its http step once, not in dry run.
    @Test func firstPlaybookByReloadRunsItsStepOnce() async throws {
        try await withRunHarness { harness in
            let (broker, receiver, config) = try await harness.brokerAndWebhook()
            try await broker.create(topics: ["sluice.actions.audit", "sluice.approvals"], partitions: 1)
            let (sluice, port) = try Self.start(harness, broker: broker, config: config, group: "first-playbook")
            let ready = try await StateTests.waitUntil(timeout: 120) { await Self.ready(port) }
            #expect(ready, "\(sluice.output.suffix(2000))")
            let findings = try Findings.unique(2)
            try await Findings.publish([findings[0]], to: "findings", broker: broker)
            try await receiver.waitForCount(1, timeout: 60)

            try Self.writePlaybookRoute(config, match: #"{"source": ["aws.guardduty"]}"#, url: receiver.url + "/case")
            let reply = try Self.reload(port)
            #expect(reply.hasPrefix("HTTP/1.1 200"), "\(reply) \(sluice.output.suffix(2000))")

            try await Findings.publish([findings[1]], to: "findings", broker: broker)
            // Signal: the step's audit record (after its request), and the webhook delivery.
            let audited = try await StateTests.waitUntil(timeout: 90) { try await StateTests.auditResults(broker).count >= 1 && receiver.count >= 3 }
            #expect(audited, "\(sluice.output.suffix(3000))")
            #expect(try await StateTests.auditResults(broker) == ["succeeded"])
            #expect(await sluice.terminateAndWait() == 0, "\(sluice.output.suffix(3000))")
            let paths = try receiver.records().map(\.path)
            let caseCalls = paths.filter { $0 == "/case" }
            #expect(caseCalls.count == 1, "\(paths)")
            let hookCalls = paths.filter { $0 == "/hook" }
            #expect(hookCalls.count == 2, "\(paths)")
        }
    }

    /// A reload whose new state topics cannot be created fails with the reason, and the run goes
    /// on with the configuration it had: copies are still delivered, no owner started, and a
    /// SIGTERM still ends it cleanly. (The consumer group is part of the keyed topics' names: one
    /// of 240 characters makes names Kafka refuses; the silences topic, which has none, is fine.)
    @Test func aReloadWhoseStateTopicsCannotBeCreatedChangesNothing() async throws {
        try await withRunHarness { harness in
            let (broker, receiver, config) = try await harness.brokerAndWebhook(partitions: 3)
            try StateTests.writeRoute(config, state: "")
            let group = "reload-" + String(repeating: "g", count: 240)
            let (sluice, port) = try Self.start(harness, broker: broker, config: config, group: group)
            let ready = try await StateTests.waitUntil(timeout: 120) { await Self.ready(port) }
            #expect(ready, "\(sluice.output.suffix(2000))")
            let finding = try Findings.unique(1)[0]
            try await StateTests.produceShuffled([finding], topic: "findings", partitions: 3, broker: broker)
            try await receiver.waitForCount(1, timeout: 60)

            try StateTests.writeRoute(config, state: "dedupe: {key: [detail.id], window: 1h}")
            let reply = try Self.reload(port)
            #expect(reply.hasPrefix("HTTP/1.1 422"), "\(reply)")
            #expect(reply.contains("cannot be created") && reply.contains(".repartition"), "\(reply)")
            let status = try Self.status(port)
            #expect(status["lastReloadSuccessful"] as? Bool == false, "\(status)")
            #expect(status["configVersion"] as? Int == 1, "\(status)")
            #expect(await Self.ready(port))

            // The old configuration still runs: no dedupe, each copy delivered.
            try await StateTests.produceShuffled([finding, finding], topic: "findings", partitions: 3, broker: broker)
            try await receiver.waitForCount(3, timeout: 60)
            #expect(await StateTests.held([port]) == 0)
            #expect(!sluice.output.contains("state restored"))
            #expect(await sluice.terminateAndWait() == 0, "\(sluice.output.suffix(3000))")
            #expect(receiver.count == 3)
        }
    }

    /// Offline (`--input -`), SIGHUP reloads (with the admin server): the first dedupe applies to
    /// the lines read after it, in memory, and the run exits 0 at end of input.
    @Test func offlineRunGainsDedupeOnSighup() async throws {
        try await withRunHarness { harness in
            let (receiver, config, run, port) = try await Self.startOffline(harness)
            let findings = try Findings.unique(2)
            run.send([findings[0].bytes, findings[0].bytes])
            try await receiver.waitForCount(2, timeout: 60)

            try StateTests.writeRoute(config, state: "dedupe: {key: [detail.id], window: 1h}")
            let reloaded = try await Self.sighupUntilReloaded(run, port: port)
            #expect(reloaded["lastReloadSuccessful"] as? Bool == true, "\(reloaded) \(run.output)")

            run.send(Array(repeating: findings[1].bytes, count: 5))
            #expect(await run.finish() == 0, "\(run.output)")
            #expect(receiver.count == 3, "\(run.output)")
            let copiesOfSecond = try receiver.receivedFindingIDs().filter { $0 == findings[1].id }
            #expect(copiesOfSecond.count == 1)
        }
    }

    /// SIGHUP until the status API shows the reload (version 2): the signal is trapped once the
    /// run's services started, a moment after the admin port accepts.
    static func sighupUntilReloaded(_ run: StdinRun, port: Int) async throws -> [String: Any] {
        var reloaded: [String: Any] = [:]
        for _ in 0..<24 where (reloaded["configVersion"] as? Int ?? 0) < 2 {
            kill(run.process.processIdentifier, SIGHUP)
            reloaded = try await WatchTests.waitFor(port, timeout: 5) { ($0["configVersion"] as? Int ?? 0) >= 2 }
        }
        return reloaded
    }

    /// Offline, the first playbook by SIGHUP (approvals in memory): the finding read after the
    /// reload that matches it runs its http step once.
    @Test func offlineRunGainsAPlaybookOnSighup() async throws {
        try await withRunHarness { harness in
            let (receiver, config, run, port) = try await Self.startOffline(harness)
            let findings = try Findings.unique(3)
            run.send([findings[0].bytes])
            try await receiver.waitForCount(1, timeout: 60)

            try Self.writePlaybookRoute(config, match: #"{"detail": {"id": ["\#(findings[1].id)"]}}"#, url: receiver.url + "/case")
            let reloaded = try await Self.sighupUntilReloaded(run, port: port)
            #expect(reloaded["lastReloadSuccessful"] as? Bool == true, "\(reloaded) \(run.output)")

            run.send([findings[1].bytes, findings[2].bytes])
            #expect(await run.finish() == 0, "\(run.output)")
            let paths = try receiver.records().map(\.path)
            let caseCalls = paths.filter { $0 == "/case" }
            #expect(caseCalls.count == 1, "\(paths) \(run.output)")
            let hookCalls = paths.filter { $0 == "/hook" }
            #expect(hookCalls.count == 3, "\(paths)")
        }
    }

    /// Offline, the first inhibit rule by SIGHUP (a Hold stage in memory from then on): a source
    /// read after the reload holds its account's other findings.
    @Test func offlineRunGainsAnInhibitRuleOnSighup() async throws {
        try await withRunHarness { harness in
            let (receiver, config, run, port) = try await Self.startOffline(harness)
            // #0 is the source (a miner on account 1111…), #4 another finding of that account, #2 of another.
            let samples = try Findings.unique(5)
            run.send([samples[4].bytes])
            try await receiver.waitForCount(1, timeout: 60)

            try config.writeMinerInhibitRule()
            let reloaded = try await Self.sighupUntilReloaded(run, port: port)
            #expect(reloaded["lastReloadSuccessful"] as? Bool == true, "\(reloaded) \(run.output)")

            // Offline the clock is the findings' own time: the target comes a minute after the source.
            let target = try Self.at(Self.time(of: samples[0].bytes, plusSeconds: 60), samples[4].bytes)
            run.send([samples[0].bytes, target, samples[2].bytes])
            #expect(await run.finish() == 0, "\(run.output)")
            let received = try receiver.receivedFindingIDs()
            // Deliveries of one lane may overtake each other: what counts is what was delivered.
            #expect(received.sorted() == [samples[4].id, samples[0].id, samples[2].id].sorted(),
                    "\(received) of \(samples.map(\.id)) \(run.output)")
        }
    }

    /// `finding`'s time (EventBridge `time`, else `detail.updatedAt`) plus `seconds`, as ISO 8601.
    static func time(of finding: [UInt8], plusSeconds seconds: Double) throws -> String {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(finding)) as? [String: Any])
        let text = try #require(json["time"] as? String ?? (json["detail"] as? [String: Any])?["updatedAt"] as? String)
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = try #require(parser.date(from: text) ?? ISO8601DateFormatter().date(from: text))
        return ISO8601DateFormatter().string(from: date.addingTimeInterval(seconds))
    }

    /// `finding` with its EventBridge `time` and `detail.updatedAt` set to `time`.
    static func at(_ time: String, _ finding: [UInt8]) throws -> [UInt8] {
        var json = try #require(try JSONSerialization.jsonObject(with: Data(finding)) as? [String: Any])
        var detail = try #require(json["detail"] as? [String: Any])
        detail["updatedAt"] = time
        json["detail"] = detail
        if json["time"] != nil { json["time"] = time }
        return [UInt8](try JSONSerialization.data(withJSONObject: json))
    }

    /// `sluice run --input -` to a webhook receiver, with the admin server (SIGHUP reloads need it).
    static func startOffline(_ harness: RunHarness) async throws -> (WebhookReceiver, TestConfig, StdinRun, Int) {
        let (receiver, config) = try await harness.webhook()
        let port = try LoopbackPort.free()
        let run = try harness.stdinRun(config, extra: ["--admin-listen", "127.0.0.1:\(port)"])
        #expect(await LoopbackPort.accepts(port, within: 60), "\(run.output)")
        return (receiver, config, run, port)
    }

    /// routes/act.yaml: a route of `match` whose playbook has one http step to `url`.
    static func writePlaybookRoute(_ config: TestConfig, match: String, url: String) throws {
        try """
        name: open-case
        match: \(match)
        playbook:
          steps:
            - name: open-case
              action: http
              params: {url: "\(url)", allow_loopback: true}
        """.write(to: config.directory.appendingPathComponent("routes/act.yaml"), atomically: true, encoding: .utf8)
    }
}
