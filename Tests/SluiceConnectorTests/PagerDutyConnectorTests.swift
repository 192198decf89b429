import Foundation
@testable import SluiceConnectors
import SluiceCore
import SluiceGuardDuty
import SluiceHTTP
import SluiceTestSupport
import Testing

/// `pagerduty` against scripts/receivers/vendors/pagerduty.py (Events API v2).
@Suite struct PagerDutyConnectorTests {
    typealias F = ChatConnectorFixture
    static let routingKey = "R0123456789abcdefABCDEF012345678"

    static func yaml(_ receiver: WebhookReceiver, key: String = routingKey) -> String {
        "name: pd-test\ntype: pagerduty\nrouting_key: \(key)\nurl: \(receiver.url)/v2/enqueue\n"
    }

    static func receiver() async throws -> WebhookReceiver {
        try await WebhookReceiver.start(vendor: "pagerduty", options: ["routing_key": routingKey])
    }

    @Test func defaultTemplateRendersEverySampleAsAnEvent() throws {
        let docs = try F.renderedDefaults("name: p\ntype: pagerduty\nrouting_key: \(Self.routingKey)\n")
        for (doc, sample) in zip(docs, F.samples) {
            let summary = FindingSummary(event: sample.event)!
            #expect((dig(doc, "payload", "summary") as? String)?.contains(summary.title) == true)
            #expect(dig(doc, "payload", "custom_details", "finding_id") as? String == summary.id)
            #expect(dig(doc, "payload", "class") as? String == summary.type)
            #expect(dig(doc, "links", 0, "href") as? String == summary.consoleURL)
            #expect((dig(doc, "payload", "custom_details", "process") != nil) == (summary.process != nil))
            #expect(doc["routing_key"] == nil, "the template never holds the key")
        }
        #expect(dig(docs.last, "payload", "custom_details", "title") as? String == F.hostileTitle)
    }

    @Test func deliversEverySampleWithRoutingKeyDedupKeyAndMappedSeverity() async throws {
        let receiver = try await Self.receiver()
        let d = try F.definition(Self.yaml(receiver))
        let outcomes = await F.deliverSamples(with: d, to: try F.connector(d))
        #expect(outcomes.allSatisfy { $0 == .delivered }, "\(outcomes)")
        #expect(try receiver.violations() == [])
        let incidents = try F.store(receiver)["incidents"] as? [String: [String: Any]] ?? [:]
        #expect(incidents.count == F.samples.count)
        for sample in F.samples {
            let summary = FindingSummary(event: sample.event)!
            let incident = incidents[summary.id]
            #expect(incident?["severity"] as? String == PagerDutyConnector.severity(for: summary.severityLabel), "\(sample.name)")
            #expect(incident?["source"] as? String == summary.resourceID)
        }
    }

    @Test func aRepeatUpdatesTheSameIncident() async throws {
        let receiver = try await Self.receiver()
        let d = try F.definition(Self.yaml(receiver))
        let c = try F.connector(d)
        let event = F.samples[0].event
        #expect(await F.deliver(F.delivery(event, for: d), to: c) == .delivered)
        #expect(await F.deliver(F.delivery(event, for: d), to: c) == .delivered)
        let store = try F.store(receiver)
        let incidents = store["incidents"] as? [String: [String: Any]] ?? [:]
        #expect(store["events"] as? Int == 2)
        #expect(incidents.count == 1, "one incident, not two")
        #expect(incidents[FindingSummary(event: event)!.id]?["events"] as? Int == 2)
        #expect(try receiver.violations() == [])
    }

    @Test func severityMapsFromTheGuardDutyBand() {
        #expect(PagerDutyConnector.severity(for: .critical) == "critical")
        #expect(PagerDutyConnector.severity(for: .high) == "error")
        #expect(PagerDutyConnector.severity(for: .medium) == "warning")
        #expect(PagerDutyConnector.severity(for: .low) == "info")
    }

    @Test func aLongSummaryIsCutAndMissingFieldsFilled() throws {
        let c = JSONPostConnector<PagerDutyConnector>(configuration: .init(routingKey: Secret(Self.routingKey), url: "http://127.0.0.1:1/v2/enqueue", tls: TLSOptions()),
                                   client: F.http, timeout: .seconds(1))
        let body = #"{"payload":{"summary":"\#(String(repeating: "s", count: 2000))","timestamp":""}}"#
        let request = try c.makeRequest(for: Delivery(payload: Array(body.utf8), findingID: "abc", route: "r")).get()
        let event = try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any] ?? [:]
        #expect(event["routing_key"] as? String == Self.routingKey)
        #expect(event["event_action"] as? String == "trigger" && event["dedup_key"] as? String == "abc")
        #expect((dig(event, "payload", "summary") as? String)?.count == PagerDutyConnector.maxSummary)
        #expect(dig(event, "payload", "severity") as? String == "warning")
        #expect(dig(event, "payload", "timestamp") == nil)
        #expect(!request.description.contains(Self.routingKey))
    }

    @Test func anUnknownKeyIsPermanentWithoutShowingItAnd429IsRetried() async throws {
        let receiver = try await Self.receiver()
        let wrong = "W0000000000000000000000000000000"
        let bad = try F.definition(Self.yaml(receiver, key: wrong))
        let outcome = await F.deliver(F.delivery(F.samples[0].event, for: bad), to: try F.connector(bad))
        #expect(F.isPermanent(outcome, containing: "Invalid routing key"), "\(outcome)")
        #expect(!F.message(outcome).contains(wrong))

        let d = try F.definition(Self.yaml(receiver))
        let c = try F.connector(d)
        try await receiver.setStatus(429, retryAfter: 2)
        #expect(await F.deliver(F.delivery(F.samples[0].event, for: d), to: c) == .retryable("HTTP 429", retryAfter: .seconds(2)))
        try await receiver.setStatus(502)
        #expect(await F.deliver(F.delivery(F.samples[0].event, for: d), to: c) == .retryable("HTTP 502"))
    }

    @Test func aKeyEchoedInAnErrorBodyIsRedactedFromTheOutcome() async throws {
        let receiver = try await Self.receiver()
        let d = try F.definition(Self.yaml(receiver))
        try await receiver.setStatus(400, body: #"{"status":"invalid event","errors":["routing_key \#(Self.routingKey) is disabled"]}"#)
        let outcome = await F.deliver(F.delivery(F.samples[0].event, for: d), to: try F.connector(d))
        #expect(F.isPermanent(outcome, containing: "routing_key <redacted> is disabled"), "\(outcome)")
        #expect(!F.message(outcome).contains(Self.routingKey))
    }

    @Test func anInvalidEventIsPermanent() async throws {
        let receiver = try await Self.receiver()
        let d = try F.definition(Self.yaml(receiver))
        let outcome = await F.deliver(Delivery(payload: Array(#"{"event_action":"explode"}"#.utf8), route: "r"), to: try F.connector(d))
        #expect(F.isPermanent(outcome, containing: "invalid event"), "\(outcome)")
        #expect(try receiver.violations().count == 1)
    }

    @Test func theRoutingKeyShapeIsCheckedAtValidateWithoutShowingIt() {
        let problems = F.problems("name: p\ntype: pagerduty\nrouting_key: short-SECRET\n")
        #expect(problems.contains { $0.contains("32-character") })
        #expect(!problems.joined().contains("short-SECRET"))
    }
}
