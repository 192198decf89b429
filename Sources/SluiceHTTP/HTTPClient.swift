import CCurl
import DequeModule
import Foundation
import Synchronization

/// An HTTP client over libcurl's multi interface. One dedicated thread owns the multi handle
/// and every easy handle: it adds submitted transfers, drives them with `curl_multi_poll`, and
/// completes them. Connections are kept alive and reused across requests (HTTP/1.1 keep-alive,
/// HTTP/2 multiplexing), which is what makes thousands of webhook posts a second cheap.
public final class HTTPClient: @unchecked Sendable {
    // @unchecked: curl handles are confined to `thread`; the submission queue and the stop flag
    // are behind a Mutex / atomic; curl_multi_wakeup is documented thread-safe.
    public static let maxBodyBytes = 1 << 20

    private let multi: UnsafeMutableRawPointer
    private let submissions = Mutex<Deque<Transfer>>([])
    private let stopping = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    private var thread: Thread?
    private var idle: [UnsafeMutableRawPointer] = []   // easy handles for reuse (thread-confined)
    private var active = 0

    /// - Parameter maxConnections: connections kept open in the cache, across hosts.
    public init(maxConnections: Int = 256, maxPerHost: Int = 64) {
        HTTPClient.globalInit
        multi = curl_multi_init()
        _ = sluice_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, maxConnections)
        _ = sluice_curl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxPerHost)
        _ = sluice_curl_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
        let t = Thread { [unowned self] in self.loop() }
        t.name = "sluice-http"
        thread = t
        t.start()
    }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// Sends `request`; `completion` runs once, on the client's thread.
    public func execute(_ request: HTTPRequest, completion: @escaping @Sendable (Result<HTTPResponse, HTTPClientError>) -> Void) {
        guard !stopping.load(ordering: .acquiring) else {
            return completion(.failure(HTTPClientError(.shutdown, "client is shut down")))
        }
        submissions.withLock { $0.append(Transfer(request: request, completion: completion)) }
        curl_multi_wakeup(multi)
    }

    public func execute(_ request: HTTPRequest) async throws(HTTPClientError) -> HTTPResponse {
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<HTTPResponse, HTTPClientError>, Never>) in
            execute(request) { c.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Fails queued and running requests with `.shutdown` and stops the thread. Idempotent.
    public func shutdown() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        curl_multi_wakeup(multi)
        while !finished.load(ordering: .acquiring) { usleep(1000) }
    }

    deinit {
        shutdown()
        curl_multi_cleanup(multi)
    }

    // MARK: The curl thread

    private func loop() {
        var running: Int32 = 0
        while !stopping.load(ordering: .acquiring) {
            let batch = submissions.withLock { q -> Deque<Transfer> in defer { q.removeAll() }; return q }
            for transfer in batch { start(transfer) }
            curl_multi_perform(multi, &running)
            completeFinished()
            if active > 0 || submissions.withLock({ !$0.isEmpty }) {
                curl_multi_poll(multi, nil, 0, 100, nil)
            } else {
                curl_multi_poll(multi, nil, 0, 1000, nil)
            }
        }
        // Fail everything still pending.
        for transfer in submissions.withLock({ q -> Deque<Transfer> in defer { q.removeAll() }; return q }) {
            transfer.completion(.failure(HTTPClientError(.shutdown, "client shut down")))
        }
        for easy in activeHandles {
            curl_multi_remove_handle(multi, easy)
            if let t = Self.transfer(of: easy) {
                t.completion(.failure(HTTPClientError(.shutdown, "client shut down")))
                Unmanaged.passUnretained(t).release()
            }
            curl_easy_cleanup(easy)
        }
        for easy in idle { curl_easy_cleanup(easy) }
        idle.removeAll()
        finished.store(true, ordering: .releasing)
    }

    private var activeHandles: Set<UnsafeMutableRawPointer> = []

    private func start(_ t: Transfer) {
        let easy = idle.popLast() ?? curl_easy_init()!
        let r = t.request
        var ok = sluice_curl_easy_setopt_ptr(easy, CURLOPT_URL, r.url) == CURLE_OK
        _ = sluice_curl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = sluice_curl_easy_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
        _ = sluice_curl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(r.timeout.wholeMilliseconds))
        _ = sluice_curl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(r.connectTimeout.wholeMilliseconds))
        _ = sluice_curl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0)
        switch r.method {
        case "GET": _ = sluice_curl_easy_setopt_long(easy, CURLOPT_HTTPGET, 1)
        case "HEAD": _ = sluice_curl_easy_setopt_long(easy, CURLOPT_NOBODY, 1)
        default:
            _ = sluice_curl_easy_setopt_long(easy, CURLOPT_POSTFIELDSIZE, r.body.count)
            r.body.withUnsafeBytes { _ = sluice_curl_easy_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!) }
            if r.method != "POST" { _ = sluice_curl_easy_setopt_ptr(easy, CURLOPT_CUSTOMREQUEST, r.method) }
        }
        // "Expect:" off: no 100-continue round trip before each body.
        var list: UnsafeMutablePointer<curl_slist>? = curl_slist_append(nil, "Expect:")
        for h in r.headers { list = curl_slist_append(list, "\(h.name): \(h.value)") }
        t.headerList = list
        _ = sluice_curl_easy_setopt_ptr(easy, CURLOPT_HTTPHEADER, list)
        if let sig = r.awsSigV4 { _ = sluice_curl_easy_setopt_ptr(easy, CURLOPT_AWS_SIGV4, sig) }
        if let cred = r.credentials { _ = sluice_curl_easy_setopt_ptr(easy, CURLOPT_USERPWD, cred) }
        _ = sluice_curl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, r.tls.verifyPeer ? 1 : 0)
        _ = sluice_curl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, r.tls.verifyHost ? 2 : 0)
        if let ca = r.tls.caBundlePath { _ = sluice_curl_easy_setopt_ptr(easy, CURLOPT_CAINFO, ca) }
        if let cert = r.tls.clientCertPath { _ = sluice_curl_easy_setopt_ptr(easy, CURLOPT_SSLCERT, cert) }
        if let key = r.tls.clientKeyPath { _ = sluice_curl_easy_setopt_ptr(easy, CURLOPT_SSLKEY, key) }
        if let pw = r.tls.keyPassword { _ = sluice_curl_easy_setopt_ptr(easy, CURLOPT_KEYPASSWD, pw) }
        let opaque = Unmanaged.passRetained(t).toOpaque()
        _ = sluice_curl_easy_setopt_ptr(easy, CURLOPT_PRIVATE, opaque)
        _ = sluice_curl_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, opaque)
        _ = sluice_curl_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, opaque)
        _ = sluice_curl_easy_setopt_write(easy) { data, size, count, user in
            let n = size * count
            let t = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
            if let data, t.body.count < HTTPClient.maxBodyBytes {
                let keep = min(n, HTTPClient.maxBodyBytes - t.body.count)
                t.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: keep))
            }
            return n
        }
        _ = sluice_curl_easy_setopt_header(easy) { data, size, count, user in
            let n = size * count
            let t = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
            if let data {
                let line = String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)
                if line.hasPrefix("HTTP/") { t.headers.removeAll() }  // a new response (after 1xx)
                else if let colon = line.firstIndex(of: ":") {
                    t.headers.append((line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)))
                }
            }
            return n
        }
        if !ok || curl_multi_add_handle(multi, easy) != CURLM_OK {
            ok = false
        }
        guard ok else {
            Unmanaged<Transfer>.fromOpaque(opaque).release()
            t.finish()
            recycle(easy)
            t.completion(.failure(HTTPClientError(.invalidRequest, "cannot start request to \(HTTPRequest.redactURL(r.url))")))
            return
        }
        activeHandles.insert(easy)
        active += 1
    }

    private func completeFinished() {
        var left: Int32 = 0
        while let msg = curl_multi_info_read(multi, &left) {
            guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle else { continue }
            let code = msg.pointee.data.result
            curl_multi_remove_handle(multi, easy)
            activeHandles.remove(easy)
            active -= 1
            guard let t = Self.transfer(of: easy) else { continue }
            Unmanaged.passUnretained(t).release()
            var status = 0
            _ = sluice_curl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            t.finish()
            recycle(easy)
            if code == CURLE_OK {
                t.completion(.success(HTTPResponse(status: status, headers: t.headers, body: t.body)))
            } else {
                t.completion(.failure(Self.error(code, url: t.request.url)))
            }
        }
    }

    private func recycle(_ easy: UnsafeMutableRawPointer) {
        curl_easy_reset(easy)
        if idle.count < 256 { idle.append(easy) } else { curl_easy_cleanup(easy) }
    }

    private static func transfer(of easy: UnsafeMutableRawPointer) -> Transfer? {
        var ptr: UnsafeMutableRawPointer?
        _ = sluice_curl_easy_getinfo_ptr(easy, CURLINFO_PRIVATE, &ptr)
        return ptr.map { Unmanaged<Transfer>.fromOpaque($0).takeUnretainedValue() }
    }

    static func error(_ code: CURLcode, url: String) -> HTTPClientError {
        let text = String(cString: curl_easy_strerror(code)) + " (\(HTTPRequest.redactURL(url)))"
        switch code {
        case CURLE_COULDNT_CONNECT: return HTTPClientError(.connectFailed, text)
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: return HTTPClientError(.resolveFailed, text)
        case CURLE_OPERATION_TIMEDOUT: return HTTPClientError(.timedOut, text)
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
             CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            return HTTPClientError(.tlsFailed, text)
        case CURLE_SEND_ERROR: return HTTPClientError(.sendFailed, text)
        case CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE: return HTTPClientError(.receiveFailed, text)
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: return HTTPClientError(.invalidRequest, text)
        default: return HTTPClientError(.other, text)
        }
    }
}

/// One request in flight: confined to the curl thread once submitted.
final class Transfer: @unchecked Sendable {
    let request: HTTPRequest
    let completion: @Sendable (Result<HTTPResponse, HTTPClientError>) -> Void
    var body: [UInt8] = []
    var headers: [(name: String, value: String)] = []
    var headerList: UnsafeMutablePointer<curl_slist>?

    init(request: HTTPRequest, completion: @escaping @Sendable (Result<HTTPResponse, HTTPClientError>) -> Void) {
        self.request = request
        self.completion = completion
    }

    func finish() {
        curl_slist_free_all(headerList)
        headerList = nil
    }
}
