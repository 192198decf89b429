import SluiceCore
import SluiceHTTP

/// `webhook`: POSTs each payload to a URL. Connection reuse, timeouts and TLS come from the
/// shared libcurl client; 2xx is delivered, 408/429/5xx and transport errors are retried
/// (honouring Retry-After), any other status is permanent.
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
/// ```
public final class WebhookConnector: Connector {
    public struct Configuration: Sendable {
        var url: String
        var method: String
        var headers: [(name: String, value: String)]
        var tls: TLSOptions
    }

    let configuration: Configuration
    let client: HTTPClient
    let timeout: Duration

    init(configuration: Configuration, client: HTTPClient, timeout: Duration) {
        self.configuration = configuration
        self.client = client
        self.timeout = timeout
    }

    /// The request for one delivery (pure: tested without a server).
    func makeRequest(for delivery: Delivery) -> HTTPRequest {
        var headers = configuration.headers
        if let id = delivery.findingID { headers.append(("X-Sluice-Finding-Id", id)) }
        headers.append(("X-Sluice-Route", delivery.route))
        return HTTPRequest(method: configuration.method, url: configuration.url, headers: headers, body: delivery.payload,
                           timeout: timeout, tls: configuration.tls)
    }

    public func deliver(_ delivery: Delivery, completion: @escaping @Sendable (DeliveryOutcome) -> Void) {
        client.execute(makeRequest(for: delivery)) { result in
            completion(WebhookConnector.classify(result))
        }
    }

    /// Maps an HTTP result to a delivery outcome; shared by every HTTP-based connector.
    public static func classify(_ result: Result<HTTPResponse, HTTPClientError>) -> DeliveryOutcome {
        switch result {
        case .success(let response):
            switch response.status {
            case 200..<300: return .delivered
            case 408, 425, 429, 500...599:
                return .retryable("HTTP \(response.status)", retryAfter: response.retryAfter)
            default:
                let body = response.bodyText.prefix(200)
                return .permanent("HTTP \(response.status)\(body.isEmpty ? "" : ": \(body)")")
            }
        case .failure(let error):
            return error.isRetriable ? .retryable(error.description) : .permanent(error.description)
        }
    }
}

extension WebhookConnector: ConnectorType {
    public static let kind = "webhook"
    public static let summary = "HTTP POST of each finding to a URL (generic webhook)"
    public static let payloadFormat = PayloadFormat.json

    public static func configuration(from r: MappingReader) -> Configuration? {
        let url = r.string("url", required: true)
        let method = r.string("method") ?? "POST"
        if !["POST", "PUT", "PATCH"].contains(method) { r.report(r.node("method")!.error("method must be POST, PUT or PATCH")) }
        var headers = (r.stringMap("headers") ?? []).map { (name: $0.0, value: $0.1) }
        let contentType = r.string("content_type") ?? "application/json"
        if !headers.contains(where: { $0.name.lowercased() == "content-type" }) { headers.append(("Content-Type", contentType)) }
        var tls = TLSOptions()
        if let t = r.nested("tls", what: "tls") {
            tls.caBundlePath = t.string("ca_file")
            tls.clientCertPath = t.string("cert_file")
            tls.clientKeyPath = t.string("key_file")
            tls.keyPassword = t.string("key_password")
            if let v = t.bool("verify") { tls.verifyPeer = v; tls.verifyHost = v }
        }
        guard let url else { return nil }
        if !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            r.report(r.node("url")!.error("url must start with http:// or https://"))
            return nil
        }
        return Configuration(url: url, method: method, headers: headers, tls: tls)
    }

    public static func make(name: String, configuration: Configuration, context: ConnectorContext) throws -> any Connector {
        WebhookConnector(configuration: configuration, client: context.http, timeout: context.timeout)
    }
}
