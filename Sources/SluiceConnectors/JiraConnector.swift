import Foundation
import SluiceCore
import SluiceGuardDuty
import SluiceHTTP

/// `jira`: opens one Jira issue per finding, and comments on that issue when the same finding
/// comes again instead of opening another. Works with Jira Cloud (REST v3, Basic auth with an
/// account e-mail and API token, description in Atlassian Document Format) and Data Center /
/// Server (REST v2, Bearer personal access token, description as wiki text).
///
/// Each issue carries the label `sluice-<finding id>`. A repeat looks up the finding's open
/// issue with JQL (`labels = "sluice-<id>" AND statusCategory != Done`) and adds a comment with
/// the new count and last-seen time. A small in-process index remembers finding → issue key to
/// save searches; the search stays the source of truth after a restart.
///
/// The description is the rendered template (`template:` overrides the default below); the
/// summary is "<Severity>: <finding title>", at most 255 characters.
///
/// ```yaml
/// name: secops-jira
/// type: jira
/// flavor: cloud                       # cloud (default) or datacenter
/// url: https://acme.atlassian.net     # required; Data Center: the base URL, context path included
/// project: SEC                        # required: project key
/// issue_type: Task                    # default Task
/// email: ${JIRA_EMAIL}                # cloud: account e-mail …
/// api_token: ${JIRA_API_TOKEN}        # … and API token (Basic auth); or file:/run/secrets/…
/// token: ${JIRA_PAT}                  # datacenter: personal access token (Bearer)
/// labels: [guardduty, security]       # added to the finding's own label; no spaces
/// priorities:                         # optional: Jira priority name per severity band
///   Critical: Highest
///   High: High
/// fields:                             # optional: extra issue fields, as Jira's JSON
///   components: [{name: cloud}]
/// reopen: false                       # true: a repeat of a finding whose issue is done reopens
///                                     # it (a transition out of Done) and comments; false (the
///                                     # default): a repeat after Done opens a new issue
/// done_statuses: [Resolved, Closed]   # statuses that count as done, beside the Done category
/// tls: {ca_file: /etc/ssl/corp-ca.pem}
/// ```
public final class JiraConnector: TicketingConnector {
    public enum Flavor: String, Sendable {
        case cloud, datacenter

        /// REST API version in paths: 3 on Cloud (ADF), 2 on Data Center (wiki text).
        var apiVersion: Int { self == .cloud ? 3 : 2 }
    }

    public struct Configuration: Sendable {
        var flavor: Flavor
        /// Without a trailing slash.
        var baseURL: String
        var project: String
        var issueType: String
        /// The whole `Authorization` header value.
        var authorization: Secret
        var labels: [String]
        /// Priority name per severity label ("High" → "Highest").
        var priorities: [String: String]
        /// Extra members of `fields`, from YAML.
        var fields: JSON?
        var reopen: Bool
        var doneStatuses: [String]
        var tls: TLSOptions
    }

    let configuration: Configuration
    let client: HTTPClient
    let timeout: Duration
    let index: FindingTicketIndex

    init(configuration: Configuration, client: HTTPClient, timeout: Duration, index: FindingTicketIndex = FindingTicketIndex()) {
        self.configuration = configuration
        self.client = client
        self.timeout = timeout
        self.index = index
    }

    public func deliver(_ delivery: Delivery, completion: @escaping @Sendable (DeliveryOutcome) -> Void) {
        Task { completion(await self.attempt(delivery)) }
    }

    // MARK: Finding, updating and opening issues

    /// The open issue labelled with the finding id; with `reopen`, the newest one, reopened when done.
    func findOpenTicket(findingID: String) async -> TicketLookup {
        let found: Issue?
        switch await send(searchRequest(findingID: findingID), doing: "search") {
        case .ok(let response): found = Self.firstIssue(in: response, doneStatuses: configuration.doneStatuses)
        case .failed(let outcome, _): return .failed(outcome)
        }
        guard let issue = found, !issue.isDone || configuration.reopen else { return .none }
        return issue.isDone ? await reopen(issue.key) : .found(issue.key)
    }

    func update(ticket key: String, with delivery: Delivery) async -> TicketCall {
        await send(commentRequest(key: key, text: TicketText.repeatNote(for: delivery)), doing: "comment on \(key)")
    }

    func open(_ delivery: Delivery, findingID: String?) async -> TicketCall {
        await send(createRequest(for: delivery, findingID: findingID), doing: "create issue")
    }

    func ticketID(created response: HTTPResponse) -> String? {
        (try? JSON.parse(response.bodyText))?["key"]?.stringValue
    }

    /// Moves a done issue back to an open status: the transition named like "Reopen", else the
    /// first one whose target status is not in the Done category. A workflow with no way back
    /// gets a new issue instead.
    private func reopen(_ key: String) async -> TicketLookup {
        let list: HTTPResponse
        switch await send(request("GET", "/issue/\(Self.pathSegment(key))/transitions", body: nil), doing: "list transitions of \(key)") {
        case .ok(let response): list = response
        case .failed(let outcome, _): return .failed(outcome)
        }
        guard let id = Self.reopenTransition(in: list) else { return .none }
        let body: JSONBuilder = ["transition": ["id": .string(id)]]
        switch await send(request("POST", "/issue/\(Self.pathSegment(key))/transitions", body: body), doing: "reopen \(key)") {
        case .ok: return .found(key)
        case .failed(let outcome, _): return .failed(outcome)
        }
    }

    // MARK: Requests (pure: tested without a server)

    /// An issue key as one path segment: the key comes from Jira's search reply, and a reply must
    /// not add segments or a query to the next request (`PROJ-1/../../x?y` stays one segment; `.`
    /// is encoded too, so `..` cannot be a dot segment curl would resolve).
    static func pathSegment(_ key: String) -> String {
        key.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~")) ?? ""
    }

    func request(_ method: String, _ path: String, body: JSONBuilder?) -> HTTPRequest {
        TicketText.request(method, url: "\(configuration.baseURL)/rest/api/\(configuration.flavor.apiVersion)\(path)",
                           authorization: configuration.authorization, body: body, timeout: timeout, tls: configuration.tls)
    }

    /// POST /rest/api/{3|2}/issue.
    func createRequest(for delivery: Delivery, findingID: String?) -> HTTPRequest {
        let text = String(decoding: delivery.payload, as: UTF8.self)
        let fields = configuration.fields.map { JSONBuilder($0) } ?? .object()
        fields["project"] = ["key": .string(configuration.project)]
        fields["issuetype"] = ["name": .string(configuration.issueType)]
        fields["summary"] = .string(Self.issueSummary(summary: delivery.summary, text: text))
        fields["description"] = configuration.flavor == .cloud ? Self.document(text) : .string(text)
        let labels = JSONBuilder.array()
        for label in configuration.labels { labels.append(.string(label)) }
        if let findingID { labels.append(.string(Self.findingLabel(findingID))) }
        fields["labels"] = labels
        if let band = delivery.summary?.severityLabel.rawValue, let priority = configuration.priorities[band] {
            fields["priority"] = ["name": .string(priority)]
        }
        return request("POST", "/issue", body: ["fields": fields])
    }

    /// The JQL search for the finding's issue: open ones only, or (with `reopen`) the newest.
    func searchRequest(findingID: String) -> HTTPRequest {
        let body: JSONBuilder = ["jql": .string(Self.jql(findingID: findingID, configuration: configuration)),
                                 "fields": ["status"], "maxResults": 1]
        return request("POST", configuration.flavor == .cloud ? "/search/jql" : "/search", body: body)
    }

    /// POST /rest/api/{v}/issue/{key}/comment: ADF on Cloud, wiki text on Data Center.
    func commentRequest(key: String, text: String) -> HTTPRequest {
        let body: JSONBuilder = ["body": configuration.flavor == .cloud ? Self.document(text) : .string(text)]
        return request("POST", "/issue/\(Self.pathSegment(key))/comment", body: body)
    }

    static func jql(findingID: String, configuration c: Configuration) -> String {
        var jql = "labels = \(quoted(findingLabel(findingID)))"
        if c.reopen { return jql + " ORDER BY created DESC" }
        jql += " AND statusCategory != Done"
        if !c.doneStatuses.isEmpty { jql += " AND status NOT IN (\(c.doneStatuses.map(quoted).joined(separator: ", ")))" }
        return jql
    }

    /// A JQL string literal.
    static func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// `sluice-<id>`: Jira labels cannot hold spaces, and are at most 255 characters.
    static func findingLabel(_ findingID: String) -> String {
        String(("sluice-" + findingID.map { $0.isWhitespace ? "-" : $0 }).prefix(255))
    }

    /// "High: <title>" on one line, at most 255 characters (Jira's limit for summaries).
    static func issueSummary(summary: FindingSummary?, text: String) -> String {
        TicketText.titleLine(summary: summary, prefix: "", text: text, limit: 255)
    }

    /// Plain text as an Atlassian Document: a paragraph per blank-line-separated block, hard
    /// breaks between its lines, and http(s) URLs as links.
    static func document(_ text: String) -> JSONBuilder {
        let content = JSONBuilder.array()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var block: [String] = []
        func flush() {
            defer { block = [] }
            guard !block.isEmpty else { return }
            let inline = JSONBuilder.array()
            for (i, line) in block.enumerated() {
                if i > 0 { inline.append(["type": "hardBreak"]) }
                for node in textNodes(line) { inline.append(node) }
            }
            content.append(["type": "paragraph", "content": inline])
        }
        for line in lines {
            if line.isEmpty { flush() } else { block.append(line) }
        }
        flush()
        return ["type": "doc", "version": 1, "content": content]
    }

    /// ADF text nodes of one line; a URL becomes its own node with a link mark. ADF rejects
    /// empty text nodes, so none is made.
    private static func textNodes(_ line: String) -> [JSONBuilder] {
        var nodes: [JSONBuilder] = []
        var rest = Substring(line)
        while let start = rest.range(of: "https://") ?? rest.range(of: "http://") {
            if start.lowerBound > rest.startIndex { nodes.append(["type": "text", "text": .string(String(rest[..<start.lowerBound]))]) }
            let end = rest[start.lowerBound...].firstIndex(where: { $0.isWhitespace }) ?? rest.endIndex
            let url = String(rest[start.lowerBound..<end])
            nodes.append(["type": "text", "text": .string(url), "marks": [["type": "link", "attrs": ["href": .string(url)]]]])
            rest = rest[end...]
        }
        if !rest.isEmpty { nodes.append(["type": "text", "text": .string(String(rest))]) }
        return nodes
    }

    // MARK: Responses

    struct Issue: Equatable {
        var key: String
        var isDone: Bool
    }

    /// The first issue of a search answer (Cloud `/search/jql` and Data Center `/search` both
    /// answer `{"issues": [{"key", "fields": {"status": …}}]}`).
    static func firstIssue(in response: HTTPResponse, doneStatuses: [String]) -> Issue? {
        guard let issue = (try? JSON.parse(response.bodyText))?["issues"]?.arrayValue?.first,
              let key = issue["key"]?.stringValue else { return nil }
        let status = issue["fields"]?["status"]
        let name = status?["name"]?.stringValue ?? ""
        let category = status?["statusCategory"]?["key"]?.stringValue
        let done = category == "done" || doneStatuses.contains { $0.caseInsensitiveCompare(name) == .orderedSame }
        return Issue(key: key, isDone: done)
    }

    static func reopenTransition(in response: HTTPResponse) -> String? {
        let transitions = (try? JSON.parse(response.bodyText))?["transitions"]?.arrayValue ?? []
        let open = transitions.filter { $0["to"]?["statusCategory"]?["key"]?.stringValue != "done" }
        let named = open.first { ($0["name"]?.stringValue ?? "").lowercased().contains("reopen") }
        return (named ?? open.first)?["id"]?.stringValue
    }

    /// Jira's error answer, `{"errorMessages": [...], "errors": {"field": "message"}}`, as one line.
    static func errorText(_ body: String) -> String? {
        guard let json = try? JSON.parse(body) else { return nil }
        var parts = (json["errorMessages"]?.arrayValue ?? []).compactMap(\.stringValue)
        if case .object(let members)? = json["errors"] {
            parts += members.map { "\($0.key): \($0.value.stringValue ?? "invalid")" }
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    // MARK: Sending

    private func send(_ request: HTTPRequest, doing what: String) async -> TicketCall {
        await TicketCall.send(request, on: client, to: "Jira", doing: what, errorText: Self.errorText)
    }
}

extension JiraConnector: ConnectorType {
    public static let kind = "jira"
    public static let summary = "Jira Cloud or Data Center issue per finding; a repeat comments on the open issue"
    public static let payloadFormat = PayloadFormat.text

    /// Data Center renders descriptions and comments as wiki markup: finding text is escaped for it.
    public static func templateFormat(for reader: MappingReader) -> PayloadTemplate.Format {
        reader.node["flavor"]?.string == Flavor.datacenter.rawValue ? .jiraWiki : .text
    }
    public static let usesSummary = true

    /// The issue description (and the ServiceNow one): plain lines that read well as ADF
    /// paragraphs and as wiki text.
    public static let defaultTemplate: String? = TicketText.findingDescription

    public static func configuration(from r: MappingReader) -> Configuration? {
        let flavorText = r.string("flavor") ?? "cloud"
        let flavor = Flavor(rawValue: flavorText)
        if flavor == nil { r.report(r.at("flavor").error("flavor must be cloud or datacenter")) }
        let url = r.baseHTTPURL("url", required: true)
        let project = r.string("project", required: true)
        let issueType = r.string("issue_type") ?? "Task"
        let email = r.string("email")
        let apiToken = r.secret("api_token")
        let token = r.secret("token")
        let labels = TicketText.stringList(r, "labels") ?? []
        for (i, label) in labels.enumerated() where label.isEmpty || label.contains(where: \.isWhitespace) {
            r.report(r.at("labels", item: i).error("Jira labels cannot be empty or contain spaces: '\(label)'"))
        }
        var priorities: [String: String] = [:]
        for (band, name) in r.stringMap("priorities") ?? [] {
            if ["Low", "Medium", "High", "Critical"].contains(band) { priorities[band] = name } else {
                r.report(r.at("priorities").error("priorities: '\(band)' is not a severity band (Low, Medium, High, Critical)"))
            }
        }
        var fields: JSON?
        if let n = r.node("fields") {
            if n.isMapping { fields = n.json() } else { r.report(n.error("'fields' must be a mapping of Jira field names to values")) }
        }
        let reopen = r.bool("reopen") ?? false
        let doneStatuses = TicketText.stringList(r, "done_statuses") ?? []
        let tls = r.tlsOptions()

        var authorization: Secret?
        switch flavor {
        case .cloud?:
            if token != nil { r.report(r.at("token").error("'token' (a personal access token) is for flavor datacenter; Cloud uses email and api_token")) }
            if let email, let apiToken {
                authorization = Secret("Basic " + Data("\(email):\(apiToken.value)".utf8).base64EncodedString())
            } else {
                r.report(r.node.error("flavor cloud needs 'email' and 'api_token'"))
            }
        case .datacenter?:
            if email != nil || apiToken != nil { r.report(r.node.error("'email' and 'api_token' are for flavor cloud; Data Center uses 'token'")) }
            if let token { authorization = Secret("Bearer " + token.value) } else { r.report(r.node.error("flavor datacenter needs 'token' (a personal access token)")) }
        case nil: break
        }
        guard let flavor, let url, let project, let authorization else { return nil }
        return Configuration(flavor: flavor, baseURL: url, project: project, issueType: issueType, authorization: authorization,
                             labels: labels, priorities: priorities, fields: fields, reopen: reopen, doneStatuses: doneStatuses, tls: tls)
    }

    public static func make(name: String, configuration: Configuration, context: ConnectorContext) throws -> any Connector {
        JiraConnector(configuration: configuration, client: context.http, timeout: context.timeout)
    }
}
