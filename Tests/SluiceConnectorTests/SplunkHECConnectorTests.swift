import Foundation
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

@testable import SluiceConnectors

/// `splunk-hec` against the HEC contract module (scripts/receivers/vendors/splunk_hec.py), which
/// parses the concatenated event stream as HEC does and answers with HEC's codes.
@Suite(.serialized) struct SplunkHECConnectorTests {
    static let token = "8f1c2a7e-5b7d-4f5e-9c11-2f7a1d0e6b3c"

    static func yaml(_ url: String, extra: String = "") -> String {
        """
        name: splunk
        type: splunk-hec
        url: \(url)
        token: ${HEC_TOKEN}
        batch: {max_items: 50}
        \(extra)
        """
    }

    func connector(_ receiver: WebhookReceiver, _ http: HTTPClient, extra: String = "", token: String = Self.token) throws -> any Connector {
        try SIEMFixtures.connector(Self.yaml(receiver.url, extra: extra), http: http, environment: ["HEC_TOKEN": token])
    }

    /// The events HEC indexed, in order.
    func indexed(_ receiver: WebhookReceiver) throws -> [[String: Any]] {
        let store = try receiver.store() as? [String: Any]
        return store?["events"] as? [[String: Any]] ?? []
    }

    @Test func aBatchIsOneRequestOfConcatenatedEventsThatHECIndexes() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "splunk_hec", options: ["token": Self.token, "indexes": "security"])
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let c = try connector(receiver, http, extra: "index: security\nhost: sluice-test")
            let batch = try SIEMFixtures.findings.map { try SIEMFixtures.delivery($0) }
            let outcomes = try await SIEMFixtures.attempt(c, batch: batch)
            #expect(outcomes == Array(repeating: .delivered, count: batch.count))
            #expect(try receiver.violations() == [])
            let records = try receiver.records()
            #expect(records.count == 1)
            #expect(records.first?.path == "/services/collector/event")
            #expect(records.first?.header("Authorization") == "Splunk \(Self.token)")
            let events = try indexed(receiver)
            #expect(events.count == batch.count)
            for (event, delivery) in zip(events, batch) {
                #expect(event["sourcetype"] as? String == "aws:cloudwatch:guardduty")
                #expect(event["source"] as? String == "sluice")
                #expect(event["index"] as? String == "security")
                #expect(event["host"] as? String == "sluice-test")
                let finding = (event["event"] as? [String: Any])?["detail"] as? [String: Any]
                #expect(finding?["id"] as? String == delivery.findingID)
                let expected = FindingTimestamp(iso8601: delivery.summary!.updatedAt)!.epochMilliseconds
                let time = (event["time"] as? NSNumber)?.doubleValue ?? -1
                #expect(Int64((time * 1000).rounded()) == expected)
            }
        }
    }

    @Test func aRejectedEventIsPermanentTheOnesBeforeItDeliveredAndTheRestRetried() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "splunk_hec", options: ["token": Self.token])
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let c = try connector(receiver, http)
            var batch = try SIEMFixtures.findings.prefix(4).map { try SIEMFixtures.delivery($0) }
            // A template that rendered an empty string: HEC's code 13, "Event field cannot be blank".
            batch[1].payload = Array("\"\"".utf8)
            let outcomes = try await SIEMFixtures.attempt(c, batch: batch)
            #expect(outcomes[0] == .delivered)
            #expect(outcomes[1] == .permanent("Splunk HEC 400 code 13: Event field cannot be blank"))
            #expect(SIEMFixtures.isRetryable(outcomes[2]) && SIEMFixtures.isRetryable(outcomes[3]))
            #expect(try indexed(receiver).count == 1)
            // The lane retries the two that were not read; HEC takes them.
            let retried = try await SIEMFixtures.attempt(c, batch: Array(batch[2...]))
            #expect(retried == [.delivered, .delivered])
            let ids = try indexed(receiver).map { (($0["event"] as? [String: Any])?["detail"] as? [String: Any])?["id"] as? String }
            #expect(ids == [batch[0].findingID, batch[2].findingID, batch[3].findingID])
            #expect(try receiver.violations() == [])
        }
    }

    @Test func aPayloadThatIsNotJSONIsRejectedAloneWithoutBreakingTheStream() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "splunk_hec", options: ["token": Self.token])
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let c = try connector(receiver, http)
            var batch = try SIEMFixtures.findings.prefix(3).map { try SIEMFixtures.delivery($0) }
            batch[1].payload = Array("{\"broken\": ".utf8)
            let outcomes = try await SIEMFixtures.attempt(c, batch: batch)
            #expect(outcomes[0] == .delivered && outcomes[2] == .delivered)
            #expect(SIEMFixtures.isPermanent(outcomes[1]))
            #expect(try indexed(receiver).count == 2)
            #expect(try receiver.violations() == [])
        }
    }

    @Test func anIndexTheTokenMayNotWriteIsPermanentForTheFirstEvent() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "splunk_hec", options: ["token": Self.token, "indexes": "main"])
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let c = try connector(receiver, http, extra: "index: security")
            let outcomes = try await SIEMFixtures.attempt(c, batch: SIEMFixtures.findings.prefix(3).map { try SIEMFixtures.delivery($0) })
            #expect(outcomes[0] == .permanent("Splunk HEC 400 code 7: Incorrect index"))
            #expect(SIEMFixtures.isRetryable(outcomes[1]) && SIEMFixtures.isRetryable(outcomes[2]))
            #expect(try indexed(receiver).isEmpty)
        }
    }

    @Test func tokenErrorsArePermanentAndBusyOrThrottledIsRetried() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "splunk_hec", options: ["token": Self.token])
        let http = HTTPClient()
        defer { http.shutdown() }
        let batch = try SIEMFixtures.findings.prefix(2).map { try SIEMFixtures.delivery($0) }
        let wrong = try connector(receiver, http, token: "00000000-0000-0000-0000-000000000000")
        #expect(try await SIEMFixtures.attempt(wrong, batch: batch) == Array(repeating: .permanent("Splunk HEC 403 code 4: Invalid token"), count: 2))

        let busy = try await WebhookReceiver.start(vendor: "splunk_hec", options: ["token": Self.token, "busy": "true"])
        let c = try connector(busy, http)
        #expect(try await SIEMFixtures.attempt(c, batch: batch) == Array(repeating: .retryable("Splunk HEC 503 code 9: Server is busy"), count: 2))

        let ok = try connector(receiver, http)
        try await receiver.setStatus(429, body: "{\"text\":\"Too many requests\"}", retryAfter: 3)
        let throttled = try await SIEMFixtures.attempt(ok, batch: batch)
        #expect(throttled.allSatisfy { $0 == .retryable("HTTP 429", retryAfter: .seconds(3)) })
        try await receiver.setStatus(502)
        #expect(try await SIEMFixtures.attempt(ok, batch: batch).allSatisfy(SIEMFixtures.isRetryable))
        #expect(try indexed(receiver).isEmpty)
        // A single delivery (no batch configured on the lane) takes the same path.
        try await receiver.reset()
        #expect(await SIEMFixtures.attempt(ok, batch[0]) == .delivered)
        #expect(try indexed(receiver).count == 1)
    }

    @Test func theChannelHeaderCarriesIndexerAcknowledgement() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "splunk_hec", options: ["token": Self.token, "ack": "true"])
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let d = try SIEMFixtures.delivery(SIEMFixtures.findings[0])
            let without = try connector(receiver, http)
            #expect(await SIEMFixtures.attempt(without, d) == .permanent("Splunk HEC 400 code 10: Data channel is missing"))
            let with = try connector(receiver, http, extra: "channel: 0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba")
            #expect(await SIEMFixtures.attempt(with, d) == .delivered)
            #expect(try receiver.records().last?.header("X-Splunk-Request-Channel") == "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba")
            #expect(try receiver.violations() == [])
        }
    }

    @Test func httpsWithThePrivateCAFromTheTLSBlock() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let receiver = try await WebhookReceiver.start(tls: .init(certPath: pki.serverCert, keyPath: pki.serverKey),
                                           vendor: "splunk_hec", options: ["token": Self.token])
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let d = try SIEMFixtures.delivery(SIEMFixtures.findings[0])
            let trusting = try connector(receiver, http, extra: "tls: {ca_file: \(pki.caCert)}")
            #expect(await SIEMFixtures.attempt(trusting, d) == .delivered)
            let verifying = try connector(receiver, http)  // the system bundle does not know the test CA
            #expect(SIEMFixtures.isPermanent(await SIEMFixtures.attempt(verifying, d)))
            #expect(try receiver.records().count == 1)
            #expect(try receiver.violations() == [])
        }
    }

    @Test func configurationIsCheckedAndTheTokenNeverShown() throws {
        let env = ["HEC_TOKEN": Self.token]
        #expect(SIEMFixtures.problems(Self.yaml("https://splunk.example.com:8088", extra: "channel: not-a-guid"), environment: env)
            == ["'channel' must be a GUID such as 0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba"])
        let typo = SIEMFixtures.problems(Self.yaml("https://splunk.example.com:8088", extra: "sourcetyp: x"), environment: env)
        #expect(typo.count == 1 && typo[0].hasPrefix(#"unknown key "sourcetyp" for a splunk-hec connector (did you mean "sourcetype"?); expected one of: url, "#), "\(typo)")
        #expect(SIEMFixtures.problems("name: s\ntype: splunk-hec\nurl: https://splunk.example.com") == ["missing required key 'token'"])
        #expect(SIEMFixtures.problems(Self.yaml("splunk.example.com"), environment: env) == ["url must start with http:// or https:// and name a host, without spaces"])
        let http = HTTPClient()
        defer { http.shutdown() }
        let c = try #require(SecretScrubbingConnector.unwrap(try SIEMFixtures.connector(Self.yaml("https://splunk.example.com:8088/"), http: http, environment: env)) as? SplunkHECConnector)
        let prepared = c.makeRequest(for: [try SIEMFixtures.delivery(SIEMFixtures.findings[0])])
        let request = prepared.request
        #expect(request?.url == "https://splunk.example.com:8088/services/collector/event")
        #expect(prepared.sent == [0] && prepared.rejected.isEmpty)
        #expect(request.map { !$0.description.contains(Self.token) } == true)
        #expect(!"\(c.configuration)".contains(Self.token))
    }

    @Test func classifyMapsHECCodes() {
        func answer(_ status: Int, _ body: String) -> Result<HTTPResponse, HTTPClientError> {
            .success(HTTPResponse(status: status, body: Array(body.utf8)))
        }
        #expect(SplunkHECConnector.classify(answer(200, #"{"text":"Success","code":0}"#), count: 2) == [.delivered, .delivered])
        #expect(SplunkHECConnector.classify(answer(500, #"{"text":"Internal server error","code":8}"#), count: 1).allSatisfy(SIEMFixtures.isRetryable))
        #expect(SplunkHECConnector.classify(answer(401, #"{"text":"Token is required","code":2}"#), count: 1).allSatisfy(SIEMFixtures.isPermanent))
        let partial = SplunkHECConnector.classify(answer(400, #"{"text":"Invalid data format","code":6,"invalid-event-number":2}"#), count: 4)
        #expect(partial[0] == .delivered && partial[1] == .delivered && partial[2] == .permanent("Splunk HEC 400 code 6: Invalid data format"))
        #expect(SIEMFixtures.isRetryable(partial[3]))
        #expect(SplunkHECConnector.classify(.failure(HTTPClientError(.connectFailed, "refused")), count: 2).allSatisfy(SIEMFixtures.isRetryable))
    }

    @Test func findingTimestampsParseAndFormat() {
        let t = FindingTimestamp(iso8601: "2025-05-12T08:14:37.123Z")
        #expect(t?.epochMilliseconds == 1_747_037_677_123)
        #expect(t?.epochSecondsText == "1747037677.123")
        #expect(t?.rfc3339 == "2025-05-12T08:14:37.123Z")
        #expect(t?.formatted("guardduty-%Y.%m.%d") == "guardduty-2025.05.12")
        #expect(FindingTimestamp(iso8601: "2025-05-12T10:14:37+02:00")?.epochMilliseconds == 1_747_037_677_000)
        #expect(FindingTimestamp(iso8601: "2024-02-29T23:59:59.5Z")?.rfc3339 == "2024-02-29T23:59:59.500Z")
        #expect(FindingTimestamp(iso8601: "2025-05-12T08:14:37.123456789Z")?.epochMilliseconds == 1_747_037_677_123)
        #expect(FindingTimestamp(iso8601: "yesterday") == nil)
        #expect(FindingTimestamp(iso8601: "2025-13-12T08:14:37Z") == nil)
    }
}
