import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The request context: who is calling, once the access middleware has looked.
public struct AdminContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Nil for open paths (probes, metrics, the page) and for reads when no token is configured.
    public var principal: AdminPrincipal?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }
}

/// The admin HTTP server (probes, `/metrics`, `/api/v1`, the dashboard) as a `Service`: it runs
/// until the service group shuts down. It sees the router only through `AdminRuntime`.
public final class AdminServer: Service, Sendable {
    public let settings: AdminSettings
    let runtime: any AdminRuntime
    let access: AccessControl
    public let readiness: Readiness
    public let recent: RecentFindings
    public let exporter: MetricsExporter
    let audit: any AdminAuditSink
    let logger: Logger
    let host: String
    let port: Int
    let onListening: @Sendable (Int) -> Void
    /// HTTPS when `tls:` is configured; the files are read at start, so a bad one stops the run there.
    let tls: TLSConfiguration?
    /// Open event streams, ended on shutdown: a dashboard left open must not hold the process.
    private let streams = Mutex<(next: Int, open: [Int: AsyncStream<ByteBuffer>.Continuation], closed: Bool)>((0, [:], false))

    /// Refuses a non-loopback address when no token is configured: an open admin port on a
    /// network would let anyone read findings.
    public init(settings: AdminSettings, runtime: any AdminRuntime, access: AccessControl, readiness: Readiness,
                recent: RecentFindings, exporter: MetricsExporter, audit: (any AdminAuditSink)? = nil, logger: Logger,
                onListening: @escaping @Sendable (Int) -> Void = { _ in }) throws(AdminConfigError) {
        let (host, port) = try AdminSettings.parse(listen: settings.listen)
        if access.isEmpty, !AdminSettings.isLoopback(host) {
            throw AdminConfigError(
                "admin: \(settings.listen) is not a loopback address and no admin token is configured; "
                    + "listen on 127.0.0.1 or configure tokens (admin.tokens_file or SLUICE_ADMIN_TOKENS)")
        }
        self.settings = settings
        self.runtime = runtime
        self.access = access
        self.readiness = readiness
        self.recent = recent
        self.exporter = exporter
        self.audit = audit ?? LoggingAuditSink(logger: logger)
        self.logger = logger
        self.host = host
        self.port = port
        self.onListening = onListening
        tls = try Self.tlsConfiguration(settings)
    }

    /// The server's TLS configuration from the certificate and key files, or nil without `tls:`.
    static func tlsConfiguration(_ settings: AdminSettings) throws(AdminConfigError) -> TLSConfiguration? {
        switch (settings.tlsCertFile, settings.tlsKeyFile) {
        case (nil, nil): return nil
        case (let cert?, let key?):
            let chain: [NIOSSLCertificate]
            let privateKey: NIOSSLPrivateKey
            do { chain = try NIOSSLCertificate.fromPEMFile(cert) } catch { throw AdminConfigError("admin tls: cannot read the certificate chain \(cert)") }
            do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) } catch {
                // Never the key's bytes: only its path.
                throw AdminConfigError("admin tls: cannot read the private key \(key)")
            }
            guard !chain.isEmpty else { throw AdminConfigError("admin tls: \(cert) holds no certificate") }
            return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        default:
            throw AdminConfigError("admin tls: cert_file and key_file go together")
        }
    }

    public func run() async throws {
        let http1: HTTPServerBuilder = .http1(configuration: .init(
            idleTimeout: Self.timeAmount(settings.idleTimeout),
            httpDecoderConfiguration: .init(maxHeaderFieldSize: 8 * 1024, maxHeaderListSize: 16 * 1024, maxHeaderFieldCount: 100)))
        let app = Application(
            router: makeRouter(),
            server: try tls.map { try .tls(http1, tlsConfiguration: $0) } ?? http1,
            configuration: .init(address: .hostname(host, port: port), serverName: nil, reuseAddress: true,
                                 availableConnectionsDelegate: .maximum(settings.maxConnections, logger: logger)),
            onServerRunning: { [onListening, logger, host] channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("admin server listening", metadata: ["admin.address": "\(host):\(port)"])
                onListening(port)
            },
            logger: logger)
        try await withGracefulShutdownHandler {
            do {
                try await app.run()
            } catch let error as IOError {
                throw AdminConfigError("admin: cannot listen on \(host):\(port): \(String(cString: strerror(error.errnoCode)))")
            }
        } onGracefulShutdown: { [self] in
            let open = streams.withLock { s in
                s.closed = true
                return Array(s.open.values)
            }
            for stream in open { stream.finish() }
        }
    }

    /// NIO's TimeAmount for a configured duration, clamped to a day (a config value never traps).
    static func timeAmount(_ d: Duration) -> TimeAmount {
        let seconds = min(max(d.components.seconds, 0), 86_400)
        return .nanoseconds(seconds * 1_000_000_000 + (seconds == 86_400 ? 0 : max(d.components.attoseconds, 0) / 1_000_000_000))
    }

    // MARK: Routes

    func makeRouter() -> Router<AdminContext> {
        let router = Router(context: AdminContext.self)
        router.add(middleware: AccessMiddleware(access: access, audit: audit, logger: logger))
        router.get("/-/healthy") { _, _ in Response.text("ok\n") }
        router.get("/healthz") { _, _ in Response.text("ok\n") }  // the earlier metrics server's path
        router.get("/-/ready") { [readiness] _, _ in
            let unmet = readiness.unmet
            return unmet.isEmpty ? Response.text("ready\n") : Response.text("not ready: \(unmet.joined(separator: ", "))\n", status: .serviceUnavailable)
        }
        router.post("/-/reload") { [runtime] _, _ in
            let outcome = await runtime.reload()
            return try Response.json(outcome, status: outcome.successful ? .ok : .unprocessableContent)
        }
        router.get("/metrics") { [exporter, runtime] _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: exporter.render(runtime.metrics()))))
        }
        router.get("/") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/html; charset=utf-8"
            // The page loads nothing from elsewhere; its scripts are its own, and data is inserted as text.
            headers[.contentSecurityPolicy] = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            headers[.xContentTypeOptions] = "nosniff"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.dashboard_html)))
        }
        let api = router.group("api/v1")
        api.get("status") { [self] _, _ in try Response.json(currentStatus()) }
        api.get("routes") { [runtime] _, _ in try Response.json(runtime.routes()) }
        api.get("connectors") { [runtime] _, _ in try Response.json(runtime.connectors()) }
        api.get("inhibitions") { [runtime] _, _ in try Response.json(runtime.inhibitions()) }
        api.get("findings") { [recent] request, _ in
            let query = request.uri.queryParameters
            let limit = query["limit"].map { Self.integer(String($0)) } ?? 100
            let after = query["after"].map { Self.integer(String($0)) } ?? Int.min
            guard let limit, limit >= 0, let after else {
                throw HTTPError(.badRequest, message: "limit must be a non-negative integer and after an integer")
            }
            return try Response.json(recent.recent(limit: min(limit, recent.capacity), after: after))
        }
        api.post("test") { [self] request, _ in
            let body = try await collectBody(request)
            let report = runtime.test(event: body)
            if let error = report.error {
                return try Response.json(["error": error], status: .badRequest)
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: report.json ?? "{}")))
        }
        api.get("events") { [self] _, _ in eventStream() }
        addOperationsRoutes(to: api)
        addSilenceRoutes(to: api)
        return router
    }

    /// A decimal integer; one too large for Int saturates (it is still a valid integer).
    static func integer(_ text: String) -> Int? {
        if let value = Int(text) { return value }
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return text.hasPrefix("-") ? Int.min : Int.max
    }

    func currentStatus() -> AdminStatus {
        var status = runtime.status()
        status.ready = readiness.isReady
        return status
    }

    /// The body, at most `maxBodyBytes`, received within `requestTimeout`: a client that
    /// trickles a body ties up only its own request, and not for long.
    func collectBody(_ request: Request) async throws -> [UInt8] {
        let limit = settings.maxBodyBytes
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw HTTPError(.contentTooLarge, message: "request body larger than \(limit) bytes")
        }
        let timeout = settings.requestTimeout
        return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
            group.addTask {
                do {
                    let buffer = try await request.body.collect(upTo: limit)
                    return Array(buffer.readableBytesView)
                } catch is NIOTooManyBytesError {
                    throw HTTPError(.contentTooLarge, message: "request body larger than \(limit) bytes")
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let body = first else {
                throw HTTPError(.requestTimeout, message: "request body not received within \(timeout)")
            }
            return body
        }
    }

    /// `GET /api/v1/events`: Server-Sent Events. `finding` for each new or changed feed record,
    /// `snapshot` (status, routes, connectors, inhibitions) every second, so one connection keeps a page live.
    func eventStream() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-store"
        let findings = recent.subscribe()
        let backlog = recent.recent(limit: 50).reversed()
        return Response(status: .ok, headers: headers, body: .init { [self] writer in
            let (events, sink) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingNewest(512))
            let id: Int? = streams.withLock { s in
                guard !s.closed else { return nil }
                s.next += 1
                s.open[s.next] = sink
                return s.next
            }
            guard let id else { return try await writer.finish(nil) }
            defer { _ = streams.withLock { $0.open.removeValue(forKey: id) } }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await record in findings { sink.yield(Self.event("finding", record)) }
                }
                group.addTask { [self] in
                    while !Task.isCancelled {
                        sink.yield(Self.event("snapshot", DashboardSnapshot(status: currentStatus(), routes: runtime.routes(), connectors: runtime.connectors(),
                                                                             inhibitions: runtime.inhibitions())))
                        try await Task.sleep(for: .seconds(1))
                    }
                }
                defer { group.cancelAll() }
                for record in backlog { try await writer.write(Self.event("finding", record)) }
                for await event in events { try await writer.write(event) }
            }
            try await writer.finish(nil)
        })
    }

    static func event(_ name: String, _ value: some Encodable) -> ByteBuffer {
        let data = (try? Response.encoder.encode(value)) ?? Data("{}".utf8)
        // JSON has no raw newline, so one `data:` line holds the whole value.
        var buffer = ByteBuffer(string: "event: \(name)\ndata: ")
        buffer.writeBytes(data)
        buffer.writeString("\n\n")
        return buffer
    }
}

/// One `snapshot` event of the live stream.
struct DashboardSnapshot: Encodable {
    var status: AdminStatus
    var routes: [RouteStatus]
    var connectors: [ConnectorStatus]
    var inhibitions: [InhibitionStatus]
}

extension Response {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    static func text(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
