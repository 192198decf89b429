import SluiceCore
import SluiceHTTP

/// `discord`: executes a Discord webhook with one embed per finding, coloured by severity.
///
/// ```yaml
/// name: soc-discord
/// type: discord
/// url: ${DISCORD_WEBHOOK_URL}   # https://discord.com/api/webhooks/<id>/<token> (the token is the credential)
/// wait: false                   # true: ?wait=true, Discord answers 200 with the created message
///                               # (confirms the post) instead of 204
/// username: GuardDuty           # optional override of the webhook's name
/// avatar_url: https://example.com/guardduty.png   # optional
/// tls: {ca_file: /etc/ssl/corp-ca.pem}
/// ```
///
/// Embeds get the severity colour (decimal) when the template sets none, mentions are disabled
/// (`allowed_mentions.parse: []`, so a finding's text can never ping `@everyone`), and texts are
/// cut to Discord's embed limits. A 429 is retried after Discord's `retry_after` (JSON body,
/// seconds with decimals) or its `Retry-After` header.
enum DiscordConnector {
    struct Configuration: Sendable {
        var url: Secret
        var wait: Bool
        var overrides: [(key: String, value: String)]
        var tls: TLSOptions
    }

    /// Discord's embed limits (developer docs, "Embed Limits").
    enum Limits {
        static let content = 2000
        static let embeds = 10
        static let title = 256
        static let description = 4096
        static let fields = 25
        static let fieldName = 256
        static let fieldValue = 1024
        static let footer = 2048
        static let authorName = 256
        static let total = 6000
    }


    /// The webhook URL, with `wait=true` when configured.
    static func url(_ configuration: Configuration) -> String {
        guard configuration.wait else { return configuration.url.value }
        return configuration.url.value + (configuration.url.value.contains("?") ? "&" : "?") + "wait=true"
    }

    static func makeRequest(for delivery: Delivery, configuration: Configuration, timeout: Duration) -> Result<HTTPRequest, PayloadRejection> {
        ChatWebhookRequest.document(delivery.payload).map { doc in
            for (key, value) in configuration.overrides { doc[key] = .string(value) }
            if doc["allowed_mentions"] == nil { doc["allowed_mentions"] = ["parse": JSONBuilder.array()] }
            let colour = delivery.summary?.severityLabel.colourDecimal
            DiscordConnector.fitToLimits(doc, colour: colour)
            return ChatWebhookRequest.post(url(configuration), body: doc.serialized(), timeout: timeout, tls: configuration.tls)
        }
    }

    static func classify(_ result: Result<HTTPResponse, HTTPClientError>, configuration: Configuration) -> DeliveryOutcome {
        if case .success(let response) = result, response.status == 429 {
            return .retryable("HTTP 429 (Discord rate limit)", retryAfter: DiscordConnector.retryAfter(response))
        }
        return WebhookConnector.classify(result)
    }

    /// `retry_after` from the 429's JSON body (seconds, with decimals), else the `Retry-After` header.
    static func retryAfter(_ response: HTTPResponse) -> Duration? {
        if let seconds = ChatWebhookRequest.responseObject(response)?["retry_after"]?.doubleValue, seconds >= 0, seconds < 86_400 {
            return .milliseconds(Int64((seconds * 1000).rounded(.up)))
        }
        return response.retryAfter
    }

    /// Sets missing embed colours and cuts texts to Discord's limits: an over-long field or a
    /// total above 6000 characters would get the whole message rejected (400, code 50035).
    static func fitToLimits(_ doc: JSONBuilder, colour: Int?) {
        ChatWebhookRequest.limit(doc, "content", to: Limits.content)
        ChatWebhookRequest.limitArray(doc, "embeds", to: Limits.embeds)
        var total = 0
        for embed in doc["embeds"]?.elements ?? [] {
            if let colour, embed["color"] == nil { embed["color"] = .int(colour) }
            ChatWebhookRequest.limit(embed, "title", to: Limits.title)
            ChatWebhookRequest.limit(embed, "description", to: Limits.description)
            // Empty optional strings are invalid to Discord (an empty url or timestamp): drop them.
            for key in ["description", "url", "timestamp"] where embed.string(key) == "" { embed[key] = nil }
            ChatWebhookRequest.limit(embed["footer"], "text", to: Limits.footer)
            ChatWebhookRequest.limit(embed["author"], "name", to: Limits.authorName)
            if let fields = embed["fields"], fields.isArray {
                let kept = JSONBuilder.array()
                // Discord rejects empty field names and values: leave such fields out.
                for field in fields.elements where field.string("name")?.isEmpty == false && field.string("value")?.isEmpty == false {
                    guard kept.count < Limits.fields else { break }
                    ChatWebhookRequest.limit(field, "name", to: Limits.fieldName)
                    ChatWebhookRequest.limit(field, "value", to: Limits.fieldValue)
                    kept.append(field)
                }
                embed["fields"] = kept
            }
            total += characters(of: embed)
        }
        // Over the total: shorten descriptions, the longest text an embed has.
        if total > Limits.total {
            var excess = total - Limits.total
            for embed in doc["embeds"]?.elements ?? [] {
                guard excess > 0, let d = embed.string("description") else { continue }
                let keep = max(1, d.unicodeScalars.count - excess - 1)
                excess -= d.unicodeScalars.count - keep
                embed["description"] = .string(ChatWebhookRequest.truncated(d, to: keep))
            }
        }
    }

    /// The characters Discord counts towards the 6000 total: title, description, field names and
    /// values, footer text, author name.
    static func characters(of embed: JSONBuilder) -> Int {
        var n = [embed.string("title"), embed.string("description"), embed["footer"]?.string("text"), embed["author"]?.string("name")]
            .reduce(0) { $0 + ($1?.unicodeScalars.count ?? 0) }
        for field in embed["fields"]?.elements ?? [] {
            n += (field.string("name")?.unicodeScalars.count ?? 0) + (field.string("value")?.unicodeScalars.count ?? 0)
        }
        return n
    }
}

extension DiscordConnector: JSONPostTarget {
    static let kind = "discord"
    static let summary = "Discord webhook (embed with severity colour and fields)"
    static let payloadFormat = PayloadFormat.json
    /// Finding text cannot add links or images (`PayloadTemplate.Format.chatMarkdownJSON`).
    static let templateFormat = PayloadTemplate.Format.chatMarkdownJSON
    static let usesSummary = true

    static func configuration(from r: MappingReader) -> Configuration? {
        let url = r.secretHTTPURL("url", required: true)
        let wait = r.bool("wait") ?? false
        let overrides = ["username", "avatar_url"].compactMap { key in r.string(key).map { (key: key, value: $0) } }
        let tls = r.tlsOptions()
        guard let url else { return nil }
        return Configuration(url: url, wait: wait, overrides: overrides, tls: tls)
    }

    /// One embed: title linking to the console, description, facts as fields, the finding id in
    /// the footer and its update time as the timestamp. The colour is set by the connector.
    static let defaultTemplate: String? = #"""
    {"content":"**[{{sluice.severity_label}}]** {{sluice.product}} finding{{#sluice.account}} in {{sluice.account}} / {{sluice.region}}{{/sluice.account}}",
     "embeds":[{"title":"{{sluice.title}}",{{#sluice.console_url}}"url":"{{sluice.console_url}}",{{/sluice.console_url}}"description":"{{sluice.description}}",
      "fields":[
       {"name":"Severity","value":"{{sluice.severity}}{{#sluice.severity_score}} ({{sluice.severity_score}}){{/sluice.severity_score}}","inline":true},
       {"name":"Type","value":"`{{sluice.type}}`","inline":true},
       {"name":"Product","value":"{{sluice.product}}","inline":true},
       {{#sluice.account}}{"name":"Account / Region","value":"{{sluice.account}} / {{sluice.region}}","inline":true},{{/sluice.account}}
       {"name":"Resource","value":"{{sluice.resource_summary}}","inline":false},
       {{#sluice.workload}}{"name":"Where","value":"{{sluice.workload}}","inline":false},{{/sluice.workload}}
       {{#sluice.process}}{"name":"Process","value":"`{{sluice.process.name}}` {{sluice.process.executable_path}} (user {{sluice.process.user}}){{#sluice.process.command_line}}\n`{{sluice.process.command_line}}`{{/sluice.process.command_line}}","inline":false},{{/sluice.process}}
       {"name":"Count","value":"{{sluice.count}}","inline":true},
       {"name":"First seen","value":"{{sluice.first_seen}}","inline":true},
       {"name":"Last seen","value":"{{sluice.last_seen}}","inline":true}],
      "footer":{"text":"{{sluice.product}} finding {{sluice.id}} · Sluice"}{{#sluice.time}},
      "timestamp":"{{sluice.time}}"{{/sluice.time}}}],
     "allowed_mentions":{"parse":[]}}
    """#
}
