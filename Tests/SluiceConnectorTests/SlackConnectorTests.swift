import Foundation
@testable import SluiceConnectors
import SluiceCore
import SluiceGuardDuty
import SluiceHTTP
import SluiceTestSupport
import Testing

/// `slack` against scripts/receivers/vendors/slack.py (incoming webhooks and chat.postMessage).
@Suite struct SlackConnectorTests {
    typealias F = ChatConnectorFixture
    static let hook = "/services/T0SLUICE/B0SLUICE/abcDEF123456"
    static let token = "xoxb-1111-2222-SECRETtokenVALUE"

    static func webhookYAML(_ url: String) -> String { "name: slack-test\ntype: slack\nurl: \(url)\n" }

    static func apiYAML(_ receiver: WebhookReceiver, token: String = token, channel: String = "C0SECURITY") -> String {
        "name: slack-api\ntype: slack\ntoken: \(token)\nchannel: \(channel)\napi_url: \(receiver.url)/api/chat.postMessage\n"
    }

    static func apiReceiver() async throws -> WebhookReceiver {
        try await WebhookReceiver.start(vendor: "slack", options: ["token": token, "channels": "C0SECURITY,C0ARCHIVED", "archived_channels": "C0ARCHIVED"])
    }

    @Test func defaultTemplateRendersEverySampleAsValidJSON() throws {
        let docs = try F.renderedDefaults(Self.webhookYAML("https://hooks.slack.com/services/T0/B0/x"))
        for (doc, sample) in zip(docs, F.samples) {
            let summary = FindingSummary(event: sample.event)!
            #expect(dig(doc, "attachments", 0, "color") as? String == "#\(summary.severityLabel.colour)")
            #expect(dig(doc, "attachments", 0, "blocks", 0, "text", "text") as? String == summary.title)
            let blocks = dig(doc, "attachments", 0, "blocks") as? [[String: Any]] ?? []
            // As rendered, the link carries Slack's entities like every value; `makeRequest` restores it.
            let rendered = summary.consoleURL.replacing("&", with: "&amp;")
            #expect(blocks.contains { dig($0, "elements", 0, "url") as? String == rendered }, "console link")
            let hasProcess = blocks.contains { (dig($0, "text", "text") as? String)?.hasPrefix("Process: ") == true && dig($0, "text", "type") as? String == "plain_text" }
            #expect(hasProcess == (summary.process != nil), "\(sample.name): process block only for runtime findings")
        }
        // Slack's control characters arrive as entities (Slack shows them as text).
        #expect(dig(docs.last, "attachments", 0, "blocks", 0, "text", "text") as? String
                == "Quote \" backslash \\ newline\nand tab\t {{not a tag}} &lt;/script&gt;")
    }

    /// Finding text is escaped for Slack's formatting: `<!here>` does not notify the channel,
    /// `<url|label>` is not a link, `&` stays an ampersand; the template's own markup is kept.
    @Test func findingTextCannotBecomeSlackMarkup() throws {
        let d = try F.definition(Self.webhookYAML("https://hooks.slack.com/services/T0/B0/x"))
        var event = try F.hostileSample
        guard case .object(var members) = event, let i = members.firstIndex(where: { $0.key == "detail" }),
              case .object(var detail) = members[i].value, let t = detail.firstIndex(where: { $0.key == "title" }) else {
            Issue.record("sample shape"); return
        }
        detail[t].value = .string("<!here> & <https://evil.example|click> <@U123>")
        members[i].value = .object(detail)
        event = .object(members)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(F.delivery(event, for: d).payload)) as? [String: Any])
        let escaped = "&lt;!here&gt; &amp; &lt;https://evil.example|click&gt; &lt;@U123&gt;"
        #expect((doc["text"] as? String)?.hasSuffix("] " + escaped) == true, "\(doc["text"] ?? "")")
        #expect(dig(doc, "attachments", 0, "blocks", 0, "text", "text") as? String == escaped)
        #expect((dig(doc, "attachments", 0, "blocks", 1, "fields", 0, "text") as? String)?.hasPrefix("*Severity*\n") == true)
        // What is sent: the button's link is a URL again, the texts keep their entities.
        let node = try YAMLNode.load(path: "c.yaml", text: Self.webhookYAML("https://hooks.slack.com/services/T0/B0/x"), environment: [:])
        let reader = MappingReader(try #require(node), what: "c")
        let configuration = try #require(SlackConnector.configuration(from: reader))
        let request = try SlackConnector.makeRequest(for: F.delivery(event, for: d), configuration: configuration, timeout: .seconds(1)).get()
        let sent = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
        let blocks = dig(sent, "attachments", 0, "blocks") as? [[String: Any]] ?? []
        let summary = try #require(FindingSummary(event: event))
        #expect(summary.consoleURL.contains("&") && blocks.contains { dig($0, "elements", 0, "url") as? String == summary.consoleURL })
        #expect(dig(sent, "attachments", 0, "blocks", 0, "text", "text") as? String == escaped)
    }

    @Test func webhookDeliversEverySampleWithinTheContract() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "slack", options: ["hook": Self.hook])
        let d = try F.definition(Self.webhookYAML(receiver.url + Self.hook))
        let outcomes = await F.deliverSamples(with: d, to: try F.connector(d))
        #expect(outcomes.allSatisfy { $0 == .delivered }, "\(outcomes)")
        #expect(try receiver.violations() == [])
        let messages = try F.store(receiver)["messages"] as? [[String: Any]] ?? []
        #expect(messages.count == F.samples.count)
        #expect(messages.allSatisfy { ($0["blocks"] as? Int ?? 0) >= 5 && $0["attachments"] as? Int == 1 })
        #expect(try receiver.records().allSatisfy { $0.header("Content-Type")?.hasPrefix("application/json") == true })
    }

    @Test func overLimitMessagesAreCutToBlockKitLimitsInsteadOfRejected() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "slack")
        let d = try F.definition(Self.webhookYAML(receiver.url + Self.hook))
        var delivery = F.delivery(F.samples[0].event, for: d)
        let doc = try JSONBuilder.parse(delivery.payload).get()
        let attachment = try #require(doc["attachments"]?.elements.first)
        attachment["blocks"]?.elements.first?["text"]?["text"] = .string(String(repeating: "A", count: 400))
        let field: JSONBuilder = ["type": "mrkdwn", "text": .string(String(repeating: "f", count: 2500))]
        let section: JSONBuilder = ["type": "section", "fields": JSONBuilder.array()]
        for _ in 0..<12 { section["fields"]?.append(field.copy()) }
        for _ in 0..<60 { attachment["blocks"]?.append(section.copy()) }
        delivery.payload = doc.serialized()
        #expect(await F.deliver(delivery, to: try F.connector(d)) == .delivered)
        #expect(try receiver.violations() == [])
        let blocks = dig(try F.bodies(receiver).first, "attachments", 0, "blocks") as? [[String: Any]] ?? []
        #expect((dig(blocks.first, "text", "text") as? String)?.unicodeScalars.count == SlackConnector.Limits.headerText)
        #expect(blocks.count == SlackConnector.Limits.blocks)
        #expect((blocks.last?["fields"] as? [[String: Any]])?.count == SlackConnector.Limits.fields)
        #expect((dig(blocks.last, "fields", 0, "text") as? String)?.count == SlackConnector.Limits.fieldText)
    }

    @Test func webhookTextErrorsArePermanentAnd429IsRetriedAfterItsDelay() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "slack", options: ["hook": Self.hook, "archived_hook": "/services/T0SLUICE/B0OLD/xyz789"])
        let archived = try F.definition(Self.webhookYAML(receiver.url + "/services/T0SLUICE/B0OLD/xyz789"))
        let outcome = await F.deliver(F.delivery(F.samples[0].event, for: archived), to: try F.connector(archived))
        #expect(F.isPermanent(outcome, containing: "channel_is_archived"), "\(outcome)")
        #expect(!F.message(outcome).contains("xyz789"), "the webhook's secret path never shows")

        let d = try F.definition(Self.webhookYAML(receiver.url + Self.hook))
        let c = try F.connector(d)
        let bad = Delivery(payload: Array(#"{"username":"nobody"}"#.utf8), findingID: "f1", route: "r")
        #expect(F.isPermanent(await F.deliver(bad, to: c), containing: "no_text"))
        #expect(try receiver.violations().count == 1, "a message without text is a contract break, recorded")

        try await receiver.setStatus(429, body: "rate_limited", retryAfter: 7)
        #expect(await F.deliver(F.delivery(F.samples[0].event, for: d), to: c) == .retryable("HTTP 429", retryAfter: .seconds(7)))
        try await receiver.setStatus(503)
        #expect(F.retryAfter(await F.deliver(F.delivery(F.samples[0].event, for: d), to: c)) != nil)
    }

    @Test func webAPIPostsToTheChannelWithBearerAuth() async throws {
        let receiver = try await Self.apiReceiver()
        let d = try F.definition(Self.apiYAML(receiver))
        let outcomes = await F.deliverSamples(with: d, to: try F.connector(d))
        #expect(outcomes.allSatisfy { $0 == .delivered }, "\(outcomes)")
        #expect(try receiver.violations() == [])
        let messages = try F.store(receiver)["messages"] as? [[String: Any]] ?? []
        #expect(messages.count == F.samples.count && messages.allSatisfy { $0["channel"] as? String == "C0SECURITY" && $0["via"] as? String == "api" })
        #expect(try receiver.records().allSatisfy { $0.header("Authorization") == "Bearer \(Self.token)" })
    }

    @Test func webAPIAnswers200WithErrorsThatAreClassifiedByName() async throws {
        let receiver = try await Self.apiReceiver()
        let sample = F.samples[0].event

        let archived = try F.definition(Self.apiYAML(receiver, channel: "C0ARCHIVED"))
        #expect(F.isPermanent(await F.deliver(F.delivery(sample, for: archived), to: try F.connector(archived)), containing: "is_archived"))
        let missing = try F.definition(Self.apiYAML(receiver, channel: "C0NOWHERE"))
        #expect(F.isPermanent(await F.deliver(F.delivery(sample, for: missing), to: try F.connector(missing)), containing: "channel_not_found"))

        let wrongToken = "xoxb-9999-8888-WRONGtokenVALUE"
        let badKey = try F.definition(Self.apiYAML(receiver, token: wrongToken))
        let denied = await F.deliver(F.delivery(sample, for: badKey), to: try F.connector(badKey))
        #expect(F.isPermanent(denied, containing: "invalid_auth"), "\(denied)")
        #expect(!F.message(denied).contains(wrongToken))
        #expect(try receiver.violations() == [])

        let d = try F.definition(Self.apiYAML(receiver))
        let c = try F.connector(d)
        try await receiver.setStatus(200, body: #"{"ok":false,"error":"ratelimited"}"#, retryAfter: 3)
        #expect(await F.deliver(F.delivery(sample, for: d), to: c) == .retryable("Slack error: ratelimited", retryAfter: .seconds(3)))
        try await receiver.setStatus(429, body: #"{"ok":false,"error":"ratelimited"}"#, retryAfter: 2)
        #expect(await F.deliver(F.delivery(sample, for: d), to: c) == .retryable("HTTP 429", retryAfter: .seconds(2)))
    }

    @Test func webAPIErrorClassification() {
        func answer(_ body: String) -> DeliveryOutcome { SlackConnector.classifyWebAPI(HTTPResponse(status: 200, body: Array(body.utf8))) }
        #expect(answer(#"{"ok":true,"ts":"1.2"}"#) == .delivered)
        #expect(answer(#"{"ok":false,"error":"internal_error"}"#) == .retryable("Slack error: internal_error"))
        #expect(answer(#"{"ok":false,"error":"invalid_blocks"}"#) == .permanent("Slack error: invalid_blocks"))
        #expect(F.isPermanent(answer("<html>proxy</html>"), containing: "without an 'ok'"))
    }

    @Test func configurationNeedsExactlyOneMode() {
        #expect(F.problems("name: s\ntype: slack\n").contains { $0.contains("missing 'url'") })
        #expect(F.problems("name: s\ntype: slack\nurl: https://h/x\ntoken: t\nchannel: c\n").contains { $0.contains("not both") })
        #expect(F.problems("name: s\ntype: slack\ntoken: t\n").contains { $0.contains("needs 'channel'") })
        #expect(F.problems("name: s\ntype: slack\nurl: https://h/x\nchannel: c\n").contains { $0.contains("Web API") })
        #expect(F.problems("name: s\ntype: slack\nurl: ftp://h/x\n").contains { $0.contains("https://") })
        #expect(F.problems("name: s\ntype: slack\nurl: https://h/x\nchanel: c\n").contains { $0.contains("unknown key \"chanel\" for a slack connector (did you mean \"channel\"?); expected one of: ") })
    }
}
