/// Every outgoing request header passes through here (`HTTPClient` builds its header list with
/// `wireLine`), so no caller — connector, action executor, AWS or Kubernetes client — can put a
/// line break from a finding onto the wire, and one allow-list decides which values logs and the
/// audit may show.
public enum HTTPHeaderField {
    /// Header names whose values are shown in logs, descriptions and the action audit. Every other
    /// value is redacted: a deny-list of "secret-looking" names always misses one (`X-Soar-Credential`).
    public static let visibleNames: Set<String> = [
        "accept", "accept-encoding", "content-type", "content-length", "content-encoding", "user-agent",
        "x-sluice-finding-id", "x-sluice-route", "x-sluice-run-id", "x-sluice-replay", "webhook-id", "webhook-timestamp",
        "x-amz-target", "x-amz-date", "kbn-xsrf", "x-requested-with",
    ]

    /// Whether the value of `name` may be shown (case-insensitive).
    public static func isVisible(_ name: String) -> Bool { visibleNames.contains(name.lowercased()) }

    /// Whether `name` is an RFC 9110 token (§5.6.2): visible ASCII without separators.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { b in
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
            default: return "!#$%&'*+-.^_`|~".utf8.contains(b)
            }
        }
    }

    /// The value with CR, LF, NUL and the other control characters (HTAB excepted) removed:
    /// a value can never end its line and start another header (RFC 9110 §5.5).
    public static func sanitizedValue(_ value: String) -> String {
        guard value.utf8.contains(where: isControl) else { return value }
        return String(decoding: value.utf8.filter { !isControl($0) }, as: UTF8.self)
    }

    /// `Name: value` for libcurl's header list, or nil when the name is not a token (the request
    /// is then refused, never sent with a header someone else chose).
    public static func wireLine(name: String, value: String) -> String? {
        guard isValidName(name) else { return nil }
        return "\(name): \(sanitizedValue(value))"
    }

    /// The header lines a request goes out with, in libcurl's list order: `Expect:` (no
    /// 100-continue round trip before a body), each header's `wireLine`, and `Content-Type:`
    /// without a caller's own (libcurl would otherwise label JSON form-urlencoded). `refused`:
    /// a header name was not a token, and the request must not be sent. Pure, so the fuzzer
    /// drives the very list `HTTPClient` hands to libcurl.
    public static func requestLines(_ headers: [(name: String, value: String)]) -> (lines: [String], refused: Bool) {
        var lines = ["Expect:"]
        var refused = false
        for header in headers {
            if let line = wireLine(name: header.name, value: header.value) { lines.append(line) } else { refused = true }
        }
        if !headers.contains(where: { $0.name.lowercased() == "content-type" }) { lines.append("Content-Type:") }
        return (lines, refused)
    }

    private static func isControl(_ b: UInt8) -> Bool { (b < 0x20 && b != 0x09) || b == 0x7F }
}
