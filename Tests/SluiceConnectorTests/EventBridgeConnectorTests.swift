import Foundation
import SluiceAWS
@testable import SluiceConnectors
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

@Suite struct EventBridgeConnectorTests {
    static let region = "sa-east-1"

    /// A custom bus whose rule (with `pattern`) targets a new queue, at moto.
    static func busWithQueue(pattern: String, aws: AWSClient) async throws -> (bus: String, queue: String) {
        let bus = "security-\(UUID().uuidString.prefix(8))"
        _ = try await aws.json(.eventBridge, operation: "CreateEventBus", body: ["Name": .string(bus)])
        let queue = try await AWSFixtures.queue(bus, aws: aws)
        _ = try await aws.json(.eventBridge, operation: "PutRule", body: ["Name": "to-queue", "EventBusName": .string(bus), "EventPattern": .string(pattern)])
        _ = try await aws.json(.eventBridge, operation: "PutTargets", body: [
            "Rule": "to-queue", "EventBusName": .string(bus), "Targets": [["Id": "queue", "Arn": .string(queue.arn)]],
        ])
        return (bus, queue.url)
    }

    @Test func batchOfFindingsReachesARuleWrittenForGuardDutyEvents() async throws {
        let moto = try await MotoServer.startShared()
        let http = HTTPClient()
        defer { http.shutdown() }
        let aws = AWSFixtures.moto(moto, http: http, region: Self.region)
        // The rule reads detail.severity and detail-type as GuardDuty's own events carry them.
        let pattern = #"{"source": ["sluice"], "detail-type": ["GuardDuty Finding"], "detail": {"severity": [{"numeric": [">=", 7]}]}}"#
        let (bus, queue) = try await Self.busWithQueue(pattern: pattern, aws: aws)
        let connector = try AWSFixtures.connector("aws-eventbridge", """
            event_bus: \(bus)
            region: \(Self.region)
            batch: {max_items: 20}
            """, endpoint: moto.endpoint, http: http)
        let deliveries = try AWSFixtures.deliveries()
        let outcomes = try await AWSFixtures.attempt(connector, batch: deliveries)  // 9 entries: one PutEvents call
        #expect(outcomes.map(AWSFixtures.kind) == Array(repeating: "delivered", count: deliveries.count))

        let high = deliveries.filter { ($0.summary?.severity ?? 0) >= 7 }
        let messages = try await AWSFixtures.drain(queue, aws: aws)
        #expect(messages.count == high.count)
        let events = try messages.map { try JSON.parse(#require($0["Body"]?.stringValue)) }
        #expect(Set(events.compactMap { $0.value(atPath: "detail.id")?.stringValue }) == Set(high.compactMap(\.findingID)))
        for e in events {
            #expect(e["source"]?.stringValue == "sluice")
            #expect(e["detail-type"]?.stringValue == "GuardDuty Finding")
            let arn = try #require(e.value(atPath: "detail.arn")?.stringValue)
            #expect(e["resources"]?.arrayValue?.compactMap(\.stringValue) == [arn])
        }
    }

    /// The replay marker (README, "Marked"): a replayed finding's Detail carries
    /// `"sluice-replay": NAME`, so a rule on the bus can send replays elsewhere; a live finding
    /// never does, not even one that brings the member along. Checked with moto's EventBridge
    /// evaluating a rule on the member (`exists`), each matching event landing in a queue.
    @Test func aReplayedFindingsDetailCarriesTheMarkerAndALiveOneNever() async throws {
        let moto = try await MotoServer.startShared()
        let http = HTTPClient()
        defer { http.shutdown() }
        let aws = AWSFixtures.moto(moto, http: http, region: Self.region)
        let (bus, replays) = try await Self.busWithQueue(pattern: #"{"source": ["sluice"], "detail": {"sluice-replay": [{"exists": true}]}}"#, aws: aws)
        let connector = try AWSFixtures.connector("aws-eventbridge", "event_bus: \(bus)\nregion: \(Self.region)\nbatch: {max_items: 10}\n",
                                                  endpoint: moto.endpoint, http: http)
        var deliveries = Array(try AWSFixtures.deliveries().prefix(4))
        deliveries[0].replay = "night-1"
        deliveries[1].replay = "night-1"
        // A live finding that says it is a replay: the member is its own, and goes.
        let forged = #"{"version":"0","id":"e1","detail-type":"GuardDuty Finding","source":"aws.guardduty","detail":{"id":"forged-1","arn":"arn:aws:guardduty:sa-east-1:111122223333:detector/d/finding/forged-1","severity":8,"sluice-replay":"night-1"}}"#
        deliveries[3] = try AWSFixtures.delivery(Array(forged.utf8))
        let outcomes = try await AWSFixtures.attempt(connector, batch: deliveries)
        #expect(outcomes.map(AWSFixtures.kind) == Array(repeating: "delivered", count: 4))

        let events = try await AWSFixtures.drain(replays, aws: aws).map { try JSON.parse(#require($0["Body"]?.stringValue)) }
        let replayedIDs = deliveries.prefix(2).compactMap(\.findingID)
        #expect(Set(events.compactMap { $0.value(atPath: "detail.id")?.stringValue }) == Set(replayedIDs), "\(events)")
        #expect(events.allSatisfy { $0.value(atPath: "detail.sluice-replay")?.stringValue == "night-1" })

        // The entries as sent: the live ones have no member, the forged one lost its own.
        let bridge = try #require(connector as? EventBridgeConnector)
        for (delivery, expected) in zip(deliveries, ["night-1", "night-1", nil, nil]) {
            let entry = try bridge.entry(for: delivery).get()
            let detail = try JSON.parse(#require(entry.string("Detail")))
            #expect(detail["sluice-replay"]?.stringValue == expected)
            #expect(detail["id"]?.stringValue == (delivery.findingID ?? "forged-1"))
        }
    }

    @Test func entryRequestsAndPerEntryResults() throws {
        let http = HTTPClient()
        defer { http.shutdown() }
        let connector = try AWSFixtures.connector("""
            name: bus
            type: aws-eventbridge
            event_bus: arn:aws:events:eu-central-1:111122223333:event-bus/central
            detail_type: Sluice Routed
            \(AWSFixtures.credentialsYAML)
            """, http: http) as! EventBridgeConnector
        #expect(connector.client.region == "eu-central-1")  // from the bus ARN
        let d = try AWSFixtures.deliveries()[0]
        let entry = try connector.entry(for: d).get()
        #expect(entry.string("EventBusName") == "arn:aws:events:eu-central-1:111122223333:event-bus/central")
        #expect(entry.string("DetailType") == "Sluice Routed")
        let detail = try JSON.parse(#require(entry.string("Detail")))
        #expect(detail["id"]?.stringValue == d.findingID && detail["detail"] == nil)  // unwrapped
        // A bare object goes as the detail; anything else is refused before any call.
        let bare = Delivery(payload: Array(#"{"hello":"world"}"#.utf8), route: "r")
        #expect(try connector.entry(for: bare).get().string("Detail") == #"{"hello":"world"}"#)
        let array = Delivery(payload: Array("[1,2]".utf8), route: "r")
        #expect((try? connector.entry(for: array).get()) == nil)

        #expect(EventBridgeConnector.outcome(entry: ["EventId": "e-1"]) == .delivered)
        #expect(AWSFixtures.kind(EventBridgeConnector.outcome(entry: ["ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"])) == "retryable")
        #expect(AWSFixtures.kind(EventBridgeConnector.outcome(entry: ["ErrorCode": "InternalFailure"])) == "retryable")
        #expect(EventBridgeConnector.outcome(entry: ["ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."])
            == .permanent("MalformedDetail: Detail is malformed."))
        #expect(AWSFixtures.kind(EventBridgeConnector.outcome(entry: nil)) == "retryable")
    }

    @Test func perEntryFailuresSettleOneByOne() async throws {
        let receiver = try await WebhookReceiver.start(status: 200)
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let connector = try AWSFixtures.connector("aws-eventbridge", "region: eu-west-1", endpoint: receiver.url, http: http)
            // PutEvents answers 200 with FailedEntryCount and one result per entry, in order.
            try await receiver.setStatus(200, body: """
                {"FailedEntryCount": 2, "Entries": [{"EventId": "e-1"}, {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"},
                 {"ErrorCode": "NotAuthorizedForDetailTypeException", "ErrorMessage": "not allowed"}]}
                """)
            let all = try AWSFixtures.deliveries()
            let notJSON = Delivery(payload: Array("not json".utf8), route: "r")
            let outcomes = try await AWSFixtures.attempt(connector, batch: [all[0], all[1], notJSON, all[2]])
            #expect(outcomes.map(AWSFixtures.kind) == ["delivered", "retryable", "permanent", "permanent"])
            #expect(AWSFixtures.message(outcomes[3]).contains("NotAuthorizedForDetailTypeException"))
            let sent = try JSON.parse(#require(try receiver.records().last).body)
            #expect(sent["Entries"]?.arrayValue?.count == 3)  // the unusable payload was never sent

            // Eleven entries take two calls (PutEvents takes ten at most).
            try await receiver.reset()
            try await receiver.setStatus(200, body: #"{"FailedEntryCount": 0, "Entries": [{"EventId": "a"}, {"EventId": "b"}, {"EventId": "c"}, {"EventId": "d"}, {"EventId": "e"}, {"EventId": "f"}, {"EventId": "g"}, {"EventId": "h"}, {"EventId": "i"}, {"EventId": "j"}]}"#)
            let eleven = Array((all + all).prefix(11))
            let results = try await AWSFixtures.attempt(connector, batch: eleven)
            let firstTenDelivered = results.prefix(10).allSatisfy { $0 == .delivered }
            #expect(firstTenDelivered)
            #expect(results.count == 11)
            let entriesPerCall = try receiver.records().map { try JSON.parse($0.body)["Entries"]?.arrayValue?.count }
            #expect(entriesPerCall == [10, 1])

            // A throttled call retries its whole batch.
            try await receiver.setStatus(400, body: #"{"__type": "ThrottlingException", "message": "Rate exceeded"}"#)
            #expect(try await AWSFixtures.attempt(connector, batch: [all[0], all[1]]).map(AWSFixtures.kind) == ["retryable", "retryable"])
        }
    }

    @Test func unknownBusIsPermanent() async throws {
        let moto = try await MotoServer.startShared()
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let connector = try AWSFixtures.connector("aws-eventbridge", """
                event_bus: no-such-bus-\(UUID().uuidString.prefix(8))
                region: \(Self.region)
                """, endpoint: moto.endpoint, http: http)
            let outcome = await AWSFixtures.attempt(connector, try AWSFixtures.deliveries()[0])
            #expect(AWSFixtures.kind(outcome) == "permanent")
            #expect(AWSFixtures.message(outcome).contains("ResourceNotFoundException"))
        }
    }

    @Test func configurationIsChecked() throws {
        #expect(try AWSFixtures.problems("name: b\ntype: aws-eventbridge\nsource: aws.guardduty\n").contains { $0.contains("must not start with 'aws.'") })
        #expect(try AWSFixtures.problems("name: b\ntype: aws-eventbridge\nbatch: {max_items: 10}\n").isEmpty)
        #expect(try AWSFixtures.problems("name: b\ntype: aws-eventbridge\nassume_role: {role_arn: admin}\n").contains { $0.contains("role_arn must be an ARN") })
    }
}
