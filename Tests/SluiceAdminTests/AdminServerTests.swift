import Foundation
import SluiceTestSupport
import Testing
@testable import SluiceAdmin

/// The admin server over real loopback HTTP, against a runtime whose values the test sets.
@Suite struct AdminServerTests {
    static let adminToken = "adm-0123456789abcdef"
    static let viewerToken = "view-0123456789abcdef"
    static func tokens() throws -> AccessControl {
        try AccessControl(text: "# name role token\nci-admin admin \(adminToken)\ndash viewer \(viewerToken)\n", origin: "tokens")
    }

    @Test func probesAnswerAndReadinessWaitsForEveryCondition() async throws {
        let readiness = Readiness()
        readiness.require("consumer.assigned")
        readiness.require("state.restored")
        let admin = try await RunningAdmin.start(runtime: FakeRuntime(), readiness: readiness)
        try await withCleanup { cleanup in
            cleanup.add { await admin.stop() }
            #expect(try await LoopbackHTTP.request(admin.port, "GET", "/-/healthy").status == 200)
            let notReady = try await LoopbackHTTP.request(admin.port, "GET", "/-/ready")
            #expect(notReady.status == 503)
            #expect(notReady.body.contains("consumer.assigned") && notReady.body.contains("state.restored"))
            readiness.set("consumer.assigned", met: true)
            let half = try await LoopbackHTTP.request(admin.port, "GET", "/-/ready")
            #expect(half.status == 503)
            #expect(!half.body.contains("consumer.assigned"))
            readiness.set("state.restored", met: true)
            #expect(try await LoopbackHTTP.request(admin.port, "GET", "/-/ready").status == 200)
            readiness.set("consumer.assigned", met: false)  // assignment revoked
            #expect(try await LoopbackHTTP.request(admin.port, "GET", "/-/ready").status == 503)
        }
    }

    @Test func metricsKeepTheirNamesAndFollowTheRuntime() async throws {
        let runtime = FakeRuntime()
        runtime.state.withLock {
            $0.consumed = 42
            $0.lanePending = ["slack": 3, "jira": 1]
        }
        let admin = try await RunningAdmin.start(runtime: runtime)
        let first = try await LoopbackHTTP.request(admin.port, "GET", "/metrics")
        #expect(first.status == 200)
        #expect(first.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(first.body.contains("# TYPE sluice_findings_consumed_total counter\n"))
        #expect(first.body.contains("# HELP sluice_findings_consumed_total Records taken from the source.\n"))
        #expect(first.body.contains("\nsluice_findings_consumed_total 42\n"))
        #expect(first.body.contains("sluice_lane_pending{connector=\"slack\"} 3.0\n"))
        #expect(first.body.contains("sluice_lane_pending{connector=\"jira\"} 1.0\n"))

        runtime.state.withLock {
            $0.consumed = 50
            $0.lanePending = ["slack": 0]  // jira removed by a reload
        }
        let second = try await LoopbackHTTP.request(admin.port, "GET", "/metrics")
        #expect(second.body.contains("\nsluice_findings_consumed_total 50\n"))
        #expect(second.body.contains("sluice_lane_pending{connector=\"slack\"} 0.0\n"))
        #expect(!second.body.contains("jira"))

        runtime.state.withLock { $0.lanePending = ["slack": 2, "jira": 5] }  // and back again
        let third = try await LoopbackHTTP.request(admin.port, "GET", "/metrics")
        #expect(third.body.contains("sluice_lane_pending{connector=\"slack\"} 2.0\n"))
        #expect(third.body.contains("sluice_lane_pending{connector=\"jira\"} 5.0\n"))
        #expect(third.body.contains("\nsluice_findings_consumed_total 50\n"))
        await admin.stop()
    }

    @Test func withoutTokensReadsAreOpenAndEveryWriteIsRefused() async throws {
        let runtime = FakeRuntime()
        let audit = RecordingAudit()
        let admin = try await RunningAdmin.start(runtime: runtime, audit: audit)
        let status = try await LoopbackHTTP.request(admin.port, "GET", "/api/v1/status")
        #expect(status.status == 200)
        #expect(status.body.contains("\"configHash\":\"abc\""))
        #expect(try await LoopbackHTTP.request(admin.port, "POST", "/api/v1/test", body: Array("{}".utf8)).status == 200)
        let reload = try await LoopbackHTTP.request(admin.port, "POST", "/-/reload")
        #expect(reload.status == 401)
        #expect(reload.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
        // A token nobody configured is no key either: there are no default credentials.
        #expect(try await LoopbackHTTP.request(admin.port, "POST", "/-/reload", headers: ["Authorization": "Bearer admin"]).status == 401)
        #expect(runtime.state.withLock { $0.reloads } == 0)
        #expect(audit.records.withLock { $0.isEmpty })
        // Unknown paths and methods are told apart before any token is asked for.
        #expect(try await LoopbackHTTP.request(admin.port, "GET", "/api/v1/nothing").status == 404)
        let trace = try await LoopbackHTTP.request(admin.port, "TRACE", "/-/healthy")
        #expect(trace.status == 405)
        #expect(trace.headers["allow"] == "GET")
        #expect(try await LoopbackHTTP.request(admin.port, "GET", "/api/v1/test").status == 405)
        #expect(try await LoopbackHTTP.request(admin.port, "GET", "/api/v1/findings?limit=-1").status == 400)
        #expect(try await LoopbackHTTP.request(admin.port, "GET", "/api/v1/findings?after=x").status == 400)
        await admin.stop()
    }

    @Test func withoutTokensOnlyLoopbackMayBeBound() throws {
        #expect(throws: AdminConfigError.self) {
            _ = try AdminServer(settings: AdminSettings(listen: "0.0.0.0:0"), runtime: FakeRuntime(), access: AccessControl(),
                                readiness: Readiness(), recent: RecentFindings(), exporter: MetricsExporter(), logger: .init(label: "t"))
        }
        #expect(throws: AdminConfigError.self) {
            _ = try AdminServer(settings: AdminSettings(listen: ":9464"), runtime: FakeRuntime(), access: AccessControl(),
                                readiness: Readiness(), recent: RecentFindings(), exporter: MetricsExporter(), logger: .init(label: "t"))
        }
        // With tokens, any address is allowed.
        _ = try AdminServer(settings: AdminSettings(listen: "0.0.0.0:0"), runtime: FakeRuntime(), access: Self.tokens(),
                            readiness: Readiness(), recent: RecentFindings(), exporter: MetricsExporter(), logger: .init(label: "t"))
    }

    @Test func rolesGateRequestsAndEveryWriteIsAuditedByTokenName() async throws {
        let runtime = FakeRuntime()
        let audit = RecordingAudit()
        let admin = try await RunningAdmin.start(runtime: runtime, access: try Self.tokens(), audit: audit)
        // Probes and metrics stay open for kubelets and scrapers.
        #expect(try await LoopbackHTTP.request(admin.port, "GET", "/-/healthy").status == 200)
        #expect(try await LoopbackHTTP.request(admin.port, "GET", "/metrics").status == 200)
        #expect(try await LoopbackHTTP.request(admin.port, "GET", "/api/v1/routes").status == 401)
        #expect(try await LoopbackHTTP.request(admin.port, "GET", "/api/v1/routes", headers: ["Authorization": "Bearer wrong-token-0123456789"]).status == 401)
        let routes = try await LoopbackHTTP.request(admin.port, "GET", "/api/v1/routes", headers: ["Authorization": "Bearer \(Self.viewerToken)"])
        #expect(routes.status == 200)
        #expect(routes.body.contains("\"name\":\"high-severity\""))
        #expect(try await LoopbackHTTP.request(admin.port, "POST", "/-/reload", headers: ["Authorization": "Bearer \(Self.viewerToken)"]).status == 403)
        #expect(runtime.state.withLock { $0.reloads } == 0)
        let reload = try await LoopbackHTTP.request(admin.port, "POST", "/-/reload", headers: ["Authorization": "bearer \(Self.adminToken)"])
        #expect(reload.status == 200)
        #expect(runtime.state.withLock { $0.reloads } == 1)
        let records = audit.records.withLock { $0 }
        #expect(records == [AdminAuditRecord(principal: "ci-admin", role: .admin, method: "POST", path: "/-/reload", status: 200)])
        await admin.stop()
    }

    @Test func aBadReloadIsReportedWithItsPosition() async throws {
        let runtime = FakeRuntime()
        runtime.state.withLock {
            $0.reload = ReloadOutcome(successful: false, errors: ["routes/high.yaml:3:9: unknown key 'patern'"], configHash: "abc", configVersion: 1)
        }
        let admin = try await RunningAdmin.start(runtime: runtime, access: try Self.tokens())
        let reply = try await LoopbackHTTP.request(admin.port, "POST", "/-/reload", headers: ["Authorization": "Bearer \(Self.adminToken)"])
        #expect(reply.status == 422)
        #expect(reply.body.contains("routes\\/high.yaml:3:9: unknown key 'patern'") || reply.body.contains("routes/high.yaml:3:9: unknown key 'patern'"))
        #expect(reply.body.contains("\"successful\":false"))
        await admin.stop()
    }

    @Test func tokenFilesAreCheckedWithoutEchoingTokens() throws {
        let secret = "s3cr3t-token-value-zz"
        do {
            _ = try AccessControl(text: "ops superuser \(secret)\n", origin: "tokens.txt")
            Issue.record("an unknown role was accepted")
        } catch {
            #expect(error.description == "tokens.txt:1: role must be viewer, operator or admin")
            #expect(!error.description.contains(secret))
        }
        #expect(throws: AdminConfigError.self) { try AccessControl(text: "ops admin short\n", origin: "t") }
        #expect(throws: AdminConfigError.self) { try AccessControl(text: "a admin \(secret)\na viewer \(secret)x\n", origin: "t") }
        let fromEnv = try AccessControl.load(file: nil, environment: ["SLUICE_ADMIN_TOKENS": "ci operator \(secret);bot viewer \(secret)-2"])
        #expect(fromEnv.principal(token: secret) == AdminPrincipal(name: "ci", role: .operator))
        #expect(fromEnv.principal(token: "\(secret)-2") == AdminPrincipal(name: "bot", role: .viewer))
        #expect(fromEnv.principal(token: "\(secret)-3") == nil)
    }

    @Test func bodiesAreBoundedInSizeAndTime() async throws {
        let admin = try await RunningAdmin.start(runtime: FakeRuntime()) { settings in
            settings.maxBodyBytes = 64 * 1024
            settings.requestTimeout = .seconds(1)
        }
        // Declares one byte more than the limit and sends only the head: refused on the declared
        // length, before any body is read. (Sending the 64 KB too raced: the server answers and
        // closes while the client still writes, and the reset that unread bytes cause can cut
        // the reply before the client reads it — seen on a loaded machine.)
        let tooBig = try LoopbackHTTP.connect(admin.port)
        defer { close(tooBig) }
        try LoopbackHTTP.send(tooBig, Array("POST /api/v1/test HTTP/1.1\r\nHost: x\r\nContent-Length: \(64 * 1024 + 1)\r\n\r\n".utf8))
        #expect(try await LoopbackHTTP.readReply(tooBig).status == 413)
        // Declares 100 bytes, sends 2 and stalls: answered 408 once the request timeout passes.
        let fd = try LoopbackHTTP.connect(admin.port)
        defer { close(fd) }
        try LoopbackHTTP.send(fd, Array("POST /api/v1/test HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"".utf8))
        #expect(try await LoopbackHTTP.readReply(fd).status == 408)
        await admin.stop()
    }

    /// The guarantee the hand-written /metrics server gave (issue 10 point 13), kept by NIO.
    @Test func slowClientsNeverBlockProbes() async throws {
        let admin = try await RunningAdmin.start(runtime: FakeRuntime()) { settings in
            settings.requestTimeout = .seconds(120)
            settings.idleTimeout = .seconds(120)
        }
        // Fifty clients hold connections open mid-request: half a header line, or a body that
        // never completes. None of them finishes while the probes are asked.
        var stalled: [Int32] = []
        defer { for fd in stalled { close(fd) } }
        for i in 0..<50 {
            let fd = try LoopbackHTTP.connect(admin.port)
            stalled.append(fd)
            let partial = i % 2 == 0 ? "GET /api/v1/sta" : "POST /api/v1/test HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
            try LoopbackHTTP.send(fd, Array(partial.utf8))
        }
        for _ in 0..<5 {
            #expect(try await LoopbackHTTP.request(admin.port, "GET", "/-/healthy").status == 200)
            #expect(try await LoopbackHTTP.request(admin.port, "GET", "/-/ready").status == 200)
            #expect(try await LoopbackHTTP.request(admin.port, "GET", "/metrics").status == 200)
        }
        // The stalled clients are still connected: nothing was answered to them.
        var probe = pollfd(fd: stalled[1], events: Int16(POLLIN), revents: 0)
        #expect(poll(&probe, 1, 0) == 0)
        for fd in stalled { close(fd) }
        stalled = []
        await admin.stop()
    }

    /// At most `max_connections` at once: one more waits in the listen queue and is answered
    /// once a held connection closes.
    @Test func connectionsAreCappedAndTheNextWaitsForAFreeSlot() async throws {
        let admin = try await RunningAdmin.start(runtime: FakeRuntime()) { settings in
            settings.maxConnections = 4
            settings.idleTimeout = .seconds(120)
            // The held connections send half a request: at the default 10 s a loaded machine let
            // the request timeout free a slot before the fifth connected (it was then accepted).
            settings.requestTimeout = .seconds(120)
        }
        var held: [Int32] = []
        defer { for fd in held { close(fd) } }
        for _ in 0..<4 {
            let fd = try LoopbackHTTP.connect(admin.port)
            try LoopbackHTTP.send(fd, Array("GET /-/heal".utf8))
            held.append(fd)
        }
        // Positive markers before the negative check, from the kernel's own count of connections
        // that completed the handshake but were not accepted: first the four held ones all
        // accepted (the queue empty after their connects returned), then the fifth waiting in it.
        var queued: Int?
        #expect(try await Self.acceptQueue(of: admin.port, reaches: 0, lastSeen: &queued),
                "the server did not accept the four held connections: \(queued.map { "\($0) still queued" } ?? "no listener seen")")
        let waiting = Task { () throws -> (status: Int, at: ContinuousClock.Instant) in
            let reply = try await LoopbackHTTP.request(admin.port, "GET", "/-/healthy")
            return (reply.status, ContinuousClock.now)
        }
        #expect(try await Self.acceptQueue(of: admin.port, reaches: 1, lastSeen: &queued),
                "the fifth connection never waited in the listen queue (last seen: \(queued.map(String.init) ?? "no listener")): accepted past the cap?")
        let freed = ContinuousClock.now
        close(held.removeFirst())
        let answer = try await waiting.value
        #expect(answer.status == 200)
        #expect(answer.at > freed, "answered while every slot was held")
        await admin.stop()
    }

    /// Waits until the accept queue of the IPv4 listener on 127.0.0.1:`port` holds `count`
    /// connections (`/proc/net/tcp`: for a listening socket, `rx_queue` is that queue's length).
    /// False when it does not within a minute: a bound only a broken server misses. `lastSeen`
    /// keeps the last length read, for the failure message.
    static func acceptQueue(of port: Int, reaches count: Int, lastSeen: inout Int?) async throws -> Bool {
        let local = "0100007F:" + String(format: "%04X", port)
        let deadline = ContinuousClock.now + .seconds(60)
        // Read once more after the deadline: a task that was not scheduled until past it (the
        // pool busy with other tests' work) must still look before it reports a failure.
        while true {
            // Read to the end: `String(contentsOfFile:)` reads a /proc file only up to its first
            // page (4 KB), and a loaded machine's socket table is far longer (the listener was
            // then never seen).
            guard let handle = FileHandle(forReadingAtPath: "/proc/net/tcp") else { throw TestFailure("cannot open /proc/net/tcp") }
            let table = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
            try? handle.close()
            for line in table.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 4, fields[1] == local, fields[3] == "0A" else { continue }  // 0A: LISTEN
                lastSeen = fields[4].split(separator: ":").last.flatMap { Int($0, radix: 16) }
                if lastSeen == count { return true }
            }
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
    }


    @Test func idleConnectionsAreClosed() async throws {
        let admin = try await RunningAdmin.start(runtime: FakeRuntime()) { settings in
            settings.idleTimeout = .seconds(1)
        }
        let fd = try LoopbackHTTP.connect(admin.port)
        defer { close(fd) }
        try LoopbackHTTP.send(fd, Array("GET /-/heal".utf8))
        // The server closes the connection (recv returns 0 or an error), it does not wait forever.
        let received = try await offPool {
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, 0)
        }
        #expect(received <= 0)
        #expect(try await LoopbackHTTP.request(admin.port, "GET", "/-/healthy").status == 200)
        await admin.stop()
    }
}
