import SluiceCore
import SluiceHTTP

/// `mattermost`: posts each finding to a Mattermost incoming webhook as a message attachment
/// (Slack-compatible `attachments`) whose left border has the severity's colour.
///
/// ```yaml
/// name: soc-mattermost
/// type: mattermost
/// url: ${MATTERMOST_WEBHOOK_URL}   # https://chat.example.com/hooks/<key> (the key is the credential)
/// channel: security-alerts         # optional override, if the webhook allows it
/// username: GuardDuty              # optional override (needs "Enable integrations to override usernames")
/// icon_url: https://example.com/guardduty.png   # optional override
/// tls: {ca_file: /etc/ssl/corp-ca.pem}
/// ```
///
/// Group mentions are disabled (`props.disable_group_highlight`) unless the template sets `props`.
/// Mattermost answers 200 `ok`; a 400 (`Invalid webhook`, `No text specified`) is permanent,
/// 429 (its rate limiter) and 5xx are retried.
enum MattermostConnector {
    struct Configuration: Sendable {
        var url: Secret
        /// Keys set on every message (`channel`, `username`, `icon_url`), when configured.
        var overrides: [(key: String, value: String)]
        var tls: TLSOptions
    }

    /// A post's message is at most 16383 characters (Mattermost's `MaxPostSize` default).
    static let maxText = 16_383


    static func makeRequest(for delivery: Delivery, configuration: Configuration, timeout: Duration) -> Result<HTTPRequest, PayloadRejection> {
        ChatWebhookRequest.document(delivery.payload).map { doc in
            for (key, value) in configuration.overrides { doc[key] = .string(value) }
            // Finding text (a process path, a description) must never page the channel through
            // @channel / @all / @here: Mattermost skips group mentions on posts with this prop.
            if doc["props"] == nil { doc["props"] = ["disable_group_highlight": true] }
            ChatWebhookRequest.limit(doc, "text", to: MattermostConnector.maxText)
            return ChatWebhookRequest.post(configuration.url.value, body: doc.serialized(), timeout: timeout, tls: configuration.tls)
        }
    }
}

extension MattermostConnector: JSONPostTarget {
    static let kind = "mattermost"
    static let summary = "Mattermost incoming webhook (attachment with severity colour)"
    static let payloadFormat = PayloadFormat.json
    /// Finding text cannot add links or images (`PayloadTemplate.Format.chatMarkdownJSON`).
    static let templateFormat = PayloadTemplate.Format.chatMarkdownJSON

    static func configuration(from r: MappingReader) -> Configuration? {
        let url = r.secretHTTPURL("url", required: true)
        let overrides = ["channel", "username", "icon_url"].compactMap { key in r.string(key).map { (key: key, value: $0) } }
        let tls = r.tlsOptions()
        guard let url else { return nil }
        return Configuration(url: url, overrides: overrides, tls: tls)
    }

    /// One attachment: the title linking to the console, the description, the facts as short fields.
    static let defaultTemplate: String? = #"""
    {"text":"**[{{sluice.severity_label}}]** {{sluice.title}}",
     "attachments":[{"fallback":"[{{sluice.severity_label}}] {{sluice.title}}","color":"#{{sluice.severity_colour}}",
      "title":"{{sluice.title}}",{{#sluice.console_url}}"title_link":"{{sluice.console_url}}",{{/sluice.console_url}}"text":"{{sluice.description}}",
      "fields":[
       {"short":true,"title":"Severity","value":"{{sluice.severity}}{{#sluice.severity_score}} ({{sluice.severity_score}}){{/sluice.severity_score}}"},
       {"short":true,"title":"Type","value":"`{{sluice.type}}`"},
       {"short":true,"title":"Product","value":"{{sluice.product}}"},
       {{#sluice.account}}{"short":true,"title":"Account / Region","value":"{{sluice.account}} / {{sluice.region}}"},{{/sluice.account}}
       {"short":true,"title":"Count","value":"{{sluice.count}}"},
       {"short":false,"title":"Resource","value":"{{sluice.resource_summary}}"},
       {{#sluice.workload}}{"short":false,"title":"Where","value":"{{sluice.workload}}"},{{/sluice.workload}}
       {{#sluice.process}}{"short":false,"title":"Process","value":"`{{sluice.process.name}}` {{sluice.process.executable_path}} (user {{sluice.process.user}}){{#sluice.process.command_line}}\n`{{sluice.process.command_line}}`{{/sluice.process.command_line}}"},{{/sluice.process}}
       {"short":true,"title":"First seen","value":"{{sluice.first_seen}}"},
       {"short":true,"title":"Last seen","value":"{{sluice.last_seen}}"}],
      "footer":"{{sluice.product}} finding {{sluice.id}} · Sluice"}]}
    """#
}
