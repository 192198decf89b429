import SluiceCore
import Testing
@testable import SluiceConnectors
@testable import SluiceRuntime
@testable import SluiceState

/// Each connector type's default digest, rendered with the type's escaping from one digest:
/// the native shape of the target, with literal expected values. And the digest's silence check.
@Suite struct DigestPayloadTests {
    /// 5 throttled findings, 2 listed (one with text a chat target must not interpret).
    static let digest = Digest(
        kind: .throttle, route: "ec2-alerts", target: "x", key: [#""111122223333""#],
        first: [DigestEntry(findingID: "f-1", title: "Miner on i-1", severity: 8),
                DigestEntry(findingID: "f-2", title: "Port probe <!here>", severity: 2)],
        total: 5, bySeverity: ["High": 3, "Low": 2], at: 0)

    static func rendered(_ kind: String) throws -> String {
        let entry = try #require(ConnectorRegistry.type(named: kind))
        let source = try #require(entry.defaultDigestTemplate, "\(kind) has no default digest")
        return try PayloadTemplate(source, format: entry.templateFormat).render(digest.templateContext)
    }

    static func json(_ kind: String) throws -> JSON { try JSON.parse(try rendered(kind)) }

    static let headline = "5 throttled findings on route ec2-alerts (3 High, 2 Low)"

    @Test func slackIsBlockKitWithTheFindingsAndCounts() throws {
        let doc = try Self.json("slack")
        #expect(doc["text"]?.stringValue == Self.headline)
        #expect(doc.value(atPath: "blocks")?.arrayValue?.count == 3)
        let blocks = try #require(doc["blocks"]?.arrayValue)
        #expect(blocks[0].value(atPath: "text.text")?.stringValue == "Sluice digest: 5 throttled findings on route ec2-alerts (3 High, 2 Low)")
        // Slack entities: the title's `<!here>` stays text.
        #expect(blocks[1].value(atPath: "text.text")?.stringValue == "• *High*  Miner on i-1  `f-1`\n• *Low*  Port probe &lt;!here&gt;  `f-2`\n_and 3 more_")
        #expect(blocks[2]["elements"]?.arrayValue?.first?["text"]?.stringValue == #"3 High · 2 Low · route ec2-alerts · key "111122223333""#)
    }

    @Test func teamsIsAnAdaptiveCard() throws {
        let doc = try Self.json("msteams")
        let card = try #require(doc["attachments"]?.arrayValue?.first?["content"])
        #expect(card["type"]?.stringValue == "AdaptiveCard")
        let body = try #require(card["body"]?.arrayValue)
        #expect(body.count == 5)
        #expect(body[1]["text"]?.stringValue == Self.headline)
        let facts = try #require(body[2]["facts"]?.arrayValue)
        #expect(facts.map { $0["title"]?.stringValue ?? "" } == ["High", "Low", "Total"])
        #expect(facts.map { $0["value"]?.stringValue ?? "" } == ["Miner on i-1 (f-1)", "Port probe <!here> (f-2)", "5"])
        #expect(body[3]["text"]?.stringValue == "and 3 more")
        #expect(body[4]["facts"]?.arrayValue?.map { $0["value"]?.stringValue ?? "" } == ["3", "2", #""111122223333""#])
    }

    @Test func pagerDutyIsOneEventPerDigestKey() throws {
        let doc = try Self.json("pagerduty")
        #expect(doc["event_action"]?.stringValue == "trigger")
        #expect(doc["dedup_key"]?.stringValue == #"sluice-digest:ec2-alerts:x:"111122223333""#)
        #expect(doc.value(atPath: "payload.summary")?.stringValue == "[Sluice digest] 5 throttled findings on route ec2-alerts (3 High, 2 Low)")
        #expect(doc.value(atPath: "payload.severity")?.stringValue == "error")
        #expect(doc.value(atPath: "payload.class")?.stringValue == "sluice-digest-throttle")
        #expect(doc.value(atPath: "payload.custom_details.findings")?.stringValue == "[High] Miner on i-1 (f-1)\n[Low] Port probe <!here> (f-2)\nand 3 more")
        #expect(doc.value(atPath: "payload.custom_details.by_severity")?.stringValue == "3 High; 2 Low; ")
    }

    @Test func opsgenieIsOneAlertPerDigestKey() throws {
        let doc = try Self.json("opsgenie")
        #expect(doc["message"]?.stringValue == "[Sluice digest] 5 throttled findings on route ec2-alerts (3 High, 2 Low)")
        #expect(doc["alias"]?.stringValue == #"sluice-digest:ec2-alerts:x:"111122223333""#)
        #expect(doc["priority"]?.stringValue == "P2")
        #expect(doc["description"]?.stringValue == "[High] Miner on i-1 (f-1)\n[Low] Port probe <!here> (f-2)\nand 3 more\n\nBy severity: 3 High; 2 Low; ")
        #expect(doc["tags"]?.arrayValue?.map { $0.stringValue ?? "" } == ["sluice-digest", "route:ec2-alerts"])
    }

    @Test func ticketsHaveTheHeadlineAsTheirFirstLine() throws {
        let expected = """
            5 throttled findings on route ec2-alerts (3 High, 2 Low)

            - [High] Miner on i-1 (f-1)
            - [Low] Port probe <!here> (f-2)
            and 3 more
            By severity: 3 High; 2 Low; \n\
            Route ec2-alerts, target x, key "111122223333"

            """
        #expect(try Self.rendered("jira") == expected)
        #expect(try Self.rendered("servicenow") == expected)
    }

    @Test func otherChatTargetsListTheFindings() throws {
        let mattermost = try Self.json("mattermost")
        #expect(mattermost["text"]?.stringValue == "**Sluice digest:** " + Self.headline)
        #expect(mattermost["attachments"]?.arrayValue?.first?["text"]?.stringValue == "- **[High]** Miner on i-1 `f-1`\n- **[Low]** Port probe <!here> `f-2`\nand 3 more")
        let discord = try Self.json("discord")
        #expect(discord["embeds"]?.arrayValue?.first?["description"]?.stringValue == "**[High]** Miner on i-1 `f-1`\n**[Low]** Port probe <!here> `f-2`\nand 3 more")
        #expect(discord.value(atPath: "allowed_mentions.parse")?.arrayValue?.isEmpty == true)
        let chat = try Self.json("google-chat")
        // Google Chat's `<` starts a link or mention: finding text gets a word joiner after it.
        #expect(chat["text"]?.stringValue == "*Sluice digest:* 5 throttled findings on route ec2-alerts (3 High, 2 Low)\n• [High] Miner on i-1 (f-1)\n• [Low] Port probe <\u{2060}!here> (f-2)\nand 3 more\nKey \"111122223333\"")
    }

    /// Webhook, Kafka and the SIEM targets keep the generic JSON digest.
    @Test func genericTargetsHaveNoDigestOfTheirOwn() throws {
        for kind in ["webhook", "kafka", "syslog", "splunk-hec", "sqs"] {
            #expect(ConnectorRegistry.type(named: kind).map { $0.defaultDigestTemplate == nil } ?? true, "\(kind)")
        }
    }

    /// Digest with no more than its listed findings: the severity flag follows the highest band.
    @Test func smallDigestHasNoMoreLineAndCriticalSeverity() throws {
        let small = Digest(kind: .group, route: "r", target: "t", key: [], first: [DigestEntry(findingID: nil, title: "Root login", severity: 9.5)],
                           total: 1, bySeverity: ["Critical": 1], at: 0)
        let entry = try #require(ConnectorRegistry.type(named: "pagerduty"))
        let doc = try JSON.parse(try PayloadTemplate(try #require(entry.defaultDigestTemplate), format: entry.templateFormat).render(small.templateContext))
        #expect(doc.value(atPath: "payload.severity")?.stringValue == "critical")
        #expect(doc.value(atPath: "payload.summary")?.stringValue == "[Sluice digest] 1 grouped finding on route r (1 Critical)")
        #expect(doc.value(atPath: "payload.custom_details.findings")?.stringValue == "[Critical] Root login\n")
    }

    /// A silenced finding is not listed; a digest of only silenced findings is not sent; holds are counted.
    @Test func silencedFindingsLeaveTheDigest() throws {
        let silence = Silence(id: "s", matchers: try JSON.parse(#"{"detail":{"id":["f-2"]}}"#), startsAt: 0, endsAt: .max, createdBy: "t", comment: "t")
        let stage = HoldStage(routes: [], silences: [silence])
        let kept = try #require(HoldGate.unsilenced(Self.digest, stage: stage, now: 1))
        #expect(kept.first.map(\.findingID) == ["f-1"])
        #expect(kept.total == 4)
        #expect(kept.bySeverity == ["High": 3, "Low": 1])
        #expect(stage.held.total == 1)

        let onlySilenced = Digest(kind: .group, route: "r", target: "t", key: [], first: [DigestEntry(findingID: "f-2", title: "Port probe", severity: 2)],
                                  total: 1, bySeverity: ["Low": 1], at: 0)
        #expect(HoldGate.unsilenced(onlySilenced, stage: stage, now: 1) == nil)
        #expect(stage.held.snapshot.map(\.count) == [1, 1])
        // A silence on the view's title holds it too.
        let byTitle = Silence(id: "t", matchers: try JSON.parse(#"{"sluice":{"title":[{"prefix":"Miner"}]}}"#), startsAt: 0, endsAt: .max, createdBy: "t", comment: "t")
        let second = HoldStage(routes: [], silences: [byTitle])
        #expect(HoldGate.unsilenced(Self.digest, stage: second, now: 1)?.first.map(\.findingID) == ["f-2"])
    }

    /// Two accounts, a title with CEF's separators and a line break: the digest's facts as the
    /// connectors get them (`Delivery.digest`).
    static let accountDigest = Digest(
        kind: .group, route: "ec2-alerts", target: "siem", key: [#""111122223333""#],
        first: [DigestEntry(findingID: "f-1", title: "Miner | on i-1", severity: 8, account: "111122223333"),
                DigestEntry(findingID: "f-2", title: "probe=a\nb", severity: 2, account: "444455556666")],
        total: 5, bySeverity: ["High": 3, "Low": 2], at: 1_765_000_000_000)

    /// The generic JSON digest and the template context list each finding's account.
    @Test func entriesCarryTheirAccount() throws {
        let findings = try #require(Self.accountDigest.json["findings"]?.arrayValue)
        #expect(findings.map { $0["account"]?.stringValue } == ["111122223333", "444455556666"])
        let context = Self.accountDigest.templateContext
        #expect(context["accounts_text"]?.stringValue == "111122223333, 444455556666")
        #expect(context["time"]?.stringValue == "2025-12-06T05:46:40Z")
        // A silence on the account takes that finding out of the digest.
        let silence = Silence(id: "a", matchers: try JSON.parse(#"{"detail":{"accountId":["444455556666"]}}"#), startsAt: 0, endsAt: .max,
                              createdBy: "t", comment: "t")
        let kept = try #require(HoldGate.unsilenced(Self.accountDigest, stage: HoldStage(routes: [], silences: [silence]), now: 1))
        #expect(kept.first.map(\.findingID) == ["f-1"])
    }

    /// syslog `format: cef`: one CEF event per digest, counts in labelled extensions, every
    /// value escaped per CEF (`|` in the header, `=` and line breaks in extensions).
    @Test func syslogCEFIsOneEventPerDigestWithCountsInExtensions() throws {
        let cef = SyslogConnector.cefDigest(Self.accountDigest.templateContext)
        #expect(cef == #"CEF:0|Sluice|Sluice|1|sluice-digest-group|5 grouped findings on route ec2-alerts (3 High, 2 Low)|7|"#
            + #"cnt=5 cn1Label=critical cn1=0 cn2Label=high cn2=3 cn3Label=medium cn3=0 flexNumber1Label=low flexNumber1=2 "#
            + #"cs1Label=route cs1=ec2-alerts cs2Label=target cs2=siem cs3Label=key cs3="111122223333" "#
            + #"cs4Label=accounts cs4=111122223333, 444455556666 "#
            + #"msg=5 grouped findings on route ec2-alerts (3 High, 2 Low)\n- [High] Miner | on i-1 (f-1)\n- [Low] probe\=a\nb (f-2)\nand 3 more"#)
    }
}
