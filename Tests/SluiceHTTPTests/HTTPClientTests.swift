import CCurl
import Foundation
import Synchronization
import Testing
import SluiceTestSupport
@testable import SluiceHTTP

/// Against a real local HTTP server (scripts/receivers/webhook_receiver.py) on a loopback port.
@Suite(.serialized) struct HTTPClientTests {
    @Test func postArrivesIntact() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            let body = #"{"detail":{"type":"Recon:EC2/PortProbeUnprotectedPort","severity":5.3},"ü":"✓"}"#
            let response = try await client.execute(HTTPRequest(
                url: receiver.url + "/hooks/guardduty?x=1",
                headers: [("Content-Type", "application/json"), ("X-Sluice-Route", "to-soc")], body: Array(body.utf8)))
            #expect(response.status == 204)
            #expect(response.body.isEmpty)
            let records = try receiver.records()
            try #require(records.count == 1)
            let r = records[0]
            #expect(r.method == "POST")
            #expect(r.path == "/hooks/guardduty?x=1")
            #expect(r.body == body)
            #expect(r.header("content-type") == "application/json")
            #expect(r.header("X-Sluice-Route") == "to-soc")
            #expect(r.header("Content-Length") == "\(body.utf8.count)")
            #expect(r.header("Expect") == nil)  // no 100-continue round trip
        }
    }

    @Test func otherMethodsAndNoDefaultContentType() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            #expect(try await client.execute(HTTPRequest(method: "PUT", url: receiver.url + "/p", body: Array("put".utf8))).status == 204)
            #expect(try await client.execute(HTTPRequest(method: "PATCH", url: receiver.url + "/q", body: Array("patch".utf8))).status == 204)
            #expect(try await client.execute(HTTPRequest(method: "GET", url: receiver.url + "/g")).status == 204)
            let records = try receiver.records()
            #expect(records.map(\.method) == ["PUT", "PATCH", "GET"])
            #expect(records.map(\.body) == ["put", "patch", ""])
            #expect(records[0].header("Content-Type") == nil)  // not libcurl's form-urlencoded default
        }
    }

    @Test func errorStatusesBodiesAndRetryAfterSurface() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            let request = HTTPRequest(url: receiver.url + "/hook", body: Array("{}".utf8))

            try await receiver.setStatus(400, body: #"{"error":"bad field"}"#)
            let bad = try await client.execute(request)
            #expect(bad.status == 400)
            #expect(bad.bodyText == #"{"error":"bad field"}"#)
            #expect(bad.header("Content-Type") == "application/json")
            #expect(bad.retryAfter == nil)

            try await receiver.setStatus(429, retryAfter: 2)
            let limited = try await client.execute(request)
            #expect(limited.status == 429)
            #expect(limited.retryAfter == .seconds(2))

            try await receiver.setStatus(503, body: "down", retryAfter: 7)
            let down = try await client.execute(request)
            #expect(down.status == 503)
            #expect(down.bodyText == "down")
            #expect(down.retryAfter == .seconds(7))

            try await receiver.setStatus(204)
            #expect(try await client.execute(request).status == 204)
            #expect(receiver.count == 1)  // only the accepted request is recorded
        }
    }

    @Test func bodyKeptIsCapped() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            try await receiver.setStatus(500, body: String(repeating: "x", count: HTTPClient.maxBodyBytes + 5000))
            let response = try await client.execute(HTTPRequest(url: receiver.url + "/big"))
            #expect(response.status == 500)
            #expect(response.body.count == HTTPClient.maxBodyBytes)
            #expect(response.bodyTruncated)
        }
    }

    @Test func connectionRefusedIsRetriable() async throws {
        let port = freeLoopbackPort()
        try await withCleanup { cleanup in
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            do throws(HTTPClientError) {
                _ = try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/services/T0/B0/SECRETPATH?token=abc", timeout: .seconds(5)))
                Issue.record("expected a connection error")
            } catch {
                #expect(error.code == .connectFailed)
                #expect(error.isRetriable)
                #expect(error.description.hasPrefix("connect_failed: "))
                #expect(error.description.contains("127.0.0.1:\(port)"))
                #expect(!error.description.contains("SECRETPATH") && !error.description.contains("abc"))
            }
        }
    }

    @Test func slowReceiverTimesOut() async throws {
        let receiver = try await WebhookReceiver.start(delayMs: 3000)
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            do throws(HTTPClientError) {
                _ = try await client.execute(HTTPRequest(url: receiver.url + "/slow", body: [1], timeout: .milliseconds(300)))
                Issue.record("expected a timeout")
            } catch {
                #expect(error.code == .timedOut)
                #expect(error.isRetriable)
            }
        }
    }

    @Test func receiverDownThenBack() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            let request = HTTPRequest(url: receiver.url + "/hook", body: Array("a".utf8), timeout: .seconds(60))
            #expect(try await client.execute(request).status == 204)  // leaves a keep-alive connection in the cache
            await receiver.stopAndWait()
            await #expect(throws: HTTPClientError.self) { _ = try await client.execute(request) }
            do throws(HTTPClientError) {
                _ = try await client.execute(request)
            } catch {
                #expect(error.code == .connectFailed)
            }
            try await receiver.relaunch()
            #expect(try await client.execute(request).status == 204)
            #expect(receiver.count == 2)
        }
    }

    @Test func manyConcurrentRequestsAllComplete() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            let total = 2000, window = 64
            let statuses = await withTaskGroup(of: Int.self, returning: [Int].self) { group in
                var started = 0
                func launch(_ i: Int) {
                    group.addTask {
                        let r = HTTPRequest(url: receiver.url + "/m", headers: [("Content-Type", "text/plain")], body: Array("\(i)".utf8))
                        do { return try await client.execute(r).status } catch { return -1 }
                    }
                }
                while started < window { launch(started); started += 1 }
                var out: [Int] = []
                while let status = await group.next() {
                    out.append(status)
                    if started < total { launch(started); started += 1 }
                }
                return out
            }
            #expect(statuses.count == total)
            let allNoContent = statuses.allSatisfy { $0 == 204 }
            #expect(allNoContent)
            let bodies = try receiver.records().map(\.body)
            #expect(bodies.count == total)
            let sent = Set((0..<total).map { "\($0)" })
            #expect(Set(bodies) == sent)
            // Connections are kept and reused: at most one per request in flight, not one per request.
            #expect(Set(try receiver.records().map(\.clientPort)).count <= window)
        }
    }

    @Test func sequentialRequestsReuseOneConnection() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            for i in 0..<50 {
                #expect(try await client.execute(HTTPRequest(url: receiver.url + "/seq", body: Array("\(i)".utf8))).status == 204)
            }
            let ports = Set(try receiver.records().map(\.clientPort))
            #expect(ports.count == 1)
            #expect(!ports.contains(0))
        }
    }

    @Test func completionHandlerAPI() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            let status = await withCheckedContinuation { (c: CheckedContinuation<Int, Never>) in
                client.execute(HTTPRequest(url: receiver.url + "/cb", body: [0x41])) { result in
                    c.resume(returning: (try? result.get())?.status ?? -1)
                }
            }
            #expect(status == 204)
        }
    }

    /// Waits until the receiver has taken `n` requests (counted on arrival, before any delay).
    static func waitForRequests(_ receiver: WebhookReceiver, atLeast n: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while try receiver.totalRequests() < n, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try receiver.totalRequests() >= n)
    }

    @Test func cancellingTheTaskAbortsTheTransfer() async throws {
        let receiver = try await WebhookReceiver.start(delayMs: 600_000)  // answers only after the test is long over
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            let task = Task { () throws(HTTPClientError) -> HTTPResponse in
                try await client.execute(HTTPRequest(url: receiver.url + "/slow", body: [1], timeout: .seconds(30)))
            }
            // Cancel once the request is at the server (its counter says so), not after a guess.
            try await Self.waitForRequests(receiver, atLeast: 1)
            task.cancel()
            let result = await task.result
            #expect(throws: HTTPClientError(.cancelled, "request cancelled")) { try result.get() }

            // A task cancelled before it starts the request fails at once, and the client goes on working.
            let early = Task { () throws(HTTPClientError) -> HTTPResponse in
                withUnsafeCurrentTask { $0?.cancel() }
                return try await client.execute(HTTPRequest(url: receiver.url + "/never"))
            }
            await #expect(throws: HTTPClientError(.cancelled, "request cancelled")) { try await early.value }
            try await receiver.setStatus(204, delayMs: 0)
            #expect(try await client.execute(HTTPRequest(url: receiver.url + "/after")).status == 204)
        }
    }

    @Test func cancellationsRacingCompletionsLeaveNothingBehind() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup async throws in  // the only `try`s are in #expect, which closure inference does not see
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            let tasks = (0..<400).map { i in
                Task { () throws(HTTPClientError) -> Int in
                    try await client.execute(HTTPRequest(url: receiver.url + "/race", body: Array("\(i)".utf8))).status
                }
            }
            for (i, task) in tasks.enumerated() where i % 2 == 0 { task.cancel() }
            var delivered = 0, cancelled = 0
            for task in tasks {
                switch await task.result {
                case .success(let status): #expect(status == 204); delivered += 1
                case .failure(let error): #expect((error as? HTTPClientError)?.code == .cancelled); cancelled += 1
                }
            }
            #expect(delivered + cancelled == 400)
            #expect(delivered >= 200)
            // Every transfer was settled exactly once and the client still works.
            #expect(try await client.execute(HTTPRequest(url: receiver.url + "/after")).status == 204)
        }
    }

    @Test func shutdownFailsPendingRequests() async throws {
        let receiver = try await WebhookReceiver.start(delayMs: 600_000)  // answers only after the test is long over
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            let codes = Mutex<[HTTPClientError.Code]>([])
            let done = AsyncStream<Void>.makeStream()
            for i in 0..<5 {
                client.execute(HTTPRequest(url: receiver.url + "/pending/\(i)", timeout: .seconds(30))) { result in
                    if case .failure(let e) = result { codes.withLock { $0.append(e.code) } }
                    done.continuation.yield()
                }
            }
            try await Self.waitForRequests(receiver, atLeast: 5)  // all five are under way
            try await offPool { client.shutdown() }
            try await offPool { client.shutdown() }  // idempotent
            var finished = 0
            for await _ in done.stream { finished += 1; if finished == 5 { break } }
            let failures = codes.withLock { $0 }
            #expect(failures == Array(repeating: .shutdown, count: 5))
            await #expect(throws: HTTPClientError(.shutdown, "client is shut down")) {
                _ = try await client.execute(HTTPRequest(url: receiver.url + "/late"))
            }
        }
    }

    @Test func awsSigV4IsAddedByLibcurl() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            let request = HTTPRequest(
                url: receiver.url + "/", headers: [("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Security-Token", "SESSIONTOKEN")],
                body: Array("{}".utf8), awsSigV4: "aws:amz:us-east-1:sns", credentials: "AKIDEXAMPLE:wJalrXUtnFEMI")
            #expect(try await client.execute(request).status == 204)
            let r = try #require(try receiver.records().first)
            let auth = try #require(r.header("Authorization"))
            #expect(auth.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"))
            #expect(auth.contains("/us-east-1/sns/aws4_request"))
            #expect(auth.contains("x-amz-security-token"))  // the session token is signed too
            #expect(!auth.contains("wJalrXUtnFEMI"))
            #expect(r.header("X-Amz-Date") != nil)
            #expect(!request.description.contains("SESSIONTOKEN") && !request.description.contains("wJalrXUtnFEMI"))
        }
    }

    @Test func invalidRequestsAreNotRetriable() async throws {
        try await withCleanup { cleanup in
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            for url in ["http://[::1", "file:///etc/passwd", "ftp://127.0.0.1/x"] {
                do throws(HTTPClientError) {
                    _ = try await client.execute(HTTPRequest(url: url))
                    Issue.record("\(url) should fail")
                } catch {
                    #expect(error.code == .invalidRequest, "\(url): \(error)")
                    #expect(!error.isRetriable)
                }
            }
        }
    }
}

/// Pure parts: no server.
struct HTTPTypesTests {
    @Test func descriptionsRedactSecrets() {
        let request = HTTPRequest(
            url: "https://user:pw@hooks.example.com/services/T0/B0/SECRETPATH?token=abc",
            headers: [("Authorization", "Bearer xyz"), ("X-Amz-Security-Token", "tok1"), ("X-Api-Key", "k1"),
                      ("X-Hub-Signature-256", "sig1"), ("X-Client-Secret", "s1"), ("Proxy-Authorization", "p1"),
                      ("X-Plain", "visible")],
            credentials: "AKIAEXAMPLE:topsecret", proxy: "http://puser:ppass@proxy.local:3128")
        let d = request.description
        for secret in ["xyz", "tok1", "k1", "sig1", "s1", "p1", "pw@", "SECRETPATH", "token=abc", "AKIAEXAMPLE", "topsecret", "ppass"] {
            #expect(!d.contains(secret), "\(secret) leaked in \(d)")
        }
        #expect(!d.contains("visible"), "values off the allow-list are redacted")
        #expect(HTTPRequest(url: "http://h/", headers: [("Content-Type", "text/plain")]).description.contains("Content-Type: text/plain"))
        #expect(d.contains("https://hooks.example.com/…"))
        #expect(d.contains("proxy=http://proxy.local:3128"))
    }

    @Test func redactURLKeepsOnlyTheOrigin() {
        #expect(HTTPRequest.redactURL("http://127.0.0.1:8080") == "http://127.0.0.1:8080")
        #expect(HTTPRequest.redactURL("https://a:b@h.example:443/x/y?q=1") == "https://h.example:443/…")
        #expect(HTTPRequest.redactURL("https://h.example?sig=1") == "https://h.example/…")
    }

    @Test func retryAfterForms() {
        #expect(RetryAfter.parse("120", now: 0) == .seconds(120))
        #expect(RetryAfter.parse(" 3 ", now: 0) == .seconds(3))
        #expect(RetryAfter.parse("-1", now: 0) == nil)
        #expect(RetryAfter.httpDate("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: 784_111_767) == .seconds(10))
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: 784_111_800) == .seconds(0))  // in the past
        #expect(RetryAfter.parse("soon", now: 0) == nil)
        let response = HTTPResponse(status: 429, headers: [("retry-after", "5")])
        #expect(response.retryAfter == .seconds(5))
    }

    @Test func headerLinesParse() {
        func parse(_ s: String) -> (name: String, value: String)? {
            Array(s.utf8).withUnsafeBytes { HeaderLine.parse($0) }
        }
        #expect(parse("Retry-After:  30 \r\n")! == ("retry-after", "30"))
        #expect(parse("X-Empty:\r\n")! == ("x-empty", ""))
        #expect(parse("\r\n") == nil)
        #expect(parse(": nameless\r\n") == nil)
    }

    @Test func curlCodesMapToRetriability() {
        #expect(CurlEngine.code(for: CURLE_COULDNT_CONNECT) == .connectFailed)
        #expect(CurlEngine.code(for: CURLE_OPERATION_TIMEDOUT) == .timedOut)
        #expect(CurlEngine.code(for: CURLE_PEER_FAILED_VERIFICATION) == .tlsFailed)
        #expect(CurlEngine.code(for: CURLE_TOO_MANY_REDIRECTS) == .tooManyRedirects)
        #expect(CurlEngine.code(for: CURLE_GOT_NOTHING) == .receiveFailed)
        #expect(HTTPClientError(.tlsFailed, "").isRetriable == false)
        #expect(HTTPClientError(.tooManyRedirects, "").isRetriable == false)
        #expect(HTTPClientError(.receiveFailed, "").isRetriable)
        #expect(HTTPClientError(.timedOut, "x").description == "timed_out: x")
    }
}

/// The shared HTTP pieces: one outcome table, the URL reader, the address guard.
@Suite(.serialized) struct HTTPHardeningTests {
    @Test func oneOutcomeTable() {
        let expected: [(Int, HTTPOutcome.StatusClass)] = [
            (200, .success), (204, .success), (299, .success), (301, .permanent), (400, .permanent), (401, .permanent),
            (404, .permanent), (408, .retryable), (409, .permanent), (422, .permanent), (425, .retryable), (429, .retryable),
            (500, .retryable), (501, .permanent), (502, .retryable), (503, .retryable), (504, .retryable), (505, .permanent),
            (599, .retryable), (100, .permanent),
        ]
        for (status, meaning) in expected { #expect(HTTPOutcome.statusClass(status) == meaning, "\(status)") }
        guard case .permanent(let message) = HTTPOutcome(.success(HTTPResponse(status: 403, body: Array("denied".utf8)))) else {
            Issue.record("403 is permanent"); return
        }
        #expect(message == "HTTP 403: denied")
        guard case .retryable(_, let after) = HTTPOutcome(.success(HTTPResponse(status: 425, headers: [("retry-after", "7")]))) else {
            Issue.record("425 is retryable"); return
        }
        #expect(after == .seconds(7))
        guard case .permanent = HTTPOutcome(.failure(HTTPClientError(.addressRefused, "x"))) else { Issue.record("refused is permanent"); return }
    }

    @Test func urlsAreTakenApartNotPrefixMatched() throws {
        let u = try #require(HTTPURL("HTTPS://user:pw@Example.COM:8443/a/b/?q=1&t=2#f"))
        #expect(u.scheme == "https" && u.userinfo == "user:pw" && u.host == "example.com" && u.port == 8443)
        #expect(u.path == "/a/b/" && u.pathSegments == ["a", "b", ""] && u.query == "q=1&t=2" && u.fragment == "f")
        #expect(u.redacted == "https://<redacted>@example.com:8443/a/b/?q=<redacted>&t=<redacted>")
        #expect(HTTPURL("http://127.0.0.1@192.0.2.2/")?.host == "192.0.2.2")
        #expect(HTTPURL("http://[fd00:ec2::254]/latest")?.host == "fd00:ec2::254")
        for bad in ["ftp://h/", "http://", "http:///x", "http://h:99999/", "http://h/a b", "http://h/\r\nX: y", "//h/x", "http://h:1x/"] {
            #expect(HTTPURL(bad) == nil, "\(bad)")
        }
    }

    @Test func addressLiteralsAreRefusedUnlessAllowed() {
        let strict = AddressPolicy()
        for host in ["127.0.0.1", "127.9.9.9", "[::1]", "::1", "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "fe80::1",
                     "::ffff:169.254.169.254", "::ffff:127.0.0.1", "0.0.0.0", "::", "localhost", "a.localhost", "2130706433", "0x7f000001", "127.1"] {
            #expect(strict.refusesLiteral(host), "\(host)")
        }
        for host in ["192.0.2.10", "example.com", "10.0.0.1", "2001:db8::1", "fd00:ec2::253"] { #expect(!strict.refusesLiteral(host), "\(host)") }
        #expect(!AddressPolicy(allowLoopback: true).refusesLiteral("127.0.0.1"))
        #expect(AddressPolicy(allowLoopback: true).refusesLiteral("169.254.169.254"))
        #expect(!AddressPolicy(allowLinkLocal: true).refusesLiteral("169.254.169.254"))
    }

    /// The machine's own name resolves to loopback here: it reaches the socket-level guard (no
    /// address literal to refuse early), which must refuse before connecting.
    static let hostnameOnLoopback: String? = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return nil }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var hints = addrinfo()
        hints.ai_family = AF_INET
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        let loopback = first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { ($0.pointee.sin_addr.s_addr & 0xFF) == 127 }
        return loopback && AddressPolicy().refusesLiteral(name) == false ? name : nil
    }()

    @Test(.enabled(if: hostnameOnLoopback != nil, "the host name does not resolve to loopback here"))
    func resolvedAddressesAreCheckedBeforeConnecting() async throws {
        let receiver = try await WebhookReceiver.start()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            let name = try #require(Self.hostnameOnLoopback)
            var request = HTTPRequest(url: "http://\(name):\(receiver.port)/guarded", body: Array("x".utf8))
            request.addressPolicy = AddressPolicy()
            do throws(HTTPClientError) {
                _ = try await client.execute(request)
                Issue.record("a loopback address was connected to")
            } catch {
                #expect(error.code == .addressRefused && !error.isRetriable, "\(error)")
            }
            #expect(receiver.count == 0)
            request.addressPolicy = AddressPolicy(allowLoopback: true)
            #expect(try await client.execute(request).status == 204)
            #expect(receiver.count == 1)
        }
    }
}
