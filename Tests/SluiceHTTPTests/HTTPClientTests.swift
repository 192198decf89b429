import Foundation
import Testing
import SluiceTestSupport
@testable import SluiceHTTP

/// Against a real local HTTP server (scripts/receivers/webhook_receiver.py).
@Suite(.serialized) struct HTTPClientTests {
    @Test func postsArriveAndStatusesSurface() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let client = HTTPClient()
        defer { client.shutdown() }
        let ok = try await client.execute(HTTPRequest(url: receiver.url + "/hook", headers: [("X-Test", "1")], body: Array(#"{"a":1}"#.utf8)))
        #expect(ok.status == 204)
        let records = try receiver.records()
        #expect(records.count == 1)
        #expect(records.first?.body == #"{"a":1}"#)
        #expect(records.first?.headers["X-Test"] == "1")

        try await receiver.setStatus(429, retryAfter: 3)
        let limited = try await client.execute(HTTPRequest(url: receiver.url + "/hook", body: [1]))
        #expect(limited.status == 429)
        #expect(limited.retryAfter == .seconds(3))
    }

    @Test func manyConcurrentRequestsAllComplete() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let client = HTTPClient()
        defer { client.shutdown() }
        let n = 500
        let statuses = await withTaskGroup(of: Int.self) { group in
            for i in 0..<n {
                group.addTask { (try? await client.execute(HTTPRequest(url: receiver.url + "/m", body: Array("\(i)".utf8))))?.status ?? -1 }
            }
            return await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.filter { $0 == 204 }.count == n)
        #expect(try receiver.records().count == n)
    }

    @Test func connectionRefusedIsRetriable() async throws {
        let port = try LoopbackPort.free()
        let client = HTTPClient()
        defer { client.shutdown() }
        do {
            _ = try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/x", timeout: .seconds(2)))
            Issue.record("expected a connection error")
        } catch {
            #expect(error.code == .connectFailed)
            #expect(error.isRetriable)
        }
    }

    @Test func descriptionsRedactSecrets() {
        let r = HTTPRequest(url: "https://user:pw@hooks.example.com/services/T0/B0/SECRET?token=abc",
                            headers: [("Authorization", "Bearer xyz"), ("X-Plain", "visible")], credentials: "AKIA:secret")
        let d = r.description
        #expect(!d.contains("xyz") && !d.contains("pw@") && !d.contains("token=abc") && !d.contains("AKIA"))
        #expect(d.contains("visible"))
    }
}
