import Foundation
import SluiceTestSupport
import Testing
@testable import SluiceAdmin

@Suite struct RecentFindingsTests {
    static func record(_ id: String, routes: [String] = ["r"]) -> FindingRecord {
        FindingRecord(source: "findings/0@1", id: id, type: "Recon:EC2/PortProbeUnprotectedPort", severity: 5, routes: routes, outcomes: ["slack": "pending"])
    }

    @Test func theRingKeepsTheNewestAndTracksOutcomes() {
        let ring = RecentFindings(capacity: 3)
        var sequences: [Int] = []
        for i in 1...5 { sequences.append(ring.append(Self.record("f\(i)"))) }
        #expect(sequences == [1, 2, 3, 4, 5])
        #expect(ring.recent(limit: 10).map(\.id) == ["f5", "f4", "f3"])
        #expect(ring.recent(limit: 10, after: 4).map(\.id) == ["f5"])
        ring.update(sequence: 4, connector: "slack", outcome: "delivered")
        ring.update(sequence: 1, connector: "slack", outcome: "delivered")  // gone from the ring: ignored
        #expect(ring.recent(limit: 10).map { $0.outcomes["slack"] } == ["pending", "delivered", "pending"])
    }

    @Test func findingsApiAndEventStreamShowWhatArrives() async throws {
        let recent = RecentFindings()
        // Hostile text stays data: it is JSON-escaped here and inserted as text by the page.
        recent.append(Self.record("<script>alert(1)</script>"))
        let admin = try await RunningAdmin.start(runtime: FakeRuntime(), recent: recent)
        let feed = try await LoopbackHTTP.request(admin.port, "GET", "/api/v1/findings?limit=5")
        #expect(feed.status == 200)
        let decoded = try JSONDecoder().decode([FindingRecord].self, from: Data(feed.body.utf8))
        #expect(decoded.map(\.id) == ["<script>alert(1)</script>"])

        // The live stream: the backlog first, then each new finding as it arrives.
        let fd = try LoopbackHTTP.connect(admin.port)
        defer { close(fd) }
        try LoopbackHTTP.send(fd, Array("GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let stream = EventStreamReader(fd: fd)
        #expect(try await stream.readUntil("event: snapshot"))
        #expect(stream.seen.contains("text/event-stream"))
        #expect(stream.seen.contains("alert(1)"))
        recent.append(Self.record("second-finding"))
        #expect(try await stream.readUntil("second-finding"))
        // Shutdown ends the open stream (a dashboard left open does not hold the process).
        await admin.stop()
        #expect(try await stream.readUntil("never-sent") == false)
    }

    @Test func theDashboardIsSelfContained() async throws {
        let admin = try await RunningAdmin.start(runtime: FakeRuntime())
        let page = try await LoopbackHTTP.request(admin.port, "GET", "/")
        #expect(page.status == 200)
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.headers["content-security-policy"]?.contains("default-src 'self'") == true)
        #expect(page.body.contains("<title>Sluice</title>"))
        // No CDN, no remote font: nothing is loaded from another origin.
        #expect(!page.body.contains("http://") && !page.body.contains("https://"))
        // Finding text never goes through innerHTML.
        #expect(!page.body.contains("innerHTML"))
        await admin.stop()
    }
}

/// Reads a never-ending response until a marker shows.
final class EventStreamReader: @unchecked Sendable {
    // @unchecked: used by one test task at a time; reads happen on one helper thread per call.
    let fd: Int32
    var seen = ""
    init(fd: Int32) { self.fd = fd }

    func readUntil(_ marker: String) async throws -> Bool {
        try await offPool { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while !seen.contains(marker) {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { return false }
                seen += String(decoding: buffer[..<n], as: UTF8.self)
            }
            return true
        }
    }
}
