/// `admin:` in the config file and `--admin-listen`.
///
/// ```yaml
/// admin:
///   listen: 127.0.0.1:9464      # HOST:PORT; --admin-listen (and its alias --metrics-listen) override it
///   tokens_file: /etc/sluice/admin-tokens   # NAME ROLE TOKEN per line; also SLUICE_ADMIN_TOKENS
///   max_body_bytes: 1048576     # larger request bodies get 413
///   request_timeout: 10s        # a body not received in this time gets 408
///   idle_timeout: 30s           # connections with no traffic for this long are closed
///   max_connections: 256        # more wait in the listen queue until one closes
///   recent_findings: 500        # the feed's ring size
///   tls:                        # optional: serve HTTPS (--admin-tls-cert / --admin-tls-key)
///     cert_file: /etc/sluice/admin.pem   # PEM certificate chain, leaf first
///     key_file: /etc/sluice/admin.key    # PEM private key
/// ```
public struct AdminSettings: Sendable {
    public var listen: String
    public var tokensFile: String?
    public var maxBodyBytes = 1 << 20
    public var requestTimeout: Duration = .seconds(10)
    public var idleTimeout: Duration = .seconds(30)
    /// Open connections at once: a flood of clients cannot take every file descriptor of the
    /// router (its Kafka and target connections need them); idle ones are closed after `idleTimeout`.
    public var maxConnections = 256
    public var recentFindings = 500
    /// PEM certificate chain and private key: with both, the server speaks HTTPS only.
    public var tlsCertFile: String?
    public var tlsKeyFile: String?

    public init(listen: String) {
        self.listen = listen
    }

    /// `HOST:PORT` split; `[::1]:PORT` for IPv6. Port 0 picks a free one.
    public static func parse(listen: String) throws(AdminConfigError) -> (host: String, port: Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw AdminConfigError("admin listen address: expected HOST:PORT, got '\(listen)'")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "0.0.0.0" }
        if host == "localhost" { host = "127.0.0.1" }
        return (host, port)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "::1" || host.hasPrefix("127.")
    }
}
