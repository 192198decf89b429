import Foundation
@testable import SluiceConnectors
import SluiceCore
import SluiceGuardDuty
import SluiceHTTP
import SluiceTestSupport
import Testing

/// `discord` against scripts/receivers/vendors/discord.py (Execute Webhook).
@Suite struct DiscordConnectorTests {
    typealias F = ChatConnectorFixture
    static let id = "1183456789012345678"
    static let token = "TOKENsecret-abc_DEF123"

    static func yaml(_ receiver: WebhookReceiver, token: String = token, extra: String = "") -> String {
        "name: discord-test\ntype: discord\nurl: \(receiver.url)/api/webhooks/\(id)/\(token)\n\(extra)"
    }

    static func receiver() async throws -> WebhookReceiver {
        try await WebhookReceiver.start(vendor: "discord", options: ["webhook_id": id, "webhook_token": token])
    }

    @Test func defaultTemplateRendersEverySampleAsAnEmbed() throws {
        let docs = try F.renderedDefaults("name: d\ntype: discord\nurl: https://discord.com/api/webhooks/1/x\n")
        for (doc, sample) in zip(docs, F.samples) {
            let summary = FindingSummary(event: sample.event)!
            #expect(dig(doc, "embeds", 0, "title") as? String == summary.title)
            #expect(dig(doc, "embeds", 0, "url") as? String == summary.consoleURL)
            let fields = dig(doc, "embeds", 0, "fields") as? [[String: Any]] ?? []
            #expect(fields.contains { $0["name"] as? String == "Process" } == (summary.process != nil))
            #expect((dig(doc, "allowed_mentions", "parse") as? [Any])?.isEmpty == true)
        }
        #expect(dig(docs.last, "embeds", 0, "title") as? String == F.hostileTitle)
    }

    @Test func deliversEverySampleWithDecimalSeverityColours() async throws {
        let receiver = try await Self.receiver()
        let d = try F.definition(Self.yaml(receiver, extra: "wait: true\n"))
        let outcomes = await F.deliverSamples(with: d, to: try F.connector(d))
        #expect(outcomes.allSatisfy { $0 == .delivered }, "\(outcomes)")
        #expect(try receiver.violations() == [])
        let messages = try F.store(receiver)["messages"] as? [[String: Any]] ?? []
        #expect(messages.count == F.samples.count)
        for (message, sample) in zip(messages, F.samples) {
            let label = FindingSummary(event: sample.event)!.severityLabel
            #expect(dig(message, "embeds", 0, "color") as? Int == Int(label.colour, radix: 16))
        }
        #expect(try receiver.records().allSatisfy { $0.path.hasSuffix("?wait=true") })
    }

    @Test func oversizedEmbedsAreCutToDiscordsLimits() async throws {
        let receiver = try await Self.receiver()
        let d = try F.definition(Self.yaml(receiver))
        let long = String(repeating: "x", count: 5000)
        let template = #"{"embeds":[{"title":"\#(long)","description":"\#(long)","fields":[{"name":"a","value":"\#(long)"},{"name":"empty","value":""}]}]}"#
        let outcome = await F.deliver(Delivery(payload: Array(template.utf8), findingID: "f", route: "r"), to: try F.connector(d))
        #expect(outcome == .delivered, "\(outcome)")
        #expect(try receiver.violations() == [])
        let embed = dig(try F.bodies(receiver).first, "embeds", 0) as? [String: Any] ?? [:]
        #expect((embed["title"] as? String)?.count == DiscordConnector.Limits.title)
        #expect((embed["fields"] as? [Any])?.count == 1, "the empty field is left out")
        let total = [embed["title"], embed["description"], dig(embed, "fields", 0, "name"), dig(embed, "fields", 0, "value")]
            .reduce(0) { $0 + (($1 as? String)?.count ?? 0) }
        #expect(total <= DiscordConnector.Limits.total)
    }

    @Test func rateLimitsAreRetriedAfterTheBodysRetryAfterOrTheHeader() async throws {
        let receiver = try await Self.receiver()
        let d = try F.definition(Self.yaml(receiver))
        let c = try F.connector(d)
        try await receiver.setStatus(429, body: #"{"message":"You are being rate limited.","retry_after":1.25,"global":false}"#)
        #expect(F.retryAfter(await F.deliver(F.delivery(F.samples[0].event, for: d), to: c)) == .some(.milliseconds(1250)))
        try await receiver.setStatus(429, body: "", retryAfter: 4)
        #expect(F.retryAfter(await F.deliver(F.delivery(F.samples[0].event, for: d), to: c)) == .some(.seconds(4)))
    }

    @Test func aBadTokenIsPermanentAndNeverShown() async throws {
        let receiver = try await Self.receiver()
        let wrong = "WRONGtoken-zzz_999"
        let d = try F.definition(Self.yaml(receiver, token: wrong))
        let outcome = await F.deliver(F.delivery(F.samples[0].event, for: d), to: try F.connector(d))
        #expect(F.isPermanent(outcome, containing: "Invalid Webhook Token"), "\(outcome)")
        #expect(!F.message(outcome).contains(wrong))
        #expect(try receiver.violations() == [])
    }
}
