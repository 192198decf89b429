import Crypto
import Foundation
import SluiceCore
import SluiceHTTP

/// `webhook`: POSTs each payload to a URL. Connection reuse, timeouts and TLS come from the
/// shared libcurl client; 2xx is delivered, 408/429/5xx and transport errors are retried
/// (honouring Retry-After), any other status is permanent. With `signing:`, every request is
/// signed as Standard Webhooks specifies (standardwebhooks.com), so receivers can verify it with
/// any of that project's libraries.
///
/// ```yaml
/// name: soc-intake
/// type: webhook
/// url: https://soc.example.com/hooks/guardduty   # required; ${ENV} allowed
/// method: POST                                   # POST (default), PUT or PATCH
/// content_type: application/json
/// headers:
///   Authorization: Bearer ${SOC_TOKEN}
/// tls:
///   ca_file: /etc/ssl/soc-ca.pem                 # verification is on by default
///   cert_file: /etc/sluice/client.pem            # mTLS
///   key_file: /etc/sluice/client.key
///   verify: true
/// signing:                                       # Standard Webhooks: webhook-id, webhook-timestamp,
///   secret: ${SOC_WEBHOOK_SECRET}                # webhook-signature; whsec_<base64>, or file:/path
/// ```
public final class WebhookConnector: Connector {
    public struct Configuration: Sendable {
        var url: String
        var method: String
        var headers: [(name: String, value: String)]
        var tls: TLSOptions
        var signing: StandardWebhookSigner?
    }

    let configuration: Configuration
    let client: HTTPClient
    let timeout: Duration

    init(configuration: Configuration, client: HTTPClient, timeout: Duration) {
        self.configuration = configuration
        self.client = client
        self.timeout = timeout
    }

    /// The request for one delivery (pure: tested without a server); signed at `now` (unix
    /// seconds) when `signing:` is set.
    func makeRequest(for delivery: Delivery, now: Int = Int(Date().timeIntervalSince1970)) -> HTTPRequest {
        var headers = configuration.headers
        if let id = delivery.findingID { headers.append(("X-Sluice-Finding-Id", id)) }
        headers.append(("X-Sluice-Route", delivery.route))
        if let signer = configuration.signing { headers += signer.headers(for: delivery, timestamp: now) }
        return HTTPRequest(method: configuration.method, url: configuration.url, headers: headers, body: delivery.payload,
                           timeout: timeout, tls: configuration.tls)
    }

    public func deliver(_ delivery: Delivery, completion: @escaping @Sendable (DeliveryOutcome) -> Void) {
        client.execute(makeRequest(for: delivery)) { result in
            completion(WebhookConnector.classify(result))
        }
    }

    /// Maps an HTTP result to a delivery outcome: SluiceHTTP's one table (`HTTPOutcome`).
    public static func classify(_ result: Result<HTTPResponse, HTTPClientError>) -> DeliveryOutcome {
        DeliveryOutcome(HTTPOutcome(result))
    }
}

extension WebhookConnector: ConnectorType {
    public static let kind = "webhook"
    public static let summary = "HTTP POST of each finding to a URL (generic webhook)"
    public static let payloadFormat = PayloadFormat.json

    public static func configuration(from r: MappingReader) -> Configuration? {
        let url = r.httpURL("url", required: true)
        let method = r.string("method") ?? "POST"
        if !["POST", "PUT", "PATCH"].contains(method) { r.report(r.at("method").error("method must be POST, PUT or PATCH")) }
        var headers = (r.stringMap("headers") ?? []).map { (name: $0.0, value: $0.1) }
        for header in headers where !HTTPHeaderField.isVisible(header.name) {
            for value in SecretScrubber.credentialParts(header.value) { r.markSecret(value) }
        }
        if let bad = headers.first(where: { !HTTPHeaderField.isValidName($0.name) }) {
            r.report((r.node["headers"] ?? r.node).error("header name '\(bad.name)' is not a valid HTTP field name"))
        }
        let contentType = r.string("content_type") ?? "application/json"
        if !headers.contains(where: { $0.name.lowercased() == "content-type" }) { headers.append(("Content-Type", contentType)) }
        let tls = r.tlsOptions()
        var signing: StandardWebhookSigner?
        if let s = r.nested("signing", what: "signing") {
            if let secret = s.secret("secret", required: true) {
                signing = StandardWebhookSigner(secret: secret)
                if signing == nil {
                    s.report(s.at("secret").error("signing secret must be whsec_ followed by the base64 of 24 to 64 random bytes"))
                }
            }
        }
        guard let url else { return nil }
        return Configuration(url: url, method: method, headers: headers, tls: tls, signing: signing)
    }

    public static func make(name: String, configuration: Configuration, context: ConnectorContext) throws -> any Connector {
        WebhookConnector(configuration: configuration, client: context.http, timeout: context.timeout)
    }
}

/// Standard Webhooks signing (standardwebhooks.com): `webhook-id`, `webhook-timestamp` (unix
/// seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
/// keyed with the bytes of a `whsec_<base64>` secret.
struct StandardWebhookSigner: Sendable, CustomStringConvertible {
    /// The key bytes (SymmetricKey is not Sendable in swift-crypto 3).
    private let key: [UInt8]

    /// nil unless `secret` is `whsec_` and the base64 of 24 to 64 bytes, as the spec requires.
    init?(secret: Secret) {
        guard secret.value.hasPrefix("whsec_"),
              let bytes = Data(base64Encoded: String(secret.value.dropFirst("whsec_".count))),
              (24...64).contains(bytes.count) else { return nil }
        key = Array(bytes)
    }

    var description: String { "StandardWebhookSigner(<redacted>)" }

    func headers(for delivery: Delivery, timestamp: Int) -> [(name: String, value: String)] {
        let id = Self.messageID(for: delivery)
        return [("webhook-id", id), ("webhook-timestamp", String(timestamp)),
                ("webhook-signature", signature(id: id, timestamp: timestamp, body: delivery.payload))]
    }

    func signature(id: String, timestamp: Int, body: [UInt8]) -> String {
        var content = Data("\(id).\(timestamp).".utf8)
        content.append(contentsOf: body)
        return "v1," + Data(HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: key))).base64EncodedString()
    }

    /// The same for every attempt of one delivery (receivers dedupe retries on it), different
    /// for different deliveries: a digest of finding id, route and payload. The payload is in
    /// because a repeat of a finding (new count, new last-seen) is a new message, not a retry.
    static func messageID(for delivery: Delivery) -> String {
        var hash = SHA256()
        hash.update(data: Data((delivery.findingID ?? "").utf8))
        hash.update(data: [0])
        hash.update(data: Data(delivery.route.utf8))
        hash.update(data: [0])
        hash.update(data: delivery.payload)
        return "msg_" + hash.finalize().prefix(16).map { String(format: "%02x", $0) }.joined()
    }
}
