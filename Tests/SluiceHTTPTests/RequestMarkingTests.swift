import Foundation
import Testing
import SluiceTestSupport
@testable import SluiceHTTP

/// `RequestMarking`: the headers set for a task reach every request sent from it (async and
/// callback calls, and a task it starts), a caller's own header of that name wins, and requests
/// sent outside the marking carry none. Against a real loopback receiver.
@Suite struct RequestMarkingTests {
    @Test func markedTasksRequestsCarryTheHeadersAndOthersDoNot() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            func request(_ path: String, headers: [(name: String, value: String)] = []) -> HTTPRequest {
                HTTPRequest(url: receiver.url + path, headers: headers, body: Array("{}".utf8))
            }
            _ = try await client.execute(request("/live"))
            try await RequestMarking.$headers.withValue([("X-Sluice-Replay", "r-1")]) {
                _ = try await client.execute(request("/async"))
                _ = try await client.execute(request("/own", headers: [("x-sluice-replay", "callers-own")]))
                _ = await withCheckedContinuation { (k: CheckedContinuation<Void, Never>) in
                    client.execute(request("/callback")) { _ in k.resume() }
                }
                try await Task { _ = try await client.execute(request("/child-task")) }.value
            }
            _ = try await client.execute(request("/after"))
            let seen = Dictionary(try receiver.records().map { ($0.path, $0.header("X-Sluice-Replay") ?? "-") }, uniquingKeysWith: { a, _ in a })
            #expect(seen == ["/live": "-", "/async": "r-1", "/own": "callers-own", "/callback": "r-1", "/child-task": "r-1", "/after": "-"])
        }
    }
}
