import Foundation
import Synchronization

/// moto's server (real AWS APIs, in memory: Security Hub, EventBridge, SNS, SQS, EC2, ECS, IAM,
/// STS…) on a free loopback port, for tests that call AWS through `SluiceAWS`.
///
/// moto accepts any credentials and serves account `123456789012`; the region comes from each
/// request's signature. `MotoServer.shared()` is one server for the whole test process (about
/// 200 MB each): tests that share it use names of their own and never `reset()` it. A test that
/// needs a clean account starts its own `MotoServer()` and stops it.
/// The server answers one request at a time, in arrival order, and answers an SQS long poll at
/// once: a test that waits for messages sleeps between polls on its own side. On a loaded machine
/// one call can take longer than the AWS client's 10 s default: a test gives its clients more.
/// The server exits by itself when the test process goes away (scripts/receivers/moto_server.py).
public final class MotoServer: Sendable {
    /// The account moto serves.
    public static let accountID = "123456789012"

    public let port: Int
    /// The base URL to use as every service's endpoint.
    public var endpoint: String { "http://127.0.0.1:\(port)" }
    private let process: Mutex<Process?>
    private let logFile: URL

    /// Starts a server, waiting for it on the calling thread (for synchronous callers and
    /// `shared()`; an async test uses `try await MotoServer.start()`).
    public init() throws {
        var lastError: (any Error)?
        for _ in 0..<5 {  // a free port can be taken between probing and binding: try again
            let (p, port, log) = try Self.launch()
            if Self.waitUntilBound(p, port: port, log: log, timeout: 60) {
                self.port = port
                process = Mutex(p)
                logFile = log
                return
            }
            lastError = Self.failedStart(p, port: port, log: log)
        }
        throw lastError ?? HarnessError("moto did not start")
    }

    private init(port: Int, process: Process, logFile: URL) {
        self.port = port
        self.process = Mutex(process)
        self.logFile = logFile
    }

    /// Starts a server, waiting for it without holding a pool thread.
    public static func start() async throws -> MotoServer {
        var lastError: (any Error)?
        for _ in 0..<5 {  // a free port can be taken between probing and binding: try again
            let (p, port, log) = try Self.launch()
            if try await offPool({ Self.waitUntilBound(p, port: port, log: log, timeout: 60) }) {
                return MotoServer(port: port, process: p, logFile: log)
            }
            lastError = Self.failedStart(p, port: port, log: log)
        }
        throw lastError ?? HarnessError("moto did not start")
    }

    /// Starts the wrapper on `port` (a free one when nil), without waiting for it.
    public static func launch(port: Int? = nil) throws -> (Process, Int, URL) {
        let python = PackagePaths.root.appendingPathComponent(".tools/venv/bin/python3")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw HarnessError("the tools venv (moto) is missing at \(python.path): run scripts/setup")
        }
        let script = PackagePaths.root.appendingPathComponent("scripts/receivers/moto_server.py")
        let port = try port ?? LoopbackPort.free()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("moto-\(port)-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let p = Process()
        p.executableURL = python
        p.arguments = ["-u", script.path, "-H", "127.0.0.1", "-p", "\(port)"]
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle
        p.standardError = handle
        // No AWS settings of the developer's leak into the server.
        p.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") }
        try p.run()
        return (p, port, log)
    }

    /// Whether this server bound `port`: werkzeug logs "Running on" once its socket is bound.
    /// A connection alone does not say so: moto warms its backends for seconds before binding,
    /// and another test's server that took the free port meanwhile accepts too (moto then exits
    /// with "Address already in use", and every AWS call of the run got that server's 404).
    public static func waitUntilBound(_ p: Process, port: Int, log: URL, timeout: Double) -> Bool {
        let marker = "Running on http://127.0.0.1:\(port)"
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning, Date() < deadline {
            if let text = try? String(contentsOf: log, encoding: .utf8), text.contains(marker) {
                return p.isRunning && LoopbackPort.waitUntilAccepting(port, timeout: 5)
            }
            usleep(50_000)
        }
        return false
    }

    private static func failedStart(_ p: Process, port: Int, log: URL) -> HarnessError {
        ChildProcess.stop(p)
        return HarnessError("moto did not start on port \(port): \(((try? String(contentsOf: log, encoding: .utf8)) ?? "").suffix(800))")
    }

    private static let sharedServer = Result { try MotoServer() }

    /// One server for the whole test process, started on first use.
    public static func shared() throws -> MotoServer { try sharedServer.get() }

    /// Forgets every resource in every region and account (`POST /moto-api/reset`).
    /// Not on `shared()`: other tests are using it.
    public func reset() throws {
        let (status, _) = try request("POST", "/moto-api/reset")
        guard status == 200 else { throw HarnessError("moto reset: HTTP \(status)") }
    }

    /// A plain request to moto's own API (`/moto-api/…`), returning the status and body.
    public func request(_ method: String, _ path: String, body: [UInt8] = []) throws -> (Int, [UInt8]) {
        try LoopbackHTTP.exchange(port: port, method: method, path: path, body: body)
    }

    /// Stops the server (SIGTERM, then SIGKILL after a grace period): signals and returns at once,
    /// a reaper thread waits for it.
    public func stop() {
        let p = process.withLock { p -> Process? in defer { p = nil }; return p }
        if let p { ChildProcess.stop(p) }
        try? FileManager.default.removeItem(at: logFile)
    }

    /// Stops the server and returns once it is gone, without holding a pool thread.
    public func stopAndWait() async {
        let p = process.withLock { p -> Process? in defer { p = nil }; return p }
        if let p { await ChildProcess.stopAndWait(p) }
        try? FileManager.default.removeItem(at: logFile)
    }

    deinit { stop() }
}

/// One HTTP/1.1 exchange over a fresh loopback connection (`Connection: close`): enough for
/// test servers' control APIs, with no HTTP client underneath.
public enum LoopbackHTTP {
    public static func exchange(port: Int, method: String, path: String, body: [UInt8] = [],
                                headers: [String: String] = [:]) throws -> (status: Int, body: [UInt8]) {
        guard let fd = LoopbackPort.connect(port) else { throw HarnessError("cannot connect to 127.0.0.1:\(port)") }
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        let bytes = Array((head + "\r\n").utf8) + body
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw HarnessError("send to 127.0.0.1:\(port) failed") }
            sent += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += buffer[..<n]
        }
        let statusLine = String(decoding: response.prefix { $0 != 0x0D }, as: UTF8.self).split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw HarnessError("no HTTP answer from 127.0.0.1:\(port)") }
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = response.indices.first(where: { response[$0...].starts(with: separator) }) else { return (status, []) }
        return (status, Array(response[(end + 4)...]))
    }
}
