import Foundation
import Synchronization

/// One request the receiver accepted (answered 2xx), as recorded in its NDJSON file.
public struct ReceivedRequest: Sendable {
    public let method: String
    public let path: String
    /// As sent (original case); see `header(_:)` for a case-insensitive look-up.
    public let headers: [String: String]
    public let body: String
    public let receivedMs: Int64
    /// The client's TCP port: one per connection, so distinct ports count connections.
    public let clientPort: Int
    /// Common name of the client certificate, for mTLS receivers.
    public let clientCN: String?

    public func header(_ name: String) -> String? {
        headers.first { $0.key.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// The real local HTTP(S) receiver (scripts/receivers/webhook_receiver.py) in a subprocess on a
/// loopback port, recording accepted requests to an NDJSON file. The test that starts it stops it
/// (`stop()`, and `deinit` as a safety net); `restart()` brings it back on the same port.
public final class WebhookReceiver: Sendable {
    public typealias Request = ReceivedRequest

    /// Certificate files for an HTTPS receiver (see `TestPKI`).
    public struct TLS: Sendable {
        public var certPath: String
        public var keyPath: String
        /// When set, clients must present a certificate signed by this CA (mTLS).
        public var clientCAPath: String?
        public init(certPath: String, keyPath: String, clientCAPath: String? = nil) {
            self.certPath = certPath
            self.keyPath = keyPath
            self.clientCAPath = clientCAPath
        }
    }

    public let port: Int
    public let tls: TLS?
    public var url: String { "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)" }
    public let recordFile: URL
    private let status: Int
    private let delayMs: Int
    private let vendor: String?
    private let options: [String: String]
    private let process: Mutex<Process?>

    /// Starts a receiver answering `status` after `delayMs`, on a free port (or `port`).
    /// With `vendor`, requests are checked against scripts/receivers/vendors/<vendor>.py and
    /// answered as that vendor does (`options` are passed to the module).
    public init(status: Int = 204, delayMs: Int = 0, tls: TLS? = nil, port: Int = 0, vendor: String? = nil, options: [String: String] = [:]) throws {
        recordFile = FileManager.default.temporaryDirectory.appendingPathComponent("receiver-\(UUID().uuidString).ndjson")
        _ = FileManager.default.createFile(atPath: recordFile.path, contents: nil)
        self.status = status
        self.delayMs = delayMs
        self.tls = tls
        self.vendor = vendor
        self.options = options
        let (p, port) = try Self.launch(port: port, record: recordFile, status: status, delayMs: delayMs, tls: tls, vendor: vendor, options: options)
        self.port = port
        process = Mutex(p)
    }

    private init(recordFile: URL, status: Int, delayMs: Int, tls: TLS?, vendor: String?, options: [String: String], process: Process, port: Int) {
        self.recordFile = recordFile
        self.status = status
        self.delayMs = delayMs
        self.tls = tls
        self.vendor = vendor
        self.options = options
        self.port = port
        self.process = Mutex(process)
    }

    /// The same as the synchronous init, but waits for the server's first line on a thread of
    /// its own, so the cooperative pool stays free.
    public static func start(status: Int = 204, delayMs: Int = 0, tls: TLS? = nil, port: Int = 0, vendor: String? = nil,
                             options: [String: String] = [:]) async throws -> WebhookReceiver {
        let record = FileManager.default.temporaryDirectory.appendingPathComponent("receiver-\(UUID().uuidString).ndjson")
        _ = FileManager.default.createFile(atPath: record.path, contents: nil)
        let (p, bound) = try await offPool { try launch(port: port, record: record, status: status, delayMs: delayMs, tls: tls, vendor: vendor, options: options) }
        return WebhookReceiver(recordFile: record, status: status, delayMs: delayMs, tls: tls, vendor: vendor, options: options, process: p, port: bound)
    }

    private static func launch(port: Int, record: URL, status: Int, delayMs: Int, tls: TLS?, vendor: String?, options: [String: String]) throws -> (Process, Int) {
        let script = PackagePaths.root.appendingPathComponent("scripts/receivers/webhook_receiver.py")
        var arguments = ["python3", "-u", script.path, "--port", "\(port)", "--record", record.path,
                         "--status", "\(status)", "--delay-ms", "\(delayMs)"]
        if let vendor { arguments += ["--vendor", vendor] }
        for (k, v) in options.sorted(by: { $0.key < $1.key }) { arguments += ["--option", "\(k)=\(v)"] }
        if let tls {
            arguments += ["--tls-cert", tls.certPath, "--tls-key", tls.keyPath]
            if let ca = tls.clientCAPath { arguments += ["--client-ca", ca] }
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        // stderr to a file, not a pipe: nobody reads a pipe once started, and a full one would block the server.
        let log = record.appendingPathExtension("log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let out = Pipe.closedOnExec()
        p.standardOutput = out
        p.standardError = try FileHandle(forWritingTo: log)
        try p.run()
        // The first line is "LISTENING <port>"; EOF before it means the server died.
        var text = ""
        while !text.contains("\n") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        let line = text.split(separator: "\n").first ?? ""
        guard line.hasPrefix("LISTENING "), let bound = Int(line.dropFirst(10).trimmingCharacters(in: .whitespaces)) else {
            ChildProcess.stop(p)
            let stderr = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw HarnessError("webhook receiver did not start: \(text)\(stderr.suffix(800))")
        }
        return (p, bound)
    }

    /// Everything recorded so far, across restarts.
    public func records() throws -> [ReceivedRequest] {
        guard let data = FileManager.default.contents(atPath: recordFile.path) else { return [] }
        return try data.split(separator: UInt8(ascii: "\n")).map { line in
            guard let o = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw HarnessError("record is not a JSON object")
            }
            return ReceivedRequest(
                method: o["method"] as? String ?? "", path: o["path"] as? String ?? "",
                headers: o["headers"] as? [String: String] ?? [:], body: o["body"] as? String ?? "",
                receivedMs: (o["received_ms"] as? NSNumber)?.int64Value ?? 0,
                clientPort: (o["client_port"] as? NSNumber)?.intValue ?? 0, clientCN: o["client_cn"] as? String)
        }
    }

    /// How many requests were recorded (counts lines: cheap enough to poll).
    public var count: Int {
        guard let data = FileManager.default.contents(atPath: recordFile.path) else { return 0 }
        return data.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
    }

    /// Changes the answer to the requests that follow: status, body, `Retry-After` (seconds)
    /// and a delay before answering. `acceptUpTo`: once that many requests are recorded in all,
    /// answer 503 instead (stops a stream at an exact point). Plain-HTTP receivers only.
    public func setStatus(_ status: Int, body: String = "", retryAfter: Int? = nil, delayMs: Int = 0, acceptUpTo: Int? = nil) async throws {
        var update: [String: Any] = ["status": status, "body": body, "delay_ms": delayMs]
        update["retry_after"] = retryAfter ?? NSNull()
        update["accept_up_to"] = acceptUpTo ?? NSNull()
        let body = try JSONSerialization.data(withJSONObject: update)
        _ = try await offPool { [self] in try control("POST", "/_control/status", body: body) }
    }

    /// Empties the record file and restores the startup answer.
    public func reset() async throws {
        _ = try await offPool { [self] in try control("POST", "/_control/reset", body: Data()) }
    }

    /// Every request answered since this server process started, accepted or not (a 503 too).
    public func totalRequests() throws -> Int {
        let body = try control("GET", "/_control/count", body: Data())
        let o = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
        return (o?["total"] as? NSNumber)?.intValue ?? 0
    }

    /// When each answered request arrived (epoch ms), accepted or not: the gaps between failed
    /// attempts, which `records()` (accepted requests only) cannot show.
    public func arrivalTimesMs() throws -> [Int64] {
        let body = try control("GET", "/_control/count", body: Data())
        let o = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
        return (o?["arrivals_ms"] as? [NSNumber])?.map(\.int64Value) ?? []
    }

    /// Requests that broke the vendor's contract (`vendor:` receivers), one message each.
    public func violations() throws -> [String] {
        guard let data = FileManager.default.contents(atPath: recordFile.path + ".violations") else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).map { line in
            let o = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any]
            return "\(o?["method"] ?? "") \(o?["path"] ?? ""): \(o?["message"] ?? String(decoding: line, as: UTF8.self))"
        }
    }

    /// The vendor module's state (tickets, incidents, alerts), as parsed JSON.
    public func store() throws -> Any {
        let body = try control("GET", "/_control/store", body: Data())
        return try JSONSerialization.jsonObject(with: Data(body))
    }

    /// A control request over a plain socket (Connection: close): no HTTP client needed here.
    /// Returns the response body.
    @discardableResult
    private func control(_ method: String, _ path: String, body: Data) throws -> [UInt8] {
        guard tls == nil else { throw HarnessError("the control API of an HTTPS receiver is not reachable from here") }
        guard let fd = LoopbackPort.connect(port) else { throw HarnessError("receiver control: cannot connect to port \(port)") }
        defer { close(fd) }
        var request = Data("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8)
        request.append(body)
        try request.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                guard n > 0 else { throw HarnessError("receiver control: send failed") }
                sent += n
            }
        }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += buffer[..<n]
        }
        let statusLine = String(decoding: response.prefix { $0 != 0x0D }, as: UTF8.self)
        guard statusLine.hasPrefix("HTTP/1.1 200") else { throw HarnessError("receiver control \(path): \(statusLine)") }
        guard let end = response.indices.first(where: { i in response[i...].starts(with: [13, 10, 13, 10]) }) else { return [] }
        return Array(response[(end + 4)...])
    }

    /// Signals the server to stop and returns at once (a reaper thread waits for it), so a
    /// `defer { receiver.stop() }` never blocks the pool. The record file stays (for `records()`).
    public func stop() {
        let p = process.withLock { p -> Process? in defer { p = nil }; return p }
        if let p { ChildProcess.stop(p) }
    }

    /// Stops the server and returns once it is gone: its port then refuses connections.
    public func stopAndWait() async {
        let p = process.withLock { p -> Process? in defer { p = nil }; return p }
        if let p { await ChildProcess.stopAndWait(p) }
    }

    /// Starts the server again on the same port, appending to the same record file.
    public func restart() throws {
        stop()
        var lastError: (any Error)?
        for _ in 0..<20 {  // the port can take a moment to be free again
            do {
                let (p, bound) = try Self.launch(port: port, record: recordFile, status: status, delayMs: delayMs, tls: tls, vendor: vendor, options: options)
                precondition(bound == port)
                process.withLock { $0 = p }
                return
            } catch {
                lastError = error
                usleep(100_000)
            }
        }
        throw lastError ?? HarnessError("receiver did not restart")
    }

    /// `restart()` without holding a pool thread: waits for the old server to be gone, then
    /// starts the new one on a thread of its own.
    public func relaunch() async throws {
        await stopAndWait()
        var lastError: (any Error)?
        for _ in 0..<20 {  // the port can take a moment to be free again
            do {
                let (port, record, status, delayMs, tls, vendor, options) = (port, recordFile, status, delayMs, tls, vendor, options)
                let (p, bound) = try await offPool { try Self.launch(port: port, record: record, status: status, delayMs: delayMs, tls: tls, vendor: vendor, options: options) }
                guard bound == port else { throw HarnessError("receiver restarted on port \(bound), not \(port)") }
                process.withLock { $0 = p }
                return
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw lastError ?? HarnessError("receiver did not restart")
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: recordFile)
        try? FileManager.default.removeItem(at: recordFile.appendingPathExtension("log"))
        try? FileManager.default.removeItem(atPath: recordFile.path + ".violations")
    }
}

/// A port that was free on 127.0.0.1 a moment ago (bind port 0, read it back, close), for test servers.
public func freeLoopbackPort() -> Int {
    for _ in 0..<10 {
        if let port = try? LoopbackPort.free() { return port }
        usleep(10_000)
    }
    preconditionFailure("no free loopback port")
}

/// A throw-away PKI for TLS tests, made with the `openssl` command in a temporary directory:
/// a CA, a server certificate for 127.0.0.1/localhost and a client certificate, all signed by it.
public struct TestPKI: Sendable {
    public let directory: URL
    public var caCert: String { path("ca.pem") }
    public var serverCert: String { path("server.pem") }
    public var serverKey: String { path("server.key") }
    public var clientCert: String { path("client.pem") }
    public var clientKey: String { path("client.key") }
    /// Signed by a different CA: a client presenting it is not trusted.
    public var strangerCert: String { path("stranger.pem") }
    public var strangerKey: String { path("stranger.key") }

    public func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pki-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Sluice Test CA",
                          "-keyout", path("ca.key"), "-out", path("ca.pem")], in: directory)
        try Self.openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Stranger CA",
                          "-keyout", path("stranger-ca.key"), "-out", path("stranger-ca.pem")], in: directory)
        try issue("server", cn: "127.0.0.1", ca: "ca", extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        try issue("client", cn: "sluice-client", ca: "ca", extensions: "extendedKeyUsage=clientAuth\n")
        try issue("stranger", cn: "stranger", ca: "stranger-ca", extensions: "extendedKeyUsage=clientAuth\n")
    }

    /// `init()` with the `openssl` runs on a thread of their own.
    public static func make() async throws -> TestPKI {
        try await offPool { try TestPKI() }
    }

    private func issue(_ name: String, cn: String, ca: String, extensions: String) throws {
        try Data(extensions.utf8).write(to: directory.appendingPathComponent("\(name).ext"))
        try Self.openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(cn)",
                          "-keyout", path("\(name).key"), "-out", path("\(name).csr")], in: directory)
        try Self.openssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
                          "-CAcreateserial", "-days", "2", "-extfile", path("\(name).ext"), "-out", path("\(name).pem")], in: directory)
    }

    private static func openssl(_ arguments: [String], in directory: URL) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["openssl"] + arguments
        p.currentDirectoryURL = directory
        let err = Pipe.closedOnExec()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        let message = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilGone()
        guard p.terminationStatus == 0 else {
            throw HarnessError("openssl \(arguments.first ?? "") failed: \(String(decoding: message, as: UTF8.self).suffix(500))")
        }
    }

    /// Deletes the directory.
    public func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}
