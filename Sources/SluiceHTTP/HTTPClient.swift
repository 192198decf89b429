import CCurl
import Dispatch
import Foundation
import Synchronization

/// An HTTP client over libcurl's multi interface.
///
/// One dedicated OS thread (not the Swift cooperative pool) owns the multi handle and every easy
/// handle: it starts submitted transfers, drives them with `curl_multi_poll` /
/// `curl_multi_perform`, and completes them from `curl_multi_info_read`. Connections stay in the
/// multi handle's cache and are reused across requests (HTTP/1.1 keep-alive, HTTP/2
/// multiplexing), and easy handles are pooled, so a request costs one queue append, one wake-up
/// and one continuation resume.
///
/// `Sendable` without `@unchecked`: everything it holds is immutable or Sendable. The curl state
/// lives in `CurlEngine`, whose mutable parts are confined to the curl thread; the only state
/// shared between threads is the engine's lock-protected inbox.
public final class HTTPClient: Sendable {
    /// The most response-body bytes kept per response; the rest is read and dropped.
    public static let maxBodyBytes = 1 << 20

    private let engine: CurlEngine

    /// - Parameters:
    ///   - maxConnections: connections kept open in the cache, across hosts (`CURLMOPT_MAXCONNECTS`).
    ///   - maxPerHost: connections open to one host at once (`CURLMOPT_MAX_HOST_CONNECTIONS`); more
    ///     requests queue inside libcurl (their `timeout` runs meanwhile) or share an HTTP/2 connection.
    public init(maxConnections: Int = 256, maxPerHost: Int = 64) {
        engine = CurlEngine(maxConnections: maxConnections, maxPerHost: maxPerHost)
    }

    /// Sends `request`; `completion` runs exactly once, on the client's thread, so it must not block
    /// (or at once on the caller's thread when the client is already shut down).
    /// A non-2xx status is a success here: classifying it is the caller's business.
    public func execute(_ request: HTTPRequest, completion: @escaping @Sendable (Result<HTTPResponse, HTTPClientError>) -> Void) {
        let transfer = Transfer(request: RequestMarking.applied(to: request), completion: .callback(completion))
        engine.submit(transfer)
    }

    /// Sends `request` and waits for the response. Cancelling the calling task aborts the
    /// transfer (its easy handle is removed) and throws `.cancelled`.
    public func execute(_ request: HTTPRequest) async throws(HTTPClientError) -> HTTPResponse {
        let transfer = Transfer(request: RequestMarking.applied(to: request), completion: .none)
        let engine = self.engine
        let result = await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Result<HTTPResponse, HTTPClientError>, Never>) in
                transfer.completion = .continuation(continuation)  // before publishing the transfer
                engine.submit(transfer)
            }
        } onCancel: {
            engine.cancel(transfer)
        }
        return try result.get()
    }

    /// Stops the thread: queued and running requests fail with `.shutdown`, handles are freed.
    /// Idempotent; later requests fail at once with `.shutdown`. Waits for the thread to finish,
    /// unless called from a completion handler (on the thread itself).
    public func shutdown() {
        engine.shutdown()
    }

    deinit {
        engine.shutdown()
    }
}

// MARK: - The curl thread

/// The multi handle, its easy-handle pool and the transfers in flight.
///
/// `@unchecked Sendable` is safe because every mutable property except `inbox` is read and
/// written only on the engine's own thread (`run()` and what it calls); `inbox` is a `Mutex`,
/// `threadID` is atomic, and `curl_multi_wakeup` is documented callable from any thread. The
/// multi handle is freed in `deinit`, when no thread can reach the engine any more.
final class CurlEngine: @unchecked Sendable {
    private struct Inbox {
        var commands: [Command] = []
        var closed = false
    }

    private enum Command {
        case start(Transfer)
        case cancel(Transfer)
    }

    private let multi: UnsafeMutableRawPointer
    private let inbox = Mutex(Inbox())
    private let threadID = Atomic<UInt>(0)
    private let finished = DispatchSemaphore(value: 0)

    // Thread-confined.
    private var idle: [EasyHandle] = []
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    private let maxIdle: Int

    init(maxConnections: Int, maxPerHost: Int) {
        CurlEngine.globalInit
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init failed (out of memory)") }
        self.multi = multi
        maxIdle = max(16, maxPerHost * 2)
        _ = sluice_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, maxConnections)
        _ = sluice_curl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxPerHost)
        _ = sluice_curl_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
        let thread = Thread { [self] in run() }
        thread.name = "sluice-http"
        thread.start()
    }

    deinit {
        curl_multi_cleanup(multi)
    }

    /// `curl_global_init` is not thread-safe in older libcurls; a lazy static runs it once.
    private static let globalInit: Void = { _ = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    // MARK: Any thread

    func submit(_ transfer: Transfer) {
        let (accepted, wake) = inbox.withLock { inbox -> (Bool, Bool) in
            guard !inbox.closed else { return (false, false) }
            let wasEmpty = inbox.commands.isEmpty
            inbox.commands.append(.start(transfer))
            return (true, wasEmpty)
        }
        // One wake-up per empty → non-empty transition: the thread drains the whole inbox each
        // round, and a wake-up that arrives before it polls makes that poll return at once.
        if wake { curl_multi_wakeup(multi) }
        if !accepted { transfer.complete(.failure(HTTPClientError(.shutdown, "client is shut down"))) }
    }

    func cancel(_ transfer: Transfer) {
        // The flag covers a cancel that overtakes its own start; the command covers a running one.
        transfer.cancelRequested.store(true, ordering: .releasing)
        let wake = inbox.withLock { inbox -> Bool in
            guard !inbox.closed else { return false }
            let wasEmpty = inbox.commands.isEmpty
            inbox.commands.append(.cancel(transfer))
            return wasEmpty
        }
        if wake { curl_multi_wakeup(multi) }
    }

    func shutdown() {
        let first = inbox.withLock { inbox -> Bool in
            defer { inbox.closed = true }
            return !inbox.closed
        }
        if first { curl_multi_wakeup(multi) }
        if threadID.load(ordering: .acquiring) == Self.currentThreadID() { return }  // from a completion handler
        finished.wait()
        finished.signal()  // let any other waiter through too
    }

    private static func currentThreadID() -> UInt {
        #if canImport(Darwin)
        return UInt(bitPattern: pthread_self())
        #else
        return UInt(pthread_self())
        #endif
    }

    // MARK: The curl thread

    private func run() {
        threadID.store(Self.currentThreadID(), ordering: .releasing)
        var batch: [Command] = []
        batch.reserveCapacity(64)
        var running: Int32 = 0
        while true {
            let closed = inbox.withLock { inbox -> Bool in
                swap(&inbox.commands, &batch)  // no allocation in steady state: the arrays trade places
                return inbox.closed
            }
            for command in batch {
                switch command {
                case .start(let t) where closed: t.complete(.failure(HTTPClientError(.shutdown, "client shut down")))
                case .start(let t): start(t)
                case .cancel(let t): abort(t)
                }
            }
            batch.removeAll(keepingCapacity: true)
            if closed { break }
            curl_multi_perform(multi, &running)
            completeFinished()
            // Returns on socket activity, on libcurl's own next timeout, or on curl_multi_wakeup.
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        for (easy, t) in active {
            curl_multi_remove_handle(multi, easy)
            t.release()
            t.complete(.failure(HTTPClientError(.shutdown, "client shut down")))
            t.handle?.destroy()
        }
        active.removeAll()
        for h in idle { h.destroy() }
        idle.removeAll()
        finished.signal()
    }

    private func start(_ t: Transfer) {
        if t.cancelRequested.load(ordering: .acquiring) {
            return t.complete(.failure(HTTPClientError(.cancelled, "request cancelled")))
        }
        if let policy = t.request.addressPolicy, let url = HTTPURL(t.request.url), policy.refusesLiteral(url.host) {
            return t.complete(.failure(HTTPClientError(.addressRefused, "address refused by the request's address policy (\(HTTPRequest.redactURL(t.request.url)))")))
        }
        guard let h = idle.popLast() ?? EasyHandle() else {
            return t.complete(.failure(HTTPClientError(.other, "curl_easy_init failed")))
        }
        t.handle = h
        let configured = t.configure(h)
        if configured != CURLE_OK || curl_multi_add_handle(multi, h.easy) != CURLM_OK {
            t.release()
            t.handle = nil
            recycle(h)
            let reason = configured == CURLE_OK ? "cannot add the transfer" : String(cString: curl_easy_strerror(configured))
            return t.complete(.failure(HTTPClientError(.invalidRequest, "\(reason) (\(HTTPRequest.redactURL(t.request.url)))")))
        }
        active[h.easy] = t
    }

    /// Removes a running transfer at its caller's request; one already finished is left alone.
    private func abort(_ t: Transfer) {
        // Identity check: once finished, the transfer's handle may already serve another transfer.
        guard let h = t.handle, active[h.easy] === t else { return }
        active[h.easy] = nil
        t.handle = nil
        curl_multi_remove_handle(multi, h.easy)
        t.release()
        recycle(h)
        t.complete(.failure(HTTPClientError(.cancelled, "request cancelled")))
    }

    private func completeFinished() {
        var left: Int32 = 0
        while let message = curl_multi_info_read(multi, &left) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                  let t = active.removeValue(forKey: easy), let h = t.handle else { continue }
            t.handle = nil
            let code = message.pointee.data.result
            var status = 0
            _ = sluice_curl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            curl_multi_remove_handle(multi, easy)
            let result: Result<HTTPResponse, HTTPClientError>
            if code == CURLE_OK {
                result = .success(HTTPResponse(status: status, headers: t.headers, body: t.body, bodyTruncated: t.truncated))
            } else if t.addressRefused {
                result = .failure(HTTPClientError(.addressRefused, "address refused by the request's address policy (\(HTTPRequest.redactURL(t.request.url)))"))
            } else {
                result = .failure(Self.error(code, reason: h.errorMessage, url: t.request.url))
            }
            t.release()
            recycle(h)
            t.complete(result)
        }
    }

    private func recycle(_ h: EasyHandle) {
        curl_easy_reset(h.easy)  // options go; the connection cache (in the multi handle) stays
        if idle.count < maxIdle { idle.append(h) } else { h.destroy() }
    }

    /// Maps libcurl's result codes onto the client's error codes.
    static func error(_ code: CURLcode, reason: String?, url: String) -> HTTPClientError {
        let text = (reason ?? String(cString: curl_easy_strerror(code))) + " (\(HTTPRequest.redactURL(url)))"
        return HTTPClientError(Self.code(for: code), text)
    }

    static func code(for code: CURLcode) -> HTTPClientError.Code {
        switch code {
        case CURLE_COULDNT_CONNECT: return .connectFailed
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: return .resolveFailed
        case CURLE_OPERATION_TIMEDOUT: return .timedOut
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
             CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_CRL_BADFILE,
             CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED,
             CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT, CURLE_USE_SSL_FAILED:
            return .tlsFailed
        case CURLE_SEND_ERROR: return .sendFailed
        case CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2, CURLE_HTTP2_STREAM, CURLE_WEIRD_SERVER_REPLY:
            return .receiveFailed
        case CURLE_TOO_MANY_REDIRECTS: return .tooManyRedirects
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_BAD_FUNCTION_ARGUMENT, CURLE_NOT_BUILT_IN,
             CURLE_LOGIN_DENIED:
            return .invalidRequest
        default: return .other
        }
    }
}

/// A pooled easy handle and its error buffer.
struct EasyHandle {
    let easy: UnsafeMutableRawPointer
    let errorBuffer: UnsafeMutablePointer<CChar>

    init?() {
        guard let easy = curl_easy_init() else { return nil }
        self.easy = easy
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer[0] = 0
    }

    func destroy() {
        curl_easy_cleanup(easy)
        errorBuffer.deallocate()
    }

    /// libcurl's detailed message for the last failure, when it left one.
    var errorMessage: String? {
        errorBuffer[0] == 0 ? nil : String(cString: errorBuffer).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// One request, from submission to completion.
///
/// `@unchecked Sendable`: `cancelRequested` is atomic; `completion` is set before the transfer
/// is published; everything else is touched only on the curl thread once submitted.
final class Transfer: @unchecked Sendable {
    enum Completion {
        case none
        case callback(@Sendable (Result<HTTPResponse, HTTPClientError>) -> Void)
        case continuation(UnsafeContinuation<Result<HTTPResponse, HTTPClientError>, Never>)
    }

    let request: HTTPRequest
    var completion: Completion
    let cancelRequested = Atomic<Bool>(false)

    // Curl thread only.
    var handle: EasyHandle?
    var headerList: UnsafeMutablePointer<curl_slist>?
    var addressGuard: UnsafeMutablePointer<sluice_address_guard>?
    var body: [UInt8] = []
    var truncated = false
    var headers: [(name: String, value: String)] = []

    init(request: HTTPRequest, completion: Completion) {
        self.request = request
        self.completion = completion
    }

    /// Resumes the waiter or runs the callback; the first call wins.
    func complete(_ result: Result<HTTPResponse, HTTPClientError>) {
        let c = completion
        completion = .none
        switch c {
        case .none: assertionFailure("transfer completed twice")
        case .callback(let f): f(result)
        case .continuation(let k): k.resume(returning: result)
        }
    }

    /// Frees what configure() allocated for the transfer (the handle itself is recycled separately).
    func release() {
        curl_slist_free_all(headerList)
        headerList = nil
        addressGuard?.deallocate()
        addressGuard = nil
    }

    /// Whether the address guard refused a resolved address of this transfer.
    var addressRefused: Bool { (addressGuard?.pointee.refused ?? 0) != 0 }

    /// Sets the easy handle's options for this request.
    func configure(_ h: EasyHandle) -> CURLcode {
        let easy = h.easy
        let r = request
        h.errorBuffer[0] = 0
        var rc = sluice_curl_easy_setopt_ptr(easy, CURLOPT_URL, r.url)
        func set(_ o: CURLoption, _ v: Int) { if rc == CURLE_OK { rc = sluice_curl_easy_setopt_long(easy, o, v) } }
        func set(_ o: CURLoption, _ v: String) { if rc == CURLE_OK { rc = sluice_curl_easy_setopt_ptr(easy, o, v) } }

        _ = sluice_curl_easy_setopt_ptr(easy, CURLOPT_ERRORBUFFER, h.errorBuffer)
        set(CURLOPT_PROTOCOLS_STR, "http,https")  // never file://, ftp:// … from a configured URL
        set(CURLOPT_NOSIGNAL, 1)  // no SIGALRM for DNS timeouts: we are multi-threaded
        set(CURLOPT_TCP_KEEPALIVE, 1)
        set(CURLOPT_TIMEOUT_MS, Int(max(1, r.timeout.wholeMilliseconds)))
        set(CURLOPT_CONNECTTIMEOUT_MS, Int(max(1, r.connectTimeout.wholeMilliseconds)))
        if r.maxRedirects > 0 {
            set(CURLOPT_FOLLOWLOCATION, 1)
            set(CURLOPT_MAXREDIRS, r.maxRedirects)
            set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        }

        switch r.method {
        case "GET": set(CURLOPT_HTTPGET, 1)
        case "HEAD": set(CURLOPT_NOBODY, 1)
        case "POST", "PUT", "PATCH": setBody(easy, &rc)
        default: if !r.body.isEmpty { setBody(easy, &rc) }
        }
        if r.method != "POST" && r.method != "GET" && r.method != "HEAD" { set(CURLOPT_CUSTOMREQUEST, r.method) }

        let header = HTTPHeaderField.requestLines(r.headers)
        if header.refused { rc = CURLE_BAD_FUNCTION_ARGUMENT }  // a header name that is not a token
        var list: UnsafeMutablePointer<curl_slist>?
        for line in header.lines { list = curl_slist_append(list, line) }
        headerList = list
        if rc == CURLE_OK { rc = sluice_curl_easy_setopt_ptr(easy, CURLOPT_HTTPHEADER, list) }

        if let policy = r.addressPolicy {
            let guardState = UnsafeMutablePointer<sluice_address_guard>.allocate(capacity: 1)
            guardState.initialize(to: sluice_address_guard(allow: policy.flags, refused: 0))
            addressGuard = guardState
            if rc == CURLE_OK { rc = sluice_curl_easy_guard_addresses(easy, guardState) }
            // A cached connection would skip the guard (no socket is opened): always connect anew.
            set(CURLOPT_FRESH_CONNECT, 1)
            set(CURLOPT_FORBID_REUSE, 1)
        }

        if let sigv4 = r.awsSigV4 { set(CURLOPT_AWS_SIGV4, sigv4) }
        if let credentials = r.credentials { set(CURLOPT_USERPWD, credentials) }
        if let proxy = r.proxy { set(CURLOPT_PROXY, proxy) }

        if r.url.utf8.starts(with: "https:".utf8) {
            set(CURLOPT_SSL_VERIFYPEER, r.tls.verifyPeer ? 1 : 0)
            set(CURLOPT_SSL_VERIFYHOST, r.tls.verifyHost ? 2 : 0)
            if let ca = r.tls.caBundlePath { set(CURLOPT_CAINFO, ca) }
            if let cert = r.tls.clientCertPath { set(CURLOPT_SSLCERT, cert) }
            if let key = r.tls.clientKeyPath { set(CURLOPT_SSLKEY, key) }
            if let password = r.tls.keyPassword { set(CURLOPT_KEYPASSWD, password) }
            // Blobs: CURL_BLOB_COPY makes libcurl keep its own copy, so the bytes need not outlive this call.
            for (option, pem) in [(CURLOPT_CAINFO_BLOB, r.tls.caBundle), (CURLOPT_SSLCERT_BLOB, r.tls.clientCert), (CURLOPT_SSLKEY_BLOB, r.tls.clientKey)] {
                guard let pem, rc == CURLE_OK else { continue }
                rc = pem.bytes.withUnsafeBytes { bytes in
                    var blob = curl_blob(data: UnsafeMutableRawPointer(mutating: bytes.baseAddress), len: bytes.count, flags: UInt32(CURL_BLOB_COPY))
                    return sluice_curl_easy_setopt_ptr(easy, option, &blob)
                }
            }
            set(CURLOPT_PIPEWAIT, 1)  // wait for ALPN to tell whether an HTTP/2 connection can be shared
        }

        let me = Unmanaged.passUnretained(self).toOpaque()  // `active` keeps the transfer alive meanwhile
        if rc == CURLE_OK { rc = sluice_curl_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, me) }
        if rc == CURLE_OK { rc = sluice_curl_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, me) }
        if rc == CURLE_OK { rc = sluice_curl_easy_setopt_write(easy) { Transfer.onBody($0, $1 * $2, $3) } }
        if rc == CURLE_OK { rc = sluice_curl_easy_setopt_header(easy) { Transfer.onHeader($0, $1 * $2, $3) } }
        return rc
    }

    private func setBody(_ easy: UnsafeMutableRawPointer, _ rc: inout CURLcode) {
        guard rc == CURLE_OK else { return }
        rc = sluice_curl_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
        guard rc == CURLE_OK else { return }
        // COPYPOSTFIELDS: libcurl keeps its own copy, so nothing here must outlive this call.
        rc = request.body.withUnsafeBytes { bytes in
            bytes.baseAddress.map { sluice_curl_easy_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, $0) }
                ?? sluice_curl_easy_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, "")
        }
    }

    /// CURLOPT_WRITEFUNCTION: keeps up to `maxBodyBytes`, reads and drops the rest.
    private static func onBody(_ data: UnsafeMutablePointer<CChar>?, _ n: Int, _ user: UnsafeMutableRawPointer?) -> Int {
        guard let data, let user else { return n }
        let t = Unmanaged<Transfer>.fromOpaque(user).takeUnretainedValue()
        let room = HTTPClient.maxBodyBytes - t.body.count
        if n > room { t.truncated = true }
        if room > 0 { t.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: min(n, room))) }
        return n
    }

    /// CURLOPT_HEADERFUNCTION: one raw header line per call.
    private static func onHeader(_ data: UnsafeMutablePointer<CChar>?, _ n: Int, _ user: UnsafeMutableRawPointer?) -> Int {
        guard let data, let user else { return n }
        let t = Unmanaged<Transfer>.fromOpaque(user).takeUnretainedValue()
        let line = UnsafeRawBufferPointer(start: data, count: n)
        if line.starts(with: "HTTP/".utf8) {
            t.headers.removeAll(keepingCapacity: true)  // a new response: after a 1xx, or a followed redirect
        } else if let field = HeaderLine.parse(line) {
            t.headers.append(field)
        }
        return n
    }
}

/// Parsing one raw header line (`Name: value\r\n`) without Foundation on the hot path.
enum HeaderLine {
    static func parse(_ line: UnsafeRawBufferPointer) -> (name: String, value: String)? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return nil }
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }
        var start = colon + 1
        var end = line.count
        while start < end && isSpace(line[start]) { start += 1 }
        while end > start && isSpace(line[end - 1]) { end -= 1 }
        let name = String(unsafeUninitializedCapacity: colon) { buffer in
            for i in 0..<colon {
                let b = line[i]
                buffer[i] = (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b
            }
            return colon
        }
        let value = String(decoding: UnsafeRawBufferPointer(rebasing: line[start..<end]), as: UTF8.self)
        return (name, value)
    }
}
