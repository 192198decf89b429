import SluiceCore
import SluiceGuardDuty
import SluiceHTTP

/// `msteams`: posts each finding as an Adaptive Card to a Microsoft Teams channel through a
/// Workflows (Power Automate) webhook — "Post to a channel when a webhook request is received".
/// (Office 365 connectors and their MessageCard format are retired; Workflows take Adaptive Cards.)
///
/// ```yaml
/// name: soc-teams
/// type: msteams
/// url: ${TEAMS_WORKFLOW_URL}   # https://…/workflows/<id>/triggers/manual/paths/invoke?…&sig=…
///                              # (the sig query parameter is the credential; file: allowed)
/// tls: {ca_file: /etc/ssl/corp-ca.pem}
/// ```
///
/// The body is `{"type":"message","attachments":[{"contentType":
/// "application/vnd.microsoft.card.adaptive","content":<AdaptiveCard 1.4>}]}`. An element of the
/// card's body with `"id":"sluice-severity"` gets the severity's style (a Container) or colour
/// (a TextBlock) from the finding, so custom templates can colour by severity too.
/// The workflow answers 202 Accepted (it runs asynchronously); 429 and 5xx are retried.
enum MSTeamsConnector {
    struct Configuration: Sendable {
        var url: Secret
        var tls: TLSOptions
    }


    static func makeRequest(for delivery: Delivery, configuration: Configuration, timeout: Duration) -> Result<HTTPRequest, PayloadRejection> {
        ChatWebhookRequest.document(delivery.payload).map { doc in
            if let label = delivery.summary?.severityLabel { MSTeamsConnector.colour(doc, by: label) }
            return ChatWebhookRequest.post(configuration.url.value, body: doc.serialized(), timeout: timeout, tls: configuration.tls)
        }
    }

    /// Adaptive Card container styles and text colours per severity band.
    static func style(for label: FindingSummary.SeverityLabel) -> (container: String, text: String) {
        switch label {
        case .critical, .high: return ("attention", "Attention")
        case .medium: return ("warning", "Warning")
        case .low: return ("good", "Good")
        }
    }

    /// Sets the style of the `sluice-severity` elements of every card in the message.
    static func colour(_ message: JSONBuilder, by label: FindingSummary.SeverityLabel) {
        let (container, text) = style(for: label)
        for attachment in message["attachments"]?.elements ?? [] {
            for element in attachment["content"]?["body"]?.elements ?? [] where element.string("id") == "sluice-severity" {
                if element.string("type") == "TextBlock" { element["color"] = .string(text) } else { element["style"] = .string(container) }
            }
        }
    }
}

extension MSTeamsConnector: JSONPostTarget {
    static let kind = "msteams"
    static let summary = "Microsoft Teams Adaptive Card via a Workflows (Power Automate) webhook"
    static let payloadFormat = PayloadFormat.json
    /// Finding text cannot add links or images (`PayloadTemplate.Format.chatMarkdownJSON`).
    static let templateFormat = PayloadTemplate.Format.chatMarkdownJSON
    static let usesSummary = true

    static func configuration(from r: MappingReader) -> Configuration? {
        let url = r.secretHTTPURL("url", required: true)
        let tls = r.tlsOptions()
        guard let url else { return nil }
        return Configuration(url: url, tls: tls)
    }

    /// A severity banner with the title, the facts as a FactSet, the description, and a console link.
    static let defaultTemplate: String? = #"""
    {"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{
     "$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4","msteams":{"width":"Full"},
     "body":[
      {"type":"Container","id":"sluice-severity","style":"emphasis","bleed":true,"items":[
       {"type":"TextBlock","text":"{{sluice.severity_label}} severity · {{sluice.product}}","size":"Small","weight":"Bolder","wrap":true},
       {"type":"TextBlock","text":"{{sluice.title}}","size":"Large","weight":"Bolder","wrap":true}]},
      {"type":"FactSet","facts":[
       {"title":"Severity","value":"{{sluice.severity}}{{#sluice.severity_score}} ({{sluice.severity_score}}){{/sluice.severity_score}}"},
       {"title":"Type","value":"{{sluice.type}}"},
       {"title":"Product","value":"{{sluice.product}}"},
       {{#sluice.account}}{"title":"Account","value":"{{sluice.account}}"},
       {"title":"Region","value":"{{sluice.region}}"},{{/sluice.account}}
       {"title":"Resource","value":"{{sluice.resource_summary}}"},
       {{#sluice.workload}}{"title":"Where","value":"{{sluice.workload}}"},{{/sluice.workload}}
       {{#sluice.process}}{"title":"Process","value":"{{sluice.process.name}} {{sluice.process.executable_path}} (user {{sluice.process.user}})"},{{/sluice.process}}
       {{#sluice.process.command_line}}{"title":"Command line","value":"{{sluice.process.command_line}}"},{{/sluice.process.command_line}}
       {"title":"Count","value":"{{sluice.count}}"},
       {"title":"First seen","value":"{{sluice.first_seen}}"},
       {"title":"Last seen","value":"{{sluice.last_seen}}"},
       {"title":"Finding","value":"{{sluice.id}}"}]},
      {"type":"TextBlock","text":"{{sluice.description}}","wrap":true,"isSubtle":true}],
     "actions":[{{#sluice.console_url}}{"type":"Action.OpenUrl","title":"View in GuardDuty","url":"{{sluice.console_url}}"}{{/sluice.console_url}}]}}]}
    """#
}
