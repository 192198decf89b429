import Foundation
import Synchronization

/// A Kafka protocol proxy on a loopback port in front of a broker, which can make the broker
/// refuse CreateTopics the way a cluster with a creation policy or an authorizer does (Tansu has
/// neither; librdkafka's mock cluster does not serve CreateTopics at all). The broker advertises
/// the proxy's address (`TansuBroker.start(advertisedPort:)`), so every client connection goes
/// through it; everything but a refused CreateTopics is forwarded byte for byte.
///
/// A refused request never reaches the broker (nothing is created): it is forwarded as an
/// ApiVersions request with the same correlation id, and the broker's answer to that is replaced
/// by a CreateTopics answer giving every topic `errorCode` and `message`. Answers thus leave in
/// the order their requests came, as Kafka's protocol requires of one connection.
public final class KafkaRefusingProxy: Sendable {
    public let port: Int
    /// Kafka's POLICY_VIOLATION: what a `create.topic.policy.class.name` refusal answers.
    public static let policyViolation: Int16 = 44

    private let listener: Int32
    private let upstreamPort = Mutex<Int?>(nil)
    private let refusal = Mutex<(code: Int16, message: String)?>(nil)
    private let refusedNames = Mutex<[String]>([])
    private let sockets = Mutex<Set<Int32>>([])
    private let stopped = Atomic<Bool>(false)

    /// Listens on a free loopback port now (the broker's advertised address); `forward(to:)` names the broker.
    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard let bound = LoopbackPort.bindAnyPort(fd), listen(fd, 64) == 0 else {
            close(fd)
            throw HarnessError("the proxy cannot listen on 127.0.0.1")
        }
        listener = fd
        port = bound
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "kafka-refusing-proxy"
        thread.start()
    }

    /// The broker's port on 127.0.0.1: connections accepted before this wait for it.
    public func forward(to port: Int) { upstreamPort.withLock { $0 = port } }

    /// From now on every CreateTopics is refused with `code` and `message`; nil: forwarded again.
    public func refuseCreateTopics(_ refusal: (code: Int16, message: String)?) { self.refusal.withLock { $0 = refusal } }

    /// The topics of every CreateTopics refused so far, in order.
    public var refusedTopics: [String] { refusedNames.withLock { $0 } }

    /// Closes the listener and every connection (their threads end on the closed sockets).
    public func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in sockets.withLock({ s in defer { s = [] }; return s }) {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }

    deinit { stop() }

    private func acceptLoop() {
        while !stopped.load(ordering: .acquiring) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                if errno == EINTR { continue }
                return
            }
            let thread = Thread { [self] in serve(client) }
            thread.start()
        }
    }

    /// Correlation ids whose answer is replaced, with the replacement frame's body.
    private final class Replacements: Sendable {
        let byCorrelation = Mutex<[Int32: [UInt8]]>([:])
    }

    private func serve(_ client: Int32) {
        track(client)
        var upstream: Int?
        while upstream == nil, !stopped.load(ordering: .acquiring) {
            upstream = upstreamPort.withLock { $0 }
            if upstream == nil { usleep(10_000) }
        }
        guard let upstream, let server = LoopbackPort.connect(upstream) else { return untrack(client) }
        track(server)
        let replacements = Replacements()
        let answers = Thread { [self] in
            // Broker → client: answers in order, a refused request's answer replaced.
            while let frame = Self.readFrame(server), frame.count >= 4 {
                let correlation = Self.int32(frame, 0)
                let out = replacements.byCorrelation.withLock { $0.removeValue(forKey: correlation) } ?? frame
                guard Self.writeFrame(client, out) else { break }
            }
            untrack(client)
            untrack(server)
        }
        answers.start()
        // Client → broker: requests, a refused CreateTopics turned into ApiVersions.
        while let frame = Self.readFrame(client) {
            var out = frame
            if let refusal = refusal.withLock({ $0 }), let refused = Self.createTopicsRequest(frame) {
                refusedNames.withLock { $0 += refused.topics }
                replacements.byCorrelation.withLock {
                    $0[refused.correlation] = Self.createTopicsAnswer(correlation: refused.correlation, version: refused.version,
                                                                      topics: refused.topics, code: refusal.code, message: refusal.message)
                }
                out = Self.apiVersionsRequest(correlation: refused.correlation)
            }
            guard Self.writeFrame(server, out) else { break }
        }
        untrack(client)
        untrack(server)
    }

    private func track(_ fd: Int32) { sockets.withLock { _ = $0.insert(fd) } }

    /// Closes `fd` once (whichever side sees the connection end first).
    private func untrack(_ fd: Int32) {
        guard sockets.withLock({ $0.remove(fd) != nil }) else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    // MARK: Kafka's wire format (big-endian; non-flexible versions, which librdkafka uses for CreateTopics)

    static let createTopicsKey: Int16 = 19
    static let apiVersionsKey: Int16 = 18

    /// A CreateTopics request of versions 0 to 4: its version, correlation id and topic names.
    static func createTopicsRequest(_ frame: [UInt8]) -> (version: Int16, correlation: Int32, topics: [String])? {
        guard frame.count >= 10, int16(frame, 0) == createTopicsKey else { return nil }
        let version = int16(frame, 2)
        guard (0...4).contains(version) else { return nil }
        var reader = Reader(bytes: frame, at: 8)
        guard reader.skipString() else { return nil }  // client id
        guard let count = reader.int32(), count >= 0 else { return nil }
        var names: [String] = []
        for _ in 0..<count {
            guard let name = reader.string(), reader.skip(4 + 2) else { return nil }  // num_partitions, replication_factor
            names.append(name)
            guard let assignments = reader.int32() else { return nil }
            for _ in 0..<max(0, assignments) {
                guard reader.skip(4), let brokers = reader.int32(), reader.skip(4 * Int(max(0, brokers))) else { return nil }
            }
            guard let configs = reader.int32() else { return nil }
            for _ in 0..<max(0, configs) {
                guard reader.skipString(), reader.skipString() else { return nil }
            }
        }
        return (version, int32(frame, 4), names)
    }

    /// The answer of CreateTopics `version` (0 to 4) refusing each of `topics`.
    static func createTopicsAnswer(correlation: Int32, version: Int16, topics: [String], code: Int16, message: String) -> [UInt8] {
        var out = bytes(correlation)
        if version >= 2 { out += bytes(Int32(0)) }  // throttle_time_ms
        out += bytes(Int32(topics.count))
        for name in topics {
            out += string(name) + bytes(code)
            if version >= 1 { out += string(message) }
        }
        return out
    }

    /// ApiVersions v0 with `correlation`: harmless to the broker, answered in the refused request's place.
    static func apiVersionsRequest(correlation: Int32) -> [UInt8] {
        bytes(apiVersionsKey) + bytes(Int16(0)) + bytes(correlation) + bytes(Int16(-1))
    }

    struct Reader {
        let bytes: [UInt8]
        var at: Int
        mutating func skip(_ n: Int) -> Bool {
            guard n >= 0, at + n <= bytes.count else { return false }
            at += n
            return true
        }
        mutating func int32() -> Int32? {
            guard at + 4 <= bytes.count else { return nil }
            defer { at += 4 }
            return KafkaRefusingProxy.int32(bytes, at)
        }
        /// A nullable string (int16 length, -1 for null); nil when the frame ends first.
        mutating func string() -> String? {
            guard at + 2 <= bytes.count else { return nil }
            let n = Int(KafkaRefusingProxy.int16(bytes, at))
            at += 2
            guard n >= 0 else { return "" }
            guard at + n <= bytes.count else { return nil }
            defer { at += n }
            return String(decoding: bytes[at..<(at + n)], as: UTF8.self)
        }
        mutating func skipString() -> Bool { string() != nil }
    }

    static func int16(_ b: [UInt8], _ i: Int) -> Int16 { Int16(bitPattern: UInt16(b[i]) << 8 | UInt16(b[i + 1])) }
    static func int32(_ b: [UInt8], _ i: Int) -> Int32 {
        Int32(bitPattern: UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3]))
    }
    static func bytes(_ v: Int16) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
    static func bytes(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
    static func string(_ s: String) -> [UInt8] { bytes(Int16(truncatingIfNeeded: s.utf8.count)) + Array(s.utf8) }

    // MARK: Sockets

    /// One size-prefixed frame (without its size); nil at the connection's end.
    static func readFrame(_ fd: Int32) -> [UInt8]? {
        guard let size = readExactly(fd, 4) else { return nil }
        let n = Int(int32(size, 0))
        guard n >= 0, n <= 256 << 20 else { return nil }
        return readExactly(fd, n)
    }

    static func readExactly(_ fd: Int32, _ n: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: n)
        var got = 0
        while got < n {
            let r = out.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return recv(fd, base + got, n - got, 0)
            }
            if r < 0, errno == EINTR { continue }
            guard r > 0 else { return nil }
            got += r
        }
        return out
    }

    static func writeFrame(_ fd: Int32, _ frame: [UInt8]) -> Bool {
        let out = bytes(Int32(truncatingIfNeeded: frame.count)) + frame
        var sent = 0
        while sent < out.count {
            let r = out.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return send(fd, base + sent, out.count - sent, Int32(MSG_NOSIGNAL))
            }
            if r < 0, errno == EINTR { continue }
            guard r > 0 else { return false }
            sent += r
        }
        return true
    }
}
