import Foundation
import Logging
import SluiceKafka
import SluiceTestSupport
import Testing

extension StateTests {
    /// The key owner's local fast path beside the repartition topic: two instances, each owning
    /// some hold partitions, read copies of the same findings. A copy whose key this instance
    /// owns is decided here (never written to the repartition topic); the others cross it to
    /// their owner. Still exactly one delivery per key, and a restart holds every repeat.
    @Test func localDecisionsAndForwardedOnesStillDeliverEachKeyOnce() async throws {
        let broker = try TansuBroker()
        defer { broker.stop() }
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        try broker.createTopics(["findings", "dlq"], partitions: 3)
        let config = try Self.config(receiver, state: "dedupe: {key: [detail.id], window: 1h}")
        defer { config.remove() }
        let distinct = try Findings.unique(10)
        let fifty = (0..<5).flatMap { _ in distinct }

        let ports = [try LoopbackPort.free(), try LoopbackPort.free()]
        let a = try instance(broker, config, group: "local", metricsPort: ports[0])
        defer { a.stop() }
        let b = try instance(broker, config, group: "local", metricsPort: ports[1])
        defer { b.stop() }
        // Both own (and restored) hold partitions before anything is read: each decides some
        // keys here and forwards the others.
        let bothReady = try await Self.waitUntil(timeout: 120) {
            ports.allSatisfy { LoopbackPort.get($0, "/-/ready")?.hasPrefix("HTTP/1.1 200") == true }
        }
        #expect(bothReady)
        try Self.produceShuffled(fifty, topic: "findings", partitions: 3, broker: broker)

        let settled = try await Self.waitUntil(timeout: 120) { receiver.count >= 10 && Self.held(ports) >= 40 }
        let forwarded = try Self.repartitionRecords(broker, group: "local")
        print("two instances, local and forwarded: \(receiver.count) deliveries, \(Self.held(ports)) held, \(forwarded) of 50 through the repartition topic")
        #expect(settled)
        #expect(receiver.count == 10)
        #expect(Set(try receiver.receivedFindingIDs()) == Set(distinct.map(\.id)))
        // Some copies were decided where they were read, some crossed to the other instance.
        #expect(forwarded > 0)
        #expect(forwarded < 50)
        let recorded = try await Self.waitUntil(timeout: 60) { try Self.deliveredKeys(broker, group: "local") >= 10 }
        #expect(recorded)
        a.killHard()
        b.killHard()

        // One instance, the same 50 again: the state restored from the changelog holds them all.
        let port = try LoopbackPort.free()
        let c = try instance(broker, config, group: "local", metricsPort: port)
        defer { c.stop() }
        try Self.produceShuffled(fifty, topic: "findings", partitions: 3, broker: broker)
        let heldAll = try await Self.waitUntil(timeout: 120) { Self.held([port]) >= 50 }
        #expect(heldAll)
        #expect(receiver.count == 10)
        if !heldAll { print(c.output.suffix(3000)) }
        #expect(c.terminate() == 0)
    }

    /// Records in the group's repartition topic as of now.
    static func repartitionRecords(_ broker: TansuBroker, group: String) throws -> Int {
        let reader = try KafkaTopicReader(config: broker.clientConfig(), topic: "sluice.hold.\(group).repartition", logger: Logger(label: "test"))
        defer { reader.close() }
        return try reader.readToEnd(timeoutMs: 10_000).count
    }
}
