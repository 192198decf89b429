import CCurl
import SluiceCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One HTTP request.
///
/// Its `description` redacts credentials (secret-looking headers, the AWS key pair, the URL's
/// user-info, path and query, the proxy's user-info), so it is safe in a log line.
public struct HTTPRequest: Sendable, CustomStringConvertible {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Total time for the request, connection and queueing for a connection included (`CURLOPT_TIMEOUT_MS`).
    public var timeout: Duration
    /// Time allowed to establish the connection, TLS handshake included (`CURLOPT_CONNECTTIMEOUT_MS`).
    public var connectTimeout: Duration
    /// libcurl's AWS SigV4 signing (`CURLOPT_AWS_SIGV4`), e.g. `aws:amz:us-east-1:sns`; needs
    /// `credentials`. A session token goes in an `X-Amz-Security-Token` header, which is signed too.
    public var awsSigV4: String?
    /// `ACCESS_KEY_ID:SECRET_KEY` for SigV4 (`CURLOPT_USERPWD`; basic auth when `awsSigV4` is nil).
    public var credentials: String?
    public var tls: TLSOptions
    /// Proxy URL (`CURLOPT_PROXY`). `nil` leaves libcurl's default, which honours the
    /// `http_proxy` / `https_proxy` / `no_proxy` environment; `""` disables proxies.
    public var proxy: String?
    /// Redirects followed; 0 (the default, right for webhooks) returns the 3xx as the response.
    public var maxRedirects: Int
    /// Addresses the request may connect to. nil (configured targets: the operator chose the URL)
    /// connects anywhere; a policy (URLs rendered from findings, in actions) refuses loopback and
    /// link-local / metadata addresses it does not allow, checked on every resolved address
    /// before a socket is opened.
    public var addressPolicy: AddressPolicy?

    public init(method: String = "POST", url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
                timeout: Duration = .seconds(10), connectTimeout: Duration = .seconds(5),
                awsSigV4: String? = nil, credentials: String? = nil, tls: TLSOptions = TLSOptions(),
                proxy: String? = nil, maxRedirects: Int = 0) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.awsSigV4 = awsSigV4
        self.credentials = credentials
        self.tls = tls
        self.proxy = proxy
        self.maxRedirects = maxRedirects
        self.addressPolicy = nil
    }

    public var description: String {
        var text = "\(method) \(HTTPRequest.redactURL(url))"
        if !headers.isEmpty {
            let shown = headers.map { "\($0.name): \(HTTPHeaderField.isVisible($0.name) ? HTTPHeaderField.sanitizedValue($0.value) : "***")" }
            text += " [\(shown.joined(separator: ", "))]"
        }
        text += " body=\(body.count)B"
        if let awsSigV4 { text += " sigv4=\(awsSigV4)" }
        if credentials != nil { text += " credentials=***" }
        if let proxy, !proxy.isEmpty { text += " proxy=\(HTTPRequest.redactURL(proxy))" }
        return text
    }

    /// Whether a header's value must never be shown: every header outside `HTTPHeaderField.visibleNames`.
    public static func isSecretHeader(_ name: String) -> Bool { !HTTPHeaderField.isVisible(name) }

    /// The origin only (`scheme://host:port`), with `/…` when there was more: user-info and query
    /// strings carry secrets, and so do the paths of chat webhooks (Slack, Discord, Teams).
    public static func redactURL(_ url: String) -> String {
        var rest = Substring(url)
        var scheme: Substring = ""
        if let s = rest.range(of: "://") {
            scheme = rest[..<s.upperBound]
            rest = rest[s.upperBound...]
        }
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var authority = rest[..<end]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        return String(scheme) + String(authority) + (end == rest.endIndex ? "" : "/…")
    }
}

/// Which special addresses a request may reach. Loopback reaches Sluice's own host (its admin
/// and metrics ports, sidecars); link-local holds the cloud metadata services (169.254.169.254,
/// fd00:ec2::254) that hand out the host's credentials.
public struct AddressPolicy: Sendable, Equatable {
    public var allowLoopback: Bool
    public var allowLinkLocal: Bool

    public init(allowLoopback: Bool = false, allowLinkLocal: Bool = false) {
        self.allowLoopback = allowLoopback
        self.allowLinkLocal = allowLinkLocal
    }

    var flags: Int {
        (allowLoopback ? Int(SLUICE_ALLOW_LOOPBACK) : 0) | (allowLinkLocal ? Int(SLUICE_ALLOW_LINK_LOCAL) : 0)
    }

    /// Whether `host` is an address literal this policy refuses (false for names: those are
    /// checked after resolution, before connecting). `0x7f.1`-style forms are refused too,
    /// whatever they mean, as libcurl would read some of them as addresses.
    public func refusesLiteral(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        switch sluice_address_literal_refused(bare, flags) {
        case 1: return true
        case 0: return false
        default:
            let lower = bare.lowercased()
            if lower == "localhost" || lower.hasSuffix(".localhost") { return !allowLoopback }
            // Numeric forms inet_pton rejects but resolvers accept (0x7f000001, 2130706433, 127.1).
            return lower.allSatisfy { $0.isHexDigit || $0 == "." || $0 == "x" } && lower.contains(where: \.isNumber)
        }
    }
}

/// TLS settings. Verification is on unless turned off explicitly.
public struct TLSOptions: Sendable, Equatable {
    /// Verify the server's certificate chain (`CURLOPT_SSL_VERIFYPEER`).
    public var verifyPeer = true
    /// Verify that the certificate names the host (`CURLOPT_SSL_VERIFYHOST`).
    public var verifyHost = true
    /// PEM file of trusted CAs, replacing the system bundle (`CURLOPT_CAINFO`).
    public var caBundlePath: String?
    /// PEM client certificate for mTLS (`CURLOPT_SSLCERT`).
    public var clientCertPath: String?
    /// PEM private key of the client certificate (`CURLOPT_SSLKEY`).
    public var clientKeyPath: String?
    /// Passphrase of `clientKeyPath` (`CURLOPT_KEYPASSWD`). Never shown.
    public var keyPassword: String?
    /// PEM CA certificates held in memory (`CURLOPT_CAINFO_BLOB`), instead of `caBundlePath`.
    public var caBundle: PEMData?
    /// PEM client certificate held in memory (`CURLOPT_SSLCERT_BLOB`), instead of `clientCertPath`.
    public var clientCert: PEMData?
    /// PEM client key held in memory (`CURLOPT_SSLKEY_BLOB`): a key from a kubeconfig never
    /// touches the disk, so no temporary file can be left behind with it.
    public var clientKey: PEMData?

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

/// PEM bytes held in memory for libcurl. Its description never shows them (a private key).
public struct PEMData: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { "<\(bytes.count) bytes of PEM>" }
    public var debugDescription: String { description }
}

/// A response: any status, 4xx and 5xx included (those are for the caller to classify).
/// The body kept is capped (`HTTPClient.maxBodyBytes`) to bound memory.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names lowercased, in the order received.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// True when the server sent more than the kept body.
    public var bodyTruncated: Bool
    /// `Retry-After` as a delay, from its seconds form or its HTTP-date form (relative to when
    /// the response arrived); nil when absent or unreadable.
    public var retryAfter: Duration?

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = [], bodyTruncated: Bool = false) {
        self.status = status
        self.headers = headers
        self.body = body
        self.bodyTruncated = bodyTruncated
        let value = headers.last { $0.name == "retry-after" }?.value
        self.retryAfter = value.flatMap { RetryAfter.parse($0, now: RetryAfter.wallClockSeconds()) }
    }

    /// The last value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.last { $0.name == n }?.value
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A transport failure (no HTTP status came back). Descriptions name the target's origin and
/// libcurl's reason, never a credential, a URL path or a query: fit for a log line.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What went wrong, as a bounded set: usable as a metric label.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(name: String) { self.name = name }
        public static let connectFailed = Code(name: "connect_failed")
        public static let resolveFailed = Code(name: "resolve_failed")
        public static let timedOut = Code(name: "timed_out")
        public static let tlsFailed = Code(name: "tls_failed")
        public static let sendFailed = Code(name: "send_failed")
        public static let receiveFailed = Code(name: "receive_failed")
        public static let tooManyRedirects = Code(name: "too_many_redirects")
        public static let invalidRequest = Code(name: "invalid_request")
        /// The address policy refused every address the host resolved to (loopback, link-local).
        public static let addressRefused = Code(name: "address_refused")
        public static let shutdown = Code(name: "shutdown")
        public static let cancelled = Code(name: "cancelled")
        public static let other = Code(name: "other")
        public var description: String { name }
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// Whether trying the same request again later may succeed. Network trouble and timeouts
    /// may pass; so may `shutdown` and `cancelled` (the request was fine, we stopped it). A
    /// certificate we do not trust, a malformed request or a redirect loop will not.
    public var isRetriable: Bool {
        switch code {
        case .tlsFailed, .invalidRequest, .tooManyRedirects, .addressRefused: return false
        default: return true
        }
    }

    public var description: String { "\(code): \(detail)" }
}

/// `Retry-After` values (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
enum RetryAfter {
    static func parse(_ text: String, now: Int64) -> Duration? {
        let v = String(text.trimmingSpaces)
        // Capped: a target's reply must not be able to overflow the timer arithmetic behind it.
        if let s = Int64(v) { return s >= 0 ? .seconds(min(s, maxSeconds)) : nil }
        guard let at = httpDate(v) else { return nil }
        return .seconds(min(max(0, at - now), maxSeconds))
    }

    /// A day: far beyond any retry policy's max_backoff, far below anything that could overflow.
    static let maxSeconds: Int64 = 86_400

    static func wallClockSeconds() -> Int64 { Int64(time(nil)) }

    /// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form servers must send, as epoch seconds.
    static func httpDate(_ text: String) -> Int64? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT",
              let day = Int64(parts[1]), let year = Int64(parts[3]),
              let month = months.firstIndex(of: String(parts[2])) else { return nil }
        let hms = parts[4].split(separator: ":")
        guard hms.count == 3, let h = Int64(hms[0]), let m = Int64(hms[1]), let s = Int64(hms[2]),
              (1...31).contains(day), (1...9999).contains(year), (0...23).contains(h), (0...59).contains(m), (0...60).contains(s) else { return nil }
        return CivilDate.days(year: year, month: Int64(month) + 1, day: day) * 86_400 + h * 3600 + m * 60 + s
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
}

extension String {
    fileprivate var trimmingSpaces: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return self[first...last]
    }
}

extension Duration {
    /// Whole milliseconds (for curl's *_MS options and logs), saturating at Int64's bounds.
    public var wholeMilliseconds: Int64 { whole(unitsPerSecond: 1000) }
    /// Whole microseconds (for dispatch timers), saturating at Int64's bounds.
    public var wholeMicroseconds: Int64 { whole(unitsPerSecond: 1_000_000) }

    private func whole(unitsPerSecond: Int64) -> Int64 {
        let (s, atto) = components
        let (units, overflow) = s.multipliedReportingOverflow(by: unitsPerSecond)
        if overflow { return s < 0 ? .min : .max }
        let (sum, sumOverflow) = units.addingReportingOverflow(atto / (1_000_000_000_000_000_000 / unitsPerSecond))
        return sumOverflow ? (s < 0 ? .min : .max) : sum
    }
}
