/// Removes known secret values from text that leaves the process: outcome messages, log lines,
/// dead-letter reasons. Targets echo what they were sent (the first 200 characters of a 401 body
/// can hold the token that was refused), so every message built from a reply passes through one.
public struct SecretScrubber: Sendable {
    /// Shorter values are not scrubbed: replacing every "a" or "1" would destroy the message and
    /// hide nothing worth hiding.
    public static let minimumLength = 4
    public static let replacement = "<redacted>"

    private let values: [String]

    /// Longest first, so a secret that contains another is replaced whole.
    public init<S: Sequence>(_ values: S) where S.Element == String {
        self.values = Set(values.filter { $0.utf8.count >= SecretScrubber.minimumLength }).sorted { $0.utf8.count > $1.utf8.count }
    }

    public var isEmpty: Bool { values.isEmpty }

    public func scrub(_ text: String) -> String {
        values.reduce(text) { $0.contains($1) ? $0.replacing($1, with: SecretScrubber.replacement) : $0 }
    }

    public func merging(_ other: SecretScrubber) -> SecretScrubber { SecretScrubber(values + other.values) }

    /// A credential header value and its credential alone (`Bearer xyz` and `xyz`): a target
    /// may echo either.
    public static func credentialParts(_ value: String) -> [String] {
        guard let space = value.lastIndex(of: " ") else { return [value] }
        return [value, String(value[value.index(after: space)...])]
    }
}

extension HTTPRequest {
    /// The values of this request that must never be shown: every header value outside
    /// `HTTPHeaderField.visibleNames`, the URL's user-info and query values, the credentials.
    public var secretValues: [String] {
        var out = headers.filter { !HTTPHeaderField.isVisible($0.name) }.flatMap { SecretScrubber.credentialParts($0.value) }
        if let url = HTTPURL(url) {
            if let userinfo = url.userinfo { out += [userinfo] + userinfo.split(separator: ":").map(String.init) }
            out += url.queryItems.map { $0.value }
        }
        if let credentials { out += [credentials] + credentials.split(separator: ":").map(String.init) }
        return out
    }
}
