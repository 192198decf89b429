import Foundation
import SluiceAWS
@testable import SluiceConnectors
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

@Suite struct SQSConnectorTests {
    static let region = "eu-west-3"

    @Test func sendsEveryFindingWithItsAttributes() async throws {
        let moto = try await MotoServer.startShared()
        let http = HTTPClient()
        defer { http.shutdown() }
        let aws = AWSFixtures.moto(moto, http: http, region: Self.region)
        let queue = try await AWSFixtures.queue("triage-\(UUID().uuidString.prefix(8))", aws: aws)
        let connector = try AWSFixtures.connector("aws-sqs", """
            queue_url: \(queue.url)
            region: \(Self.region)
            """, endpoint: moto.endpoint, http: http)
        let deliveries = try AWSFixtures.deliveries()
        for d in deliveries { #expect(AWSFixtures.kind(await AWSFixtures.attempt(connector, d)) == "delivered") }

        let messages = try await AWSFixtures.drain(queue.url, aws: aws)
        #expect(messages.count == deliveries.count)
        let bodies = Set(messages.compactMap { $0["Body"]?.stringValue })
        #expect(bodies == Set(deliveries.map { String(decoding: $0.payload, as: UTF8.self) }))
        let reverseShell = try #require(messages.first { $0["Body"]?.stringValue?.contains("60c201a98e842bef0c6541ba882c5999") == true })
        let attributes = try #require(reverseShell["MessageAttributes"])
        #expect(attributes["finding.id"]?["StringValue"]?.stringValue == "60c201a98e842bef0c6541ba882c5999")
        #expect(attributes["finding.severity"]?["DataType"]?.stringValue == "Number")
        #expect(attributes["finding.severity"]?["StringValue"]?.stringValue == "8")
        #expect(attributes["finding.severity_label"]?["StringValue"]?.stringValue == "High")
        #expect(attributes["finding.type"]?["StringValue"]?.stringValue == "Execution:Runtime/ReverseShell")
        #expect(attributes["finding.resource_type"]?["StringValue"]?.stringValue == "ECSCluster")
        #expect(attributes["sluice.route"]?["StringValue"]?.stringValue == "test-route")
    }

    @Test func fifoQueuesGroupAndDeduplicateByFinding() async throws {
        let moto = try await MotoServer.startShared()
        let http = HTTPClient()
        defer { http.shutdown() }
        let aws = AWSFixtures.moto(moto, http: http, region: Self.region)
        let queue = try await AWSFixtures.queue("triage-\(UUID().uuidString.prefix(8)).fifo", attributes: ["FifoQueue": "true"], aws: aws)
        let connector = try AWSFixtures.connector("aws-sqs", """
            queue_url: \(queue.url)
            region: \(Self.region)
            """, endpoint: moto.endpoint, http: http)
        let all = try AWSFixtures.deliveries()
        // The first finding twice (a retried send), then the second: SQS keeps two messages.
        var retried = all[0]
        retried.attempt = 2
        for d in [all[0], retried, all[1]] { #expect(AWSFixtures.kind(await AWSFixtures.attempt(connector, d)) == "delivered") }
        let messages = try await AWSFixtures.drain(queue.url, aws: aws)
        #expect(messages.count == 2)
        let groups = messages.compactMap { $0.value(atPath: "Attributes")?["MessageGroupId"]?.stringValue }
        #expect(groups == [all[0].findingID, all[1].findingID].compactMap { $0 })
        let dedup = messages.compactMap { $0.value(atPath: "Attributes")?["MessageDeduplicationId"]?.stringValue }
        #expect(dedup == groups)
    }

    @Test func sendMessageBatchSettlesEachEntry() async throws {
        let moto = try await MotoServer.startShared()
        let http = HTTPClient()
        defer { http.shutdown() }
        let aws = AWSFixtures.moto(moto, http: http, region: Self.region)
        let queue = try await AWSFixtures.queue("triage-\(UUID().uuidString.prefix(8)).fifo", attributes: ["FifoQueue": "true"], aws: aws)
        let connector = try AWSFixtures.connector("aws-sqs", """
            queue_url: \(queue.url)
            region: \(Self.region)
            batch: {max_items: 50}
            """, endpoint: moto.endpoint, http: http)
        let deliveries = try AWSFixtures.deliveries()
        let notJSON = Delivery(payload: Array("plain text is fine for SQS".utf8), route: "r")  // no finding id: group "sluice"
        let outcomes = try await AWSFixtures.attempt(connector, batch: deliveries + deliveries.prefix(2) + [notJSON])
        #expect(outcomes.map(AWSFixtures.kind) == Array(repeating: "delivered", count: 12))
        // Two calls (10 + 2); the two repeated findings were deduplicated by their finding ids.
        let messages = try await AWSFixtures.drain(queue.url, aws: aws)
        #expect(messages.count == deliveries.count + 1)
        #expect(Set(messages.compactMap { $0["Attributes"]?["MessageGroupId"]?.stringValue }) == Set(deliveries.compactMap(\.findingID) + ["sluice"]))

        let answer: JSON = try JSON.parse("""
            {"Successful": [{"Id": "0", "MessageId": "m-0"}],
             "Failed": [{"Id": "1", "SenderFault": true, "Code": "InvalidParameterValue", "Message": "bad"},
                        {"Id": "2", "SenderFault": false, "Code": "InternalError", "Message": "oops"},
                        {"Id": "3", "SenderFault": true, "Code": "RequestThrottled", "Message": "slow down"}]}
            """)
        #expect(SQSConnector.batchOutcomes(answer, count: 5).map(AWSFixtures.kind) == ["delivered", "permanent", "retryable", "retryable", "retryable"])
    }

    @Test func unknownQueueIsPermanentAndThrottlingRetryable() async throws {
        let moto = try await MotoServer.startShared()
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let missing = try AWSFixtures.connector("aws-sqs", """
                queue_url: \(moto.endpoint)/\(MotoServer.accountID)/no-such-queue-\(UUID().uuidString.prefix(8))
                region: \(Self.region)
                """, endpoint: moto.endpoint, http: http)
            let d = try AWSFixtures.deliveries()[0]
            let outcome = await AWSFixtures.attempt(missing, d)
            #expect(AWSFixtures.kind(outcome) == "permanent")
            #expect(AWSFixtures.message(outcome).contains("QueueDoesNotExist"))

            // SQS answers throttling with 400 and a JSON error; it must come back retryable.
            let receiver = try await WebhookReceiver.start(status: 200)
            try await withCleanup { cleanup in
                cleanup.add { await receiver.stopAndWait() }
                try await receiver.setStatus(400, body: #"{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Request is throttled."}"#)
                let throttled = try AWSFixtures.connector("""
                    name: throttled
                    type: aws-sqs
                    queue_url: https://sqs.eu-west-3.amazonaws.com/111122223333/triage
                    endpoint: \(receiver.url)
                    """, http: http, environment: ["AWS_ACCESS_KEY_ID": "ASIAENVEXAMPLE", "AWS_SECRET_ACCESS_KEY": "env-secret",
                                                  "AWS_SESSION_TOKEN": "ENVSESSIONTOKEN", "HOME": "/nonexistent"])
                let t = await AWSFixtures.attempt(throttled, d)
                #expect(AWSFixtures.kind(t) == "retryable")
                #expect(AWSFixtures.message(t).contains("RequestThrottled"))
                // The environment's temporary credentials signed it, region from the queue URL.
                try await receiver.setStatus(200, body: #"{"MessageId":"m-1","MD5OfMessageBody":"x"}"#)
                #expect(AWSFixtures.kind(await AWSFixtures.attempt(throttled, d)) == "delivered")
                let r = try #require(try receiver.records().last)
                #expect(r.header("X-Amz-Target") == "AmazonSQS.SendMessage")
                #expect(r.header("X-Amz-Security-Token") == "ENVSESSIONTOKEN")
                #expect(r.header("Authorization")?.contains("Credential=ASIAENVEXAMPLE/") == true)
                #expect(r.header("Authorization")?.contains("/eu-west-3/sqs/aws4_request") == true)
                #expect(!r.body.contains("env-secret"))
            }
        }
    }

    @Test func configurationIsChecked() throws {
        #expect(try AWSFixtures.problems("name: q\ntype: aws-sqs\n").contains { $0.contains("missing required key 'queue_url'") })
        #expect(try AWSFixtures.problems("name: q\ntype: aws-sqs\nqueue_url: sqs/triage\n").contains { $0.contains("queue_url must be a queue URL") })
        #expect(try AWSFixtures.problems("name: q\ntype: aws-sqs\nqueue_url: https://sqs.eu-west-1.amazonaws.com/1/q\nmessage_group_id: g\n")
            .contains { $0.contains("FIFO queues") })
        #expect(try AWSFixtures.problems("name: q\ntype: aws-sqs\nqueue_url: https://sqs.eu-west-1.amazonaws.com/1/q\nregoin: x\n")
            .contains { $0.contains("unknown key \"regoin\" for an aws-sqs connector") })
        #expect(SQSConnector.region(ofQueueURL: "https://sqs.ap-south-1.amazonaws.com/1/q") == "ap-south-1")
        #expect(SQSConnector.region(ofQueueURL: "https://eu-west-1.queue.amazonaws.com/1/q") == "eu-west-1")
        #expect(SQSConnector.region(ofQueueURL: "http://127.0.0.1:5000/1/q") == nil)
    }
}
