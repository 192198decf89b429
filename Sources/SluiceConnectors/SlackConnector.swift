import SluiceCore
import SluiceHTTP

/// `slack`: posts each finding as a Block Kit message in an attachment coloured by severity —
/// through an incoming webhook, or through the Web API (`chat.postMessage`) with a bot token.
///
/// ```yaml
/// name: soc-slack
/// type: slack
/// url: ${SLACK_WEBHOOK_URL}      # incoming webhook (its path is the credential; file: allowed)
/// # or the Web API, to choose the channel per instance:
/// # token: ${SLACK_BOT_TOKEN}    # xoxb-… bot token, sent as a Bearer header
/// # channel: C0123456789         # channel id or name; required with token
/// # api_url: https://slack.com/api/chat.postMessage   # override (tests, Slack GovSlack)
/// tls: {ca_file: /etc/ssl/corp-ca.pem}
/// ```
///
/// The payload is the rendered template (default: `defaultTemplate`); before sending, the
/// connector fits it to Slack's limits (50 blocks, header 150 characters, section text 3000,
/// 10 fields of 2000) so a long finding title cannot get the whole message rejected.
///
/// Outcomes: an incoming webhook answers 200 `ok`, or 400/403/404/410 with a text error
/// (`invalid_payload`, `no_text`, `action_prohibited`, `channel_not_found`,
/// `channel_is_archived`): permanent. The Web API answers HTTP 200 with `{"ok":false,"error":…}`:
/// `ratelimited` and Slack's transient errors are retryable, every other error permanent; a 429
/// carries `Retry-After`.
enum SlackConnector {
    enum Mode: Sendable {
        case webhook(url: Secret)
        case api(url: String, token: Secret, channel: String)
    }

    struct Configuration: Sendable {
        var mode: Mode
        var tls: TLSOptions
    }

    /// Slack's Block Kit limits (docs.slack.dev, "Blocks" and each block's reference page).
    enum Limits {
        static let blocks = 50
        static let headerText = 150
        static let sectionText = 3000
        static let fields = 10
        static let fieldText = 2000
        static let messageText = 40_000
    }

    /// Web API errors worth another attempt (the method's "errors" table: transient server trouble).
    static let transientErrors: Set<String> = ["ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"]

    static func makeRequest(for delivery: Delivery, configuration: Configuration, timeout: Duration) -> Result<HTTPRequest, PayloadRejection> {
        ChatWebhookRequest.document(delivery.payload).map { doc in
            SlackConnector.fitToLimits(doc)
            SlackConnector.restoreLinkTargets(doc)
            switch configuration.mode {
            case .webhook(let url):
                return ChatWebhookRequest.post(url.value, body: doc.serialized(), timeout: timeout, tls: configuration.tls)
            case .api(let url, let token, let channel):
                doc["channel"] = .string(channel)
                return ChatWebhookRequest.post(url, body: doc.serialized(), headers: [("Authorization", "Bearer \(token.value)")],
                                               timeout: timeout, tls: configuration.tls)
            }
        }
    }

    static func classify(_ result: Result<HTTPResponse, HTTPClientError>, configuration: Configuration) -> DeliveryOutcome {
        guard case .api = configuration.mode, case .success(let response) = result, response.status == 200 else {
            return WebhookConnector.classify(result)
        }
        return SlackConnector.classifyWebAPI(response)
    }

    /// The Web API's HTTP 200 answers: `ok: true` is delivered; `ok: false` names the error.
    static func classifyWebAPI(_ response: HTTPResponse) -> DeliveryOutcome {
        guard let body = ChatWebhookRequest.responseObject(response), let ok = body["ok"]?.boolValue else {
            return .permanent("Slack answered 200 without an 'ok' field: \(response.bodyText.prefix(200))")
        }
        if ok { return .delivered }
        let error = body["error"]?.stringValue ?? "unknown_error"
        if transientErrors.contains(error) { return .retryable("Slack error: \(error)", retryAfter: response.retryAfter) }
        return .permanent("Slack error: \(error)")
    }

    /// Link targets (`url`, `image_url`) are not Slack text: the entities the template wrote into
    /// them (`SlackJSONContent`) are turned back into characters, so a console link keeps its `&`.
    static func restoreLinkTargets(_ node: JSONBuilder) {
        if node.isObject {
            for key in ["url", "image_url"] {
                guard let s = node.string(key), s.contains("&") else { continue }
                node[key] = .string(s.replacing("&lt;", with: "<").replacing("&gt;", with: ">").replacing("&amp;", with: "&"))
            }
            for key in node.keys { if let value = node[key] { restoreLinkTargets(value) } }
        } else if node.isArray {
            for element in node.elements { restoreLinkTargets(element) }
        }
    }

    /// Cuts texts and block lists to Slack's limits, in the message and in its attachments.
    static func fitToLimits(_ doc: JSONBuilder) {
        ChatWebhookRequest.limit(doc, "text", to: Limits.messageText)
        fitBlocks(doc)
        for attachment in doc["attachments"]?.elements ?? [] { fitBlocks(attachment) }
    }

    private static func fitBlocks(_ container: JSONBuilder) {
        ChatWebhookRequest.limitArray(container, "blocks", to: Limits.blocks)
        for block in container["blocks"]?.elements ?? [] {
            switch block.string("type") {
            case "header":
                ChatWebhookRequest.limit(block["text"], "text", to: Limits.headerText)
            case "section":
                ChatWebhookRequest.limit(block["text"], "text", to: Limits.sectionText)
                ChatWebhookRequest.limitArray(block, "fields", to: Limits.fields)
                for field in block["fields"]?.elements ?? [] { ChatWebhookRequest.limit(field, "text", to: Limits.fieldText) }
            default:
                break
            }
        }
    }
}

extension SlackConnector: JSONPostTarget {
    static let kind = "slack"
    static let summary = "Slack message (Block Kit, severity colour) via incoming webhook or chat.postMessage"
    static let payloadFormat = PayloadFormat.json
    static let templateFormat = PayloadTemplate.Format.slackJSON

    static func configuration(from r: MappingReader) -> Configuration? {
        let url = r.secretHTTPURL("url")
        let token = r.secret("token")
        let channel = r.string("channel")
        let apiURL = r.httpURL("api_url")
        let tls = r.tlsOptions()
        switch (url, token) {
        case (let url?, nil):
            if channel != nil {
                r.report(r.at("channel").error("'channel' needs the Web API ('token'): an incoming webhook posts to the channel it was created for"))
                return nil
            }
            return Configuration(mode: .webhook(url: url), tls: tls)
        case (nil, let token?):
            guard let channel, !channel.isEmpty else {
                r.report(r.node.error("'token' (the Web API) needs 'channel'"))
                return nil
            }
            return Configuration(mode: .api(url: apiURL ?? "https://slack.com/api/chat.postMessage", token: token, channel: channel), tls: tls)
        case (.some, .some):
            r.report(r.node.error("set either 'url' (incoming webhook) or 'token' and 'channel' (Web API), not both"))
            return nil
        case (nil, nil):
            if r.node["url"] == nil && r.node["token"] == nil {
                r.report(r.node.error("missing 'url' (incoming webhook) or 'token' and 'channel' (Web API)"))
            }
            return nil
        }
    }

    /// A header with the title, then the facts a responder needs, in an attachment coloured by severity.
    /// Values an attacker can shape (the resource, the workload, the process and its command line,
    /// the finding id) go in plain_text objects: in mrkdwn, `<!here>` in an executable path would
    /// notify the whole channel. Account/region and the console button only when the finding has them.
    static let defaultTemplate: String? = #"""
    {"text":"[{{sluice.severity_label}}] {{sluice.title}}",
     "attachments":[{"color":"#{{sluice.severity_colour}}","fallback":"[{{sluice.severity_label}}] {{sluice.title}}","blocks":[
      {"type":"header","text":{"type":"plain_text","text":"{{sluice.title}}"}},
      {"type":"section","fields":[
       {"type":"mrkdwn","text":"*Severity*\n{{sluice.severity}}{{#sluice.severity_score}} ({{sluice.severity_score}}){{/sluice.severity_score}}"},
       {"type":"mrkdwn","text":"*Product*\n{{sluice.product}}"},
       {"type":"mrkdwn","text":"*Type*\n`{{sluice.type}}`"},
       {{#sluice.account}}{"type":"mrkdwn","text":"*Account / Region*\n{{sluice.account}} / {{sluice.region}}"},{{/sluice.account}}
       {"type":"mrkdwn","text":"*Count*\n{{sluice.count}}"},
       {"type":"mrkdwn","text":"*First seen*\n{{sluice.first_seen}}"},
       {"type":"mrkdwn","text":"*Last seen*\n{{sluice.last_seen}}"}]},
      {"type":"section","text":{"type":"plain_text","text":"Resource: {{sluice.resource_summary}}","emoji":false}},
      {{#sluice.workload}}{"type":"section","text":{"type":"plain_text","text":"Where: {{sluice.workload}}","emoji":false}},{{/sluice.workload}}
      {{#sluice.process}}{"type":"section","text":{"type":"plain_text","text":"Process: {{sluice.process.name}} {{sluice.process.executable_path}} (user {{sluice.process.user}}){{#sluice.process.command_line}}\nCommand line: {{sluice.process.command_line}}{{/sluice.process.command_line}}","emoji":false}},{{/sluice.process}}
      {{#sluice.console_url}}{"type":"actions","elements":[{"type":"button","text":{"type":"plain_text","text":"View in GuardDuty"},"url":"{{sluice.console_url}}"}]},{{/sluice.console_url}}
      {"type":"context","elements":[{"type":"plain_text","text":"{{sluice.product}} finding {{sluice.id}} · routed by Sluice","emoji":false}]}]}]}
    """#
}
