import Foundation
import SluiceAWS
@testable import SluiceConnectors
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

@Suite struct SNSConnectorTests {
    static let region = "ca-central-1"

    /// A topic with a queue subscribed to it (optionally through a filter policy), at moto.
    static func topicWithQueue(fifo: Bool = false, filterPolicy: String? = nil, aws: AWSClient) async throws -> (topic: String, queue: String) {
        let suffix = fifo ? ".fifo" : ""
        let name = "alerts-\(UUID().uuidString.prefix(8))"
        var parameters = [("Name", name + suffix)]
        if fifo { parameters += [("Attributes.entry.1.key", "FifoTopic"), ("Attributes.entry.1.value", "true")] }
        let created = try await aws.query(.sns, action: "CreateTopic", parameters: parameters)
        let topic = try #require(created.text("CreateTopicResult/TopicArn"))
        let queue = try await AWSFixtures.queue(name + suffix, attributes: fifo ? ["FifoQueue": "true"] : .object(), aws: aws)
        var subscribe = [("TopicArn", topic), ("Protocol", "sqs"), ("Endpoint", queue.arn)]
        if let filterPolicy { subscribe += [("Attributes.entry.1.key", "FilterPolicy"), ("Attributes.entry.1.value", filterPolicy)] }
        _ = try await aws.query(.sns, action: "Subscribe", parameters: subscribe)
        return (topic, queue.url)
    }

    @Test func publishesToSubscribersAndFilterPoliciesSeeTheAttributes() async throws {
        let moto = try await MotoServer.startShared()
        let http = HTTPClient()
        defer { http.shutdown() }
        let aws = AWSFixtures.moto(moto, http: http, region: Self.region)
        // Only High and Critical findings reach this queue: the filter reads finding.severity (a Number attribute).
        let (topic, queue) = try await Self.topicWithQueue(filterPolicy: #"{"finding.severity": [{"numeric": [">=", 7]}]}"#, aws: aws)
        let connector = try AWSFixtures.connector("aws-sns", "topic_arn: \(topic)", endpoint: moto.endpoint, http: http)
        let deliveries = try AWSFixtures.deliveries()
        for d in deliveries { #expect(AWSFixtures.kind(await AWSFixtures.attempt(connector, d)) == "delivered") }

        let high = deliveries.filter { ($0.summary?.severity ?? 0) >= 7 }
        #expect(!high.isEmpty && high.count < deliveries.count)
        let messages = try await AWSFixtures.drain(queue, aws: aws)
        #expect(messages.count == high.count)
        let notifications = try messages.map { try JSON.parse(#require($0["Body"]?.stringValue)) }
        #expect(Set(notifications.compactMap { $0["Message"]?.stringValue }) == Set(high.map { String(decoding: $0.payload, as: UTF8.self) }))
        for n in notifications {
            #expect(n["Type"]?.stringValue == "Notification" && n["TopicArn"]?.stringValue == topic)
            let subject = try #require(n["Subject"]?.stringValue)
            #expect(subject.hasPrefix("[High] ") || subject.hasPrefix("[Critical] "))
            #expect(subject.count < 100)
            #expect(n["MessageAttributes"]?["finding.severity"]?["Type"]?.stringValue == "Number")
            #expect(n["MessageAttributes"]?["finding.id"]?["Value"]?.stringValue != nil)
        }
    }

    @Test func fifoTopicsUseTheFindingIDForGroupAndDeduplication() async throws {
        let moto = try await MotoServer.startShared()
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let aws = AWSFixtures.moto(moto, http: http, region: Self.region)
            let (topic, queue) = try await Self.topicWithQueue(fifo: true, aws: aws)
            let connector = try AWSFixtures.connector("aws-sns", "topic_arn: \(topic)", endpoint: moto.endpoint, http: http)
            let d = try AWSFixtures.deliveries()[2]
            let id = try #require(d.findingID)
            // moto refuses a FIFO publish without MessageGroupId: delivered proves it was sent.
            #expect(AWSFixtures.kind(await AWSFixtures.attempt(connector, d)) == "delivered")
            let messages = try await AWSFixtures.drain(queue, aws: aws)
            #expect(messages.count == 1)
            #expect(messages.first?["Attributes"]?["MessageGroupId"]?.stringValue == id)

            let parameters = Dictionary(connector.asSNS.message(for: d), uniquingKeysWith: { a, _ in a })
            #expect(parameters["MessageGroupId"] == id && parameters["MessageDeduplicationId"] == id)
        }
    }

    @Test func publishBatchSettlesEachEntry() async throws {
        let moto = try await MotoServer.startShared()
        let http = HTTPClient()
        defer { http.shutdown() }
        let aws = AWSFixtures.moto(moto, http: http, region: Self.region)
        let (topic, queue) = try await Self.topicWithQueue(aws: aws)
        let connector = try AWSFixtures.connector("aws-sns", """
            topic_arn: \(topic)
            batch: {max_items: 50}
            """, endpoint: moto.endpoint, http: http)
        let deliveries = try AWSFixtures.deliveries() + AWSFixtures.deliveries().prefix(3)  // 12: two PublishBatch calls
        let outcomes = try await AWSFixtures.attempt(connector, batch: deliveries)
        #expect(outcomes.map(AWSFixtures.kind) == Array(repeating: "delivered", count: 12))
        let messages = try await AWSFixtures.drain(queue, aws: aws)
        #expect(messages.count == 12)
        let notifications = try messages.map { try JSON.parse(#require($0["Body"]?.stringValue)) }
        #expect(notifications.allSatisfy { $0["MessageAttributes"]?["finding.severity_label"]?["Value"]?.stringValue != nil })

        let answer = try #require(XMLTree.parse("""
            <PublishBatchResponse><PublishBatchResult>
              <Successful><member><Id>0</Id><MessageId>m-0</MessageId></member></Successful>
              <Failed><member><Id>1</Id><Code>InvalidParameter</Code><Message>bad attribute</Message><SenderFault>true</SenderFault></member>
                      <member><Id>2</Id><Code>InternalError</Code><Message>oops</Message><SenderFault>false</SenderFault></member></Failed>
            </PublishBatchResult></PublishBatchResponse>
            """))
        #expect(SNSConnector.batchOutcomes(answer, count: 4).map(AWSFixtures.kind) == ["delivered", "permanent", "retryable", "retryable"])
    }

    @Test func unknownTopicIsPermanentAndServerErrorsRetryable() async throws {
        let moto = try await MotoServer.startShared()
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let missing = try AWSFixtures.connector("aws-sns", "topic_arn: arn:aws:sns:\(Self.region):\(MotoServer.accountID):no-such-topic-\(UUID().uuidString.prefix(8))", endpoint: moto.endpoint, http: http)
            let d = try AWSFixtures.deliveries()[0]
            let outcome = await AWSFixtures.attempt(missing, d)
            #expect(AWSFixtures.kind(outcome) == "permanent")
            #expect(AWSFixtures.message(outcome).contains("NotFound"))

            let receiver = try await WebhookReceiver.start(status: 200)
            try await withCleanup { cleanup in
                cleanup.add { await receiver.stopAndWait() }
                let flaky = try AWSFixtures.connector("aws-sns", "topic_arn: arn:aws:sns:eu-west-1:111122223333:alerts", endpoint: receiver.url, http: http)
                try await receiver.setStatus(500, body: "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code><Message>oops</Message></Error></ErrorResponse>")
                #expect(AWSFixtures.kind(await AWSFixtures.attempt(flaky, d)) == "retryable")
                try await receiver.setStatus(400, body: "<ErrorResponse><Error><Type>Sender</Type><Code>Throttled</Code><Message>Rate exceeded</Message></Error></ErrorResponse>", retryAfter: 2)
                let throttled = await AWSFixtures.attempt(flaky, d)
                #expect(throttled == .retryable("Throttled: Rate exceeded (HTTP 400)", retryAfter: .seconds(2)))
                try await receiver.setStatus(403, body: "<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>not authorized</Message></Error></ErrorResponse>")
                #expect(AWSFixtures.kind(await AWSFixtures.attempt(flaky, d)) == "permanent")
            }
        }
    }

    @Test func requestParametersAndValidation() throws {
        let http = HTTPClient()
        defer { http.shutdown() }
        let connector = try AWSFixtures.connector("""
            name: alerts
            type: aws-sns
            topic_arn: arn:aws:sns:eu-west-1:111122223333:alerts
            subject: false
            \(AWSFixtures.credentialsYAML)
            """, http: http)
        let d = try AWSFixtures.deliveries()[0]
        let p = connector.asSNS.message(for: d)
        #expect(p.first { $0.0 == "Subject" } == nil)
        #expect(p.first { $0.0 == "MessageGroupId" } == nil)  // not a FIFO topic
        #expect(p.contains { $0 == ("MessageAttributes.entry.1.Name", "sluice.route") })
        #expect(connector.asSNS.client.region == "eu-west-1")  // from the topic ARN
        #expect(SNSConnector.subject("a\nb\tc") == "a b c")
        #expect(SNSConnector.subject(String(repeating: "x", count: 150)).count == 99)

        #expect(try AWSFixtures.problems("name: t\ntype: aws-sns\ntopic_arn: alerts\n").contains { $0.contains("must be an SNS topic ARN") })
        #expect(try AWSFixtures.problems("name: t\ntype: aws-sns\ntopic_arn: arn:aws:sns:eu-west-1:1:a\nmessage_group_id: g\n").contains { $0.contains("FIFO topics") })
        #expect(try AWSFixtures.problems("name: t\ntype: aws-sns\ntopic_arn: arn:aws:sns:eu-west-1:1:a\nendpoint: localhost\n").contains { $0.contains("endpoint must start with") })
    }
}

extension Connector {
    fileprivate var asSNS: SNSConnector { self as! SNSConnector }
}
