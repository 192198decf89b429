import Foundation
import Logging
import ServiceLifecycle
import SluiceTestSupport
import SluiceAdmin
import Synchronization

/// A runtime with values the test sets: the server must show exactly these.
final class FakeRuntime: AdminRuntime {
    struct State {
        var consumed = 0
        var lanePending: [String: Int] = [:]
        var reload = ReloadOutcome(successful: true, errors: [], configHash: "abc", configVersion: 2)
        var reloads = 0
    }
    let state = Mutex(State())

    func status() -> AdminStatus {
        AdminStatus(version: "test", source: "kafka", group: "g", topics: ["findings"], partitions: ["findings/0"], inFlight: 1,
                    consumed: state.withLock { $0.consumed }, unmatched: 0, deadLettered: 0, configHash: "abc", configVersion: 1,
                    lastReloadSuccessful: true, startedAt: "2026-01-01T00:00:00Z")
    }
    func routes() -> [RouteStatus] { [RouteStatus(name: "high-severity", targets: ["slack"], matched: 3, delivered: ["slack": 2])] }
    func connectors() -> [ConnectorStatus] {
        [ConnectorStatus(name: "slack", kind: "slack", backlog: 1, inFlight: 1, breaker: "closed", delivered: 2, lastError: nil, p95Seconds: 0.05)]
    }
    func metrics() -> MetricsSnapshot {
        state.withLock { s in
            MetricsSnapshot(
                counters: [.init(name: "sluice_findings_consumed_total", help: "Records taken from the source.", samples: [.init(value: s.consumed)])],
                gauges: [.init(name: "sluice_lane_pending", help: "Deliveries queued, running or waiting to retry, by connector.",
                               samples: s.lanePending.sorted { $0.key < $1.key }.map { .init(labels: [("connector", $0.key)], value: $0.value) })])
        }
    }
    func test(event: [UInt8]) -> TestReport {
        guard (try? JSONSerialization.jsonObject(with: Data(event))) != nil else { return TestReport(json: nil, text: "", error: "event is not JSON") }
        return TestReport(json: #"{"matches":[{"route":"high-severity"}]}"#, text: "high-severity")
    }
    func reload() async -> ReloadOutcome {
        state.withLock {
            $0.reloads += 1
            return $0.reload
        }
    }
}

final class RecordingAudit: AdminAuditSink {
    let records = Mutex<[AdminAuditRecord]>([])
    func record(_ entry: AdminAuditRecord) { records.withLock { $0.append(entry) } }
}

/// An admin server on a free loopback port, run in a service group the test stops.
struct RunningAdmin {
    let port: Int
    let server: AdminServer
    let group: ServiceGroup
    let task: Task<Void, any Error>

    static func start(runtime: FakeRuntime, access: AccessControl = AccessControl(), audit: RecordingAudit = RecordingAudit(),
                      readiness: Readiness = Readiness(), recent: RecentFindings = RecentFindings(),
                      configure: (inout AdminSettings) -> Void = { _ in }) async throws -> RunningAdmin {
        var settings = AdminSettings(listen: "127.0.0.1:0")
        configure(&settings)
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "admin-test")
        logger.logLevel = .warning
        let server = try AdminServer(settings: settings, runtime: runtime, access: access, readiness: readiness, recent: recent,
                                     exporter: MetricsExporter(), audit: audit, logger: logger) { portSink.yield($0) }
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw TestFailure("admin server did not report a port") }
        return RunningAdmin(port: port, server: server, group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A plain HTTP/1.1 client over a loopback socket: what a scraper, a probe or curl sends.
struct HTTPReply {
    var status: Int
    var headers: [String: String]
    var body: String
}

enum LoopbackHTTP {
    static func connect(_ port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else {
            close(fd)
            throw TestFailure("connect to \(port) failed")
        }
        // A safety net against a hung test, not a bound on how fast the server must be.
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    static func send(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestFailure("send failed") }
            sent += n
        }
    }

    static func request(_ port: Int, _ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8] = []) async throws -> HTTPReply {
        try await offPool { try blockingRequest(port, method, path, headers: headers, body: body) }
    }

    static func blockingRequest(_ port: Int, _ method: String, _ path: String, headers: [String: String], body: [UInt8]) throws -> HTTPReply {
        let fd = try connect(port)
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if method != "GET" { head += "Content-Length: \(body.count)\r\n" }
        try send(fd, Array((head + "\r\n").utf8) + body)
        return try blockingReadReply(fd)
    }

    static func readReply(_ fd: Int32) async throws -> HTTPReply {
        try await offPool { try blockingReadReply(fd) }
    }

    static func blockingReadReply(_ fd: Int32) throws -> HTTPReply {
        guard let data = LoopbackPort.readResponse(fd) else { throw TestFailure("no complete HTTP reply") }
        return try parse(data)
    }

    static func parse(_ data: [UInt8]) throws -> HTTPReply {
        let text = String(decoding: data, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw TestFailure("no HTTP reply: \(text.prefix(200))") }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw TestFailure("bad status line \(lines[0])") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = String(text[split.upperBound...])
        if headers["transfer-encoding"] == "chunked" { body = dechunk(body) }
        return HTTPReply(status: status, headers: headers, body: body)
    }

    static func dechunk(_ body: String) -> String {
        var out = ""
        var rest = Substring(body)
        while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let start = lineEnd.upperBound
            let chunk = rest.utf8[start...].prefix(size)
            out += String(decoding: chunk, as: UTF8.self)
            rest = Substring(String(decoding: rest.utf8[start...].dropFirst(size + 2), as: UTF8.self))
        }
        return out
    }
}
