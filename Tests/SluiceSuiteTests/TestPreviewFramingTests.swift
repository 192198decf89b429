import Foundation
import SluiceTestSupport
import Testing

/// `sluice test` shows what a SIEM target is sent — the syslog message, the HEC event object,
/// the `_bulk` lines — not the bare finding (issue 14).
@Suite struct TestPreviewFramingTests {
    @Test func siemTargetsPreviewTheFrameTheyAreSent() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("preview-\(UUID().uuidString)")
        let routes = dir.appendingPathComponent("routes"), connectors = dir.appendingPathComponent("connectors")
        for d in [routes, connectors] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        defer { try? FileManager.default.removeItem(at: dir) }
        try """
            name: falco-to-siem
            match: {sluice: {format: [falco]}}
            targets: [cef, hec, es]
            """.write(to: routes.appendingPathComponent("r.yaml"), atomically: true, encoding: .utf8)
        try """
            connectors:
              - {name: cef, type: syslog, host: 127.0.0.1, hostname: sluice-test, format: cef}
              - {name: hec, type: splunk-hec, url: "http://127.0.0.1:9", token: t0k}
              - {name: es, type: elasticsearch, url: "http://127.0.0.1:9"}
            """.write(to: connectors.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        let (status, output) = try await SluiceCommand.run(
            ["test", "--event", "examples/findings/falco/03-k8s-drop-and-execute-critical.json", "--routes", routes.path,
             "--connectors", connectors.path, "--json"], in: PackagePaths.root)
        #expect(status == 0, "\(output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let targets = ((json["matches"] as? [[String: Any]])?.first?["targets"] as? [[String: Any]]) ?? []
        let payloads = Dictionary(uniqueKeysWithValues: targets.map { ($0["connector"] as? String ?? "", $0["payload"] as? String ?? "") })
        // <PRI>1 TIMESTAMP HOSTNAME APP PROCID MSGID [SD] CEF: crit (2) at facility auth (4) → 34.
        let syslog = payloads["cef"] ?? ""
        #expect(syslog.hasPrefix("<34>1 "), "\(syslog)")
        #expect(syslog.contains(#" sluice-test sluice "#) && syslog.contains(#" syscall [falco@32473 finding_id="42086a0c71228bb726bd3799068793b6""#), "\(syslog)")
        #expect(syslog.contains(#"] CEF:0|Falcosecurity|Falco||syscall|Drop and execute new binary in container|9|externalId=42086a0c71228bb726bd3799068793b6 "#), "\(syslog)")
        let hec = payloads["hec"] ?? ""
        #expect(hec.hasPrefix(#"{"time":1748855748.905,"source":"sluice","sourcetype":"falcosidekick","event":{"#), "\(hec)")
        let bulk = (payloads["es"] ?? "").split(separator: "\n", omittingEmptySubsequences: false)
        #expect(bulk.count == 2)
        #expect(bulk.first == #"{"index":{"_index":"falco-2025.06.02","_id":"42086a0c71228bb726bd3799068793b6"}}"#, "\(bulk)")
        // The record as it came (pretty-printed), on one line: its line breaks become spaces.
        #expect(bulk.last?.hasPrefix(#"{   "hostname": "ip-10-20-5-17.eu-west-1.compute.internal",   "output": "#) == true, "\(bulk.last ?? "")")
    }
}
