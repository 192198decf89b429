import Foundation
import SluiceTestSupport
import Testing

/// Reload of state rules (`--watch`, the same path as `POST /-/reload` and SIGHUP): on Tansu,
/// through the repartition topic and the key's owner, a changed dedupe window decides the next
/// repeat. Markers: the status API's config version, the receiver, `sluice_held_total`.
extension StateTests {
    @Test func reloadedDedupeWindowDecidesTheNextRepeat() async throws {
        try await withCleanup { cleanup in
            let (broker, receiver) = try await Self.brokerAndReceiver(stoppedBy: cleanup)
            let config = try Self.config(receiver, state: "dedupe: {key: [detail.id], window: 1h}")
            defer { config.remove() }
            let port = try LoopbackPort.free()
            let sluice = try SluiceProcess(broker: broker, topic: "findings", group: "reload", dlq: "dlq", config: config,
                                           extra: ["--state-partitions", "3", "--admin-listen", "127.0.0.1:\(port)", "--watch"])
            cleanup.add { await sluice.stopAndWait() }
            let one = try Findings.unique(1)

            try await Self.produceShuffled(one, topic: "findings", partitions: 3, broker: broker)
            let firstDelivered = try await Self.waitUntil(timeout: 120) { receiver.count >= 1 }
            #expect(firstDelivered, "\(sluice.output.suffix(2000))")
            // A repeat within the hour is held.
            try await Self.produceShuffled(one, topic: "findings", partitions: 3, broker: broker)
            let repeatHeld = try await Self.waitUntil(timeout: 60) { await Self.held([port]) >= 1 }
            #expect(repeatHeld)
            #expect(receiver.count == 1)

            // The window becomes 2 s; the reload is accepted (it used to be refused: restart).
            try Self.writeRoute(config, state: "dedupe: {key: [detail.id], window: 2s}")
            let reloaded = try await WatchTests.waitFor(port) { $0["configVersion"] as? Int == 2 }
            #expect(reloaded["lastReloadSuccessful"] as? Bool == true, "\(reloaded) \(sluice.output.suffix(2000))")
            // The next repeat comes more than 2 s after the delivery (the receiver's time marks it).
            let deliveredMs = try #require(try receiver.records().first).receivedMs
            _ = try await Self.waitUntil(timeout: 10) { Int64(Date().timeIntervalSince1970 * 1000) >= deliveredMs + 2500 }
            try await Self.produceShuffled(one, topic: "findings", partitions: 3, broker: broker)
            let repeatDelivered = try await Self.waitUntil(timeout: 60) { receiver.count >= 2 }
            #expect(repeatDelivered, "the repeat after the new window was held")
            #expect(await Self.held([port]) == 1)

            // Back to an hour: the repeat right after that delivery is held again.
            try Self.writeRoute(config, state: "dedupe: {key: [detail.id], window: 1h}")
            let again = try await WatchTests.waitFor(port) { $0["configVersion"] as? Int == 3 }
            #expect(again["lastReloadSuccessful"] as? Bool == true, "\(again)")
            try await Self.produceShuffled(one, topic: "findings", partitions: 3, broker: broker)
            let nextRepeatHeld = try await Self.waitUntil(timeout: 60) { await Self.held([port]) >= 2 }
            #expect(nextRepeatHeld)
            #expect(receiver.count == 2)
            #expect(await sluice.terminateAndWait() == 0)
        }
    }
}
