import Foundation
import SluiceTestSupport
import Testing

/// A target that reads the finding's summary (syslog CEF) behind a dedupe rule on Kafka: the key's
/// owner releases each finding's first occurrence, and the release must carry the summary as a
/// direct delivery does. Before the fix it carried none, and every release was dead-lettered with
/// "format cef needs a GuardDuty finding". The receiver is a real rsyslogd.
extension StateTests {
    @Test func aSyslogCEFTargetBehindDedupeGetsEveryReleasedFinding() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let rsyslog = try await Rsyslog(pki: pki)
        try await withCleanup { cleanup in
            cleanup.add { await rsyslog.stopAndWait() }
            let broker = try await TansuBroker.start()
            cleanup.add { await broker.stopAndWait() }
            try await broker.create(topics: ["findings", "dlq"], partitions: 3)

            let config = try TestConfig(connector: """
                type: syslog
                host: 127.0.0.1
                port: \(rsyslog.tcpPort)
                protocol: tcp
                format: cef
                retry: {attempts: 2, backoff: 50ms, max_backoff: 100ms}
                """)
            defer { config.remove() }
            try Self.writeRoute(config, state: "dedupe: {key: [detail.id], window: 1h}")
            let distinct = try Findings.unique(4)
            let metrics = try LoopbackPort.free()
            let sluice = try instance(broker, config, group: "cef", metricsPort: metrics)
            cleanup.add { await sluice.stopAndWait() }
            // Each finding twice, on different partitions: one delivery each, one held repeat each.
            try await Self.produceShuffled(distinct + distinct, topic: "findings", partitions: 3, broker: broker)

            func cefMessages() -> [String] { rsyslog.messages().compactMap { $0["msg"] }.filter { $0.hasPrefix("CEF:0|") } }
            let settled = try await Self.waitUntil(timeout: 120) { await Self.held([metrics]) >= 4 && cefMessages().count >= 4 }
            let heldNow = await Self.held([metrics])
            #expect(settled, "\(cefMessages().count) CEF events, \(heldNow) held: \(sluice.output.suffix(2000))")
            let cef = cefMessages()
            #expect(cef.count == 4, "\(cef)")
            for f in distinct {
                // The summary's fields: the finding's id as externalId, and a severity column.
                let inCEF = cef.contains { $0.contains("externalId=\(f.id)") }
                #expect(inCEF, "no CEF event for \(f.id): \(cef)")
            }
            let allGuardDutyCEF = cef.allSatisfy { $0.hasPrefix("CEF:0|Amazon|GuardDuty|") }
            #expect(allGuardDutyCEF, "\(cef)")
            let scrape = await LoopbackPort.fetch(metrics, "/metrics") ?? ""
            let deadLettered = scrape.split(separator: "\n").filter { $0.hasPrefix("sluice_dead_letters_total{") && !$0.hasSuffix(" 0") }
            #expect(deadLettered.isEmpty, "\(deadLettered)")
        }
    }
}
