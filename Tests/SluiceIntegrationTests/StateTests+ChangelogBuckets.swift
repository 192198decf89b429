import Foundation
import Logging
import SluiceKafka
import SluiceTestSupport
import Testing

extension StateTests {
    /// kill -9 while dedupe buckets are open and in flight (docs/state.md, "A changelog of
    /// buckets"): a finding whose source offset was committed before the kill had its dedupe
    /// entry acknowledged in the changelog, so its copy published after the restart is held;
    /// only findings not settled by then may be delivered again, and none is lost.
    @Test func killNineMidBucketLosesNoSettledDedupeDecision() async throws {
        try await withCleanup { cleanup in
            let group = "midbucket"
            let (broker, receiver, config) = try await Self.dedupeOnThreePartitions(group: group, stoppedBy: cleanup)
            defer { config.remove() }
            let findings = try Findings.unique(3_000)
            let first = try Self.jsonLoggingRun(broker, group: group, config: config, metricsPort: try LoopbackPort.free(), stoppedBy: cleanup)
            try await Self.produceShuffled(findings, topic: "findings", partitions: 3, broker: broker)
            let midway = try await Self.waitUntil(timeout: 120, every: .milliseconds(5)) { receiver.count >= 1_000 }
            #expect(midway)
            await first.killHardAndWait()

            // What the killed instance had settled: the records below its committed offsets.
            let parts = (0..<3).map { TopicPartition("findings", Int32($0)) }
            let committed = try await offPool { try KafkaGroupInspector.committed(group: group, parts, config: broker.clientConfig(), logger: Logger(label: "test")) }
            let published = try await offPool {
                let reader = try KafkaTopicReader(config: broker.clientConfig(), topic: "findings", logger: Logger(label: "test"))
                defer { reader.close() }
                return try reader.readToEnd(timeoutMs: 60_000)
            }
            let settled = Set(published.filter { r in committed[TopicPartition("findings", r.partition)].map { r.offset < $0 } ?? false }
                .compactMap { $0.key.map { String(decoding: $0, as: UTF8.self) } })
            let deliveredBefore = try receiver.records().count
            print("kill -9 mid-bucket: \(deliveredBefore) delivered, \(settled.count) of \(findings.count) settled (committed) at the kill")
            #expect(!settled.isEmpty)

            // Restart, and the same findings again: the killed instance's unsettled records are
            // read again, and every copy is held or delivered once.
            let port = try LoopbackPort.free()
            let second = try Self.jsonLoggingRun(broker, group: group, config: config, metricsPort: port, stoppedBy: cleanup)
            try await Self.produceShuffled(findings, topic: "findings", partitions: 3, broker: broker)
            let total = published.count + findings.count
            let allSettled = try await Self.waitUntil(timeout: 180) {
                let now = try await offPool { try KafkaGroupInspector.committed(group: group, parts, config: broker.clientConfig(), logger: Logger(label: "test")) }
                return now.values.reduce(0) { $0 + Int($1) } >= total
            }
            #expect(allSettled)
            let after = try receiver.records().dropFirst(deliveredBefore).compactMap { $0.header("X-Sluice-Finding-Id") }
            let again = after.filter { settled.contains($0) }
            print("after the restart: \(after.count) delivered, \(again.count) of them settled before the kill; \(await Self.held([port])) held")
            #expect(again.isEmpty, "settled decisions lost: \(again.prefix(5))")
            #expect(after.count <= findings.count - settled.count)
            #expect(Set(try receiver.receivedFindingIDs()) == Set(findings.map(\.id)))
            #expect(await second.terminateAndWait() == 0)
        }
    }
}
