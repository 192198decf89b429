import Foundation
import Logging
import SluiceKafka

/// Where the package lives, for finding `.tools/` and `scripts/` from tests and benchmarks.
public enum PackagePaths {
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static func tool(_ name: String) -> URL { root.appendingPathComponent(".tools/bin/\(name)") }
    /// The `sluice` binary built beside the running test bundle (same build, same configuration),
    /// never a path that could hold a stale build of another configuration.
    public static var sluiceBinary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("sluice")
    }
    /// ../shared beside the clone (test data written by others), or nil when absent.
    public static var shared: URL? {
        let url = root.deletingLastPathComponent().appendingPathComponent("shared")
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }
}

/// Errors of test infrastructure (servers that fail to start and alike).
public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A Tansu broker (Kafka-compatible, in-memory storage) on a free loopback port, started for
/// one test or benchmark and stopped by it.
public final class TansuBroker: @unchecked Sendable {
    // @unchecked: the process handle is only touched in init and stop, which callers serialise.
    public let port: Int
    /// The port clients are told to use (a proxy in front of the broker), when not `port`.
    public let advertisedPort: Int?
    public var bootstrap: String { "127.0.0.1:\(advertisedPort ?? port)" }
    /// The broker's pid, for tests that freeze it (SIGSTOP) or kill it mid-request.
    public var processIdentifier: Int32 { process.processIdentifier }
    private let process: Process
    private let logFile: URL

    /// Starts a broker, waiting for it on the calling thread (for synchronous callers; an async
    /// test uses `try await TansuBroker.start()`).
    public init() throws {
        let tansu = try Self.executable()
        var lastError: (any Error)?
        for _ in 0..<5 {  // a free port can be taken between probing and binding: try again
            let (p, port, log) = try Self.launch(tansu, advertisedPort: nil)
            if LoopbackPort.waitUntilAccepting(port, timeout: 60), p.isRunning {
                self.port = port
                self.advertisedPort = nil
                self.process = p
                self.logFile = log
                return
            }
            lastError = Self.failedStart(p, port: port, log: log)
        }
        throw lastError ?? HarnessError("tansu did not start")
    }

    private init(port: Int, advertisedPort: Int?, process: Process, logFile: URL) {
        self.port = port
        self.advertisedPort = advertisedPort
        self.process = process
        self.logFile = logFile
    }

    /// Starts a broker, waiting for it without holding a pool thread. `advertisedPort`: the
    /// loopback port the broker tells clients to connect to (a proxy in front of it).
    public static func start(advertisedPort: Int? = nil) async throws -> TansuBroker {
        let tansu = try Self.executable()
        var lastError: (any Error)?
        for _ in 0..<5 {  // a free port can be taken between probing and binding: try again
            let (p, port, log) = try Self.launch(tansu, advertisedPort: advertisedPort)
            if await LoopbackPort.accepts(port, within: 60), p.isRunning {
                return TansuBroker(port: port, advertisedPort: advertisedPort, process: p, logFile: log)
            }
            lastError = Self.failedStart(p, port: port, log: log)
        }
        throw lastError ?? HarnessError("tansu did not start")
    }

    private static func executable() throws -> URL {
        let tansu = PackagePaths.tool("tansu")
        guard FileManager.default.isExecutableFile(atPath: tansu.path) else {
            throw HarnessError("Tansu not found at \(tansu.path): run scripts/setup")
        }
        return tansu
    }

    private static func launch(_ tansu: URL, advertisedPort: Int?) throws -> (Process, Int, URL) {
        let port = try LoopbackPort.free()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("tansu-\(port)-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let p = Process()
        let url = "tcp://127.0.0.1:\(port)"
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let advertised = advertisedPort.map { "tcp://127.0.0.1:\($0)" } ?? url
        p.arguments = ChildProcess.unblockingSignals + [tansu.path, "broker", "--listener-url", url, "--advertised-listener-url", advertised, "--storage-engine", "memory://tansu/"]
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle
        p.standardError = handle
        p.environment = ProcessInfo.processInfo.environment.merging(["RUST_LOG": "warn"]) { $1 }
        try p.run()
        return (p, port, log)
    }

    private static func failedStart(_ p: Process, port: Int, log: URL) -> HarnessError {
        ChildProcess.stop(p)
        return HarnessError("tansu did not start on port \(port): \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
    }

    /// librdkafka properties for a client of this broker (short session timeout: Tansu's first
    /// group join takes ~23 s with librdkafka's default 45 s, ~3 s with 6 s).
    public func clientConfig(_ extra: [String: String] = [:]) -> KafkaConfig {
        var props = ["bootstrap.servers": bootstrap]
        props.merge(extra) { $1 }
        return KafkaConfig(props)
    }

    public static let consumerTuning: [String: String] = [
        "session.timeout.ms": "6000", "heartbeat.interval.ms": "500", "topic.metadata.refresh.interval.ms": "1000",
    ]

    public func createTopics(_ names: [String], partitions: Int32 = 1) throws {
        try KafkaAdmin.createTopics(names, partitions: partitions, config: clientConfig(), logger: Logger(label: "test.admin"))
    }

    /// Signals the broker to stop and returns at once; a reaper thread finishes the job (see
    /// `ChildProcess.stop`), so a `defer { broker.stop() }` never blocks the pool.
    public func stop() {
        ChildProcess.stop(process)
        try? FileManager.default.removeItem(at: logFile)
    }

    /// Stops the broker and returns once it is gone, without holding a pool thread.
    public func stopAndWait() async {
        await ChildProcess.stopAndWait(process)
        try? FileManager.default.removeItem(at: logFile)
    }

    deinit { stop() }
}

/// Loopback port helpers for test servers.
public enum LoopbackPort {
    /// A port that was free a moment ago on 127.0.0.1.
    public static func free() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed") }
        defer { close(fd) }
        guard let port = bindAnyPort(fd) else { throw HarnessError("cannot bind a loopback port") }
        return port
    }

    /// Binds socket `fd` to 127.0.0.1 on a port the system picks: that port, nil when it cannot.
    public static func bindAnyPort(_ fd: Int32) -> Int? {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        return bound ? Int(UInt16(bigEndian: addr.sin_port)) : nil
    }

    /// Waits until something accepts TCP connections on 127.0.0.1:`port`; tries once more at the
    /// deadline (a server that came up during the last sleep counts).
    public static func waitUntilAccepting(_ port: Int, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let fd = connect(port) {
                close(fd)
                return true
            }
            if Date() >= deadline { return false }
            usleep(50_000)
        }
    }

    /// A TCP socket connected to 127.0.0.1:`port`, or nil. The caller closes it.
    public static func connect(_ port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        if ok { return fd }
        close(fd)
        return nil
    }

    /// A GET on loopback over a plain socket (`Connection: close`): the whole response text —
    /// status line, headers and body — or nil when nothing answered. Foundation on Linux does
    /// not fetch http URLs without FoundationNetworking.
    public static func get(_ port: Int, _ path: String) -> String? {
        guard let fd = connect(port) else { return nil }
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return nil }
        return readResponse(fd).map { String(decoding: $0, as: UTF8.self) }
    }

    /// An HTTP/1.1 response read up to the server's close: nil when nothing came or the body is
    /// shorter than its Content-Length. A read interrupted by a signal (the test process gets
    /// SIGCHLD from every child it runs) goes on; taking it for the end cut scrapes short.
    public static func readResponse(_ fd: Int32) -> [UInt8]? {
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            response += buffer[..<n]
        }
        guard !response.isEmpty else { return nil }
        guard let end = response.indices.first(where: { response[$0...].starts(with: [13, 10, 13, 10]) }) else { return nil }
        let head = String(decoding: response[..<end], as: UTF8.self).lowercased()
        if let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
           let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)),
           response.count - (end + 4) < length {
            return nil
        }
        return response
    }
}

/// Stopping child servers: SIGTERM, a grace period, then SIGKILL (see also `stopAndWait`, `killNow`).
public enum ChildProcess {
    /// A prefix for `/usr/bin/env` arguments that execs the command with SIGTERM and SIGINT
    /// unblocked: a test runner's threads may block them, and exec keeps the mask, so a child
    /// would ignore `stop()`'s SIGTERM and only die by SIGKILL after the grace period.
    public static let unblockingSignals = [
        "python3", "-c",
        "import os, signal, sys; signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT}); os.execv(sys.argv[1], sys.argv[1:])",
    ]

    /// SIGTERM now; the grace period, SIGKILL and the reaping happen on a thread of its own, so
    /// this returns at once (a `defer` cannot await, and must not block the pool). Use
    /// `await ChildProcess.stopAndWait(_:)` when the test needs the process gone before it goes on.
    public static func stop(_ process: Process, grace: Double = 2) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        reapInBackground(process, grace: grace)
    }
}

/// Runs a command to its end, as a user would: exit status and combined stdout and stderr.
public enum CommandRun {
    public static func run(_ executable: URL, _ arguments: [String], environment: [String: String] = [:],
                           in directory: URL? = nil) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = executable
        p.arguments = arguments
        p.currentDirectoryURL = directory
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe.closedOnExec()
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilGone()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
