import SluiceCore
import SluiceGuardDuty
import SluiceHTTP

/// `pagerduty`: triggers a PagerDuty alert per finding through the Events API v2. The dedup key
/// is the finding id, so a repeat of a finding updates the same open incident instead of paging again.
///
/// ```yaml
/// name: soc-pagerduty
/// type: pagerduty
/// routing_key: ${PAGERDUTY_ROUTING_KEY}   # the service's Events API v2 integration key (32 characters)
/// url: https://events.pagerduty.com/v2/enqueue   # default; https://events.eu.pagerduty.com/v2/enqueue
///                                                # for EU accounts, or a test server
/// tls: {ca_file: /etc/ssl/corp-ca.pem}
/// ```
///
/// The template renders the event (summary, source, timestamp, component, group, class,
/// custom_details, links); the connector then sets with jansson what a template cannot know or
/// must not hold: `routing_key`, `event_action` (trigger) and `dedup_key` (the finding id) when the
/// template set none, and `payload.severity` from the GuardDuty band (Critical → critical,
/// High → error, Medium → warning, Low → info). `payload.summary` is cut to 1024 characters.
/// PagerDuty answers 202 `{"status":"success","dedup_key":…}`; 400 (`invalid event`) is
/// permanent; 429 and 5xx are retried.
enum PagerDutyConnector {
    struct Configuration: Sendable {
        var routingKey: Secret
        var url: String
        var tls: TLSOptions
    }

    static let defaultURL = "https://events.pagerduty.com/v2/enqueue"
    static let maxSummary = 1024
    static let maxDedupKey = 255
    static let severities: Set<String> = ["critical", "error", "warning", "info"]


    /// PagerDuty's severity for a GuardDuty band.
    static func severity(for label: FindingSummary.SeverityLabel) -> String {
        switch label {
        case .critical: return "critical"
        case .high: return "error"
        case .medium: return "warning"
        case .low: return "info"
        }
    }

    static func makeRequest(for delivery: Delivery, configuration: Configuration, timeout: Duration) -> Result<HTTPRequest, PayloadRejection> {
        ChatWebhookRequest.document(delivery.payload).map { event in
            PagerDutyConnector.complete(event, routingKey: configuration.routingKey, delivery: delivery)
            return ChatWebhookRequest.post(configuration.url, body: event.serialized(), timeout: timeout, tls: configuration.tls)
        }
    }

    /// Adds the keys the Events API requires and the template cannot provide.
    static func complete(_ event: JSONBuilder, routingKey: Secret, delivery: Delivery) {
        event["routing_key"] = .string(routingKey.value)
        if event.string("event_action") == nil { event["event_action"] = "trigger" }
        if event.string("dedup_key")?.isEmpty ?? true {
            event["dedup_key"] = delivery.findingID.flatMap { $0.isEmpty ? nil : JSONBuilder.string($0) }
        }
        ChatWebhookRequest.limit(event, "dedup_key", to: maxDedupKey)
        guard event.string("event_action") == "trigger" else { return }
        let payload = event["payload"].flatMap { $0.isObject ? $0 : nil } ?? JSONBuilder.object()
        event["payload"] = payload
        let s = delivery.summary
        if !severities.contains(payload.string("severity") ?? "") {
            payload["severity"] = .string(s.map { severity(for: $0.severityLabel) } ?? "warning")
        }
        payload["summary"] = .string(ChatWebhookRequest.firstNonEmpty(payload.string("summary"), s?.title, delivery.findingID.map { "Security finding \($0)" }) ?? "Security finding (route \(delivery.route))")
        ChatWebhookRequest.limit(payload, "summary", to: maxSummary)
        payload["source"] = .string(ChatWebhookRequest.firstNonEmpty(payload.string("source"), s?.resourceID, s.map { "aws:\($0.account):\($0.region)" }) ?? "sluice")
        // Optional fields rendered empty (a finding without them) are invalid as empty strings.
        for key in ["timestamp", "component", "group", "class"] where payload.string(key) == "" { payload[key] = nil }
    }
}

extension PagerDutyConnector: JSONPostTarget {
    static let kind = "pagerduty"
    static let summary = "PagerDuty Events API v2 (dedup_key = finding id; severity mapped)"
    static let payloadFormat = PayloadFormat.json
    static let usesSummary = true

    static func configuration(from r: MappingReader) -> Configuration? {
        let key = r.secret("routing_key", required: true)
        let url = r.httpURL("url") ?? defaultURL
        let tls = r.tlsOptions()
        guard let key else { return nil }
        // The Events API rejects any other shape; say so at validate time (never showing the key).
        if key.value.count != 32 || !key.value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
            r.report(r.at("routing_key").error("'routing_key' must be the 32-character Events API v2 integration key"))
            return nil
        }
        return Configuration(routingKey: key, url: url, tls: tls)
    }

    /// The PD-CEF fields from the finding; routing key, dedup key and severity come from the connector.
    static let defaultTemplate: String? = #"""
    {"event_action":"trigger",
     "payload":{
      "summary":"[{{sluice.product}} {{sluice.severity_label}}] {{sluice.title}}{{#sluice.account}} ({{sluice.account}} {{sluice.region}}){{/sluice.account}}",
      "source":"{{#sluice.resource_id}}{{sluice.resource_id}}{{/sluice.resource_id}}{{^sluice.resource_id}}{{sluice.product}}{{/sluice.resource_id}}",
      {{#sluice.time}}"timestamp":"{{sluice.time}}",{{/sluice.time}}
      "component":"{{sluice.resource_type}}",
      "group":"{{#sluice.account}}{{sluice.account}}/{{sluice.region}}{{/sluice.account}}{{^sluice.account}}{{sluice.kubernetes.namespace}}{{/sluice.account}}",
      "class":"{{sluice.type}}",
      "custom_details":{
       "title":"{{sluice.title}}","description":"{{sluice.description}}","type":"{{sluice.type}}",
       "severity":"{{sluice.severity}}{{#sluice.severity_score}} ({{sluice.severity_score}}){{/sluice.severity_score}}","account":"{{sluice.account}}","region":"{{sluice.region}}",
       "product":"{{sluice.product}}","resource":"{{sluice.resource_summary}}",{{#sluice.workload}}"workload":"{{sluice.workload}}",{{/sluice.workload}}
       {{#sluice.process}}"process":"{{sluice.process.name}} {{sluice.process.executable_path}} (user {{sluice.process.user}})",{{/sluice.process}}{{#sluice.process.command_line}}"command_line":"{{sluice.process.command_line}}",{{/sluice.process.command_line}}
       "count":"{{sluice.count}}","first_seen":"{{sluice.first_seen}}","last_seen":"{{sluice.last_seen}}",
       "finding_id":"{{sluice.id}}","finding_arn":"{{sluice.arn}}"}},
     "client":"Sluice"{{#sluice.console_url}},"client_url":"{{sluice.console_url}}",
     "links":[{"href":"{{sluice.console_url}}","text":"View in GuardDuty"}]{{/sluice.console_url}}}
    """#
}
