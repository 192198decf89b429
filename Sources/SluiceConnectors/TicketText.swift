import SluiceCore
import SluiceHTTP

/// What the ticketing connectors (`jira`, `servicenow`) share: the default description of a
/// finding and the reading of keys they both have.
enum TicketText {
    /// Plain lines, so the text reads well as ADF paragraphs (Jira Cloud), wiki text (Jira Data
    /// Center) and a ServiceNow description alike.
    static let findingDescription = """
        {{sluice.title}}
        {{#sluice.description}}

        {{sluice.description}}
        {{/sluice.description}}

        Severity: {{sluice.severity_label}} ({{sluice.severity}})
        Type: {{sluice.type}}
        Account: {{sluice.account}}
        Region: {{sluice.region}}
        Resource: {{sluice.resource_summary}}
        {{#sluice.process}}
        Process: {{name}} ({{executable_path}}){{#user}} as {{user}}{{/user}}
        {{/sluice.process}}
        Count: {{sluice.count}}
        First seen: {{sluice.first_seen}}
        Last seen: {{sluice.last_seen}}
        Finding: {{sluice.id}}

        Console: {{sluice.console_url}}
        """

    /// A list of strings (`labels: [a, b]`), reporting anything else.
    static func stringList(_ r: MappingReader, _ key: String) -> [String]? {
        guard let n = r.node(key) else { return nil }
        guard n.isSequence else {
            r.report(n.error("'\(key)' must be a list of strings"))
            return nil
        }
        return n.items.compactMap { item in
            guard let s = item.string, !item.isMapping, !item.isSequence else {
                r.report(item.error("'\(key)' must hold strings only"))
                return nil
            }
            return s
        }
    }

    /// `url` as a base for API paths: http(s), without a trailing slash.
    static func baseURL(_ url: String, _ r: MappingReader) -> String? {
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
            r.report(r.node["url"]!.error("url must start with https:// (or http://)"))
            return nil
        }
        var base = Substring(url)
        while base.hasSuffix("/") { base = base.dropLast() }
        return String(base)
    }
}

/// One call of a ticketing API within an attempt: a 2xx response to go on with, or the outcome
/// that ends the attempt (the shared HTTP classification, with the vendor's own error text).
enum TicketCall {
    case ok(HTTPResponse)
    /// The outcome, and the HTTP status when there was one (a 404 may mean "search again").
    case failed(DeliveryOutcome, status: Int?)

    static func send(_ request: HTTPRequest, on client: HTTPClient, to vendor: String, doing what: String,
                     errorText: (String) -> String?) async -> TicketCall {
        do {
            return classify(.success(try await client.execute(request)), vendor: vendor, doing: what, errorText: errorText)
        } catch {
            return classify(.failure(error), vendor: vendor, doing: what, errorText: errorText)
        }
    }

    static func classify(_ result: Result<HTTPResponse, HTTPClientError>, vendor: String, doing what: String,
                         errorText: (String) -> String?) -> TicketCall {
        if case .success(let r) = result, (200..<300).contains(r.status) { return .ok(r) }
        let response = try? result.get()
        switch WebhookConnector.classify(result) {
        case .retryable(let message, let retryAfter):
            return .failed(.retryable("\(vendor) \(what): \(message)", retryAfter: retryAfter), status: response?.status)
        case .permanent(let message):
            let detail = response.flatMap { r in errorText(r.bodyText).map { "HTTP \(r.status): \($0)" } } ?? message
            return .failed(.permanent("\(vendor) \(what): \(detail)"), status: response?.status)
        case .delivered:
            return .failed(.delivered, status: response?.status)  // not reached: 2xx returned above
        }
    }
}
