import Foundation
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

@testable import SluiceConnectors

/// `jira` against the Jira contract module (scripts/receivers/vendors/jira.py) through the real
/// HTTP client: one issue per finding, a comment (not a second issue) on a repeat, Cloud and
/// Data Center shapes, and the vendor's errors classified.
@Suite struct JiraConnectorTests {
    typealias F = TicketingFixtures
    static let email = "secops@example.com"
    static let apiToken = "atl-TOKEN-s3cr3t-1234"
    static let pat = "dc-PAT-s3cr3t-5678"

    static func cloudYAML(_ port: Int, project: String = "SEC", extra: String = "") -> String {
        """
        name: jira-test
        type: jira
        url: http://127.0.0.1:\(port)/
        project: \(project)
        email: ${JIRA_EMAIL}
        api_token: ${JIRA_API_TOKEN}
        labels: [guardduty]
        priorities: {Critical: Highest, High: High}
        \(extra)
        """
    }

    static let cloudEnv = ["JIRA_EMAIL": email, "JIRA_API_TOKEN": apiToken]

    static func cloudReceiver() async throws -> WebhookReceiver {
        try await WebhookReceiver.start(vendor: "jira", options: ["flavor": "cloud", "email": email, "token": apiToken, "projects": "SEC"])
    }

    static func issues(_ receiver: WebhookReceiver) throws -> [String: [String: Any]] {
        (F.object(try receiver.store(), "issues") as? [String: [String: Any]]) ?? [:]
    }

    static func calls(_ receiver: WebhookReceiver) throws -> [String: Int] {
        (F.object(try receiver.store(), "calls") as? [String: Int]) ?? [:]
    }

    @Test func cloudOpensOneIssuePerFindingAndCommentsOnRepeats() async throws {
        let receiver = try await Self.cloudReceiver()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let definition = try F.definition(Self.cloudYAML(receiver.port), environment: Self.cloudEnv)
            let jira = try F.make(definition)
            let findings = try F.findings()
            for f in findings {
                #expect(await F.deliver(jira, F.delivery(f, for: definition)) == .delivered, "\(f.file)")
            }
            for f in findings {
                #expect(await F.deliver(jira, F.delivery(f, for: definition, count: f.summary.count + 5)) == .delivered, "\(f.file) repeat")
            }
            #expect(try receiver.violations() == [])
            let issues = try Self.issues(receiver)
            #expect(issues.count == findings.count)
            #expect(try Self.calls(receiver) == ["create": findings.count, "search": findings.count, "comment": findings.count, "transition": 0])
            for f in findings {
                let label = "sluice-\(f.summary.id)"
                let matching = issues.values.filter { ($0["labels"] as? [String])?.contains(label) == true }
                try #require(matching.count == 1, "\(f.file): one issue labelled \(label)")
                let issue = matching[0]
                #expect(issue["labels"] as? [String] == ["guardduty", label])
                let fields = F.object(issue, "fields")
                #expect(F.object(fields, "project")["key"] as? String == "SEC")
                #expect(F.object(fields, "issuetype")["name"] as? String == "Task")
                let summary = try #require(fields["summary"] as? String)
                #expect(summary == "\(f.summary.severityLabel.rawValue): \(f.summary.title)")
                #expect(summary.count <= 255)
                if let priority = ["Critical": "Highest", "High": "High"][f.summary.severityLabel.rawValue] {
                    #expect(F.object(fields, "priority")["name"] as? String == priority)
                } else {
                    #expect(fields["priority"] == nil)
                }
                // The description is an ADF document; its text carries the finding's details.
                let description = F.object(fields, "description")
                #expect(description["type"] as? String == "doc" && description["version"] as? Int == 1)
                let text = Self.plainText(description)
                #expect(text.contains("Severity: \(f.summary.severityLabel.rawValue)"))
                #expect(text.contains("Resource: \(f.summary.resourceSummary)"))
                #expect(text.contains("Account: \(f.summary.account)"))
                #expect(text.contains(f.summary.consoleURL))
                if let process = f.summary.process { #expect(text.contains("Process: \(process.name)"), "\(f.file)") }
                #expect(Self.links(description).contains(f.summary.consoleURL), "the console URL is a link")
                // The repeat became a comment with the new count.
                let comments = try #require(issue["comments"] as? [[String: Any]])
                #expect(comments.count == 1)
                #expect(Self.plainText(comments.first ?? [:]).contains("Count: \(f.summary.count + 5)"))
            }
            let auth = Set(try receiver.records().compactMap { $0.header("Authorization") })
            #expect(auth == ["Basic " + Data("\(Self.email):\(Self.apiToken)".utf8).base64EncodedString()])
        }
    }

    @Test func afterARestartTheSearchFindsTheOpenIssue() async throws {
        let receiver = try await Self.cloudReceiver()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let definition = try F.definition(Self.cloudYAML(receiver.port), environment: Self.cloudEnv)
            let f = try F.findings()[0]
            #expect(await F.deliver(try F.make(definition), F.delivery(f, for: definition)) == .delivered)
            // A new instance knows nothing: it searches (JQL on the label), then comments.
            #expect(await F.deliver(try F.make(definition), F.delivery(f, for: definition, count: 9)) == .delivered)
            #expect(try receiver.violations() == [])
            #expect(try Self.issues(receiver).count == 1)
            #expect(try Self.calls(receiver) == ["create": 1, "search": 2, "comment": 1, "transition": 0])
            let searches = try receiver.records().filter { $0.path == "/rest/api/3/search/jql" }
            let lastSearch = searches.last.flatMap { try? JSON.parse($0.body) }
            let body = try #require(lastSearch)
            #expect(body["jql"]?.stringValue == "labels = \"sluice-\(f.summary.id)\" AND statusCategory != Done")
        }
    }

    @Test func concurrentDeliveriesOfOneFindingOpenOneIssue() async throws {
        let receiver = try await Self.cloudReceiver()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let definition = try F.definition(Self.cloudYAML(receiver.port), environment: Self.cloudEnv)
            let jira = try F.make(definition)
            let f = try F.findings()[1]
            let outcomes = await withTaskGroup(of: DeliveryOutcome.self) { group in
                for i in 0..<5 { group.addTask { await F.deliver(jira, F.delivery(f, for: definition, count: i + 1)) } }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes == Array(repeating: .delivered, count: 5))
            #expect(try Self.calls(receiver) == ["create": 1, "search": 1, "comment": 4, "transition": 0])
        }
    }

    @Test func aRepeatAfterDoneOpensANewIssueOrReopensIt() async throws {
        let receiver = try await Self.cloudReceiver()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let f = try F.findings()[2]
            let plain = try F.definition(Self.cloudYAML(receiver.port), environment: Self.cloudEnv)
            #expect(await F.deliver(try F.make(plain), F.delivery(f, for: plain)) == .delivered)
            try await close(try #require(Self.issues(receiver).keys.first), receiver)
            // reopen: false (the default): the done issue stays done, a new one is opened.
            #expect(await F.deliver(try F.make(plain), F.delivery(f, for: plain, count: 2)) == .delivered)
            var issues = try Self.issues(receiver)
            #expect(issues.count == 2)
            let statuses = Set(issues.values.compactMap { $0["status"] as? String })
            #expect(statuses == ["Done", "To Do"])

            // reopen: true, with both done: the newest is reopened and gets the comment.
            for key in issues.keys where issues[key]?["status"] as? String != "Done" { try await close(key, receiver) }
            let reopening = try F.definition(Self.cloudYAML(receiver.port, extra: "reopen: true"), environment: Self.cloudEnv)
            #expect(await F.deliver(try F.make(reopening), F.delivery(f, for: reopening, count: 3)) == .delivered)
            issues = try Self.issues(receiver)
            #expect(issues.count == 2)
            let newestIssue = issues.max { ($0.value["seq"] as? Int ?? 0) < ($1.value["seq"] as? Int ?? 0) }
            let newest = try #require(newestIssue)
            #expect(newest.value["status"] as? String == "Reopened")
            #expect((newest.value["comments"] as? [Any])?.count == 1)
            #expect(try receiver.violations() == [])
        }
    }

    /// Moves an issue to Done as a person would, through Jira's transitions API.
    private func close(_ key: String, _ receiver: WebhookReceiver) async throws {
        let auth = "Basic " + Data("\(Self.email):\(Self.apiToken)".utf8).base64EncodedString()
        let response = try await F.http.execute(HTTPRequest(
            method: "POST", url: "\(receiver.url)/rest/api/3/issue/\(key)/transitions",
            headers: [("Authorization", auth), ("Content-Type", "application/json")], body: Array(#"{"transition":{"id":"31"}}"#.utf8)))
        #expect(response.status == 204)
    }

    @Test func dataCenterUsesV2BearerTokenAndWikiText() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "jira", options: ["flavor": "datacenter", "token": Self.pat, "projects": "OPS"])
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let definition = try F.definition("""
                name: jira-dc
                type: jira
                flavor: datacenter
                url: http://127.0.0.1:\(receiver.port)
                project: OPS
                issue_type: Bug
                token: file:\(try secretFile(Self.pat))
                done_statuses: [Resolved, Closed]
                """)
            let jira = try F.make(definition)
            let findings = try F.findings().prefix(3)
            for f in findings { #expect(await F.deliver(jira, F.delivery(f, for: definition)) == .delivered) }
            for f in findings { #expect(await F.deliver(try F.make(definition), F.delivery(f, for: definition, count: 4)) == .delivered) }
            #expect(try receiver.violations() == [])
            let issues = try Self.issues(receiver)
            #expect(issues.count == 3)
            for issue in issues.values {
                let description = try #require(F.object(issue, "fields")["description"] as? String, "wiki text, not ADF")
                #expect(description.contains("Severity: "))
                #expect((issue["comments"] as? [String])?.first?.contains("Count: 4") == true)
            }
            let records = try receiver.records()
            let authorizations = Set(records.compactMap { $0.header("Authorization") })
            #expect(authorizations == ["Bearer \(Self.pat)"])
            let searchRecord = records.first { $0.path == "/rest/api/2/search" }
            let search = try #require(searchRecord)
            #expect(search.body.contains(#"AND status NOT IN (\"Resolved\", \"Closed\")"#))
        }
    }

    /// Finding text is hostile: on Data Center (wiki markup) it cannot add a link, an image
    /// beacon, a macro or a heading; Cloud descriptions are ADF text and are sent as written.
    @Test func dataCenterEscapesWikiMarkupInFindingText() throws {
        let hostile = #"{"detail": {"title": "[click|http://evil.test/]{color:red}!http://evil.test/p.png!\nh1. *Owned* by _x_ #1 ~a~ ^b^ +c+ -d- ??e?? \\ done"}}"#
        let event = try JSON.parse(hostile)
        func rendered(_ flavor: String) throws -> String {
            let definition = try F.definition("""
                name: jira-\(flavor)
                type: jira
                flavor: \(flavor)
                url: https://jira.example.test
                project: OPS
                \(flavor == "cloud" ? "email: a@b.test\napi_token: t" : "token: t")
                template: "Title: {{detail.title}}"
                """)
            return try #require(definition.template).render(event)
        }
        #expect(try rendered("datacenter")
            == ##"Title: \[click\|http://evil.test/\]\{color:red\}\!http://evil.test/p.png\! h1. \*Owned\* by \_x\_ \#1 \~a\~ \^b\^ \+c\+ \-d\- \?\?e\?\? \\ done"##)
        #expect(try rendered("cloud") == "Title: [click|http://evil.test/]{color:red}!http://evil.test/p.png!\nh1. *Owned* by _x_ #1 ~a~ ^b^ +c+ -d- ??e?? \\ done")
    }

    private func secretFile(_ value: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("jira-pat-\(UUID().uuidString)")
        try Data((value + "\n").utf8).write(to: url)
        return url.path
    }

    @Test func vendorErrorsAreClassifiedWithoutSecrets() async throws {
        let receiver = try await Self.cloudReceiver()
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let definition = try F.definition(Self.cloudYAML(receiver.port), environment: Self.cloudEnv)
            let jira = try F.make(definition)
            let findings = try F.findings()
            var messages: [String] = []

            try await receiver.setStatus(429, body: #"{"errorMessages":["Rate limit exceeded"],"errors":{}}"#, retryAfter: 7)
            let limited = await F.deliver(jira, F.delivery(findings[0], for: definition))
            #expect(limited == .retryable("Jira search: HTTP 429", retryAfter: .seconds(7)))
            try await receiver.setStatus(503)
            let unavailable = await F.deliver(jira, F.delivery(findings[0], for: definition))
            guard case .retryable(_, nil) = unavailable else { Issue.record("503: \(unavailable)"); return }
            try await receiver.reset()
            messages += [F.message(of: limited), F.message(of: unavailable)]

            // A project the site does not have: Jira's 400 with field errors, permanent.
            let wrongProject = try F.definition(Self.cloudYAML(receiver.port, project: "NOPE"), environment: Self.cloudEnv)
            let rejected = await F.deliver(try F.make(wrongProject), F.delivery(findings[0], for: wrongProject))
            #expect(rejected == .permanent("Jira create issue: HTTP 400: project: Specify a valid project ID or key"))
            // A wrong API token: 401, permanent.
            let wrongToken = try F.definition(Self.cloudYAML(receiver.port), environment: ["JIRA_EMAIL": Self.email, "JIRA_API_TOKEN": "wrong-s3cr3t"])
            let unauthorized = await F.deliver(try F.make(wrongToken), F.delivery(findings[0], for: wrongToken))
            #expect(unauthorized == .permanent("Jira search: HTTP 401: Client must be authenticated to access this resource."))
            messages += [F.message(of: rejected), F.message(of: unauthorized)]
            for m in messages {
                for secret in [Self.apiToken, "wrong-s3cr3t", Self.email, String(Data("\(Self.email):".utf8).base64EncodedString().prefix(12))] {
                    #expect(!m.contains(secret), "outcome message leaks a credential: \(m)")
                }
            }
            #expect(try receiver.violations().count == 2, "the receiver saw the bad project and the bad token")
        }
    }

    // MARK: Pure parts

    @Test func summaryIsOneLineOfAtMost255Characters() throws {
        var s = try F.findings()[0].summary
        s.title = String(repeating: "é", count: 300) + "\nsecond line"
        let summary = JiraConnector.issueSummary(summary: s, text: "")
        #expect(summary.count == 255 && summary.hasSuffix("…") && !summary.contains("\n"))
        #expect(JiraConnector.issueSummary(summary: nil, text: "First line\nmore") == "First line")
    }

    @Test func labelsAndJQLAreQuotedForJira() {
        #expect(JiraConnector.findingLabel("a b\tc") == "sluice-a-b-c")
        #expect(JiraConnector.quoted(#"x"y\z"#) == #""x\"y\\z""#)
    }

    @Test func textBecomesAnADFDocument() throws {
        let doc = JiraConnector.document("Title\n\nLine one\nSee https://example.com/x now\n")
        let json = try JSON.parse(doc.text)
        #expect(json["type"]?.stringValue == "doc")
        let paragraphs = try #require(json["content"]?.arrayValue)
        #expect(paragraphs.count == 2)
        let inline = try #require(paragraphs[1]["content"]?.arrayValue)
        #expect(inline.map { $0["type"]?.stringValue ?? "" } == ["text", "hardBreak", "text", "text", "text"])
        #expect(inline[3].value(atPath: "marks")?.arrayValue?.first?.value(atPath: "attrs.href")?.stringValue == "https://example.com/x")
    }

    @Test func reopenPrefersATransitionNamedReopenAndNeverOneToDone() {
        func pick(_ transitions: String) -> String? {
            JiraConnector.reopenTransition(in: HTTPResponse(status: 200, body: Array(#"{"transitions":\#(transitions)}"#.utf8)))
        }
        let done = #"{"id":"31","name":"Done","to":{"statusCategory":{"key":"done"}}}"#
        let todo = #"{"id":"11","name":"To Do","to":{"statusCategory":{"key":"new"}}}"#
        let reopen = #"{"id":"41","name":"Reopen issue","to":{"statusCategory":{"key":"new"}}}"#
        #expect(pick("[\(done),\(todo),\(reopen)]") == "41")
        #expect(pick("[\(done),\(todo)]") == "11")
        #expect(pick("[\(done)]") == nil, "no way back: a new issue is opened instead")
    }

    @Test func configurationProblemsAreReported() {
        let missingToken = F.problems("name: j\ntype: jira\nurl: https://x.atlassian.net\nproject: SEC\nemail: a@b.c\n")
        #expect(missingToken.contains { $0.contains("flavor cloud needs 'email' and 'api_token'") })
        let mixed = F.problems("name: j\ntype: jira\nflavor: datacenter\nurl: https://jira.corp\nproject: SEC\nemail: a@b.c\ntoken: t\n")
        #expect(mixed.contains { $0.contains("'email' and 'api_token' are for flavor cloud") })
        let badLabel = F.problems("name: j\ntype: jira\nflavor: datacenter\nurl: https://jira.corp\nproject: SEC\ntoken: t\nlabels: [\"two words\"]\n")
        #expect(badLabel.contains { $0.contains("cannot be empty or contain spaces") })
        let typo = F.problems("name: j\ntype: jira\nflavor: datacenter\nurl: https://jira.corp\nproject: SEC\ntoken: t\nissuetype: Bug\n")
        #expect(typo.contains { $0.contains("unknown key \"issuetype\" for a jira connector") })
    }

    // MARK: ADF reading helpers

    static func plainText(_ node: [String: Any]) -> String {
        if node["type"] as? String == "text" { return node["text"] as? String ?? "" }
        if node["type"] as? String == "hardBreak" { return "\n" }
        let children = (node["content"] as? [[String: Any]]) ?? ((node["body"] as? [String: Any]).map { [$0] } ?? [])
        return children.map(plainText).joined(separator: node["type"] as? String == "doc" ? "\n\n" : "")
    }

    static func links(_ node: [String: Any]) -> [String] {
        let own = ((node["marks"] as? [[String: Any]]) ?? []).compactMap { F.object($0, "attrs")["href"] as? String }
        return own + ((node["content"] as? [[String: Any]]) ?? []).flatMap(links)
    }
}

/// The issue key of Jira's search reply goes into the next request's path: a reply holding
/// `../` or `?` must not change which resource the comment or transition goes to (issue 10.5,
/// found by the issue 10 audit of 2026-12-07; ServiceNow already encoded its sys_id).
@Suite struct JiraIssueKeyPathTests {
    @Test func anIssueKeyFromTheReplyIsOnePathSegment() throws {
        let http = HTTPClient()
        let connector = try #require(SecretScrubbingConnector.unwrap(try SIEMFixtures.connector("""
            name: jira-keys
            type: jira
            url: https://jira.example.test
            project: OPS
            email: a@b.test
            api_token: t
            """, http: http)) as? JiraConnector)
        #expect(connector.commentRequest(key: "OPS-12", text: "x").url == "https://jira.example.test/rest/api/3/issue/OPS-12/comment")
        #expect(connector.commentRequest(key: "../../admin?x=1#", text: "x").url
            == "https://jira.example.test/rest/api/3/issue/%2E%2E%2F%2E%2E%2Fadmin%3Fx%3D1%23/comment")
        #expect(connector.commentRequest(key: "..", text: "x").url == "https://jira.example.test/rest/api/3/issue/%2E%2E/comment")
    }
}
