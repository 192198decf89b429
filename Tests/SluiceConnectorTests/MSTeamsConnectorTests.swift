import Foundation
@testable import SluiceConnectors
import SluiceCore
import SluiceGuardDuty
import SluiceHTTP
import SluiceTestSupport
import Testing

/// `msteams` against scripts/receivers/vendors/msteams.py (a Workflows webhook trigger).
@Suite struct MSTeamsConnectorTests {
    typealias F = ChatConnectorFixture
    static let signature = "SIGsecretVALUE0123456789abcdef"
    static let path = "/workflows/4f2c0a1b9d8e/triggers/manual/paths/invoke"

    static func yaml(_ receiver: WebhookReceiver, sig: String = signature) -> String {
        "name: teams-test\ntype: msteams\nurl: \(receiver.url)\(path)?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=\(sig)\n"
    }

    static func receiver() async throws -> WebhookReceiver {
        try await WebhookReceiver.start(vendor: "msteams", options: ["workflow": "4f2c0a1b9d8e", "sig": signature])
    }

    @Test func defaultTemplateRendersEverySampleAsAnAdaptiveCard() throws {
        let docs = try F.renderedDefaults("name: t\ntype: msteams\nurl: https://example.invalid/workflows/x/triggers/manual/paths/invoke?sig=s\n")
        for (doc, sample) in zip(docs, F.samples) {
            let summary = FindingSummary(event: sample.event)!
            #expect(doc["type"] as? String == "message")
            #expect(dig(doc, "attachments", 0, "contentType") as? String == "application/vnd.microsoft.card.adaptive")
            #expect(dig(doc, "attachments", 0, "content", "version") as? String == "1.4")
            #expect(dig(doc, "attachments", 0, "content", "body", 0, "items", 1, "text") as? String == summary.title)
            let facts = dig(doc, "attachments", 0, "content", "body", 1, "facts") as? [[String: String]] ?? []
            #expect(facts.contains { $0["title"] == "Resource" && $0["value"] == summary.resourceSummary })
            #expect(facts.contains { $0["title"] == "Process" } == (summary.process != nil))
            #expect(dig(doc, "attachments", 0, "content", "actions", 0, "url") as? String == summary.consoleURL)
        }
        #expect(dig(docs.last, "attachments", 0, "content", "body", 0, "items", 1, "text") as? String == F.hostileTitle)
    }

    /// Adaptive Card container style and text colour per GuardDuty band.
    static let styleByLabel: [String: (container: String, text: String)] = [
        "Critical": ("attention", "Attention"), "High": ("attention", "Attention"),
        "Medium": ("warning", "Warning"), "Low": ("good", "Good"),
    ]

    @Test func styleTableIsPinned() {
        for label in [FindingSummary.SeverityLabel.low, .medium, .high, .critical] {
            let style = MSTeamsConnector.style(for: label)
            #expect(style.container == Self.styleByLabel[label.rawValue]?.container, "\(label)")
            #expect(style.text == Self.styleByLabel[label.rawValue]?.text, "\(label)")
        }
    }

    @Test func deliversEverySampleAndColoursTheBannerBySeverity() async throws {
        let receiver = try await Self.receiver()
        let d = try F.definition(Self.yaml(receiver))
        let outcomes = await F.deliverSamples(with: d, to: try F.connector(d))
        #expect(outcomes.allSatisfy { $0 == .delivered }, "\(outcomes)")
        #expect(try receiver.violations() == [])
        let cards = try F.store(receiver)["cards"] as? [[String: Any]] ?? []
        #expect(cards.count == F.samples.count)
        for (card, sample) in zip(cards, F.samples) {
            let label = FindingSummary(event: sample.event)!.severityLabel
            #expect((card["styles"] as? [String])?.first == Self.styleByLabel[label.rawValue]?.container)
        }
    }

    @Test func aWrongSignatureIsPermanentAndNeverShown() async throws {
        let receiver = try await Self.receiver()
        let wrong = "WRONGsignature987654321"
        let d = try F.definition(Self.yaml(receiver, sig: wrong))
        let outcome = await F.deliver(F.delivery(F.samples[0].event, for: d), to: try F.connector(d))
        #expect(F.isPermanent(outcome, containing: "DirectApiInvalidAuthorizationSignature"), "\(outcome)")
        #expect(!F.message(outcome).contains(wrong))
    }

    @Test func throttlingIsRetriedAfterItsDelayAndABadCardIsPermanent() async throws {
        let receiver = try await Self.receiver()
        let d = try F.definition(Self.yaml(receiver))
        let c = try F.connector(d)
        let notACard = Delivery(payload: Array(#"{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.hero","content":{}}]}"#.utf8), route: "r")
        #expect(F.isPermanent(await F.deliver(notACard, to: c), containing: "TriggerInputSchemaMismatch"))
        #expect(try receiver.violations().count == 1)
        try await receiver.setStatus(429, body: #"{"error":{"code":"TooManyRequests","message":"Rate limit is exceeded."}}"#, retryAfter: 5)
        #expect(await F.deliver(F.delivery(F.samples[0].event, for: d), to: c) == .retryable("HTTP 429", retryAfter: .seconds(5)))
    }

    @Test func aTemplateThatIsNotJSONIsPermanent() async throws {
        let receiver = try await Self.receiver()
        // A template that is never JSON is rejected when loaded (issue 11): validate says so.
        #expect(F.problems(Self.yaml(receiver) + "template: 'not json {{sluice.title}}'\n").contains { $0.contains("is not JSON") })
        // One that is JSON for the sample EKS finding but not for this EC2 finding fails at delivery.
        let eksOnly = "{{#detail.resource.eksClusterDetails}}{}{{/detail.resource.eksClusterDetails}}"
            + "{{^detail.resource.eksClusterDetails}}not json {{sluice.title}}{{/detail.resource.eksClusterDetails}}"
        let d = try F.definition(Self.yaml(receiver) + "template: '\(eksOnly)'\n")
        let outcome = await F.deliver(F.delivery(F.samples[0].event, for: d), to: try F.connector(d))
        #expect(F.isPermanent(outcome, containing: "not JSON"))
        #expect(receiver.count == 0)
    }
}
