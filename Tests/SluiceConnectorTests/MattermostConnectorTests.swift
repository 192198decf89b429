import Foundation
@testable import SluiceConnectors
import SluiceCore
import SluiceGuardDuty
import SluiceHTTP
import SluiceTestSupport
import Testing

/// `mattermost` against scripts/receivers/vendors/mattermost.py (incoming webhooks).
@Suite struct MattermostConnectorTests {
    typealias F = ChatConnectorFixture
    static let hook = "x3kq9rw1sbfz8ppk4mn7ceu5ya"

    static func yaml(_ receiver: WebhookReceiver, hook: String = hook, extra: String = "") -> String {
        "name: mm-test\ntype: mattermost\nurl: \(receiver.url)/hooks/\(hook)\n\(extra)"
    }

    @Test func defaultTemplateRendersEverySampleAsAColouredAttachment() throws {
        let docs = try F.renderedDefaults("name: m\ntype: mattermost\nurl: https://chat.example.com/hooks/abc\n")
        for (doc, sample) in zip(docs, F.samples) {
            let summary = FindingSummary(event: sample.event)!
            #expect(dig(doc, "attachments", 0, "color") as? String == "#\(summary.severityLabel.colour)")
            #expect(dig(doc, "attachments", 0, "title") as? String == summary.title)
            #expect(dig(doc, "attachments", 0, "title_link") as? String == summary.consoleURL)
            let fields = dig(doc, "attachments", 0, "fields") as? [[String: Any]] ?? []
            #expect(fields.contains { $0["title"] as? String == "Process" } == (summary.process != nil))
        }
        #expect(dig(docs.last, "attachments", 0, "title") as? String == F.hostileTitle)
    }

    @Test func deliversEverySampleWithTheConfiguredOverrides() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "mattermost", options: ["hook": Self.hook])
        let d = try F.definition(Self.yaml(receiver, extra: "channel: security-alerts\nusername: GuardDuty\n"))
        let outcomes = await F.deliverSamples(with: d, to: try F.connector(d))
        #expect(outcomes.allSatisfy { $0 == .delivered }, "\(outcomes)")
        #expect(try receiver.violations() == [])
        let posts = try F.store(receiver)["posts"] as? [[String: Any]] ?? []
        #expect(posts.count == F.samples.count)
        #expect(posts.allSatisfy { $0["channel"] as? String == "security-alerts" && $0["username"] as? String == "GuardDuty" })
        #expect(posts.allSatisfy { dig($0, "props", "disable_group_highlight") as? Bool == true }, "no @channel from finding text")
        let severities = posts.map { dig($0, "attachments", 0, "fields", "Severity") as? String ?? "" }
        #expect(severities.allSatisfy { !$0.isEmpty })
    }

    @Test func anUnknownHookIsPermanentAndItsKeyNeverShown() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "mattermost", options: ["hook": Self.hook])
        let wrong = "zzzzzzzzzzzzzzzzzzzzzzzzzz"
        let d = try F.definition(Self.yaml(receiver, hook: wrong))
        let outcome = await F.deliver(F.delivery(F.samples[0].event, for: d), to: try F.connector(d))
        #expect(F.isPermanent(outcome, containing: "Invalid webhook"), "\(outcome)")
        #expect(!F.message(outcome).contains(wrong))
    }

    @Test func anEmptyMessageIsPermanentAnd429IsRetried() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "mattermost", options: ["hook": Self.hook])
        let d = try F.definition(Self.yaml(receiver))
        let c = try F.connector(d)
        #expect(F.isPermanent(await F.deliver(Delivery(payload: Array("{}".utf8), route: "r"), to: c), containing: "No text specified"))
        #expect(try receiver.violations().count == 1)
        try await receiver.setStatus(429, retryAfter: 1)
        #expect(await F.deliver(F.delivery(F.samples[0].event, for: d), to: c) == .retryable("HTTP 429", retryAfter: .seconds(1)))
    }
}
