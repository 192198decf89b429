import CCurl

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A raw byte stream to `host:port` over TCP, or TLS, opened by libcurl (`CURLOPT_CONNECT_ONLY`)
/// and written with `curl_easy_send`: for targets that speak no HTTP (syslog over TCP, RFC 6587,
/// and TLS, RFC 5425). libcurl does the connect, the handshake and the certificate checks, so a
/// stream honours the same `TLSOptions` (CA bundle, client certificate, verification on by
/// default) as every HTTPS target, with no second TLS library.
///
/// Not thread-safe: one owner uses it at a time (the syslog connector's lock serializes writes,
/// which a stream of framed messages needs anyway). Errors are `HTTPClientError`s, classified the
/// same way (`isRetriable`).
public final class StreamConnection {
    private let easy: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let socket: curl_socket_t
    private let origin: String

    private static let globalInit: Void = { _ = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// Connects (and completes the TLS handshake when `tls` is given) within `connectTimeout`.
    public init(host: String, port: Int, tls: TLSOptions?, connectTimeout: Duration) throws(HTTPClientError) {
        Self.globalInit
        let hostPart = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        origin = "\(tls == nil ? "tcp" : "tls")://\(hostPart):\(port)"
        guard let easy = curl_easy_init() else { throw HTTPClientError(.other, "curl_easy_init failed") }
        self.easy = easy
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer[0] = 0
        // The scheme only picks plain or TLS: with CONNECT_ONLY libcurl sends no HTTP at all.
        var rc = sluice_curl_easy_setopt_ptr(easy, CURLOPT_URL, "\(tls == nil ? "http" : "https")://\(hostPart):\(port)")
        func set(_ o: CURLoption, _ v: Int) { if rc == CURLE_OK { rc = sluice_curl_easy_setopt_long(easy, o, v) } }
        func set(_ o: CURLoption, _ v: String) { if rc == CURLE_OK { rc = sluice_curl_easy_setopt_ptr(easy, o, v) } }
        _ = sluice_curl_easy_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer)
        set(CURLOPT_CONNECT_ONLY, 1)
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_TCP_KEEPALIVE, 1)
        set(CURLOPT_PROXY, "")  // never through an http_proxy from the environment
        set(CURLOPT_CONNECTTIMEOUT_MS, Int(max(1, connectTimeout.wholeMilliseconds)))
        if let tls {
            set(CURLOPT_SSL_VERIFYPEER, tls.verifyPeer ? 1 : 0)
            set(CURLOPT_SSL_VERIFYHOST, tls.verifyHost ? 2 : 0)
            if let ca = tls.caBundlePath { set(CURLOPT_CAINFO, ca) }
            if let cert = tls.clientCertPath { set(CURLOPT_SSLCERT, cert) }
            if let key = tls.clientKeyPath { set(CURLOPT_SSLKEY, key) }
            if let password = tls.keyPassword { set(CURLOPT_KEYPASSWD, password) }
        }
        if rc == CURLE_OK { rc = curl_easy_perform(easy) }
        var fd: curl_socket_t = -1
        if rc == CURLE_OK { rc = sluice_curl_easy_getinfo_socket(easy, &fd) }
        socket = fd
        // Every stored property is set: throwing now runs deinit, which frees the handle.
        if rc != CURLE_OK || fd < 0 { throw error(rc == CURLE_OK ? CURLE_COULDNT_CONNECT : rc) }
    }

    deinit {
        curl_easy_cleanup(easy)  // sends TLS close_notify and closes the socket
        errorBuffer.deallocate()
    }

    /// Writes all of `bytes` within `timeout`. After an error the stream is unusable: a message
    /// may have been cut, so the owner must drop it and connect again.
    public func send(_ bytes: [UInt8], timeout: Duration) throws(HTTPClientError) {
        let deadline = ContinuousClock.now + timeout
        var offset = 0
        while offset < bytes.count {
            var written = 0
            let rc = bytes.withUnsafeBytes { raw in curl_easy_send(easy, raw.baseAddress! + offset, raw.count - offset, &written) }
            switch rc {
            case CURLE_OK:
                offset += written
            case CURLE_AGAIN:
                let left = deadline - ContinuousClock.now
                guard left > .zero, wait(for: Int16(POLLOUT), within: left) else {
                    throw HTTPClientError(.timedOut, "write timed out after \(timeout) (\(origin))")
                }
            default:
                throw error(rc)
            }
        }
    }

    /// Whether the peer has closed the stream (or it broke). A write to a stream the peer already
    /// closed would seem to succeed and be lost, so the owner checks before reusing one.
    public var isClosedByPeer: Bool {
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            var received = 0
            let rc = buffer.withUnsafeMutableBytes { curl_easy_recv(easy, $0.baseAddress, $0.count, &received) }
            if rc == CURLE_AGAIN { return false }
            if rc != CURLE_OK || received == 0 { return true }
            // A syslog receiver sends nothing; whatever came is read and dropped.
        }
    }

    private func wait(for events: Int16, within: Duration) -> Bool {
        var p = pollfd(fd: socket, events: events, revents: 0)
        let ms = Int32(clamping: max(1, within.wholeMilliseconds))
        while true {
            let n = poll(&p, 1, ms)
            if n < 0 && errno == EINTR { continue }
            return n > 0
        }
    }

    private func error(_ rc: CURLcode) -> HTTPClientError {
        let reason = errorBuffer[0] != 0 ? String(cString: errorBuffer) : nil
        return CurlEngine.error(rc, reason: reason, url: origin)
    }
}
