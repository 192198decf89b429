import Foundation
@testable import SluiceConnectors
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

/// Finding text cannot add links, images or mentions to a chat message: a hostile title sent
/// through each markdown chat's and Google Chat's built-in template to its vendor receiver
/// (scripts/receivers/vendors), and a one-field template rendered whole.
@Suite struct ChatMarkupTests {
    typealias F = ChatConnectorFixture

    /// A masked link, an inline image, Google Chat's link and @all syntaxes and a reference link.
    static let hostileTitle = "Open [here](https://evil.example/login) ![t](https://evil.example/t.png) <https://evil.example|x> <users/all> [r][1]"
    /// As msteams, mattermost and discord must receive it: a word joiner (U+2060) after each `]`.
    static let markdownTitle = "Open [here]\u{2060}(https://evil.example/login) ![t]\u{2060}(https://evil.example/t.png) <https://evil.example|x> <users/all> [r]\u{2060}[1]\u{2060}"
    /// As google-chat must receive it: a word joiner after each `<`.
    static let googleChatTitle = "Open [here](https://evil.example/login) ![t](https://evil.example/t.png) <\u{2060}https://evil.example|x> <\u{2060}users/all> [r][1]"

    /// examples/findings/01-ec2-cryptominer.json with the hostile title.
    static func hostileEvent() throws -> JSON {
        let url = PackagePaths.root.appendingPathComponent("examples/findings/01-ec2-cryptominer.json")
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var detail = object["detail"] as! [String: Any]
        detail["title"] = hostileTitle
        object["detail"] = detail
        return try JSON.parse(String(decoding: JSONSerialization.data(withJSONObject: object), as: UTF8.self))
    }

    /// Delivers the hostile finding through the instance's built-in template; the body received.
    func deliverHostile(_ yaml: String, to receiver: WebhookReceiver) async throws -> (raw: String, json: [String: Any]) {
        let d = try F.definition(yaml)
        let outcome = await F.deliver(F.delivery(try Self.hostileEvent(), for: d), to: try F.connector(d))
        #expect(outcome == .delivered, "\(outcome)")
        #expect(try receiver.violations() == [])
        let raw = try #require(try receiver.records().last).body
        return (raw, try JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any] ?? [:])
    }

    @Test func msteamsCardTextCarriesNoLinkFromTheFinding() async throws {
        let receiver = try await MSTeamsConnectorTests.receiver()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let body = try await deliverHostile(MSTeamsConnectorTests.yaml(receiver), to: receiver)
            #expect(dig(body.json, "attachments", 0, "content", "body", 0, "items", 1, "text") as? String == Self.markdownTitle)
            #expect(!body.raw.contains("]("), "\(body.raw)")
            // The console link Sluice builds is untouched.
            #expect(dig(body.json, "attachments", 0, "content", "actions", 0, "url") as? String
                == "https://us-east-1.console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=8f52f18d300e0ed86a90afe715053ba9")
        }
    }

    @Test func mattermostAttachmentCarriesNoLinkOrImageFromTheFinding() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "mattermost", options: ["hook": MattermostConnectorTests.hook])
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let body = try await deliverHostile(MattermostConnectorTests.yaml(receiver), to: receiver)
            #expect(body.json["text"] as? String == "**[High]** " + Self.markdownTitle)
            #expect(dig(body.json, "attachments", 0, "title") as? String == Self.markdownTitle)
            #expect(!body.raw.contains("]("), "\(body.raw)")
        }
    }

    @Test func discordEmbedCarriesNoMaskedLinkFromTheFinding() async throws {
        let receiver = try await DiscordConnectorTests.receiver()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let body = try await deliverHostile(DiscordConnectorTests.yaml(receiver), to: receiver)
            #expect(dig(body.json, "embeds", 0, "title") as? String == Self.markdownTitle)
            #expect(!body.raw.contains("]("), "\(body.raw)")
        }
    }

    @Test func googleChatCarriesNoLinkMentionOrTagFromTheFinding() async throws {
        let receiver = try await GoogleChatConnectorTests.receiver()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let body = try await deliverHostile(GoogleChatConnectorTests.yaml(receiver), to: receiver)
            #expect(body.json["text"] as? String == "[High] " + Self.googleChatTitle)
            #expect(dig(body.json, "cardsV2", 0, "card", "header", "title") as? String == Self.googleChatTitle)
            #expect(!body.raw.contains("<https") && !body.raw.contains("<users"), "\(body.raw)")
        }
    }

    /// A user's own template gets the same treatment: the whole body, literally.
    @Test func customTemplatesAreNeutralisedToo() throws {
        let event = try Self.hostileEvent()
        for (type, url, expected) in [
            ("mattermost", "https://mm.example/hooks/abc", #"{"text":"\#(Self.markdownTitle)"}"#),
            ("discord", "https://discord.example/api/webhooks/1/t", #"{"text":"\#(Self.markdownTitle)"}"#),
            ("msteams", "https://teams.example/workflows/x/triggers/manual/paths/invoke?sig=s", #"{"text":"\#(Self.markdownTitle)"}"#),
            ("google-chat", "https://chat.example/v1/spaces/A/messages?key=k&token=t", #"{"text":"\#(Self.googleChatTitle)"}"#),
        ] {
            let d = try F.definition("name: t\ntype: \(type)\nurl: \(url)\ntemplate: '{\"text\":\"{{detail.title}}\"}'\n")
            #expect(String(decoding: F.delivery(event, for: d).payload, as: UTF8.self) == expected, "\(type)")
        }
        // Triple braces would skip the escaping: refused, as for every JSON target.
        #expect(F.problems("name: t\ntype: discord\nurl: https://d.example/api/webhooks/1/t\ntemplate: '{\"text\":\"{{{detail.title}}}\"}'\n").first?.contains("unescaped") == true)
    }
}
