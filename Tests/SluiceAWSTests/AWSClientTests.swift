import Foundation
import SluiceAWS
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Synchronization
import Testing

/// moto accepts any key pair; these are the documentation's example keys.
let exampleCredentials = StaticCredentialsProvider(AWSCredentials(
    accessKeyID: "AKIDEXAMPLE", secretAccessKey: Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")))

/// Per call to moto: one Python process serving the whole suite one request at a time, at the
/// test run's niceness; beside a benchmark a call was seen to take more than 10 s.
let motoCallTimeout: Duration = .seconds(120)

func motoClient(_ moto: MotoServer, http: HTTPClient, region: String = "us-east-1",
                credentials: any AWSCredentialsProvider = exampleCredentials) -> AWSClient {
    AWSClient(region: region, credentials: credentials, http: http, endpoint: moto.endpoint, timeout: motoCallTimeout)
}

/// A name no other test uses, for resources on the shared moto server.
func uniqueName(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }

@Suite struct AWSClientTests {
    /// The harness takes moto as started only once moto itself bound its port. A free port can
    /// be taken by another test's server while moto warms up; that server accepts connections
    /// too, and a run once sent every AWS call to it (404 for all, moto gone with "Address
    /// already in use"). Here the port is taken on purpose: the start is refused.
    @Test func aPortTakenByAnotherServerIsNotTakenForMoto() async throws {
        let other = try await WebhookReceiver.start()
        let (p, port, log) = try MotoServer.launch(port: other.port)
        let bound = try await offPool { MotoServer.waitUntilBound(p, port: port, log: log, timeout: 120) }
        ChildProcess.stop(p)
        let stillAccepting = await LoopbackPort.accepts(port, within: 1)
        await other.stopAndWait()
        try? FileManager.default.removeItem(at: log)
        #expect(!bound, "moto could not bind a port another server holds")
        #expect(stillAccepting, "a connection alone would have passed: the other server accepts")
    }

    @Test func queryProtocolAgainstMoto() async throws {
        let moto = try await MotoServer.startShared()
        let http = HTTPClient()
        defer { http.shutdown() }
        let aws = motoClient(moto, http: http, region: "eu-west-1")
        let name = uniqueName("topic")
        let created = try await aws.query(.sns, action: "CreateTopic", parameters: [("Name", name)])
        #expect(created.name == "CreateTopicResponse")
        #expect(created.text("CreateTopicResult/TopicArn") == "arn:aws:sns:eu-west-1:\(MotoServer.accountID):\(name)")
        // The signature's region picks moto's backend: the topic exists in eu-west-1 only.
        let listed = try await aws.query(.sns, action: "ListTopics")
        #expect(listed.all("ListTopicsResult/Topics/member").contains { $0.text("TopicArn")?.hasSuffix(":\(name)") == true })
        let elsewhere = try await motoClient(moto, http: http, region: "us-west-2").query(.sns, action: "ListTopics")
        #expect(!elsewhere.all("ListTopicsResult/Topics/member").contains { $0.text("TopicArn")?.hasSuffix(":\(name)") == true })
    }

    @Test func queryErrorsCarryAWSCodes() async throws {
        let moto = try await MotoServer.startShared()
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let aws = motoClient(moto, http: http)
            do throws(AWSError) {
                _ = try await aws.query(.ec2, action: "DescribeInstances", parameters: [("InstanceId.1", "i-0123456789abcdef0")])
                Issue.record("DescribeInstances of an unknown instance should fail")
            } catch {
                #expect(error.kind == .service)
                #expect(error.code == "InvalidInstanceID.NotFound")
                #expect(error.message.contains("i-0123456789abcdef0"))
                #expect(error.status == 400)
                #expect(!error.isRetriable)
            }
        }
    }

    @Test func jsonProtocolAgainstMoto() async throws {
        let moto = try await MotoServer.startShared()
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let aws = motoClient(moto, http: http)
            let name = uniqueName("queue")
            let created = try await aws.json(.sqs, operation: "CreateQueue", body: ["QueueName": .string(name)])
            let url = try #require(created["QueueUrl"]?.stringValue)
            #expect(url.hasSuffix("/\(MotoServer.accountID)/\(name)"))
            _ = try await aws.json(.sqs, operation: "SendMessage", body: ["QueueUrl": .string(url), "MessageBody": "hello"])
            let received = try await aws.json(.sqs, operation: "ReceiveMessage", body: ["QueueUrl": .string(url), "MaxNumberOfMessages": 10])
            #expect(received["Messages"]?.arrayValue?.first?["Body"]?.stringValue == "hello")
            do throws(AWSError) {
                _ = try await aws.json(.sqs, operation: "GetQueueUrl", body: ["QueueName": .string(uniqueName("missing"))])
                Issue.record("GetQueueUrl of an unknown queue should fail")
            } catch {
                #expect(error.code == "QueueDoesNotExist")  // from `com.amazonaws.sqs#QueueDoesNotExist`
                #expect(!error.isRetriable)
            }
        }
    }

    @Test func restJSONAgainstMoto() async throws {
        let moto = try await MotoServer.startShared()
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let answer = try await motoClient(moto, http: http).rest(.securityHub, method: "POST", path: "/findings/import", body: ["Findings": []])
            #expect(answer["SuccessCount"]?.doubleValue == 0)
            #expect(answer["FailedCount"]?.doubleValue == 0)
        }
    }

    @Test func sessionTokenIsSentAndSigned() async throws {
        let receiver = try await WebhookReceiver.start(status: 200)
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let temporary = StaticCredentialsProvider(AWSCredentials(
                accessKeyID: "ASIAEXAMPLE", secretAccessKey: Secret("SECRETKEYEXAMPLE"), sessionToken: Secret("SESSIONTOKENEXAMPLE")))
            let aws = AWSClient(region: "eu-central-1", credentials: temporary, http: http, endpoint: receiver.url)
            _ = try await aws.json(.eventBridge, operation: "PutEvents", body: ["Entries": []])
            let r = try #require(try receiver.records().first)
            #expect(r.header("X-Amz-Target") == "AWSEvents.PutEvents")
            #expect(r.header("Content-Type") == "application/x-amz-json-1.1")
            #expect(r.header("X-Amz-Security-Token") == "SESSIONTOKENEXAMPLE")
            let auth = try #require(r.header("Authorization"))
            #expect(auth.hasPrefix("AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/"))
            #expect(auth.contains("/eu-central-1/events/aws4_request"))
            #expect(auth.contains("x-amz-security-token"))
            #expect(!auth.contains("SECRETKEYEXAMPLE"))
        }
    }

    @Test func throttlingAndServerErrorsAreRetriable() async throws {
        let receiver = try await WebhookReceiver.start(status: 200)
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let aws = AWSClient(region: "us-east-1", credentials: exampleCredentials, http: http, endpoint: receiver.url)

            try await receiver.setStatus(400, body: #"{"__type":"ThrottlingException","message":"Rate exceeded"}"#)
            let throttled = await failure { try await aws.json(.ecs, operation: "ListClusters", body: [:]) }
            #expect(throttled?.code == "ThrottlingException" && throttled?.isThrottling == true && throttled?.isRetriable == true)
            #expect(throttled?.message == "Rate exceeded")

            let xml = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
            try await receiver.setStatus(400, body: xml)
            let queryThrottled = await failure { _ = try await aws.query(.sns, action: "ListTopics") }
            #expect(queryThrottled?.code == "Throttling" && queryThrottled?.isRetriable == true && queryThrottled?.requestID == "r-1")

            try await receiver.setStatus(503, body: "", retryAfter: 3)
            let unavailable = await failure { try await aws.rest(.securityHub, method: "POST", path: "/findings/import", body: [:]) }
            #expect(unavailable?.status == 503 && unavailable?.isRetriable == true && unavailable?.retryAfter == .seconds(3))

            try await receiver.setStatus(403, body: #"{"message":"not allowed"}"#)
            let denied = await failure { try await aws.rest(.securityHub, method: "POST", path: "/findings/import", body: [:]) }
            #expect(denied?.status == 403 && denied?.isRetriable == false && denied?.message == "not allowed")
        }
    }

    @Test func transportFailuresAreRetriable() async throws {
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let aws = AWSClient(region: "us-east-1", credentials: exampleCredentials, http: http, endpoint: "http://127.0.0.1:\(freeLoopbackPort())")
            let e = await failure { try await aws.json(.sqs, operation: "ListQueues", body: [:]) }
            #expect(e?.kind == .transport && e?.isRetriable == true)
        }
    }

    @Test func expiredTokenDropsTheCachedCredentials() async throws {
        let receiver = try await WebhookReceiver.start(status: 200)
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let counting = CountingProvider()
            let aws = AWSClient(region: "us-east-1", credentials: CachedCredentialsProvider(counting), http: http, endpoint: receiver.url)
            _ = try await aws.json(.sqs, operation: "ListQueues", body: [:])
            _ = try await aws.json(.sqs, operation: "ListQueues", body: [:])
            #expect(counting.fetches == 1)
            try await receiver.setStatus(400, body: #"{"__type":"com.amazonaws.sqs#ExpiredToken","message":"The security token included in the request is expired"}"#)
            let expired = await failure { try await aws.json(.sqs, operation: "ListQueues", body: [:]) }
            #expect(expired?.isExpiredCredentials == true && expired?.isRetriable == true)
            try await receiver.reset()
            _ = try await aws.json(.sqs, operation: "ListQueues", body: [:])
            #expect(counting.fetches == 2)
        }
    }
}

@Suite struct MotoServerTests {
    @Test func ownServerResetsAndStopsOnSIGTERM() async throws {
        let moto = try await MotoServer.start()
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let aws = motoClient(moto, http: http)
            _ = try await aws.json(.sqs, operation: "CreateQueue", body: ["QueueName": "before-reset"])
            #expect(try await aws.json(.sqs, operation: "ListQueues", body: [:])["QueueUrls"]?.arrayValue?.count == 1)
            try moto.reset()
            #expect(try await aws.json(.sqs, operation: "ListQueues", body: [:])["QueueUrls"]?.arrayValue?.count ?? 0 == 0)
            await moto.stopAndWait()
            #expect(LoopbackPort.connect(moto.port) == nil)
        }
    }
}

/// The `AWSError` a call throws, or nil (recorded as an issue) when it succeeds.
func failure<T>(_ call: () async throws -> T) async -> AWSError? {
    do {
        _ = try await call()
        Issue.record("the call should have failed")
        return nil
    } catch {
        #expect(error is AWSError)
        return error as? AWSError
    }
}

/// Counts fetches; hands out credentials that expire in an hour.
final class CountingProvider: AWSCredentialsProvider {
    private let count = Mutex(0)
    var fetches: Int { count.withLock { $0 } }
    func credentials() async throws(AWSError) -> AWSCredentials {
        let n = count.withLock { $0 += 1; return $0 }
        return AWSCredentials(accessKeyID: "ASIA\(n)", secretAccessKey: Secret("s\(n)"), sessionToken: Secret("t\(n)"),
                              expiration: Date().addingTimeInterval(3600))
    }
}

@Suite struct AWSWirePartsTests {
    @Test func formEncodingEscapesLikeSigV4() {
        #expect(AWSClient.formEncode([("Action", "Publish"), ("Message", "a b&c=d/é~")]) == "Action=Publish&Message=a%20b%26c%3Dd%2F%C3%A9~")
        #expect(AWSClient.formEncode(AWSClient.queryList("InstanceId", ["i-1", "i-2"])) == "InstanceId.1=i-1&InstanceId.2=i-2")
    }

    @Test func xmlTreePathLookUps() throws {
        let xml = """
        <DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
          <reservationSet><item><instancesSet>
            <item><instanceId>i-1</instanceId></item><item><instanceId>i-2</instanceId></item>
          </instancesSet></item></reservationSet>
        </DescribeInstancesResponse>
        """
        let tree = try #require(XMLTree.parse(xml))
        #expect(tree.all("reservationSet/item/instancesSet/item").compactMap { $0.text("instanceId") } == ["i-1", "i-2"])
        #expect(tree.text("reservationSet/item/instancesSet/item/instanceId") == "i-1")
        #expect(tree.first(named: "instanceId")?.text == "i-1")
        #expect(tree["nothing/here"] == nil)
        #expect(XMLTree.parse("<a><b></a>") == nil)
    }

    @Test func errorCodesAreShortened() {
        let json = HTTPResponse(status: 400, headers: [("x-amzn-errortype", "ResourceNotFoundException:http://internal.amazon.com/")], body: [])
        #expect(AWSClient.error(from: json).code == "ResourceNotFoundException")
        let bare = HTTPResponse(status: 502, body: Array("bad gateway".utf8))
        let e = AWSClient.error(from: bare)
        #expect(e.code == "HTTP502" && e.isRetriable && e.message == "bad gateway")
    }

    @Test func endpointsFollowOverridesThenTheEnvironment() {
        let http = HTTPClient()
        defer { http.shutdown() }
        let plain = AWSClient(region: "eu-west-1", credentials: exampleCredentials, http: http)
        #expect(plain.endpoint(for: .sqs) == "https://sqs.eu-west-1.amazonaws.com")
        #expect(plain.endpoint(for: .eventBridge) == "https://events.eu-west-1.amazonaws.com")
        #expect(plain.endpoint(for: .iam) == "https://iam.amazonaws.com")
        #expect(AWSService.iam.signingRegion(for: "eu-west-1") == "us-east-1")
        let env = AWSClient(region: "eu-west-1", credentials: exampleCredentials, http: http,
                            environment: ["AWS_ENDPOINT_URL": "http://all:1/", "AWS_ENDPOINT_URL_SQS": "http://sqs:2"])
        #expect(env.endpoint(for: .sqs) == "http://sqs:2")
        #expect(env.endpoint(for: .sns) == "http://all:1")
        let configured = AWSClient(region: "eu-west-1", credentials: exampleCredentials, http: http, endpoint: "http://moto:3",
                                   serviceEndpoints: [.sts: "http://sts:4"], environment: ["AWS_ENDPOINT_URL_SQS": "http://sqs:2"])
        #expect(configured.endpoint(for: .sqs) == "http://moto:3")
        #expect(configured.endpoint(for: .sts) == "http://sts:4")
    }

    @Test func descriptionsHideSecrets() {
        let c = AWSCredentials(accessKeyID: "ASIAEXAMPLE", secretAccessKey: Secret("SECRETKEYEXAMPLE"), sessionToken: Secret("TOKENEXAMPLE"))
        #expect(!"\(c)".contains("SECRETKEYEXAMPLE") && !"\(c)".contains("TOKENEXAMPLE") && "\(c)".contains("ASIAEXAMPLE"))
    }
}
