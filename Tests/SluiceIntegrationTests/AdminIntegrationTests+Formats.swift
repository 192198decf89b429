import Foundation
import SluiceTestSupport
import Testing

/// The findings feed shows every input format as routes see it: one row per finding of a split
/// Security Hub record, each with its id, title, type, severity label and format. They were read
/// from a GuardDuty-only summary: null for Falco, OCSF and ASFF, and a two-finding record was one row.
extension AdminIntegrationTests {
    @Test func theFeedShowsEveryFormatOneRowPerFinding() async throws {
        let token = "feed-admin-\(UUID().uuidString.prefix(8))"
        let stack = try await Stack(adminToken: token)
        try await withCleanup { cleanup in
            cleanup.add { await stack.stopAndWait() }
            // A route on the view, reloaded in: it matches all four formats.
            try """
            name: all-findings
            match: {"sluice": {"format": ["guardduty", "asff", "ocsf", "falco"]}}
            targets: [hook]
            """.write(to: stack.config.directory.appendingPathComponent("routes/all.yaml"), atomically: true, encoding: .utf8)
            let reload = try stack.post("/-/reload", body: [], token: token)
            #expect(reload.contains(#""successful":true"#), "\(reload)")

            let files = ["falco/01-k8s-terminal-shell-sidekick.json", "asff/04-custom-action-two-findings.json", "ocsf/02-edr-detection-critical-1.1.json"]
            let records = try files.map { name -> (id: String, bytes: [UInt8]) in
                (name, Array(try Data(contentsOf: PackagePaths.root.appendingPathComponent("examples/findings/\(name)"))))
            }
            try await Findings.publish(records, to: "findings", broker: stack.broker)
            try await stack.receiver.waitForCount(4, timeout: 60)

            var rows: [[String: Any]] = []
            for _ in 0..<300 {
                rows = (try? JSONSerialization.jsonObject(with: Data(try stack.get("/api/v1/findings?limit=50", token: token).utf8)) as? [[String: Any]]) ?? []
                if rows.count == 4, rows.allSatisfy({ ($0["outcomes"] as? [String: String])?["hook"] == "delivered" }) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(rows.count == 4, "\(rows)")
            // The expected views of these fixtures, as examples/expected-views.json writes them by hand.
            let expected: [String: (title: String, type: String, label: String, format: String, source: String)] = [
                "5b3c9e2a-7f41-4d6b-a8e0-1c2d3e4f5a6b": ("Terminal shell in container", "syscall", "Low", "falco", "findings/0@0"),
                "arn:aws:guardduty:us-east-1:111122223333:detector/2cb4e6f8a0c1d3e5f7a9b1c3d5e7f9a1/finding/18ba6a4efca846b5b8d9d28f60607366":
                    ("An API was invoked from a Tor exit node IP address.", "TTPs/Command and Control/UnauthorizedAccess:IAMUser-TorIPCaller",
                     "Medium", "asff", "findings/0@1 #1"),
                "arn:aws:guardduty:us-east-1:111122223333:detector/2cb4e6f8a0c1d3e5f7a9b1c3d5e7f9a1/finding/24aa2d4ab3408ea7d42d27c6b0a6789f":
                    ("198.51.100.201 is performing SSH brute force attacks against i-0f9e8d7c6b5a43210.", "TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce",
                     "Low", "asff", "findings/0@1 #2"),
                "det-2025-05-30-000481": ("Credential dumping tool executed", "Credential Access", "Critical", "ocsf", "findings/0@2"),
            ]
            let rowIDs = Set(rows.compactMap { $0["id"] as? String })
            #expect(rowIDs == Set(expected.keys), "\(rows)")
            for row in rows {
                guard let id = row["id"] as? String, let want = expected[id] else { continue }
                #expect(row["title"] as? String == want.title, "\(row)")
                #expect(row["type"] as? String == want.type, "\(row)")
                #expect(row["severityLabel"] as? String == want.label, "\(row)")
                #expect(row["format"] as? String == want.format, "\(row)")
                #expect(row["source"] as? String == want.source, "\(row)")
                #expect(row["routes"] as? [String] == ["all-findings"], "\(row)")
            }
        }
    }
}
