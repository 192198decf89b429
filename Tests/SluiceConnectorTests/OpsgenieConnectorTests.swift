import Foundation
@testable import SluiceConnectors
import SluiceCore
import SluiceGuardDuty
import SluiceHTTP
import SluiceTestSupport
import Testing

/// `opsgenie` against scripts/receivers/vendors/opsgenie.py (Alert API, create alert).
@Suite struct OpsgenieConnectorTests {
    typealias F = ChatConnectorFixture
    static let apiKey = "eb243592-faa2-4ba2-a551-SECRET1b9b5d"

    static func yaml(_ receiver: WebhookReceiver, key: String = apiKey) -> String {
        "name: og-test\ntype: opsgenie\napi_key: \(key)\nurl: \(receiver.url)/v2/alerts\n"
    }

    static func receiver() async throws -> WebhookReceiver {
        try await WebhookReceiver.start(vendor: "opsgenie", options: ["api_key": apiKey])
    }

    @Test func defaultTemplateRendersEverySampleAsAnAlert() throws {
        let docs = try F.renderedDefaults("name: o\ntype: opsgenie\napi_key: k\n")
        for (doc, sample) in zip(docs, F.samples) {
            let summary = FindingSummary(event: sample.event)!
            #expect((doc["message"] as? String)?.contains(summary.title) == true)
            #expect(dig(doc, "details", "finding_id") as? String == summary.id)
            #expect((doc["description"] as? String)?.contains(summary.consoleURL) == true)
            #expect((doc["description"] as? String)?.contains("Process:") == (summary.process != nil))
            #expect((doc["tags"] as? [String])?.contains("severity:\(summary.severityLabel.rawValue)") == true)
        }
        #expect((docs.last?["message"] as? String)?.contains(F.hostileTitle) == true)
    }

    /// Opsgenie's priorities per GuardDuty band, as the connector's doc comment promises.
    static let priorityByLabel = ["Critical": "P1", "High": "P2", "Medium": "P3", "Low": "P4"]

    @Test func priorityTableIsPinned() {
        for label in [FindingSummary.SeverityLabel.low, .medium, .high, .critical] {
            #expect(OpsgenieConnector.priority(for: label) == Self.priorityByLabel[label.rawValue], "\(label)")
        }
    }

    @Test func deliversEverySampleWithAliasPriorityAndGenieKey() async throws {
        let receiver = try await Self.receiver()
        let d = try F.definition(Self.yaml(receiver))
        let outcomes = await F.deliverSamples(with: d, to: try F.connector(d))
        #expect(outcomes.allSatisfy { $0 == .delivered }, "\(outcomes)")
        #expect(try receiver.violations() == [])
        let alerts = try F.store(receiver)["alerts"] as? [String: [String: Any]] ?? [:]
        #expect(alerts.count == F.samples.count)
        for sample in F.samples {
            let summary = FindingSummary(event: sample.event)!
            #expect(alerts[summary.id]?["priority"] as? String == Self.priorityByLabel[summary.severityLabel.rawValue], "\(sample.name)")
            #expect((alerts[summary.id]?["message"] as? String).map { $0.unicodeScalars.count <= 130 } == true)
        }
        #expect(try receiver.records().allSatisfy { $0.header("Authorization") == "GenieKey \(Self.apiKey)" })
    }

    @Test func aRepeatIsDeduplicatedByAlias() async throws {
        let receiver = try await Self.receiver()
        let d = try F.definition(Self.yaml(receiver))
        let c = try F.connector(d)
        for _ in 0..<3 { #expect(await F.deliver(F.delivery(F.samples[1].event, for: d), to: c) == .delivered) }
        let alerts = try F.store(receiver)["alerts"] as? [String: [String: Any]] ?? [:]
        #expect(alerts.count == 1)
        #expect(alerts[FindingSummary(event: F.samples[1].event)!.id]?["count"] as? Int == 3)
    }

    @Test func aLongMessageIsCutTo130Characters() async throws {
        let receiver = try await Self.receiver()
        let d = try F.definition(Self.yaml(receiver))
        let body = #"{"message":"\#(String(repeating: "m", count: 400))","tags":["\#(String(repeating: "t", count: 80))",""]}"#
        #expect(await F.deliver(Delivery(payload: Array(body.utf8), findingID: "id-1", route: "r"), to: try F.connector(d)) == .delivered)
        #expect(try receiver.violations() == [])
        let sent = try F.bodies(receiver).first ?? [:]
        #expect((sent["message"] as? String)?.count == OpsgenieConnector.Limits.message)
        #expect((sent["tags"] as? [String]) == [String(repeating: "t", count: 49) + "…"])
        #expect(sent["alias"] as? String == "id-1")
    }

    @Test func aBadKeyIsPermanentAndNeverShown() async throws {
        let receiver = try await Self.receiver()
        let wrong = "00000000-dead-beef-0000-WRONGKEY0000"
        let d = try F.definition(Self.yaml(receiver, key: wrong))
        let outcome = await F.deliver(F.delivery(F.samples[0].event, for: d), to: try F.connector(d))
        #expect(F.isPermanent(outcome, containing: "Could not authenticate"), "\(outcome)")
        #expect(!F.message(outcome).contains(wrong))
        #expect(try receiver.violations() == [])
    }

    @Test func unprocessableIsPermanentAndThrottlingIsRetried() async throws {
        let receiver = try await Self.receiver()
        let d = try F.definition(Self.yaml(receiver))
        let c = try F.connector(d)
        let badPriority = Delivery(payload: Array(#"{"message":"m","details":{"n":1}}"#.utf8), route: "r")
        #expect(F.isPermanent(await F.deliver(badPriority, to: c), containing: "HTTP 422"))
        #expect(try receiver.violations().count == 1)
        try await receiver.setStatus(429, body: #"{"message":"You are making too many requests!","took":0.0,"requestId":"x"}"#, retryAfter: 1)
        #expect(await F.deliver(F.delivery(F.samples[0].event, for: d), to: c) == .retryable("HTTP 429", retryAfter: .seconds(1)))
    }

    @Test func throttlingWithoutRetryAfterWaitsForTheRateLimitPeriod() {
        let c = JSONPostConnector<OpsgenieConnector>(configuration: .init(apiKey: Secret("k"), url: "http://x", tls: TLSOptions()), client: F.http, timeout: .seconds(1))
        let response = HTTPResponse(status: 429, headers: [("x-ratelimit-state", "THROTTLED"), ("x-ratelimit-period-in-sec", "60")])
        #expect(c.classify(.success(response)) == .retryable("HTTP 429 (Opsgenie rate limit)", retryAfter: .seconds(60)))
    }

    @Test func regionSelectsTheEndpoint() throws {
        let eu = try F.definition("name: o\ntype: opsgenie\napi_key: k\nregion: eu\n")
        let c = try #require(SecretScrubbingConnector.unwrap(try F.connector(eu)) as? JSONPostConnector<OpsgenieConnector>)
        #expect(c.configuration.url == "https://api.eu.opsgenie.com/v2/alerts")
        #expect(F.problems("name: o\ntype: opsgenie\napi_key: k\nregion: mars\n").contains { $0.contains("us or eu") })
    }
}
