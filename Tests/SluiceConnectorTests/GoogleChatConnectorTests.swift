import Foundation
@testable import SluiceConnectors
import SluiceCore
import SluiceGuardDuty
import SluiceHTTP
import SluiceTestSupport
import Testing

/// `google-chat` against scripts/receivers/vendors/google-chat.py (a space's incoming webhook).
@Suite struct GoogleChatConnectorTests {
    typealias F = ChatConnectorFixture
    static let key = "KEYsluiceTEST-0123456789"
    static let token = "TOKENsecretVALUE_abc123"

    static func yaml(_ receiver: WebhookReceiver, token: String = token, extra: String = "") -> String {
        "name: gchat-test\ntype: google-chat\nurl: \(receiver.url)/v1/spaces/AAAAsluice/messages?key=\(key)&token=\(token)\n\(extra)"
    }

    static func receiver() async throws -> WebhookReceiver {
        try await WebhookReceiver.start(vendor: "google-chat", options: ["space": "AAAAsluice", "key": key, "token": token])
    }

    @Test func defaultTemplateRendersEverySampleAsACard() throws {
        let docs = try F.renderedDefaults("name: g\ntype: google-chat\nurl: https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t\n")
        for (doc, sample) in zip(docs, F.samples) {
            let summary = FindingSummary(event: sample.event)!
            #expect(dig(doc, "cardsV2", 0, "card", "header", "title") as? String == summary.title)
            let widgets = dig(doc, "cardsV2", 0, "card", "sections", 0, "widgets") as? [[String: Any]] ?? []
            #expect(widgets.contains { dig($0, "decoratedText", "topLabel") as? String == "Process" } == (summary.process != nil))
            #expect(dig(doc, "cardsV2", 0, "card", "sections", 2, "widgets", 0, "buttonList", "buttons", 0, "onClick", "openLink", "url") as? String == summary.consoleURL)
        }
        // `</script>` arrives with a word joiner after `<`: no card HTML tag from finding text.
        #expect(dig(docs.last, "cardsV2", 0, "card", "header", "title") as? String
            == "Quote \" backslash \\ newline\nand tab\t {{not a tag}} <\u{2060}/script>")
    }

    @Test func deliversEverySampleAndRepeatsOfAFindingShareItsThread() async throws {
        let receiver = try await Self.receiver()
        let d = try F.definition(Self.yaml(receiver))
        let c = try F.connector(d)
        let outcomes = await F.deliverSamples(with: d, to: c)
        #expect(outcomes.allSatisfy { $0 == .delivered }, "\(outcomes)")
        #expect(await F.deliver(F.delivery(F.samples[0].event, for: d), to: c) == .delivered)
        #expect(try receiver.violations() == [])
        let store = try F.store(receiver)
        let threads = store["threads"] as? [String: [String: Any]] ?? [:]
        let firstID = FindingSummary(event: F.samples[0].event)!.id
        #expect(threads.count == F.samples.count, "one thread per finding")
        #expect(threads[firstID]?["messages"] as? Int == 2, "the repeat replied in the finding's thread")
        #expect(try receiver.records().allSatisfy { $0.path.contains("messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD") })
    }

    @Test func threadingCanBeTurnedOff() async throws {
        let receiver = try await Self.receiver()
        let d = try F.definition(Self.yaml(receiver, extra: "thread_by_finding: false\n"))
        #expect(await F.deliver(F.delivery(F.samples[0].event, for: d), to: try F.connector(d)) == .delivered)
        #expect(try receiver.records().first.map { !$0.path.contains("messageReplyOption") } == true)
        #expect(dig(try F.bodies(receiver).first, "thread") == nil)
    }

    @Test func aBadTokenIsPermanentAndNeverShownAnd429IsRetried() async throws {
        let receiver = try await Self.receiver()
        let wrong = "WRONGtokenVALUE_zzz999"
        let bad = try F.definition(Self.yaml(receiver, token: wrong))
        let outcome = await F.deliver(F.delivery(F.samples[0].event, for: bad), to: try F.connector(bad))
        #expect(F.isPermanent(outcome, containing: "UNAUTHENTICATED"), "\(outcome)")
        #expect(!F.message(outcome).contains(wrong) && !F.message(outcome).contains(Self.key))
        #expect(try receiver.violations() == [])

        let d = try F.definition(Self.yaml(receiver))
        try await receiver.setStatus(429, body: #"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}"#, retryAfter: 3)
        #expect(await F.deliver(F.delivery(F.samples[0].event, for: d), to: try F.connector(d)) == .retryable("HTTP 429", retryAfter: .seconds(3)))
    }
}
