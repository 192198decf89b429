import Foundation
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

@testable import SluiceConnectors

@Suite(.serialized) struct SyslogConnectorTests {
    static func yaml(protocol transport: String, port: Int, extra: String = "") -> String {
        """
        name: siem-syslog
        type: syslog
        host: 127.0.0.1
        port: \(port)
        protocol: \(transport)
        hostname: sluice-test
        timeout: 60s
        \(extra)
        """
    }

    /// Runs `body` with a fresh PKI, a running rsyslogd, an HTTP client (the connector context
    /// wants one) and the test's `Cleanup` (for its connectors), all stopped and removed afterwards.
    func withRsyslog(_ body: (TestPKI, Rsyslog, HTTPClient, Cleanup) async throws -> Void) async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let rsyslog = try await Rsyslog(pki: pki)
        try await withCleanup { cleanup in
            cleanup.add { await rsyslog.stopAndWait() }
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            try await body(pki, rsyslog, http, cleanup)
        }
    }

    /// Checks one message as rsyslog parsed it against the finding it carried.
    func expectMessage(_ m: [String: String]?, for d: Delivery, input: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let m, let s = d.summary else { Issue.record("no message for \(d.findingID ?? "?")", sourceLocation: sourceLocation); return }
        #expect(m["version"] == "1", sourceLocation: sourceLocation)
        #expect(m["input"] == input, sourceLocation: sourceLocation)
        #expect(m["facility"] == "4", sourceLocation: sourceLocation)
        #expect(m["severity"] == String(SyslogConnector.syslogSeverity(s.severityLabel)), sourceLocation: sourceLocation)
        #expect(m["hostname"] == "sluice-test" && m["app"] == "sluice", sourceLocation: sourceLocation)
        #expect(m["procid"] == String(getpid()), sourceLocation: sourceLocation)
        #expect(m["msgid"] == String(s.type.prefix(32)), sourceLocation: sourceLocation)
        let sd = "[guardduty@32473 finding_id=\"\(s.id)\" account=\"\(s.account)\" region=\"\(s.region)\" type=\"\(s.type)\""
        #expect(m["sd"]?.hasPrefix(sd) == true, "\(m["sd"] ?? "")", sourceLocation: sourceLocation)
        let msg = (try? JSONSerialization.jsonObject(with: Data((m["msg"] ?? "").utf8))) as? [String: Any]
        #expect((msg?["detail"] as? [String: Any])?["id"] as? String == s.id, sourceLocation: sourceLocation)
    }

    /// Established TCP connections to 127.0.0.1:`port` (client ends), from /proc/net/tcp.
    func connections(to port: Int) throws -> Int {
        // Read to EOF: procfs files report a size of 0, so size-based readers get nothing.
        let fd = open("/proc/net/tcp", O_RDONLY)
        guard fd >= 0 else { throw HarnessError("cannot read /proc/net/tcp") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while case let n = chunk.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }), n > 0 { bytes += chunk[..<n] }
        let table = String(decoding: bytes, as: UTF8.self)
        let hex = String(port, radix: 16, uppercase: true)
        let remote = "0100007F:" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        return table.split(separator: "\n").dropFirst().filter { line in
            let fields = line.split(separator: " ")
            return fields.count > 3 && fields[2] == remote && fields[3] == "01"  // 01: ESTABLISHED
        }.count
    }

    func byFindingID(_ messages: [[String: String]]) -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for m in messages {
            guard let sd = m["sd"], let r = sd.range(of: "finding_id=\"") else { continue }
            out[String(sd[r.upperBound...].prefix { $0 != "\"" })] = m
        }
        return out
    }

    @Test func octetCountedTCPDeliversEveryFindingOnOneConnection() async throws {
        try await withRsyslog { _, rsyslog, http, cleanup in
            let c = try SIEMFixtures.connector(Self.yaml(protocol: "tcp", port: rsyslog.tcpPort), http: http)
            cleanup.addOffPool { c.shutdown() }
            let batch = try SIEMFixtures.findings.map { try SIEMFixtures.delivery($0) }
            // Concurrent attempts share the one connection; frames never interleave.
            let outcomes = await withTaskGroup(of: DeliveryOutcome.self) { group in
                for d in batch { group.addTask { await SIEMFixtures.attempt(c, d) } }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes == Array(repeating: .delivered, count: batch.count))
            let messages = byFindingID(try await rsyslog.waitForMessages(batch.count))
            #expect(messages.count == batch.count)
            for d in batch { expectMessage(messages[d.findingID!], for: d, input: "imptcp") }
            #expect(try connections(to: rsyslog.tcpPort) == 1)
        }
    }

    @Test func udpDatagramsCarryOneMessageEach() async throws {
        try await withRsyslog { _, rsyslog, http, cleanup in
            let c = try SIEMFixtures.connector(Self.yaml(protocol: "udp", port: rsyslog.udpPort, extra: "facility: auth"), http: http)
            cleanup.addOffPool { c.shutdown() }
            let batch = try SIEMFixtures.findings.prefix(3).map { try SIEMFixtures.delivery($0) }
            for d in batch { #expect(await SIEMFixtures.attempt(c, d) == .delivered) }
            let messages = byFindingID(try await rsyslog.waitForMessages(batch.count))
            for d in batch { expectMessage(messages[d.findingID!], for: d, input: "imudp") }
        }
    }

    @Test func tlsVerifiesTheServerAndPresentsTheClientCertificate() async throws {
        try await withRsyslog { pki, rsyslog, http, cleanup in
            let d = try SIEMFixtures.delivery(SIEMFixtures.findings[0])
            let tls = try SIEMFixtures.connector(Self.yaml(protocol: "tls", port: rsyslog.tlsPort, extra: "tls: {ca_file: \(pki.caCert)}"), http: http)
            cleanup.addOffPool { tls.shutdown() }
            #expect(await SIEMFixtures.attempt(tls, d) == .delivered)
            #expect(await SIEMFixtures.attempt(tls, d) == .delivered)
            #expect(try connections(to: rsyslog.tlsPort) == 1)  // the same connection, reused
            let mtls = try SIEMFixtures.connector(
                Self.yaml(protocol: "tls", port: rsyslog.mtlsPort,
                          extra: "tls: {ca_file: \(pki.caCert), cert_file: \(pki.clientCert), key_file: \(pki.clientKey)}"), http: http)
            cleanup.addOffPool { mtls.shutdown() }
            #expect(await SIEMFixtures.attempt(mtls, d) == .delivered)
            let messages = try await rsyslog.waitForMessages(3)
            #expect(messages.count == 3)
            for m in messages { expectMessage(m, for: d, input: "imtcp") }
            // Verification is on by default: the system bundle does not trust the test CA.
            let untrusted = try SIEMFixtures.connector(Self.yaml(protocol: "tls", port: rsyslog.tlsPort), http: http)
            let outcome = await SIEMFixtures.attempt(untrusted, d)
            #expect(SIEMFixtures.isPermanent(outcome), "\(outcome)")
            // The mTLS listener really demands the certificate: without one nothing gets through.
            // (Under TLS 1.3 the refusal comes after the client's handshake, so the write itself may
            // look fine: syslog over TLS has no acknowledgements.)
            let anonymous = try SIEMFixtures.connector(Self.yaml(protocol: "tls", port: rsyslog.mtlsPort, extra: "tls: {ca_file: \(pki.caCert)}"), http: http)
            cleanup.addOffPool { anonymous.shutdown() }
            _ = await SIEMFixtures.attempt(anonymous, d)
            // A marker through the same listener, sent after: once it is written, anything the
            // anonymous client got through would have been written before it.
            let marker = try SIEMFixtures.delivery(SIEMFixtures.findings[1])
            #expect(await SIEMFixtures.attempt(mtls, marker) == .delivered)
            let after = try await rsyslog.waitForMessages(4)
            #expect(after.count == 4)
            #expect(byFindingID(after)[marker.findingID!] != nil)
        }
    }

    @Test func aLostReceiverIsRetryableAndTheConnectorReconnects() async throws {
        try await withRsyslog { _, rsyslog, http, cleanup in
            let c = try SIEMFixtures.connector(Self.yaml(protocol: "tcp", port: rsyslog.tcpPort), http: http)
            cleanup.addOffPool { c.shutdown() }
            let batch = try SIEMFixtures.findings.prefix(3).map { try SIEMFixtures.delivery($0) }
            #expect(await SIEMFixtures.attempt(c, batch[0]) == .delivered)
            _ = try await rsyslog.waitForMessages(1)
            await rsyslog.stopAndWait()
            // The closed connection is noticed before writing; connecting again is refused.
            let down = await SIEMFixtures.attempt(c, batch[1])
            #expect(SIEMFixtures.isRetryable(down), "\(down)")
            try await rsyslog.start()
            #expect(await SIEMFixtures.attempt(c, batch[1]) == .delivered)
            #expect(await SIEMFixtures.attempt(c, batch[2]) == .delivered)
            let messages = byFindingID(try await rsyslog.waitForMessages(3))
            let batchIDs = Set(batch.map { $0.findingID! })
            #expect(Set(messages.keys) == batchIDs)
        }
    }

    @Test func aReceiverThatStopsReadingTimesTheWriteOut() async throws {
        // A listener that never accepts: the kernel queues the connection and its bytes until
        // the buffers fill, then the write blocks — as with a wedged collector.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 && listen(fd, 1) == 0 }
        }
        #expect(listening)
        let port = Int(UInt16(bigEndian: addr.sin_port))
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let c = try SIEMFixtures.connector(Self.yaml(protocol: "tcp", port: port).replacingOccurrences(of: "timeout: 60s", with: "timeout: 1s"), http: http)
            cleanup.addOffPool { c.shutdown() }
            var d = try SIEMFixtures.delivery(SIEMFixtures.findings[0])
            d.payload = Array("\"".utf8) + Array(repeating: UInt8(ascii: "a"), count: 64 << 20) + Array("\"".utf8)
            // The outcome is the signal: a write with no timeout would block on the full buffers and
            // never return one (building 64 MB in a debug build takes a while, so no clock bound).
            let outcome = await SIEMFixtures.attempt(c, d)
            #expect(outcome == .retryable("timed_out: write timed out after 1.0 seconds (tcp://127.0.0.1:\(port))"), "\(outcome)")
        }
    }

    @Test func structuredDataAndCEFAreEscapedAsTheirRFCsSay() async throws {
        try await withRsyslog { _, rsyslog, http, cleanup in
            let c = try SIEMFixtures.connector(Self.yaml(protocol: "tcp", port: rsyslog.tcpPort, extra: "format: cef\nfacility: local4"), http: http)
            cleanup.addOffPool { c.shutdown() }
            var d = try SIEMFixtures.delivery(SIEMFixtures.findings[1])
            d.route = #"odd "route"] \ name"#
            d.summary!.title = #"Mining | on \ host"#
            d.summary!.description = "a=b\nnext line"
            #expect(await SIEMFixtures.attempt(c, d) == .delivered)
            let m = try await rsyslog.waitForMessages(1).first
            #expect(m?["facility"] == "20")
            #expect(m?["sd"]?.hasSuffix(#" route="odd \"route\"\] \\ name"]"#) == true, "\(m?["sd"] ?? "")")
            let cef = m?["msg"] ?? ""
            #expect(cef.hasPrefix(#"CEF:0|Amazon|GuardDuty|2.0|\#(d.summary!.type)|Mining \| on \\ host|\#(Int(d.summary!.severity.rounded()))|"#), "\(cef)")
            #expect(cef.contains(#"msg=a\=b\nnext line"#))
            #expect(cef.contains("externalId=\(d.findingID!) "))
            #expect(cef.contains("cs1Label=accountId cs1=\(d.summary!.account) "))
        }
    }

    @Test func pureFormatting() throws {
        #expect(SyslogConnector.escapeParamValue(#"a"b\c]d"#) == #"a\"b\\c\]d"#)
        #expect(SyslogConnector.cefHeader("a|b\\c\nd") == #"a\|b\\c d"#)
        #expect(SyslogConnector.cefExtensionValue("k=v\\w\r\nx") == #"k\=v\\w\r\nx"#)
        // Per Unicode scalar: a quote, `=` or `|` followed by a combining mark (one grapheme) is still escaped.
        #expect(SyslogConnector.escapeParamValue("a\"\u{301}b]\u{301}\\\u{301}") == "a\\\"\u{301}b\\]\u{301}\\\\\u{301}")
        #expect(SyslogConnector.escapeParamValue("x\r\ny\0z") == "x  y z")
        #expect(SyslogConnector.cefExtensionValue("k=\u{301}v") == "k\\=\u{301}v")
        #expect(SyslogConnector.cefHeader("a|\u{301}b\r\nc") == "a\\|\u{301}b  c")
        #expect(SyslogConnector.headerField("CryptoCurrency:Runtime/BitcoinTool.B", max: 32) == "CryptoCurrency:Runtime/BitcoinTo")
        #expect(SyslogConnector.headerField("", max: 32) == "-")
        #expect(SyslogConnector.headerField("two words", max: 48) == "two_words")
        #expect(SyslogConnector.octetCounted(Array("<13>1 - - - - - - hi".utf8)) == Array("20 <13>1 - - - - - - hi".utf8))
        let http = HTTPClient()
        defer { http.shutdown() }
        let c = SecretScrubbingConnector.unwrap(try SIEMFixtures.connector(Self.yaml(protocol: "tcp", port: 514), http: http)) as! SyslogConnector
        let d = try SIEMFixtures.delivery(SIEMFixtures.findings[0])
        let time = FindingTimestamp(iso8601: "2026-01-02T03:04:05.678Z")!
        let text = String(decoding: try c.makeMessage(for: d, at: time).get(), as: UTF8.self)
        #expect(text.hasPrefix("<35>1 2026-01-02T03:04:05.678Z sluice-test sluice \(getpid()) CryptoCurrency:Runtime/BitcoinTo [guardduty@32473 finding_id="))
        #expect(!text.contains("\n"))
    }

    @Test func configurationIsChecked() {
        #expect(SIEMFixtures.problems(Self.yaml(protocol: "relp", port: 514)) == ["'protocol' must be udp, tcp or tls"])
        #expect(SIEMFixtures.problems(Self.yaml(protocol: "udp", port: 514, extra: "facility: security")).first?.hasPrefix("'facility' must be one of kern") == true)
        #expect(SIEMFixtures.problems(Self.yaml(protocol: "udp", port: 514, extra: "tls: {verify: false}")) == ["'tls' applies to protocol: tls only"])
        #expect(SIEMFixtures.problems(Self.yaml(protocol: "tcp", port: 514, extra: "sd_id: bad id")).first?.hasPrefix("'sd_id' must be") == true)
        #expect(SIEMFixtures.problems(Self.yaml(protocol: "tcp", port: 514, extra: "format: leef")) == ["'format' must be json or cef"])
        #expect(SIEMFixtures.problems(Self.yaml(protocol: "tcp", port: 514, extra: "batch: {max_items: 10}")) == ["this connector type does not batch; remove 'batch'"])
        #expect(SIEMFixtures.problems(Self.yaml(protocol: "tls", port: 6514, extra: "facility: local7")) == [])
    }
}
