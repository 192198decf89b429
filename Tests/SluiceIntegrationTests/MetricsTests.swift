import Foundation
import SluiceTestSupport
import Testing

/// `--metrics-listen`: Prometheus counters of a real run, scraped over HTTP while it runs.
@Suite struct MetricsTests {
    /// The response text (status line, headers, body) of a GET, "" when nothing answered.
    static func get(_ port: Int, _ path: String) async -> String { await LoopbackPort.fetch(port, path) ?? "" }

    @Test func countersOfARunAreScrapedWhileItRuns() async throws {
        try await withRunHarness { harness in
            let (receiver, config) = try await harness.webhook()
            let port = freeLoopbackPort()
            let run = try harness.stdinRun(config, metricsPort: port, extra: ["--log-level", "error"])

            let findings = try Findings.unique(20)
            run.send(findings.map(\.bytes) + [Array("not json at all".utf8)])
            try await receiver.waitForCount(findings.count, timeout: 120)
            #expect(await LoopbackPort.accepts(port, within: 60))

            let metrics = await eventually(within: .seconds(120)) {
                await Self.get(port, "/metrics")
            } until: { $0.contains("sluice_dead_letters_total{reason=\"not_json\"} 1") }
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
            let anIDInTheMetrics = findings.contains { metrics.contains($0.id) }
            #expect(!anIDInTheMetrics, "finding ids never become label values")
            #expect(await Self.get(port, "/healthz").hasSuffix("ok\n"))
            #expect(await Self.get(port, "/nope").hasPrefix("HTTP/1.1 404"))

            // End of input: drain and exit. The "not json" line was dead-lettered: an offline run
            // says so with exit status 2.
            #expect(await run.finish() == 2)
        }
    }
}
