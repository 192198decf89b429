import SluiceCore
import SluiceHTTP

/// `google-chat`: posts each finding to a Google Chat space through its incoming webhook, as a
/// card (`cardsV2`) with a one-line text for notifications. Repeats of a finding thread together:
/// the thread key is the finding id and the message replies in that thread (or starts it).
///
/// ```yaml
/// name: soc-google-chat
/// type: google-chat
/// url: ${GOOGLE_CHAT_WEBHOOK_URL}   # https://chat.googleapis.com/v1/spaces/<space>/messages?key=…&token=…
///                                   # (key and token are the credential; file: allowed)
/// thread_by_finding: true           # thread.threadKey = finding id (default true)
/// tls: {ca_file: /etc/ssl/corp-ca.pem}
/// ```
///
/// When the message has a `thread.threadKey`, the request asks for
/// `messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD`: without it Chat ignores the key and
/// starts a new thread each time. Chat answers 200 with the created message; errors come as
/// `{"error":{"code","message","status"}}` (400 INVALID_ARGUMENT permanent, 429
/// RESOURCE_EXHAUSTED and 5xx retried).
enum GoogleChatConnector {
    struct Configuration: Sendable {
        var url: Secret
        var threadByFinding: Bool
        var tls: TLSOptions
    }

    /// A message's text is at most 4096 characters.
    static let maxText = 4096


    static func makeRequest(for delivery: Delivery, configuration: Configuration, timeout: Duration) -> Result<HTTPRequest, PayloadRejection> {
        ChatWebhookRequest.document(delivery.payload).map { doc in
            if configuration.threadByFinding, doc["thread"] == nil, let id = delivery.findingID, !id.isEmpty {
                doc["thread"] = ["threadKey": .string(id)]
            }
            ChatWebhookRequest.limit(doc, "text", to: GoogleChatConnector.maxText)
            var url = configuration.url.value
            if doc["thread"]?.string("threadKey") != nil, !url.contains("messageReplyOption=") {
                url += (url.contains("?") ? "&" : "?") + "messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
            }
            return ChatWebhookRequest.post(url, body: doc.serialized(), timeout: timeout, tls: configuration.tls)
        }
    }
}

extension GoogleChatConnector: JSONPostTarget {
    static let kind = "google-chat"
    static let summary = "Google Chat webhook (card; repeats of a finding thread together)"
    static let payloadFormat = PayloadFormat.json
    /// Finding text cannot add links or images (`PayloadTemplate.Format.googleChatJSON`).
    static let templateFormat = PayloadTemplate.Format.googleChatJSON

    static func configuration(from r: MappingReader) -> Configuration? {
        let url = r.secretHTTPURL("url", required: true)
        let thread = r.bool("thread_by_finding") ?? true
        let tls = r.tlsOptions()
        guard let url else { return nil }
        return Configuration(url: url, threadByFinding: thread, tls: tls)
    }

    /// A card: header with title and severity, the facts as decorated texts, a console button.
    static let defaultTemplate: String? = #"""
    {"text":"[{{sluice.severity_label}}] {{sluice.title}}",
     "cardsV2":[{"cardId":"guardduty-finding","card":{
      "header":{"title":"{{sluice.title}}","subtitle":"{{sluice.severity_label}} severity · {{sluice.product}} · {{sluice.type}}"},
      "sections":[
       {"widgets":[
        {"decoratedText":{"topLabel":"Severity","text":"<font color=\"#{{sluice.severity_colour}}\"><b>{{sluice.severity}}</b></font>{{#sluice.severity_score}} ({{sluice.severity_score}}){{/sluice.severity_score}}"}},
        {{#sluice.account}}{"decoratedText":{"topLabel":"Account / Region","text":"{{sluice.account}} / {{sluice.region}}"}},{{/sluice.account}}
        {"decoratedText":{"topLabel":"Resource","text":"{{sluice.resource_summary}}","wrapText":true}},
        {{#sluice.workload}}{"decoratedText":{"topLabel":"Where","text":"{{sluice.workload}}","wrapText":true}},{{/sluice.workload}}
        {{#sluice.process}}{"decoratedText":{"topLabel":"Process","text":"{{sluice.process.name}} {{sluice.process.executable_path}} (user {{sluice.process.user}}){{#sluice.process.command_line}}: {{sluice.process.command_line}}{{/sluice.process.command_line}}","wrapText":true}},{{/sluice.process}}
        {"decoratedText":{"topLabel":"Count · first / last seen","text":"{{sluice.count}} · {{sluice.first_seen}} / {{sluice.last_seen}}","wrapText":true}}]},
       {"header":"Description","collapsible":true,"widgets":[{"textParagraph":{"text":"{{sluice.description}}"}}]}{{#sluice.console_url}},
       {"widgets":[{"buttonList":{"buttons":[{"text":"View in GuardDuty","onClick":{"openLink":{"url":"{{sluice.console_url}}"}}}]}}]}{{/sluice.console_url}}]}}]}
    """#
}
