import Foundation
import Synchronization

/// `--metrics-listen HOST:PORT`: a minimal HTTP endpoint for Prometheus (`GET /metrics`, text
/// exposition format 0.0.4) and liveness (`GET /healthz`). One thread polls every connection, so
/// an idle or slow client never holds up a scrape (ten idle connections used to delay one by 20 s):
/// each connection has `requestTimeout` to send its request line, at most `maxConnections` are
/// open (a newcomer closes the oldest), and a response's send is bounded by a send timeout. This
/// avoids pulling an HTTP server framework into the router. Labels are route and connector
/// *names* and dead-letter reasons (bounded sets); never finding ids, never secrets.
final class MetricsServer: Sendable {
    let port: Int
    private let fd: Int32
    private let stopped = Atomic<Bool>(false)
    private let render: @Sendable () -> String
    private let requestTimeout: Duration
    static let maxConnections = 64
    /// A request line longer than this is not a scrape.
    static let maxRequestBytes = 8192

    /// Binds `address` (`127.0.0.1:9464`, `:9464` for all interfaces) and starts serving.
    init(address: String, requestTimeout: Duration = .seconds(10), render: @escaping @Sendable () -> String) throws {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw RunError("--metrics-listen: expected HOST:PORT, got '\(address)'")
        }
        let host = String(address[..<colon])
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RunError("metrics: socket failed") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = host.isEmpty || host == "0.0.0.0" ? INADDR_ANY : inet_addr(host == "localhost" ? "127.0.0.1" : host)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw RunError("--metrics-listen \(address): cannot listen (\(String(cString: strerror(errno))))")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.fd = fd
        self.render = render
        self.requestTimeout = requestTimeout
        let thread = Thread { [self] in serve() }
        thread.name = "sluice-metrics"
        thread.start()
    }

    /// A connection waiting for its request line.
    private struct Waiting {
        let fd: Int32
        var request: [UInt8] = []
        let deadline: ContinuousClock.Instant
    }

    private func serve() {
        var waiting: [Waiting] = []
        while !stopped.load(ordering: .acquiring) {
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)] + waiting.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), 200)
            let now = ContinuousClock.now
            if ready > 0 {
                var done: Set<Int32> = []
                for (i, p) in fds.dropFirst().enumerated() where p.revents != 0 {
                    if readRequest(&waiting[i]) { done.insert(waiting[i].fd) }
                }
                waiting.removeAll { done.contains($0.fd) }
                if fds[0].revents & Int16(POLLIN) != 0 {
                    let client = accept(fd, nil, nil)
                    if client >= 0 {
                        if waiting.count >= Self.maxConnections { close(waiting.removeFirst().fd) }
                        var timeout = timeval(tv_sec: 2, tv_usec: 0)
                        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                        waiting.append(Waiting(fd: client, deadline: now + requestTimeout))
                    }
                }
            }
            waiting.removeAll { w in
                guard w.deadline <= now else { return false }
                close(w.fd)
                return true
            }
        }
        for w in waiting { close(w.fd) }
        close(fd)
    }

    /// Reads what has arrived without blocking; once the request line is complete, answers and
    /// closes. True when the connection is finished with (answered, closed by the peer, or too long).
    private func readRequest(_ w: inout Waiting) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(w.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return false }
        if n > 0 { w.request.append(contentsOf: buffer[..<n]) }
        if let end = w.request.firstIndex(where: { $0 == 13 || $0 == 10 }) {
            respond(w.fd, requestLine: String(decoding: w.request[..<end], as: UTF8.self))
        } else if n > 0 && w.request.count <= Self.maxRequestBytes {
            return false
        }
        close(w.fd)
        return true
    }

    private func respond(_ client: Int32, requestLine: String) {
        let parts = requestLine.split(separator: " ")
        let (status, type, body): (String, String, String)
        switch (parts.first, parts.count > 1 ? parts[1] : "") {
        case ("GET", "/metrics"): (status, type, body) = ("200 OK", "text/plain; version=0.0.4; charset=utf-8", render())
        case ("GET", "/healthz"): (status, type, body) = ("200 OK", "text/plain; charset=utf-8", "ok\n")
        case ("GET", _): (status, type, body) = ("404 Not Found", "text/plain; charset=utf-8", "try /metrics or /healthz\n")
        default: (status, type, body) = ("405 Method Not Allowed", "text/plain; charset=utf-8", "GET only\n")
        }
        let payload = Array(body.utf8)
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(payload.count)\r\nConnection: close\r\n\r\n"
        let out = Array(head.utf8) + payload
        var sent = 0
        while sent < out.count {
            let k = out[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if k <= 0 { return }
            sent += k
        }
    }

    func stop() { stopped.store(true, ordering: .releasing) }
}

extension RunStats {
    /// The run's counters in Prometheus text format, with gauges supplied by the caller.
    func prometheusText(gauges: [(name: String, help: String, samples: [(labels: String, value: Int)])]) -> String {
        let s = snapshot
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(String, Int)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { out += "\(name)\(labels.isEmpty ? "" : "{\(labels)}") \(value)\n" }
        }
        family("sluice_findings_consumed_total", "counter", "Records taken from the source.", [("", s.consumed)])
        family("sluice_findings_unmatched_total", "counter", "Records no route matched.", [("", s.unmatched)])
        family("sluice_deliveries_total", "counter", "Deliveries that succeeded, by route and connector.",
               s.deliveredByPair.sorted { $0.key.route + $0.key.connector < $1.key.route + $1.key.connector }
                   .map { ("route=\"\(Self.escape($0.key.route))\",connector=\"\(Self.escape($0.key.connector))\"", $0.value) })
        family("sluice_dead_letters_total", "counter", "Records or deliveries written to the dead-letter topic, by reason.",
               s.deadLettered.sorted { $0.key < $1.key }.map { ("reason=\"\(Self.escape($0.key))\"", $0.value) })
        family("sluice_delivery_retries_total", "counter", "Delivery attempts that failed and were scheduled again.", [("", s.retries)])
        for g in gauges { family(g.name, "gauge", g.help, g.samples.map { ($0.labels, $0.value) }) }
        out += held.prometheus()
        return out
    }

    static func escape(_ v: String) -> String {
        v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
