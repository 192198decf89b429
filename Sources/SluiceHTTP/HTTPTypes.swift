/// One HTTP request. Its description redacts credentials, so it is safe to log.
public struct HTTPRequest: Sendable, CustomStringConvertible {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Total time for the request, connection included.
    public var timeout: Duration
    public var connectTimeout: Duration
    /// libcurl's AWS SigV4 signing, e.g. `aws:amz:us-east-1:sns`; needs `credentials`.
    public var awsSigV4: String?
    /// `ACCESS_KEY:SECRET` for SigV4 (or basic auth user:password when `awsSigV4` is nil).
    public var credentials: String?
    public var tls: TLSOptions

    public init(method: String = "POST", url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
                timeout: Duration = .seconds(10), connectTimeout: Duration = .seconds(5),
                awsSigV4: String? = nil, credentials: String? = nil, tls: TLSOptions = TLSOptions()) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.awsSigV4 = awsSigV4
        self.credentials = credentials
        self.tls = tls
    }

    public var description: String {
        let shown = headers.map { "\($0.name): \(HTTPRequest.isSecretHeader($0.name) ? "***" : $0.value)" }
        return "\(method) \(HTTPRequest.redactURL(url)) [\(shown.joined(separator: ", "))]\(credentials == nil ? "" : " credentials=***")"
    }

    static func isSecretHeader(_ name: String) -> Bool {
        let n = name.lowercased()
        return ["auth", "token", "secret", "key", "signature", "cookie", "password"].contains { n.contains($0) }
    }

    /// Drops user-info and query strings (webhook URLs often carry their secret there).
    public static func redactURL(_ url: String) -> String {
        var u = Substring(url)
        if let q = u.firstIndex(of: "?") { u = u[..<q] }
        if let scheme = u.range(of: "://"), let at = u[scheme.upperBound...].firstIndex(of: "@") {
            u = u[..<scheme.upperBound] + "***@" + u[u.index(after: at)...]
        }
        return String(u)
    }
}

/// TLS settings. Verification is on unless turned off explicitly.
public struct TLSOptions: Sendable, Equatable {
    public var verifyPeer = true
    public var verifyHost = true
    public var caBundlePath: String?
    public var clientCertPath: String?
    public var clientKeyPath: String?
    public var keyPassword: String?

    public init(verifyPeer: Bool = true, verifyHost: Bool = true, caBundlePath: String? = nil,
                clientCertPath: String? = nil, clientKeyPath: String? = nil, keyPassword: String? = nil) {
        self.verifyPeer = verifyPeer
        self.verifyHost = verifyHost
        self.caBundlePath = caBundlePath
        self.clientCertPath = clientCertPath
        self.clientKeyPath = clientKeyPath
        self.keyPassword = keyPassword
    }
}

/// A response. The body kept is capped (`HTTPClient.maxBodyBytes`) to bound memory.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Names lowercased.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.last { $0.name == n }?.value
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// `Retry-After` as a delay (seconds form; HTTP-date form relative to now).
    public var retryAfter: Duration? {
        guard let v = header("retry-after")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let s = Double(v), s >= 0 { return .milliseconds(Int64(s * 1000)) }
        return HTTPDate.delay(until: v)
    }
}

/// Transport failure of a request (no HTTP status). Descriptions never hold secrets.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public static let connectFailed = Code(name: "connect_failed")
        public static let resolveFailed = Code(name: "resolve_failed")
        public static let timedOut = Code(name: "timed_out")
        public static let tlsFailed = Code(name: "tls_failed")
        public static let sendFailed = Code(name: "send_failed")
        public static let receiveFailed = Code(name: "receive_failed")
        public static let invalidRequest = Code(name: "invalid_request")
        public static let shutdown = Code(name: "shutdown")
        public static let other = Code(name: "other")
        public var description: String { name }
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// Connection problems and timeouts may go away; a bad request or a certificate we do not
    /// trust will not.
    public var isRetriable: Bool {
        switch code {
        case .connectFailed, .resolveFailed, .timedOut, .sendFailed, .receiveFailed, .other: return true
        default: return false
        }
    }

    public var description: String { "\(code): \(detail)" }
}

import Foundation

enum HTTPDate {
    static func delay(until text: String) -> Duration? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = f.date(from: text) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSinceNow) * 1000))
    }
}

extension Duration {
    /// Whole milliseconds (for curl's *_MS options and logs).
    public var wholeMilliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
