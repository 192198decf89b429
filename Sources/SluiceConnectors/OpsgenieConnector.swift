import SluiceCore
import SluiceGuardDuty
import SluiceHTTP

/// `opsgenie`: creates an Opsgenie alert per finding through the Alert API. The alias is the
/// finding id, so Opsgenie de-duplicates repeats into the open alert (its count goes up) instead
/// of notifying again.
///
/// ```yaml
/// name: soc-opsgenie
/// type: opsgenie
/// api_key: ${OPSGENIE_API_KEY}   # an API integration's key, sent as "Authorization: GenieKey …"
/// region: us                     # us (api.opsgenie.com, default) or eu (api.eu.opsgenie.com)
/// url: https://api.opsgenie.com/v2/alerts   # override of the region's endpoint (tests, proxies)
/// tls: {ca_file: /etc/ssl/corp-ca.pem}
/// ```
///
/// The template renders message, description, tags, details, source and entity; the connector sets
/// `alias` (the finding id) when the template set none and `priority` from the GuardDuty band
/// (Critical → P1, High → P2, Medium → P3, Low → P4), and cuts fields to Opsgenie's limits
/// (message 130 characters, alias 512, description 15000, 20 tags of 50). Opsgenie answers 202
/// `{"result":"Request will be processed",…}` (it processes asynchronously); 401, 403 and 422 are
/// permanent; 429 (with `X-RateLimit-Period-In-Sec`) and 5xx are retried.
enum OpsgenieConnector {
    struct Configuration: Sendable {
        var apiKey: Secret
        var url: String
        var tls: TLSOptions
    }

    /// Field limits from the Alert API's "Create Alert" reference.
    enum Limits {
        static let message = 130
        static let alias = 512
        static let description = 15_000
        static let entity = 512
        static let source = 100
        static let tags = 20
        static let tag = 50
    }

    static let endpoints = ["us": "https://api.opsgenie.com/v2/alerts", "eu": "https://api.eu.opsgenie.com/v2/alerts"]
    static let priorities: Set<String> = ["P1", "P2", "P3", "P4", "P5"]


    /// Opsgenie's priority for a GuardDuty band.
    static func priority(for label: FindingSummary.SeverityLabel) -> String {
        switch label {
        case .critical: return "P1"
        case .high: return "P2"
        case .medium: return "P3"
        case .low: return "P4"
        }
    }

    static func makeRequest(for delivery: Delivery, configuration: Configuration, timeout: Duration) -> Result<HTTPRequest, PayloadRejection> {
        ChatWebhookRequest.document(delivery.payload).map { alert in
            OpsgenieConnector.complete(alert, delivery: delivery)
            return ChatWebhookRequest.post(configuration.url, body: alert.serialized(), headers: [("Authorization", "GenieKey \(configuration.apiKey.value)")],
                                           timeout: timeout, tls: configuration.tls)
        }
    }

    /// Sets alias and priority and fits the alert to the API's limits.
    static func complete(_ alert: JSONBuilder, delivery: Delivery) {
        let s = delivery.summary
        alert["message"] = .string(ChatWebhookRequest.firstNonEmpty(alert.string("message"), s?.title, delivery.findingID.map { "Security finding \($0)" }) ?? "Security finding")
        if alert.string("alias")?.isEmpty ?? true {
            alert["alias"] = delivery.findingID.flatMap { $0.isEmpty ? nil : JSONBuilder.string($0) }
        }
        if !priorities.contains(alert.string("priority") ?? "") {
            alert["priority"] = s.map { .string(priority(for: $0.severityLabel)) }
        }
        ChatWebhookRequest.limit(alert, "message", to: Limits.message)
        ChatWebhookRequest.limit(alert, "alias", to: Limits.alias)
        ChatWebhookRequest.limit(alert, "description", to: Limits.description)
        ChatWebhookRequest.limit(alert, "entity", to: Limits.entity)
        ChatWebhookRequest.limit(alert, "source", to: Limits.source)
        if let tags = alert["tags"], tags.isArray {
            let kept = JSONBuilder.array()
            for tag in tags.elements {
                guard kept.count < Limits.tags, let text = ChatWebhookRequest.stringValue(tag), !text.isEmpty else { continue }
                kept.append(.string(ChatWebhookRequest.truncated(text, to: Limits.tag)))
            }
            alert["tags"] = kept
        }
    }

    static func classify(_ result: Result<HTTPResponse, HTTPClientError>, configuration: Configuration) -> DeliveryOutcome {
        // Opsgenie's 429 says how long its window is rather than sending Retry-After.
        if case .success(let response) = result, response.status == 429, response.retryAfter == nil,
           let period = response.header("X-RateLimit-Period-In-Sec").flatMap(Int64.init), period > 0 {
            return .retryable("HTTP 429 (Opsgenie rate limit)", retryAfter: .seconds(period))
        }
        return WebhookConnector.classify(result)
    }
}

extension OpsgenieConnector: JSONPostTarget {
    static let kind = "opsgenie"
    static let summary = "Opsgenie alert (alias = finding id; priority from severity)"
    static let payloadFormat = PayloadFormat.json
    static let usesSummary = true

    static func configuration(from r: MappingReader) -> Configuration? {
        let key = r.secret("api_key", required: true)
        let region = r.string("region") ?? "us"
        let url = r.httpURL("url")
        let tls = r.tlsOptions()
        guard let regionURL = endpoints[region] else {
            r.report(r.at("region").error("'region' must be us or eu"))
            return nil
        }
        guard let key else { return nil }
        return Configuration(apiKey: key, url: url ?? regionURL, tls: tls)
    }

    /// Message, description with the facts, tags, string details, source and entity.
    static let defaultTemplate: String? = #"""
    {"message":"[{{sluice.severity_label}}] {{sluice.title}}",
     "description":"{{sluice.description}}\n\nType: {{sluice.type}}\nSeverity: {{sluice.severity}}{{#sluice.severity_score}} ({{sluice.severity_score}}){{/sluice.severity_score}}\nProduct: {{sluice.product}}\n{{#sluice.account}}Account / Region: {{sluice.account}} / {{sluice.region}}\n{{/sluice.account}}Resource: {{sluice.resource_summary}}\n{{#sluice.workload}}Where: {{sluice.workload}}\n{{/sluice.workload}}{{#sluice.process}}Process: {{sluice.process.name}} {{sluice.process.executable_path}} (user {{sluice.process.user}})\n{{/sluice.process}}{{#sluice.process.command_line}}Command line: {{sluice.process.command_line}}\n{{/sluice.process.command_line}}Count: {{sluice.count}}, first seen {{sluice.first_seen}}, last seen {{sluice.last_seen}}{{#sluice.console_url}}\n\n{{sluice.console_url}}{{/sluice.console_url}}",
     "tags":["{{sluice.format}}","severity:{{sluice.severity_label}}"{{#sluice.account}},"account:{{sluice.account}}","region:{{sluice.region}}"{{/sluice.account}}],
     "details":{"type":"{{sluice.type}}","severity":"{{sluice.severity}}","product":"{{sluice.product}}","account":"{{sluice.account}}","region":"{{sluice.region}}",{{#sluice.workload}}"workload":"{{sluice.workload}}",{{/sluice.workload}}
      "resource_type":"{{sluice.resource_type}}","resource_id":"{{sluice.resource_id}}","count":"{{sluice.count}}",
      "first_seen":"{{sluice.first_seen}}","last_seen":"{{sluice.last_seen}}","finding_id":"{{sluice.id}}","console_url":"{{sluice.console_url}}"},
     "source":"Sluice ({{sluice.product}})",
     "entity":"{{sluice.resource_id}}"}
    """#
}
