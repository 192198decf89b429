import Foundation
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

@testable import SluiceConnectors

/// `webhook` with `signing:` (Standard Webhooks), checked by an independent verifier written
/// with Python's hmac (scripts/receivers/vendors/standard_webhooks.py).
@Suite struct WebhookSigningTests {
    typealias F = TicketingFixtures
    static let secret = "whsec_" + Data((0..<32).map { UInt8($0 * 7 % 256) }).base64EncodedString()

    static func yaml(_ port: Int) -> String {
        """
        name: signed-hook
        type: webhook
        url: http://127.0.0.1:\(port)/hooks/guardduty
        signing:
          secret: ${HOOK_SECRET}
        """
    }

    @Test func everySampleFindingVerifiesAtTheReceiver() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "standard_webhooks", options: ["secret": Self.secret])
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let definition = try F.definition(Self.yaml(receiver.port), environment: ["HOOK_SECRET": Self.secret])
            let hook = try F.make(definition)
            let findings = try F.findings()
            let before = Int(Date().timeIntervalSince1970)
            for f in findings { #expect(await F.deliver(hook, F.delivery(f, for: definition)) == .delivered, "\(f.file)") }
            let after = Int(Date().timeIntervalSince1970)
            #expect(try receiver.violations() == [])
            let ids = F.object(try receiver.store(), "ids")
            #expect(ids.count == findings.count, "one webhook-id per message")
            for r in try receiver.records() {
                #expect(r.header("webhook-signature")?.hasPrefix("v1,") == true)
                let timestamp = r.header("webhook-timestamp").flatMap { Int($0) }
                let ts = try #require(timestamp)
                // The signing time, taken while the deliveries ran (seconds: the bounds are inclusive).
                #expect(ts >= before && ts <= after, "webhook-timestamp \(ts) outside [\(before), \(after)]")
            }
        }
    }

    @Test func aTamperedBodyOrAWrongSecretIsRejected() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "standard_webhooks", options: ["secret": Self.secret])
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let definition = try F.definition(Self.yaml(receiver.port), environment: ["HOOK_SECRET": Self.secret])
            let hook = try #require(SecretScrubbingConnector.unwrap(try F.make(definition)) as? WebhookConnector)
            let delivery = F.delivery(try F.findings()[0], for: definition)

            var tampered = hook.makeRequest(for: delivery)
            tampered.body = Array(String(decoding: tampered.body, as: UTF8.self).replacingOccurrences(of: "\"severity\":8", with: "\"severity\":1").utf8)
            #expect(tampered.body != delivery.payload, "the body was changed")
            #expect(try await F.http.execute(tampered).status == 401)
            var replayed = hook.makeRequest(for: delivery, now: Int(Date().timeIntervalSince1970) - 3600)
            replayed.timeout = .seconds(5)
            #expect(try await F.http.execute(replayed).status == 401, "an old timestamp is outside the tolerance")
            #expect(try await F.http.execute(hook.makeRequest(for: delivery)).status == 204, "the untouched request verifies")

            let otherSecret = "whsec_" + Data(repeating: 1, count: 32).base64EncodedString()
            let wrong = try F.definition(Self.yaml(receiver.port), environment: ["HOOK_SECRET": otherSecret])
            let outcome = await F.deliver(try F.make(wrong), delivery)
            #expect(F.isPermanent(outcome))
            #expect(!F.message(of: outcome).contains(otherSecret) && !F.message(of: outcome).contains(Self.secret))
            #expect(try receiver.violations().count == 3)
        }
    }

    @Test func retriesKeepTheMessageIDAndNewMessagesGetANewOne() throws {
        let definition = try F.definition(Self.yaml(1), environment: ["HOOK_SECRET": Self.secret])
        let hook = try #require(SecretScrubbingConnector.unwrap(try F.make(definition)) as? WebhookConnector)
        let f = try F.findings()[0]
        func id(_ d: Delivery) -> String? { hook.makeRequest(for: d).headers.first { $0.name == "webhook-id" }?.value }
        let first = id(F.delivery(f, for: definition, attempt: 1))
        #expect(first != nil && first == id(F.delivery(f, for: definition, attempt: 7)))
        #expect(first != id(F.delivery(f, for: definition, route: "another-route")))
        var updated = F.delivery(f, for: definition)
        updated.payload = Array(String(decoding: updated.payload, as: UTF8.self).replacingOccurrences(of: "\"count\":", with: "\"count\":1").utf8)
        #expect(updated.payload != F.delivery(f, for: definition).payload)
        #expect(first != id(updated), "a repeat with a new count is a new message")
    }

    /// The Standard Webhooks reference libraries' own test vector.
    @Test func signatureMatchesTheSpecVector() throws {
        let signer = try #require(StandardWebhookSigner(secret: Secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")))
        #expect(signer.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Array(#"{"test": 2432232314}"#.utf8))
                == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        #expect("\(signer)".contains("redacted"))
    }

    @Test func secretsThatAreNotWhsecAreRejectedAtValidation() {
        for bad in ["plain-secret", "whsec_not*base64", "whsec_" + Data(repeating: 1, count: 8).base64EncodedString()] {
            let problems = F.problems(Self.yaml(1), environment: ["HOOK_SECRET": bad])
            #expect(problems.contains { $0.contains("signing secret must be whsec_") }, "\(bad)")
            #expect(!problems.joined().contains(bad), "the secret is not echoed")
        }
        #expect(F.problems("name: h\ntype: webhook\nurl: https://x\nsigning: {}\n").contains { $0.contains("missing required key 'secret'") })
    }
}
