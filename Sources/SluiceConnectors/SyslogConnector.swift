import Dispatch
import SluiceCore
import SluiceFormats
import SluiceGuardDuty
import SluiceHTTP
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `syslog`: sends each finding as an RFC 5424 message over UDP (RFC 5426), TCP with
/// octet-counting framing (RFC 6587 §3.4.1) or TLS (RFC 5425, same framing).
///
/// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID finding_id=… account=… region=… product=… k8s_pod=…] MSG`:
/// the severity comes from the finding's band (Critical → crit, High → err, Medium → warning,
/// Low → notice), MSGID is the finding type (cut to RFC 5424's 32 characters; the full type is in
/// the structured data), and MSG is the finding's JSON on one line or, with `format: cef`, an
/// ArcSight CEF line. A dead-letter replay's messages add `replay="NAME"` to the structured data
/// and, in CEF, `cs6Label=sluiceReplay cs6=NAME` (`ReplayMarking`).
///
/// One persistent connection per instance; writes are serialized on it. A connection the peer
/// closed is noticed before the next write and replaced; a failed write drops the connection and
/// is retryable. Plain syslog has no acknowledgements: a message written just before the peer
/// goes away can be lost (RFC 6587 §3.4); use TLS or a relay with RELP where that matters.
///
/// ```yaml
/// name: siem-syslog
/// type: syslog
/// host: siem.example.com       # required
/// protocol: tls                # udp, tcp (default) or tls
/// port: 6514                   # default 514 (udp, tcp), 6514 (tls)
/// facility: auth               # kern … local7 or 0–23; default auth (security messages)
/// app_name: sluice             # APP-NAME; the default
/// hostname: sluice-prod-1      # HOSTNAME; default: this machine's name
/// sd_id: guardduty@32473       # the structured-data element's id (use your enterprise number);
///                              # default: the finding's format at 32473 (guardduty@, asff@, ocsf@, falco@)
/// format: json                 # json (the finding) or cef
/// tls:                         # see TLSConfiguration; verification is on by default
///   ca_file: /etc/ssl/siem-ca.pem
///   cert_file: /etc/sluice/client.pem
///   key_file: /etc/sluice/client.key
/// ```
public final class SyslogConnector: Connector {
    public enum Transport: String, Sendable { case udp, tcp, tls }
    public enum MessageFormat: String, Sendable { case json, cef }

    public struct Configuration: Sendable {
        var host: String
        var port: Int
        var transport: Transport
        var facility: Int
        var appName: String
        var hostname: String
        /// nil: the finding's format names it (`defaultSDID`).
        var sdID: String?
        var format: MessageFormat
        var tls: TLSOptions
    }

    let configuration: Configuration
    let timeout: Duration
    private let procID = String(getpid())
    /// Blocking socket work runs here, never on the caller's thread or the cooperative pool.
    private let queue: DispatchQueue
    private let link = Mutex(Link())

    /// The open connection (TCP/TLS) or socket (UDP), if any.
    private struct Link {
        var stream: StreamConnection?
        var datagram: DatagramSocket?
    }

    init(name: String, configuration: Configuration, timeout: Duration) {
        self.configuration = configuration
        self.timeout = timeout
        queue = DispatchQueue(label: "sluice.syslog.\(name)")
    }

    public func deliver(_ delivery: Delivery, completion: @escaping @Sendable (DeliveryOutcome) -> Void) {
        let message: [UInt8]
        switch makeMessage(for: delivery, at: .now()) {
        case .success(let m): message = m
        case .failure(let problem): return completion(.permanent(problem.message))
        }
        queue.async { completion(self.send(message)) }
    }

    public func shutdown() {
        queue.sync { link.withLock { $0 = Link() } }
    }

    /// One write on the instance's connection, opening (or replacing) it as needed.
    private func send(_ message: [UInt8]) -> DeliveryOutcome {
        let c = configuration
        return link.withLock { link -> DeliveryOutcome in
            do throws(HTTPClientError) {
                if c.transport == .udp {
                    guard message.count <= DatagramSocket.maxPayload else {
                        return .permanent("message of \(message.count) bytes is larger than a UDP datagram can carry; use tcp or tls")
                    }
                    if link.datagram == nil { link.datagram = try DatagramSocket(host: c.host, port: c.port) }
                    try link.datagram!.send(message)
                } else {
                    if let stream = link.stream, stream.isClosedByPeer { link.stream = nil }
                    if link.stream == nil {
                        link.stream = try StreamConnection(host: c.host, port: c.port, tls: c.transport == .tls ? c.tls : nil, connectTimeout: timeout)
                    }
                    try link.stream!.send(Self.octetCounted(message), timeout: timeout)
                }
                return .delivered
            } catch {
                link = Link()  // a cut frame or a dead peer: start over on the next attempt
                return error.isRetriable ? .retryable(error.description) : .permanent(error.description)
            }
        }
    }

    // MARK: Messages (pure)

    struct MessageProblem: Error { let message: String }

    /// The RFC 5424 message for one delivery (without transport framing).
    func makeMessage(for delivery: Delivery, at time: FindingTimestamp) -> Result<[UInt8], MessageProblem> {
        let c = configuration
        let s = delivery.summary
        let digest = delivery.digest
        let digestBand = digest?["highest"]?.stringValue.flatMap(FindingSummary.SeverityLabel.init(rawValue:))
        let severity = s.map { Self.syslogSeverity($0.severityLabel) } ?? digestBand.map(Self.syslogSeverity) ?? 6
        var header = "<\(c.facility * 8 + severity)>1 \(time.rfc3339) \(Self.headerField(c.hostname, max: 255))"
        header += " \(Self.headerField(c.appName, max: 48)) \(procID) \(Self.headerField(s?.type ?? (digest != nil ? "sluice-digest" : ""), max: 32)) "
        var params: [(String, String)] = []
        if let digest {
            params += [("digest", digest["sluice_digest"]?.stringValue ?? ""), ("total", digest["total"]?.doubleValue.map(JSON.numberText) ?? "0"),
                       ("accounts", digest["accounts_text"]?.stringValue ?? "")].filter { !$0.1.isEmpty }
        }
        if let id = delivery.findingID ?? s?.id { params.append(("finding_id", id)) }
        if let s {
            params += [("account", s.account), ("region", s.region), ("type", s.type), ("severity", JSON.numberText(s.severity))]
            // The view's product and, for runtime findings, where it ran (Falco output fields,
            // GuardDuty EKS details): present only when the finding has them.
            if let view = s.view {
                for (name, path) in Self.viewParams { if let text = view.value(atPath: path)?.stringValue { params.append((name, text)) } }
            }
        }
        params.append(("route", delivery.route))
        // A dead-letter replay's deliveries say so (`ReplayMarking`); live ones carry no such param.
        if let replay = delivery.replay { params.append((ReplayMarking.syslogParameter, replay)) }
        header += "[\(c.sdID ?? Self.defaultSDID(s?.format ?? .guardduty))" + params.map { " \($0.0)=\"\(Self.escapeParamValue($0.1))\"" }.joined() + "]"
        var message = Array(header.utf8)
        message.append(0x20)
        switch c.format {
        case .json:
            // One line: in valid JSON a raw CR or LF is only whitespace between tokens, so spaces
            // in their place change nothing, and line-based receivers and files stay intact.
            message += delivery.payload.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }
        case .cef:
            var line: String
            if let digest {
                line = Self.cefDigest(digest)
            } else {
                guard let s else { return .failure(MessageProblem(message: "format cef needs a finding of a known format (GuardDuty, ASFF, OCSF, Falco); this event is none")) }
                line = Self.cef(s)
            }
            // cs6 is free in both kinds of line (findings use cs1–cs5, digests cs1–cs4).
            if let replay = delivery.replay {
                let field = ReplayMarking.cefField
                if !line.hasSuffix("|") { line += " " }
                line += "\(field.key)Label=\(field.label) \(field.key)=\(Self.cefExtensionValue(replay))"
            }
            message += Array(line.utf8)
        }
        return .success(message)
    }

    /// Structured-data parameters taken from the view (`sluice.*` path), in this order.
    static let viewParams = [("severity_label", "severity"), ("product", "product"), ("k8s_cluster", "kubernetes.cluster"),
                             ("k8s_namespace", "kubernetes.namespace"), ("k8s_pod", "kubernetes.pod"), ("container_id", "container.id"),
                             ("container_name", "container.name"), ("container_image", "container.image"), ("host", "host"),
                             ("process", "process.name"), ("command_line", "process.command_line")]

    /// The SD-ID when `sd_id` is not set: the finding's format under 32473, the enterprise number
    /// RFC 5612 reserves for documentation (`guardduty@32473`, `falco@32473`, …), so a receiver can
    /// tell the formats apart by the element's id alone.
    static func defaultSDID(_ format: FindingFormat) -> String {
        "\(format.rawValue)@32473"
    }

    /// RFC 6587 §3.4.1: `MSG-LEN SP SYSLOG-MSG`.
    static func octetCounted(_ message: [UInt8]) -> [UInt8] {
        Array("\(message.count) ".utf8) + message
    }

    /// Severity by GuardDuty band: Critical → 2 (crit), High → 3 (err), Medium → 4 (warning), Low → 5 (notice).
    static func syslogSeverity(_ label: FindingSummary.SeverityLabel) -> Int {
        switch label {
        case .critical: return 2
        case .high: return 3
        case .medium: return 4
        case .low: return 5
        }
    }

    /// A header field (HOSTNAME, APP-NAME, MSGID): printable US-ASCII without spaces, at most
    /// `max` characters; "-" (NILVALUE) when empty.
    static func headerField(_ text: String, max: Int) -> String {
        let printable = text.unicodeScalars.map { (33...126).contains($0.value) ? Character($0) : "_" }
        return printable.isEmpty ? "-" : String(printable.prefix(max))
    }

    /// PARAM-VALUE escaping (RFC 5424 §6.3.3): `"`, `\` and `]` take a backslash. CR, LF and NUL,
    /// which the RFC leaves raw but which end a line for many receivers, become spaces.
    static func escapeParamValue(_ text: String) -> String {
        escape(text, ["\"": "\\\"", "\\": "\\\\", "]": "\\]", "\r": " ", "\n": " ", "\0": " "])
    }

    /// An SD-NAME (RFC 5424 §6.3.2): 1–32 printable US-ASCII characters but `=`, space, `]` and `"`.
    static func isSDName(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.count <= 32
            && text.unicodeScalars.allSatisfy { (33...126).contains($0.value) && !"= ]\"".unicodeScalars.contains($0) }
    }

    // MARK: CEF

    /// An ArcSight CEF line (Common Event Format rev. 25):
    /// `CEF:0|<vendor>|<product>|<version>|<type>|<title>|<severity 0–10>|<extensions>`.
    static func cef(_ s: FindingSummary) -> String {
        let device = cefDevice(s)
        let header = [device.vendor, device.product, device.version, s.type, s.title].map(cefHeader)
        let severity = min(10, max(0, Int(clamping: s.severity.rounded())))
        var ext: [(String, String)] = [("externalId", s.id), ("cat", s.type), ("msg", s.description), ("cnt", String(s.count))]
        for (key, text) in [("rt", s.updatedAt), ("start", s.firstSeen), ("end", s.lastSeen)] {
            if let t = FindingTimestamp(iso8601: text) { ext.append((key, String(t.epochMilliseconds))) }
        }
        ext += [("cs1Label", "accountId"), ("cs1", s.account), ("cs2Label", "region"), ("cs2", s.region),
                ("cs3Label", "resource"), ("cs3", s.resourceSummary), ("cs4Label", "resourceId"), ("cs4", s.resourceID),
                ("cs5Label", "findingArn"), ("cs5", s.arn), ("request", s.consoleURL)]
        if let p = s.process {
            ext += [("sproc", p.name), ("filePath", p.executablePath)]
            if let pid = p.pid { ext.append(("spid", String(pid))) }
        }
        let extensions = ext.filter { !$0.1.isEmpty }.map { "\($0.0)=\(cefExtensionValue($0.1))" }.joined(separator: " ")
        return "CEF:0|" + header.joined(separator: "|") + "|\(severity)|" + extensions
    }

    /// Device Vendor, Product and Version: who made the finding, as it says. GuardDuty keeps
    /// `Amazon|GuardDuty|2.0` (its findings' schema version; what receivers already parse); the
    /// others name their vendor (ASFF `CompanyName`, OCSF `vendor_name`, `Falcosecurity`) and
    /// product (`sluice.product`), `unknown` where the finding names none, and the product's
    /// version where it states one (OCSF), else nothing: CEF header fields may be empty.
    static func cefDevice(_ s: FindingSummary) -> (vendor: String, product: String, version: String) {
        if s.format == .guardduty { return ("Amazon", "GuardDuty", "2.0") }
        func known(_ text: String) -> String { text.isEmpty ? "unknown" : text }
        return (known(s.vendor), known(s.product), s.productVersion)
    }

    /// A digest as one CEF event: `CEF:0|Sluice|Sluice|1|sluice-digest-<kind>|<headline>|<severity>|…`
    /// with the counts in extensions — `cnt` the findings it stands for, `cn1`–`cn3` and
    /// `flexNumber1` those of each band (labelled), `cs1`–`cs4` route, target, key and the
    /// listed findings' accounts, `msg` the listed findings and "and N more" (cut to CEF's 1023
    /// characters). Severity: the highest band's lower bound on GuardDuty's scale (Critical 9,
    /// High 7, Medium 4, Low 1). Every value is escaped as CEF says; finding text stays data.
    static func cefDigest(_ d: JSON) -> String {
        func text(_ key: String) -> String { d[key]?.stringValue ?? "" }
        func count(_ band: String) -> String {
            let n = (d["severities"]?.arrayValue ?? []).first { $0["label"]?.stringValue == band }?["count"]?.doubleValue ?? 0
            return JSON.numberText(n)
        }
        let kind = text("sluice_digest")
        let header = ["Sluice", "Sluice", "1", "sluice-digest-\(kind)", text("headline")].map(cefHeader)
        let severity: Int
        switch text("highest") {
        case "Critical": severity = 9
        case "High": severity = 7
        case "Medium": severity = 4
        default: severity = 1
        }
        var ext: [(String, String)] = [
            ("cnt", d["total"]?.doubleValue.map(JSON.numberText) ?? "0"),
            ("cn1Label", "critical"), ("cn1", count("Critical")), ("cn2Label", "high"), ("cn2", count("High")),
            ("cn3Label", "medium"), ("cn3", count("Medium")), ("flexNumber1Label", "low"), ("flexNumber1", count("Low")),
        ]
        for (field, label, value) in [("cs1", "route", text("route")), ("cs2", "target", text("target")),
                                      ("cs3", "key", text("key_text")), ("cs4", "accounts", text("accounts_text"))] where !value.isEmpty {
            ext += [(field + "Label", label), (field, value)]
        }
        ext.append(("msg", String(text("text").prefix(1023))))
        let extensions = ext.filter { !$0.1.isEmpty }.map { "\($0.0)=\(cefExtensionValue($0.1))" }.joined(separator: " ")
        return "CEF:0|" + header.joined(separator: "|") + "|\(severity)|" + extensions
    }

    /// Header fields: `\` and `|` escaped with a backslash; line breaks, which CEF headers cannot hold, become spaces.
    static func cefHeader(_ text: String) -> String {
        escape(text, ["\\": "\\\\", "|": "\\|", "\r": " ", "\n": " ", "\0": " "])
    }

    /// Extension values: `\` and `=` escaped with a backslash, line breaks as `\n` / `\r`.
    static func cefExtensionValue(_ text: String) -> String {
        escape(text, ["\\": "\\\\", "=": "\\=", "\n": "\\n", "\r": "\\r", "\0": " "])
    }

    /// Per Unicode scalar, not per Character: `"` followed by a combining mark is one grapheme,
    /// and a per-grapheme look-up would let the quote through raw.
    private static func escape(_ text: String, _ replacements: [Unicode.Scalar: String]) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if let r = replacements[scalar] { out.append(contentsOf: r.unicodeScalars) } else { out.append(scalar) }
        }
        return String(out)
    }
}

extension SyslogConnector: ConnectorType {
    public static let kind = "syslog"
    public static let summary = "RFC 5424 syslog over UDP, TCP (octet counting) or TLS; JSON or CEF message"
    public static let payloadFormat = PayloadFormat.json
    public static let usesSummary = true

    static let facilities = ["kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
                             "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
                             "local5", "local6", "local7"]

    public static func configuration(from r: MappingReader) -> Configuration? {
        let host = r.string("host", required: true)
        var transport = Transport.tcp
        if let p = r.string("protocol") {
            if let t = Transport(rawValue: p) { transport = t } else { r.report(r.at("protocol").error("'protocol' must be udp, tcp or tls")) }
        }
        let port = r.int("port", min: 1) ?? (transport == .tls ? 6514 : 514)
        if port > 65535 { r.report(r.at("port").error("'port' must be at most 65535")) }
        var facility = 4
        if let f = r.string("facility") {
            if let i = facilities.firstIndex(of: f) ?? Int(f).flatMap({ (0...23).contains($0) ? $0 : nil }) {
                facility = i
            } else {
                r.report(r.at("facility").error("'facility' must be one of \(facilities.joined(separator: ", ")) or 0–23"))
            }
        }
        let appName = r.string("app_name") ?? "sluice"
        var hostname = r.string("hostname")
        if hostname == nil {
            var buffer = [CChar](repeating: 0, count: 256)
            hostname = gethostname(&buffer, buffer.count - 1) == 0
                ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "-"
        }
        let sdID = r.string("sd_id")
        if let sdID, !isSDName(sdID) {
            r.report(r.at("sd_id").error("'sd_id' must be 1–32 printable ASCII characters without '=', ' ', ']' or '\"' (e.g. guardduty@32473)"))
        }
        var format = MessageFormat.json
        if let f = r.string("format") {
            if let m = MessageFormat(rawValue: f) { format = m } else { r.report(r.at("format").error("'format' must be json or cef")) }
        }
        let tls = r.tlsOptions()
        if transport != .tls, r.node["tls"] != nil {
            r.report(r.at("tls").error("'tls' applies to protocol: tls only"))
        }
        guard let host, let hostname else { return nil }
        return Configuration(host: host, port: port, transport: transport, facility: facility, appName: appName,
                             hostname: hostname, sdID: sdID, format: format, tls: tls)
    }

    /// The RFC 5424 message as `deliver` would write it now (without framing), or why it cannot be sent.
    public static func wirePreview(of delivery: Delivery, configuration: Configuration) -> String? {
        switch SyslogConnector(name: "preview", configuration: configuration, timeout: .seconds(1)).makeMessage(for: delivery, at: .now()) {
        case .success(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .failure(let problem): return "not sent: \(problem.message)"
        }
    }

    public static func make(name: String, configuration: Configuration, context: ConnectorContext) throws -> any Connector {
        SyslogConnector(name: name, configuration: configuration, timeout: context.timeout)
    }
}

/// A connected UDP socket (RFC 5426: one message per datagram).
private final class DatagramSocket {
    /// The most an IPv4 UDP datagram carries.
    static let maxPayload = 65_507
    private let fd: Int32

    init(host: String, port: Int) throws(HTTPClientError) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        #else
        hints.ai_socktype = SOCK_DGRAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw HTTPClientError(.resolveFailed, "cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var failure = "no address"
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let a = candidate {
            let s = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if s >= 0 {
                if connect(s, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 {
                    fd = s
                    return
                }
                failure = String(cString: strerror(errno))
                close(s)
            }
            candidate = a.pointee.ai_next
        }
        throw HTTPClientError(.connectFailed, "udp://\(host):\(port): \(failure)")
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws(HTTPClientError) {
        let n = bytes.withUnsafeBytes { raw in Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL)) }
        if n == bytes.count { return }
        let reason = String(cString: strerror(errno))
        // ECONNREFUSED reports an ICMP port-unreachable for an earlier datagram: the receiver is down.
        throw HTTPClientError(errno == EMSGSIZE ? .invalidRequest : .sendFailed, "udp send: \(reason)")
    }
}
