import Foundation
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

@testable import SluiceConnectors

/// Finding text never becomes a header, and no connector family lets a configured secret out
/// through an outcome (logs, metrics and the dead-letter topic read outcomes), checked against a
/// real local HTTP server.
@Suite struct ConnectorHardeningTests {
    typealias F = TicketingFixtures

    @Test func findingIDWithCRLFNeverBecomesAHeaderOnTheWire() async throws {
        let receiver = try await WebhookReceiver.start(status: 204)
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let definition = try F.definition("name: hook\ntype: webhook\nurl: \(receiver.url)/in\n")
            let hook = try F.make(definition)
            let delivery = Delivery(payload: Array("{}".utf8), findingID: "f1\r\nX-Injected: yes\r\n\r\nGET /evil HTTP/1.1", route: "r\nX-Route-Injected: 1")
            #expect(await F.deliver(hook, delivery) == .delivered)
            let got = try #require(try receiver.records().first)
            #expect(receiver.count == 1)
            #expect(got.header("X-Injected") == nil && got.header("X-Route-Injected") == nil, "\(got.headers)")
            #expect(got.header("X-Sluice-Finding-Id") == "f1X-Injected: yesGET /evil HTTP/1.1")
            #expect(got.header("X-Sluice-Route") == "rX-Route-Injected: 1")
        }
    }

    @Test func headerFieldRulesAreTheOnePlaceHeadersAreBuilt() {
        #expect(HTTPHeaderField.wireLine(name: "X-A", value: "a\r\nB: c\u{0}d\te") == "X-A: aB: cd\te")
        #expect(HTTPHeaderField.wireLine(name: "X-A\r\nX-B", value: "v") == nil)
        #expect(HTTPHeaderField.wireLine(name: "X A", value: "v") == nil)
        #expect(HTTPHeaderField.wireLine(name: "", value: "v") == nil)
        #expect(!HTTPHeaderField.isVisible("X-Soar-Credential") && HTTPHeaderField.isVisible("content-type"))
        #expect(SluiceConnectorTestsProblems.webhook(headerName: "Bad Name").contains { $0.contains("not a valid HTTP field name") })
    }

    /// One secret per family, echoed back by the target in a 401 body: no outcome shows it.
    @Test func secretRedactionInEveryConnectorFamilysOutcomes() async throws {
        let secret = "Zq9-configured-S3CRET-77"
        let cases: [(family: String, yaml: (String) -> String, env: [String: String])] = [
            ("webhook", { "name: c\ntype: webhook\nurl: \($0)/in\nheaders: {X-Soar-Credential: \"${S}\"}\n" }, ["S": secret]),
            ("chat", { "name: c\ntype: slack\ntoken: ${S}\nchannel: C1\napi_url: \($0)/api/chat.postMessage\n" }, ["S": secret]),
            ("paging", { "name: c\ntype: opsgenie\napi_key: ${S}\nurl: \($0)\n" }, ["S": secret]),
            ("siem", { "name: c\ntype: splunk-hec\nurl: \($0)\ntoken: ${S}\n" }, ["S": secret]),
            ("siem", { "name: c\ntype: elasticsearch\nurl: \($0)\nusername: u\npassword: ${S}\n" }, ["S": secret]),
            ("ticketing", { "name: c\ntype: jira\nurl: \($0)/\nproject: SEC\nemail: a@b.example\napi_token: ${S}\n" }, ["S": secret]),
            ("ticketing", { "name: c\ntype: servicenow\nurl: \($0)\nusername: u\npassword: ${S}\n" }, ["S": secret]),
            ("aws", { "name: c\ntype: aws-eventbridge\nevent_bus: arn:aws:events:eu-west-1:111122223333:event-bus/b\nendpoint: \($0)\n"
                      + "credentials: {access_key_id: AKIDEXAMPLE, secret_access_key: \"${S}\"}\n" }, ["S": secret]),
        ]
        let delivery = try SIEMFixtures.delivery("01-ec2-cryptominer.json")
        for c in cases {
            let receiver = try await WebhookReceiver.start(status: 401)
            try await withCleanup { cleanup in
                cleanup.add { await receiver.stopAndWait() }
                try await receiver.setStatus(401, body: "{\"__type\": \"UnrecognizedClientException\", \"message\": \"credential \(secret) refused\", \"error\": \"\(secret)\"}")
                let definitions = try SIEMFixtures.definitions(c.yaml(receiver.url), environment: c.env)
                let connector = try definitions[0].make(context: SIEMFixtures.context(F.http))
                var d = delivery
                if definitions[0].template != nil {
                    let event = try JSON.parse(String(decoding: delivery.payload, as: UTF8.self))
                    d.payload = Array(definitions[0].template!.render(event, summary: delivery.summary).utf8)
                }
                let outcome = await F.deliver(connector, d)
                let text = "\(outcome)"
                #expect(outcome != .delivered, "\(c.family) \(definitions[0].kind): \(text)")
                #expect(!text.contains(secret), "\(c.family) \(definitions[0].kind) leaked the secret: \(text)")
                // The target did echo it: the outcome shows where it was scrubbed.
                #expect(text.contains(SecretScrubber.replacement), "\(c.family) \(definitions[0].kind): \(text)")
            }
        }
    }
}

/// The query languages of the ticketing and SIEM targets: a finding value stays a value.
@Suite struct QueryInjectionTests {
    typealias F = TicketingFixtures

    @Test func jiraJQLKeepsAFindingIDInsideItsStringLiteral() throws {
        let definition = try F.definition("name: j\ntype: jira\nurl: https://jira.example.com\nproject: SEC\nemail: a@b.example\napi_token: t0ken\n")
        let jira = try #require(SecretScrubbingConnector.unwrap(try F.make(definition)) as? JiraConnector)
        let jql = JiraConnector.jql(findingID: #"a" OR project = OPS OR labels = "b\"#, configuration: jira.configuration)
        #expect(jql == #"labels = "sluice-a\"-OR-project-=-OPS-OR-labels-=-\"b\\" AND statusCategory != Done"#)
    }

    @Test func elasticsearchBulkActionLinesAreBuiltNotSpliced() throws {
        let http = HTTPClient()
        defer { http.shutdown() }
        let connector = try SIEMFixtures.connector("name: es\ntype: elasticsearch\nurl: http://127.0.0.1:9\n", http: http)
        let es = try #require(SecretScrubbingConnector.unwrap(connector) as? ElasticsearchConnector)
        var d = try SIEMFixtures.delivery("01-ec2-cryptominer.json")
        let hostile = "x\"}}\n{\"delete\":{\"_index\":\"findings\",\"_id\":\"y\"}}"
        d.findingID = hostile
        let body = String(decoding: try #require(es.makeRequest(for: [d]).request).body, as: UTF8.self)
        let lines = body.split(separator: "\n")
        #expect(lines.count == 2, "one action line and one source line: \(body.prefix(300))")
        let action = try JSON.parse(String(lines[0]))
        #expect(action["index"]?["_id"]?.stringValue == hostile)
        #expect(action["delete"] == nil)
    }

    @Test func splunkHECEventsCannotCarryASecondObject() throws {
        let http = HTTPClient()
        defer { http.shutdown() }
        let connector = try SIEMFixtures.connector("name: s\ntype: splunk-hec\nurl: http://127.0.0.1:9\ntoken: t0ken-value\n", http: http)
        let hec = try #require(SecretScrubbingConnector.unwrap(connector) as? SplunkHECConnector)
        let spliced = Delivery(payload: Array(#"{"a":1}, "index": "other", "x": {"b":2}"#.utf8), findingID: "f", route: "r")
        let prepared = hec.makeRequest(for: [spliced])
        #expect(prepared.request == nil && prepared.sent.isEmpty)
        guard case .permanent? = prepared.rejected[0] else { Issue.record("\(prepared.rejected)"); return }
    }
}

/// Validation messages, through the loader.
enum SluiceConnectorTestsProblems {
    static func webhook(headerName: String) -> [String] {
        F.problems("name: c\ntype: webhook\nurl: http://127.0.0.1:1/x\nheaders: {\"\(headerName)\": v}\n")
    }
    typealias F = TicketingFixtures
}
