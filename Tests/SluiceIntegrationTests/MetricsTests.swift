import Foundation
import SluiceTestSupport
import Testing

/// `--metrics-listen`: Prometheus counters of a real run, scraped over HTTP while it runs.
@Suite struct MetricsTests {
    /// The response text (status line, headers, body) of a GET, "" when nothing answered.
    static func get(_ port: Int, _ path: String) async -> String { await LoopbackPort.fetch(port, path) ?? "" }

    @Test func countersOfARunAreScrapedWhileItRuns() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        let config = try TestConfig.webhook(receiver.url)
        defer { config.remove() }
        let port = freeLoopbackPort()
        let stdin = Pipe.closedOnExec()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ChildProcess.unblockingSignals + [SluiceProcess.binary.path, "run", "--input", "-", "--routes", config.routes,
                       "--connectors", config.connectors, "--metrics-listen", "127.0.0.1:\(port)", "--log-level", "error"]
        p.standardInput = stdin
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }

        let findings = try Findings.unique(20)
        let lines = findings.flatMap { $0.bytes + [0x0A] } + Array("not json at all\n".utf8)
        stdin.fileHandleForWriting.write(Data(lines))
        try await receiver.waitForCount(findings.count, timeout: 30)
        #expect(await LoopbackPort.accepts(port, within: 10))

        var metrics = ""
        let deadline = Date().addingTimeInterval(10)
        repeat {
            metrics = await Self.get(port, "/metrics")
            if metrics.contains("sluice_dead_letters_total{reason=\"not_json\"} 1") { break }
            try await Task.sleep(for: .milliseconds(100))
        } while Date() < deadline
        #expect(metrics.hasPrefix("HTTP/1.1 200"))
        #expect(metrics.contains("Content-Type: text/plain; version=0.0.4"))
        #expect(metrics.contains("sluice_findings_consumed_total 21"))
        #expect(metrics.contains("sluice_deliveries_total{route=\"all-findings\",connector=\"hook\"} 20"))
        #expect(metrics.contains("sluice_dead_letters_total{reason=\"not_json\"} 1"))
        #expect(metrics.contains("# TYPE sluice_lane_pending gauge"))
        #expect(metrics.contains("# TYPE sluice_delivery_duration_seconds histogram"))
        #expect(metrics.contains("sluice_delivery_duration_seconds_bucket{connector=\"hook\",le=\"+Inf\"} 20"))
        #expect(metrics.contains("sluice_delivery_duration_seconds_count{connector=\"hook\"} 20"))
        // Buckets are cumulative: none holds more than the next.
        let buckets = metrics.split(separator: "\n").filter { $0.hasPrefix("sluice_delivery_duration_seconds_bucket{connector=\"hook\"") }
            .compactMap { Int($0.split(separator: " ").last ?? "") }
        #expect(buckets.count == 17 && buckets == buckets.sorted())
        #expect(!findings.contains { metrics.contains($0.id) }, "finding ids never become label values")
        #expect(await Self.get(port, "/healthz").hasSuffix("ok\n"))
        #expect(await Self.get(port, "/nope").hasPrefix("HTTP/1.1 404"))

        stdin.fileHandleForWriting.closeFile()  // end of input: drain and exit
        let exitDeadline = Date().addingTimeInterval(30)
        while p.isRunning, Date() < exitDeadline { try await Task.sleep(for: .milliseconds(50)) }
        // The "not json" line was dead-lettered: an offline run says so with exit status 2.
        #expect(!p.isRunning && p.terminationStatus == 2)
    }
}
