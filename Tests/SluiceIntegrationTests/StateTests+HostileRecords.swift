import Foundation
import Logging
import SluiceKafka
import SluiceTestSupport
import Synchronization
import Testing

extension StateTests {
    /// State topics are outside data. Before `sluice run` starts, the changelog gets a binary
    /// dedupe record, for the key of the finding published next, whose last delivery is near
    /// Int64.max (the owner trapped in `last + window` deciding that finding), and the silences
    /// topic a silence with `notify:` that ended near Int64.min (every instance trapped in
    /// `now - endsAt` at the summary tick, twice a second). The run skips and counts them, and delivers.
    @Test func hostileStateRecordsAreSkippedAndTheRunDelivers() async throws {
        try await withCleanup { cleanup in
            let group = "hostile"
            let (broker, receiver, config) = try await Self.dedupeOnThreePartitions(group: group, stoppedBy: cleanup)
            defer { config.remove() }
            try await broker.create(topics: ["sluice.silences"])

            // Format 1, flags 3, last delivery Int64.max - 1000, severity 5.0, held 0, first and last seen 0.
            let record: [UInt8] = [0x01, 0x03] + withUnsafeBytes(of: (Int64.max - 1000).littleEndian, Array.init)
                + withUnsafeBytes(of: (5.0).bitPattern.littleEndian, Array.init) + [UInt8](repeating: 0, count: 20)
            let silence = #"{"id":"ancient","matchers":{"source":["aws.guardduty"]},"starts_at":-9.2233e18,"ends_at":-9.223e18,"created_by":"x","comment":"x","notify":"hook"}"#
            try await offPool {
                let producer = try KafkaProducer(config: broker.clientConfig(), logger: Logger(label: "test"))
                let failures = Atomic<Int>(0)
                // The key of the finding published below: sha256("all-findings\0hook\0\"after-the-hostile-records\"")
                // begins 02bb069d…, worked out with Python's hashlib. On every partition: its own is among them.
                for p in 0..<3 {
                    try producer.produce(topic: "sluice.hold.\(group).changelog", partition: Int32(p),
                                         key: Array("d\u{0}all-findings\u{0}02bb069d00be4bbe7e2cd5eeb136553a".utf8), value: record) { error in
                        if error != nil { failures.add(1, ordering: .relaxed) }
                    }
                }
                try producer.produce(topic: "sluice.silences", partition: 0, key: Array("ancient".utf8), value: Array(silence.utf8)) { error in
                    if error != nil { failures.add(1, ordering: .relaxed) }
                }
                producer.close(timeoutMs: 30_000)
                #expect(failures.load(ordering: .relaxed) == 0)
            }

            let sluice = try Self.jsonLoggingRun(broker, group: group, config: config, metricsPort: try LoopbackPort.free(), stoppedBy: cleanup)
            let finding = try Self.finding(id: "after-the-hostile-records", time: "2025-05-12T08:00:00Z", severity: 5)
            try await Findings.publish([(id: "after-the-hostile-records", bytes: finding)], to: "findings", broker: broker)
            let delivered = try await Self.waitUntil(timeout: 90) { receiver.count == 1 }
            #expect(delivered)
            // Past several summary ticks and an expiry sweep.
            try await Task.sleep(for: .seconds(3))
            #expect(sluice.process.isRunning, "\(sluice.output.suffix(3000))")
            #expect(Self.skippedRecords(sluice.output) == 3, "\(sluice.output.suffix(3000))")
            #expect(await sluice.terminateAndWait() == 0)
        }
    }

    /// The changelog records restores skipped, summed from the JSON log.
    static func skippedRecords(_ log: String) -> Int {
        log.split(separator: "\n").reduce(0) { sum, line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let n = (o["sluice.state.skipped"] as? String).flatMap({ Int($0) }) else { return sum }
            return sum + n
        }
    }
}
