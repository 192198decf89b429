// The default digest of each connector type: one message standing for a throttle period's
// overflow or a group (docs/state.md), in the target's native shape — the first findings with
// their severity and id, "and N more", counts by severity. They sit together here, beside the
// fields they read (`Digest.templateContext`), rather than in each connector's file: a digest is
// a state feature, and the finding templates in the connector files change for other reasons.
// Values are escaped by the instance's template format like every other template (JSON, Slack
// entities, Jira wiki markup); the connectors then fit the result to their vendor's limits
// (Slack blocks, PagerDuty's 1024-character summary, Opsgenie's 130-character message).
// Types without one (webhook, kafka, syslog, SIEM and AWS targets) send the generic JSON digest;
// two of them shape it from the digest's facts (`Delivery.digest`) in their connector's file:
// syslog with `format: cef` sends one CEF event per digest, and aws-securityhub one ASFF finding
// per digest key.

extension SlackConnector {
    /// Block Kit: a header, the findings as one mrkdwn section, counts and route as context.
    static let defaultDigestTemplate: String? = #"""
    {"text":"{{headline}}",
     "blocks":[
      {"type":"header","text":{"type":"plain_text","text":"Sluice digest: {{headline}}"}},
      {"type":"section","text":{"type":"mrkdwn","text":"{{#findings}}• *{{severity_label}}*  {{title}}{{#id}}  `{{id}}`{{/id}}\n{{/findings}}{{#has_more}}_and {{more}} more_{{/has_more}}"}},
      {"type":"context","elements":[{"type":"mrkdwn","text":"{{#severities}}{{count}} {{label}} · {{/severities}}route {{route}} · key {{key_text}}"}]}]}
    """#
}

extension MSTeamsConnector {
    /// An Adaptive Card: the headline, one fact per listed finding, "and N more", counts.
    static let defaultDigestTemplate: String? = #"""
    {"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{
     "$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4","msteams":{"width":"Full"},
     "body":[
      {"type":"TextBlock","text":"Sluice digest · route {{route}}","size":"Small","weight":"Bolder","wrap":true},
      {"type":"TextBlock","text":"{{headline}}","size":"Large","weight":"Bolder","wrap":true},
      {"type":"FactSet","facts":[{{#findings}}{"title":"{{severity_label}}","value":"{{title}}{{#id}} ({{id}}){{/id}}"},{{/findings}}{"title":"Total","value":"{{total}}"}]},
      {{#has_more}}{"type":"TextBlock","text":"and {{more}} more","wrap":true,"isSubtle":true},{{/has_more}}
      {"type":"FactSet","facts":[{{#severities}}{"title":"{{label}}","value":"{{count}}"},{{/severities}}{"title":"Key","value":"{{key_text}}"}]}]}}]}
    """#
}

extension MattermostConnector {
    static let defaultDigestTemplate: String? = #"""
    {"text":"**Sluice digest:** {{headline}}",
     "attachments":[{"fallback":"{{headline}}","title":"{{headline}}",
      "text":"{{#findings}}- **[{{severity_label}}]** {{title}}{{#id}} `{{id}}`{{/id}}\n{{/findings}}{{#has_more}}and {{more}} more{{/has_more}}",
      "fields":[{{#severities}}{"short":true,"title":"{{label}}","value":"{{count}}"},{{/severities}}{"short":true,"title":"Route","value":"{{route}}"}],
      "footer":"Sluice digest · key {{key_text}}"}]}
    """#
}

extension DiscordConnector {
    /// One embed; mentions are never parsed (a finding title cannot ping a channel).
    static let defaultDigestTemplate: String? = #"""
    {"content":"**Sluice digest:** {{headline}}",
     "embeds":[{"title":"{{headline}}",
      "description":"{{#findings}}**[{{severity_label}}]** {{title}}{{#id}} `{{id}}`{{/id}}\n{{/findings}}{{#has_more}}and {{more}} more{{/has_more}}",
      "fields":[{{#severities}}{"name":"{{label}}","value":"{{count}}","inline":true},{{/severities}}{"name":"Route","value":"{{route}}","inline":true}],
      "footer":{"text":"Sluice digest · key {{key_text}}"}}],
     "allowed_mentions":{"parse":[]}}
    """#
}

extension GoogleChatConnector {
    static let defaultDigestTemplate: String? = #"""
    {"text":"*Sluice digest:* {{headline}}\n{{#findings}}• [{{severity_label}}] {{title}}{{#id}} ({{id}}){{/id}}\n{{/findings}}{{#has_more}}and {{more}} more\n{{/has_more}}Key {{key_text}}"}
    """#
}

extension PagerDutyConnector {
    /// Events API v2: one alert per digest key (`dedup_key`, as Alertmanager uses its group key),
    /// severity from the highest band, the findings in `custom_details`.
    static let defaultDigestTemplate: String? = #"""
    {"event_action":"trigger",
     "dedup_key":"sluice-digest:{{route}}:{{target}}:{{key_text}}",
     "payload":{
      "summary":"[Sluice digest] {{headline}}",
      "source":"sluice",
      "severity":"{{#highest_critical}}critical{{/highest_critical}}{{#highest_high}}error{{/highest_high}}{{#highest_medium}}warning{{/highest_medium}}{{#highest_low}}info{{/highest_low}}",
      "group":"{{route}}",
      "class":"sluice-digest-{{sluice_digest}}",
      "custom_details":{"total":"{{total}}","more":"{{more}}","by_severity":"{{#severities}}{{count}} {{label}}; {{/severities}}",
       "findings":"{{#findings}}[{{severity_label}}] {{title}}{{#id}} ({{id}}){{/id}}\n{{/findings}}{{#has_more}}and {{more}} more{{/has_more}}",
       "key":"{{key_text}}"}},
     "client":"Sluice"}
    """#
}

extension OpsgenieConnector {
    /// One alert per digest key (`alias`), priority from the highest band.
    static let defaultDigestTemplate: String? = #"""
    {"message":"[Sluice digest] {{headline}}",
     "alias":"sluice-digest:{{route}}:{{target}}:{{key_text}}",
     "description":"{{#findings}}[{{severity_label}}] {{title}}{{#id}} ({{id}}){{/id}}\n{{/findings}}{{#has_more}}and {{more}} more\n{{/has_more}}\nBy severity: {{#severities}}{{count}} {{label}}; {{/severities}}",
     "priority":"{{#highest_critical}}P1{{/highest_critical}}{{#highest_high}}P2{{/highest_high}}{{#highest_medium}}P3{{/highest_medium}}{{#highest_low}}P4{{/highest_low}}",
     "tags":["sluice-digest","route:{{route}}"],
     "details":{"kind":"{{sluice_digest}}","route":"{{route}}","target":"{{target}}","key":"{{key_text}}","total":"{{total}}"},
     "source":"Sluice"}
    """#
}

/// Ticket text for Jira and ServiceNow: the headline is the first line (the issue summary, the
/// incident's short description), the findings follow one per line.
enum DigestTicketText {
    static let template = """
        {{headline}}

        {{#findings}}- [{{severity_label}}] {{title}}{{#id}} ({{id}}){{/id}}
        {{/findings}}{{#has_more}}and {{more}} more
        {{/has_more}}
        By severity: {{#severities}}{{count}} {{label}}; {{/severities}}
        Route {{route}}, target {{target}}, key {{key_text}}

        """
}

extension JiraConnector {
    public static let defaultDigestTemplate: String? = DigestTicketText.template
}

extension ServiceNowConnector {
    public static let defaultDigestTemplate: String? = DigestTicketText.template
}
