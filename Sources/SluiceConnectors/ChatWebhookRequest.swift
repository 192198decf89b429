import Foundation
import SluiceCore
import SluiceHTTP

/// What the chat and paging connectors (`slack`, `msteams`, `mattermost`, `discord`,
/// `google-chat`, `pagerduty`, `opsgenie`) share: each POSTs one JSON document per delivery —
/// the rendered template, patched with jansson where the connector adds keys the template cannot
/// know (a routing key, a dedup key, a priority) — and classifies the answer with
/// `WebhookConnector.classify` plus its vendor's quirks. A target type supplies its configuration
/// and two pure functions; `JSONPostConnector` is the one live connector for all of them.
protocol JSONPostTarget: ConnectorType {
    /// The request for one delivery, or why the payload can never be sent.
    static func makeRequest(for delivery: Delivery, configuration: Configuration, timeout: Duration) -> Result<HTTPRequest, PayloadRejection>
    /// Maps the HTTP result to an outcome, vendor quirks included.
    static func classify(_ result: Result<HTTPResponse, HTTPClientError>, configuration: Configuration) -> DeliveryOutcome
}

extension JSONPostTarget {
    static func classify(_ result: Result<HTTPResponse, HTTPClientError>, configuration: Configuration) -> DeliveryOutcome {
        WebhookConnector.classify(result)
    }

    static func make(name: String, configuration: Configuration, context: ConnectorContext) throws -> any Connector {
        JSONPostConnector<Self>(configuration: configuration, client: context.http, timeout: context.timeout)
    }
}

/// The live connector of a `JSONPostTarget`: one POST per attempt through the shared client.
final class JSONPostConnector<Target: JSONPostTarget>: Connector {
    let configuration: Target.Configuration
    let client: HTTPClient
    let timeout: Duration

    init(configuration: Target.Configuration, client: HTTPClient, timeout: Duration) {
        self.configuration = configuration
        self.client = client
        self.timeout = timeout
    }

    func makeRequest(for delivery: Delivery) -> Result<HTTPRequest, PayloadRejection> {
        Target.makeRequest(for: delivery, configuration: configuration, timeout: timeout)
    }

    func classify(_ result: Result<HTTPResponse, HTTPClientError>) -> DeliveryOutcome {
        Target.classify(result, configuration: configuration)
    }

    func deliver(_ delivery: Delivery, completion: @escaping @Sendable (DeliveryOutcome) -> Void) {
        // Secrets are scrubbed from the outcome by `SecretScrubbingConnector`, for every connector.
        switch makeRequest(for: delivery) {
        case .failure(let rejection):
            completion(.permanent(rejection.message))
        case .success(let request):
            client.execute(request) { [self] result in
                completion(classify(result))
            }
        }
    }
}


/// Request building and configuration reading shared by the chat and paging connectors.
enum ChatWebhookRequest {
    /// A JSON POST to `url` with the connector's headers and the instance's timeout and TLS.
    static func post(_ url: String, body: [UInt8], headers: [(name: String, value: String)] = [], timeout: Duration, tls: TLSOptions) -> HTTPRequest {
        HTTPRequest(method: "POST", url: url, headers: [("Content-Type", "application/json; charset=utf-8")] + headers,
                    body: body, timeout: timeout, tls: tls)
    }

    /// Parses the rendered payload for patching. A template that does not render a JSON object is
    /// a permanent failure (a custom one; the built-in templates are tested on every sample finding).
    static func document(_ payload: [UInt8]) -> Result<JSONBuilder, PayloadRejection> {
        switch JSONBuilder.parse(payload) {
        case .success(let doc) where doc.isObject: return .success(doc)
        case .success: return .failure(PayloadRejection(message: "the rendered payload is not a JSON object"))
        case .failure(let error): return .failure(PayloadRejection(message: "the rendered payload is not JSON (\(error.message))"))
        }
    }

    /// `text` cut to at most `limit` Unicode scalars (vendors count code points), ending with "…" when cut.
    static func truncated(_ text: String, to limit: Int) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > limit else { return text }
        var out = String.UnicodeScalarView(scalars.prefix(limit - 1))
        out.append("…")
        return String(out)
    }

    /// Truncates the string member `key` of `object` in place, when it is longer than `limit`.
    static func limit(_ object: JSONBuilder?, _ key: String, to limit: Int) {
        guard let object, let s = object.string(key), s.unicodeScalars.count > limit else { return }
        object[key] = .string(truncated(s, to: limit))
    }

    /// Keeps the first `limit` elements of the array member `key` of `object`.
    static func limitArray(_ object: JSONBuilder?, _ key: String, to limit: Int) {
        guard let object, let array = object[key], array.isArray, array.count > limit else { return }
        let kept = JSONBuilder.array()
        for element in array.elements.prefix(limit) { kept.append(element) }
        object[key] = kept
    }

    /// The text of a JSON string value (an array element), or nil for other kinds.
    static func stringValue(_ value: JSONBuilder) -> String? {
        (try? JSON.parse(value.text))?.stringValue
    }

    /// The first non-empty string among `values`.
    static func firstNonEmpty(_ values: String?...) -> String? {
        values.lazy.compactMap { $0 }.first { !$0.isEmpty }
    }

    /// A JSON object response body, parsed (vendors answer errors this way), or nil.
    static func responseObject(_ response: HTTPResponse) -> JSON? {
        guard let json = try? JSON.parse(response.bodyText), case .object = json else { return nil }
        return json
    }
}
