/// An http(s) URL taken apart (RFC 3986 §3), without Foundation's leniency: configuration
/// readers check URLs with it, the action executor compares what a template rendered with what
/// it was written as, and the address guard reads its host.
public struct HTTPURL: Sendable, Equatable {
    /// Lowercased: `http` or `https`.
    public var scheme: String
    public var userinfo: String?
    /// Lowercased; an IPv6 literal without its brackets.
    public var host: String
    public var port: Int?
    /// Starts with `/`, or is empty.
    public var path: String
    public var query: String?
    public var fragment: String?

    /// nil unless `text` is `http://` or `https://`, a non-empty host, an optional numeric port,
    /// and no whitespace or control character anywhere.
    public init?(_ text: String) {
        guard !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else { return nil }
        guard let schemeEnd = text.range(of: "://") else { return nil }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        self.scheme = scheme
        var rest = text[schemeEnd.upperBound...]
        if let hash = rest.firstIndex(of: "#") {
            fragment = String(rest[rest.index(after: hash)...])
            rest = rest[..<hash]
        }
        if let q = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: q)...])
            rest = rest[..<q]
        }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        path = String(rest[slash...])
        var authority = rest[..<slash]
        if let at = authority.lastIndex(of: "@") {
            userinfo = String(authority[..<at])
            authority = authority[authority.index(after: at)...]
        }
        var hostPart = authority
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()), (0...65535).contains(p) else { return nil }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            let digits = authority[authority.index(after: colon)...]
            if !digits.isEmpty {
                guard digits.allSatisfy(\.isASCII), let p = Int(digits), (0...65535).contains(p) else { return nil }
                port = p
            }
        }
        guard !hostPart.isEmpty, !hostPart.contains(where: { "/?#@[]\\".contains($0) }) else { return nil }
        host = hostPart.lowercased()
    }

    /// The port used: the explicit one or the scheme's default.
    public var effectivePort: Int { port ?? (scheme == "https" ? 443 : 80) }

    /// The path's segments (`/a/b/` is `a`, `b`, ``).
    public var pathSegments: [Substring] {
        path.isEmpty ? [] : path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
    }

    /// `name=value` pairs of the query, as written (not decoded).
    public var queryItems: [(name: String, value: String)] {
        guard let query, !query.isEmpty else { return [] }
        return query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
    }

    /// The URL with user-info and every query value replaced by `<redacted>`: the path stays
    /// (an audit must say what was called), the credentials go.
    public var redacted: String {
        var text = scheme + "://"
        if userinfo != nil { text += "\(SecretScrubber.replacement)@" }
        text += host.contains(":") ? "[\(host)]" : host
        if let port { text += ":\(port)" }
        text += path
        if let query {
            text += "?" + (query.isEmpty ? "" : queryItems.map { "\($0.name)=\(SecretScrubber.replacement)" }.joined(separator: "&"))
        }
        return text
    }
}
