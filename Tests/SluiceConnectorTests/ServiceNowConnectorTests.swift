import Foundation
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

@testable import SluiceConnectors

/// `servicenow` against the Table API contract module (scripts/receivers/vendors/servicenow.py)
/// through the real HTTP client: one incident per finding with correlation_id, work notes (not a
/// second incident) on a repeat, urgency/impact by severity band, errors classified.
@Suite struct ServiceNowConnectorTests {
    typealias F = TicketingFixtures
    static let user = "svc-sluice"
    static let password = "sn-PASSWORD-s3cr3t"
    static let token = "sn-OAUTH-s3cr3t-token"

    static func receiver() async throws -> WebhookReceiver {
        try await WebhookReceiver.start(vendor: "servicenow", options: ["user": user, "password": password, "token": token])
    }

    static func yaml(_ port: Int, auth: String? = nil) -> String {
        """
        name: sn-test
        type: servicenow
        url: http://127.0.0.1:\(port)
        \(auth ?? "username: \(user)\npassword: ${SN_PASSWORD}")
        category: security
        assignment_group: SOC
        caller: svc-sluice
        fields:
          u_source: GuardDuty
        """
    }

    static let env = ["SN_PASSWORD": password]

    static func incidents(_ receiver: WebhookReceiver) throws -> [[String: Any]] {
        F.object(try receiver.store(), "incidents").values.compactMap { $0 as? [String: Any] }
    }

    static func calls(_ receiver: WebhookReceiver) throws -> [String: Int] {
        (F.object(try receiver.store(), "calls") as? [String: Int]) ?? [:]
    }

    /// `^OR…` in a finding id would add a condition to the encoded query (ServiceNow decodes the
    /// percent-encoding first, and has no escape for `^`): such an id is refused before any call.
    @Test func aFindingIDCannotChangeTheIncidentQuery() async throws {
        let receiver = try await Self.receiver()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let definition = try F.definition(Self.yaml(receiver.port), environment: Self.env)
            let sn = try F.make(definition)
            let f = try #require(try F.findings().first)
            #expect(await F.deliver(sn, F.delivery(f, for: definition)) == .delivered)
            for hostile in ["x^ORactive=true", "x^NQactive=true", "x\r\n^ORactive=true"] {
                var d = F.delivery(f, for: definition, count: 7)
                d.findingID = hostile
                let outcome = await F.deliver(sn, d)
                #expect(F.isPermanent(outcome) && F.message(of: outcome).contains("refused"), "\(hostile): \(outcome)")
            }
            #expect(try Self.calls(receiver) == ["create": 1, "query": 1, "update": 0])
            // Nor can finding text open a [code] block, which ServiceNow renders as HTML.
            #expect(ServiceNowConnector.withoutCodeTags("a [CODE]<img src=x onerror=alert(1)>[/Code] b") == "a [ code]<img src=x onerror=alert(1)>[ /code] b")
            let noWorkNotes = try Self.incidents(receiver).allSatisfy { ($0["work_notes"] as? [String] ?? []).isEmpty }
            #expect(noWorkNotes)
        }
    }

    @Test func opensOneIncidentPerFindingAndAddsWorkNotesOnRepeats() async throws {
        let receiver = try await Self.receiver()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let definition = try F.definition(Self.yaml(receiver.port), environment: Self.env)
            let sn = try F.make(definition)
            let findings = try F.findings()
            for f in findings { #expect(await F.deliver(sn, F.delivery(f, for: definition)) == .delivered, "\(f.file)") }
            for f in findings { #expect(await F.deliver(sn, F.delivery(f, for: definition, count: 42)) == .delivered, "\(f.file) repeat") }
            #expect(try receiver.violations() == [])
            #expect(try Self.calls(receiver) == ["create": findings.count, "query": findings.count, "update": findings.count])
            let incidents = try Self.incidents(receiver)
            #expect(incidents.count == findings.count)
            for f in findings {
                let matching = incidents.filter { $0["correlation_id"] as? String == f.summary.id }
                try #require(matching.count == 1, "\(f.file)")
                let incident = matching[0]
                #expect(incident["correlation_display"] as? String == "Sluice")
                #expect(incident["short_description"] as? String == "GuardDuty \(f.summary.severityLabel.rawValue): \(f.summary.title)")
                let expected = ["Critical": ("1", "1"), "High": ("1", "2"), "Medium": ("2", "2"), "Low": ("3", "3")][f.summary.severityLabel.rawValue]!
                #expect(incident["urgency"] as? String == expected.0 && incident["impact"] as? String == expected.1, "\(f.file)")
                #expect(incident["category"] as? String == "security")
                #expect(incident["assignment_group"] as? String == "SOC")
                #expect(incident["caller_id"] as? String == "svc-sluice")
                #expect(incident["u_source"] as? String == "GuardDuty")
                let description = try #require(incident["description"] as? String)
                #expect(description.contains("Resource: \(f.summary.resourceSummary)"))
                #expect(description.contains(f.summary.consoleURL))
                let notes = try #require(incident["work_notes"] as? [String])
                #expect(notes.count == 1 && notes[0].contains("Count: 42"))
            }
            let records = try receiver.records()
            let authorizations = Set(records.compactMap { $0.header("Authorization") })
            #expect(authorizations == ["Basic " + Data("\(Self.user):\(Self.password)".utf8).base64EncodedString()])
            let lookupRecord = records.first { $0.method == "GET" }
            let lookup = try #require(lookupRecord)
            #expect(lookup.path.hasPrefix("/api/now/table/incident?sysparm_query=correlation_id%3D"))
            #expect(lookup.path.contains("%5Eactive%3Dtrue&sysparm_limit=1&sysparm_fields=sys_id,number"))
        }
    }

    @Test func afterARestartTheQueryFindsTheActiveIncidentAndAClosedOneIsNotReused() async throws {
        let receiver = try await Self.receiver()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let definition = try F.definition(Self.yaml(receiver.port, auth: "token: \(Self.token)"))
            let f = try F.findings()[3]
            #expect(await F.deliver(try F.make(definition), F.delivery(f, for: definition)) == .delivered)
            #expect(await F.deliver(try F.make(definition), F.delivery(f, for: definition, count: 2)) == .delivered)
            var incidents = try Self.incidents(receiver)
            #expect(incidents.count == 1)
            #expect((incidents.first?["work_notes"] as? [String])?.count == 1)

            // Someone closes it; the next repeat opens a new incident.
            let sysID = try #require(incidents.first?["sys_id"] as? String)
            let closed = try await F.http.execute(HTTPRequest(
                method: "PATCH", url: "\(receiver.url)/api/now/table/incident/\(sysID)",
                headers: [("Authorization", "Bearer \(Self.token)"), ("Content-Type", "application/json")], body: Array(#"{"state":"7"}"#.utf8)))
            #expect(closed.status == 200)
            #expect(await F.deliver(try F.make(definition), F.delivery(f, for: definition, count: 3)) == .delivered)
            incidents = try Self.incidents(receiver)
            #expect(incidents.count == 2)
            let activeValues = Set(incidents.compactMap { $0["active"] as? String })
            #expect(activeValues == ["true", "false"])
            #expect(try receiver.violations() == [])
            let authorizations = Set(try receiver.records().compactMap { $0.header("Authorization") })
            #expect(authorizations == ["Bearer \(Self.token)"])
        }
    }

    @Test func vendorErrorsAreClassifiedWithoutSecrets() async throws {
        let receiver = try await Self.receiver()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let definition = try F.definition(Self.yaml(receiver.port), environment: Self.env)
            let sn = try F.make(definition)
            let f = try F.findings()[4]

            try await receiver.setStatus(429, retryAfter: 3)
            let limited = await F.deliver(sn, F.delivery(f, for: definition))
            #expect(limited == .retryable("ServiceNow look up incident: HTTP 429", retryAfter: .seconds(3)))
            try await receiver.setStatus(500, body: #"{"error":{"message":"Internal","detail":""},"status":"failure"}"#)
            guard case .retryable = await F.deliver(sn, F.delivery(f, for: definition)) else { Issue.record("500 must be retryable"); return }
            try await receiver.setStatus(403, body: #"{"error":{"message":"Operation Failed","detail":"ACL Exception Insert Failed due to security constraints"},"status":"failure"}"#)
            let forbidden = await F.deliver(sn, F.delivery(f, for: definition))
            #expect(forbidden == .permanent("ServiceNow look up incident: HTTP 403: Operation Failed (ACL Exception Insert Failed due to security constraints)"))
            try await receiver.reset()

            let wrong = try F.definition(Self.yaml(receiver.port), environment: ["SN_PASSWORD": "wrong-s3cr3t"])
            let unauthorized = await F.deliver(try F.make(wrong), F.delivery(f, for: wrong))
            #expect(unauthorized == .permanent("ServiceNow look up incident: HTTP 401: User Not Authenticated (Required to provide Auth information)"))
            for m in [limited, forbidden, unauthorized].map(F.message(of:)) {
                for secret in [Self.password, "wrong-s3cr3t", Self.token] { #expect(!m.contains(secret)) }
            }
            #expect(try receiver.violations().count == 1, "the bad password")
            #expect(try Self.incidents(receiver).isEmpty)
        }
    }

    @Test func shortDescriptionFitsTheColumn() throws {
        var s = try F.findings()[0].summary
        s.title = String(repeating: "x", count: 400)
        let text = ServiceNowConnector.shortDescription(summary: s, text: "")
        #expect(text.count == 160 && text.hasSuffix("…"))
        #expect(ServiceNowConnector.percentEncoded("correlation_id=a b^active=true") == "correlation_id%3Da%20b%5Eactive%3Dtrue")
    }

    @Test func authMustBeBasicOrTokenNotBoth() {
        let both = F.problems("name: s\ntype: servicenow\nurl: https://x.service-now.com\nusername: u\npassword: p\ntoken: t\n")
        #expect(both.contains { $0.contains("needs 'username' and 'password'") })
        let none = F.problems("name: s\ntype: servicenow\nurl: https://x.service-now.com\n")
        #expect(none.contains { $0.contains("needs 'username' and 'password'") })
        #expect(F.problems("name: s\ntype: servicenow\nurl: ftp://x\ntoken: t\n").contains { $0.contains("url must start with http:// or https://") })
    }
}
