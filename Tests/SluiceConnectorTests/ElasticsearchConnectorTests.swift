import Foundation
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

@testable import SluiceConnectors

/// `elasticsearch` against the `_bulk` contract module (scripts/receivers/vendors/elasticsearch.py):
/// it parses the NDJSON pairs, stores documents by index and _id, and answers per item as
/// Elasticsearch does. No Elasticsearch or OpenSearch build installs here (both need a JVM
/// distribution that neither Debian 12 nor PyPI ships).
@Suite(.serialized) struct ElasticsearchConnectorTests {
    static func yaml(_ url: String, extra: String = "username: sluice\npassword: ${ES_PASSWORD}") -> String {
        """
        name: siem
        type: elasticsearch
        url: \(url)
        batch: {max_items: 500}
        \(extra)
        """
    }

    static let env = ["ES_PASSWORD": "s3cret-pass", "ES_API_KEY": "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="]

    func receiver(_ options: [String: String] = [:]) async throws -> WebhookReceiver {
        try await WebhookReceiver.start(vendor: "elasticsearch", options: ["username": "sluice", "password": "s3cret-pass"].merging(options) { $1 })
    }

    func connector(_ receiver: WebhookReceiver, _ http: HTTPClient, extra: String? = nil) throws -> any Connector {
        try SIEMFixtures.connector(extra.map { Self.yaml(receiver.url, extra: $0) } ?? Self.yaml(receiver.url), http: http, environment: Self.env)
    }

    /// index → _id → {"_version", "_source"}
    func indices(_ receiver: WebhookReceiver) throws -> [String: [String: [String: Any]]] {
        let store = try receiver.store() as? [String: Any]
        return store?["indices"] as? [String: [String: [String: Any]]] ?? [:]
    }

    static func expectedIndex(_ d: Delivery) -> String {
        FindingTimestamp(iso8601: d.summary!.createdAt)!.formatted("guardduty-%Y.%m.%d")
    }

    @Test func aBatchIsOneBulkRequestAndEveryFindingIsADocumentUnderItsId() async throws {
        let es = try await receiver()
        let http = HTTPClient()
        defer { http.shutdown() }
        let c = try connector(es, http)
        let batch = try SIEMFixtures.findings.map { try SIEMFixtures.delivery($0) }
        let outcomes = try await SIEMFixtures.attempt(c, batch: batch)
        #expect(outcomes == Array(repeating: .delivered, count: batch.count))
        #expect(try es.violations() == [])
        let records = try es.records()
        #expect(records.count == 1)
        #expect(records.first?.header("Content-Type") == "application/x-ndjson")
        #expect(records.first?.body.split(separator: "\n").count == 2 * batch.count)
        let stored = try indices(es)
        for d in batch {
            let doc = stored[Self.expectedIndex(d)]?[d.findingID!]
            #expect(doc?["_version"] as? Int == 1)
            let source = doc?["_source"] as? [String: Any]
            #expect((source?["detail"] as? [String: Any])?["id"] as? String == d.findingID)
        }
        #expect(stored.values.reduce(0) { $0 + $1.count } == batch.count)
    }

    @Test func aRepeatedFindingUpdatesItsDocument() async throws {
        let es = try await receiver()
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let c = try connector(es, http)
            let first = try SIEMFixtures.delivery(SIEMFixtures.findings[0])
            #expect(await SIEMFixtures.attempt(c, first) == .delivered)
            var again = first
            again.payload = Array(String(decoding: first.payload, as: UTF8.self).replacingOccurrences(of: "\"count\": ", with: "\"count\": 10").utf8)
            #expect(await SIEMFixtures.attempt(c, again) == .delivered)
            let docs = try indices(es)[Self.expectedIndex(first)]
            #expect(docs?.count == 1)
            #expect(docs?[first.findingID!]?["_version"] as? Int == 2)
            #expect(try es.violations() == [])
        }
    }

    @Test func failedItemsAreRetriedOrDeadLetteredAloneAndTheRestAreDelivered() async throws {
        let batch = try SIEMFixtures.findings.prefix(4).map { try SIEMFixtures.delivery($0) }
        let es = try await receiver(["reject_ids": batch[1].findingID!, "busy_ids": batch[2].findingID!])
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let c = try connector(es, http)
            let outcomes = try await SIEMFixtures.attempt(c, batch: batch)
            #expect(outcomes[0] == .delivered && outcomes[3] == .delivered)
            guard case .permanent(let reason) = outcomes[1] else { Issue.record("item 1: \(outcomes[1])"); return }
            #expect(reason.hasPrefix("bulk item 400 mapper_parsing_exception: failed to parse field"))
            #expect(outcomes[2] == .retryable("bulk item 429 es_rejected_execution_exception: rejected execution of coordinating operation"))
            let stored = try indices(es).values.flatMap(\.keys)
            #expect(Set(stored) == [batch[0].findingID!, batch[3].findingID!])
            #expect(try es.violations() == [])
        }
    }

    @Test func aPayloadThatIsNotAnObjectIsRejectedWithoutBreakingTheBatch() async throws {
        let es = try await receiver()
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let c = try connector(es, http)
            var batch = try SIEMFixtures.findings.prefix(3).map { try SIEMFixtures.delivery($0) }
            batch[0].payload = Array("[1, 2]".utf8)
            batch[2].payload = Array("{\"cut\": ".utf8)
            let outcomes = try await SIEMFixtures.attempt(c, batch: batch)
            #expect(SIEMFixtures.isPermanent(outcomes[0]) && outcomes[1] == .delivered && SIEMFixtures.isPermanent(outcomes[2]))
            #expect(try es.records().count == 1)
            #expect(try es.violations() == [])
        }
    }

    @Test func credentialsAreCheckedAndWholeRequestFailuresClassified() async throws {
        let es = try await WebhookReceiver.start(vendor: "elasticsearch", options: ["api_key": Self.env["ES_API_KEY"]!])
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let batch = try SIEMFixtures.findings.prefix(2).map { try SIEMFixtures.delivery($0) }
            let basic = try connector(es, http)  // basic auth where an API key is wanted
            #expect(try await SIEMFixtures.attempt(basic, batch: batch).allSatisfy(SIEMFixtures.isPermanent))
            let keyed = try connector(es, http, extra: "api_key: ${ES_API_KEY}")
            #expect(try await SIEMFixtures.attempt(keyed, batch: batch) == [.delivered, .delivered])
            #expect(try es.records().last?.header("Authorization") == "ApiKey \(Self.env["ES_API_KEY"]!)")
            try await es.setStatus(429, retryAfter: 5)
            #expect(try await SIEMFixtures.attempt(keyed, batch: batch) == Array(repeating: .retryable("HTTP 429", retryAfter: .seconds(5)), count: 2))
            try await es.setStatus(503)
            #expect(try await SIEMFixtures.attempt(keyed, batch: batch).allSatisfy(SIEMFixtures.isRetryable))
            // 200 with a body that is not a bulk answer: unknown, so retried (the _id makes it safe).
            try await es.setStatus(200, body: "<html>proxy</html>")
            #expect(try await SIEMFixtures.attempt(keyed, batch: batch).allSatisfy(SIEMFixtures.isRetryable))
            #expect(try es.violations() == [])
        }
    }

    @Test func configurationIsChecked() throws {
        let base = "https://es.example.com:9200"
        #expect(SIEMFixtures.problems(Self.yaml(base, extra: "index: GuardDuty-%Y"), environment: Self.env) == ["'index': index names must be lowercase"])
        #expect(SIEMFixtures.problems(Self.yaml(base, extra: "index: gd-%Y.%j"), environment: Self.env) == ["'index' may use %Y, %m, %d, %H and %%, not %j"])
        #expect(SIEMFixtures.problems(Self.yaml(base, extra: "index: _gd"), environment: Self.env) == ["'index': index names must not start with '_'"])
        #expect(SIEMFixtures.problems(Self.yaml(base, extra: "username: a\npassword: b\napi_key: c"), environment: Self.env)
            == ["give 'username' with 'password', or 'api_key', not both"])
        #expect(SIEMFixtures.problems(Self.yaml(base, extra: "tls: {ca_file: /tmp/ca.pem, cert_file: /tmp/c.pem}"), environment: Self.env)
            == ["'cert_file' and 'key_file' go together"])
        let http = HTTPClient()
        defer { http.shutdown() }
        let connector = try SIEMFixtures.connector(Self.yaml(base + "/", extra: "index: findings-%Y.%m\npipeline: guardduty\nusername: u\npassword: ${ES_PASSWORD}\ntls: {ca_file: /etc/ssl/es-ca.pem}"),
                                           http: http, environment: Self.env)
        let c = try #require(SecretScrubbingConnector.unwrap(connector) as? ElasticsearchConnector)
        let d = try SIEMFixtures.delivery(SIEMFixtures.findings[0])
        let request = c.makeRequest(for: [d]).request
        #expect(request?.url == "https://es.example.com:9200/_bulk?pipeline=guardduty")
        #expect(c.index(for: d) == FindingTimestamp(iso8601: d.summary!.createdAt)!.formatted("findings-%Y.%m"))
        #expect(request.map { !$0.description.contains("s3cret") } == true)
        #expect(request?.body.last == 0x0A)
        #expect(request?.tls == TLSOptions(caBundlePath: "/etc/ssl/es-ca.pem"))
    }

    @Test func classifyReadsPerItemStatuses() {
        let body = #"""
        {"took":5,"errors":true,"items":[{"index":{"_index":"g","_id":"a","status":201,"result":"created"}},
        {"index":{"_index":"g","_id":"b","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse"}}},
        {"index":{"_index":"g","_id":"c","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}},
        {"index":{"_index":"g","_id":"d","status":200,"result":"updated"}}]}
        """#
        let outcomes = ElasticsearchConnector.classify(.success(HTTPResponse(status: 200, body: Array(body.utf8))), count: 4)
        #expect(outcomes == [.delivered, .permanent("bulk item 400 mapper_parsing_exception: failed to parse"),
                             .retryable("bulk item 503 unavailable_shards_exception: primary shard is not active"), .delivered])
        let short = ElasticsearchConnector.classify(.success(HTTPResponse(status: 200, body: Array(body.utf8))), count: 5)
        #expect(short.allSatisfy(SIEMFixtures.isRetryable))
    }
}
