import Foundation

/// A credential read from configuration: a literal (usually `${ENV_VAR}`) or a `file:/path`
/// reference whose contents are read at load time (Kubernetes and Docker secrets). Its
/// description is always `<redacted>`, so it cannot leak through logs or string interpolation.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret itself: pass it to the wire, never to a log.
    public let value: String

    public init(_ value: String) { self.value = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}

extension MappingReader {
    /// Reads a secret: `token: ${PD_ROUTING_KEY}` or `token: file:/run/secrets/pd-routing-key`.
    public func secret(_ key: String, required: Bool = false) -> Secret? {
        guard let text = string(key, required: required) else { return nil }
        guard text.hasPrefix("file:") else {
            markSecret(text)
            return Secret(text)
        }
        let path = String(text.dropFirst("file:".count))
        guard let data = FileManager.default.contents(atPath: path), let content = String(data: data, encoding: .utf8) else {
            report((node[key] ?? node).error("'\(key)': cannot read secret file \(path)"))
            return nil
        }
        let secret = Secret(content.trimmingCharacters(in: .newlines))
        markSecret(secret.value)
        return secret
    }
}
