import Foundation
import SluiceCore
import SluiceGuardDuty
import SluiceHTTP

/// `servicenow`: opens a ServiceNow incident per finding through the Table API, with
/// `correlation_id` = the finding id; when the same finding comes again while its incident is
/// active, adds work notes to that incident instead of opening another.
///
/// A repeat is found with `GET /api/now/table/incident?sysparm_query=correlation_id=<id>^active=true`
/// and updated with `PATCH /api/now/table/incident/{sys_id}`. A small in-process index remembers
/// finding → sys_id to save look-ups; the query stays the source of truth after a restart.
/// Urgency and impact follow the severity band: Critical 1/1, High 1/2, Medium 2/2, Low 3/3
/// (1 is the highest).
///
/// ```yaml
/// name: secops-servicenow
/// type: servicenow
/// url: https://acme.service-now.com    # required: the instance
/// table: incident                      # default incident
/// username: ${SN_USER}                 # Basic auth …
/// password: ${SN_PASSWORD}             # … or file:/run/secrets/sn-password
/// token: ${SN_OAUTH_TOKEN}             # … or an OAuth access token (Bearer)
/// category: security                   # optional incident fields
/// subcategory: intrusion
/// assignment_group: SOC                # name or sys_id
/// caller: svc-sluice                   # caller_id: user name or sys_id
/// fields:                              # optional: more columns, as the Table API takes them
///   u_source: GuardDuty
/// tls: {ca_file: /etc/ssl/corp-ca.pem}
/// ```
public final class ServiceNowConnector: TicketingConnector {
    public struct Configuration: Sendable {
        /// Without a trailing slash.
        var baseURL: String
        var table: String
        /// The whole `Authorization` header value.
        var authorization: Secret
        /// Set on every new incident: category, assignment_group, caller_id and `fields:`.
        var fields: [(String, JSON)]
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

    // MARK: Finding, updating and opening incidents

    func findOpenTicket(findingID: String) async -> TicketLookup {
        guard let lookup = lookupRequest(findingID: findingID) else {
            return .failed(.permanent("finding id holds '^' or a line break, which a ServiceNow encoded query cannot carry as a value: refused"))
        }
        switch await send(lookup, doing: "look up incident") {
        case .ok(let response): return Self.firstSysID(in: response).map { .found($0) } ?? .none
        case .failed(let outcome, _): return .failed(outcome)
        }
    }

    func update(ticket sysID: String, with delivery: Delivery) async -> TicketCall {
        await send(updateRequest(sysID: sysID, workNotes: TicketText.repeatNote(for: delivery)), doing: "update incident")
    }

    func open(_ delivery: Delivery, findingID: String?) async -> TicketCall {
        await send(createRequest(for: delivery, findingID: findingID), doing: "create incident")
    }

    func ticketID(created response: HTTPResponse) -> String? {
        (try? JSON.parse(response.bodyText))?["result"]?["sys_id"]?.stringValue
    }

    private func send(_ request: HTTPRequest, doing what: String) async -> TicketCall {
        await TicketCall.send(request, on: client, to: "ServiceNow", doing: what, errorText: Self.errorText)
    }

    // MARK: Requests (pure: tested without a server)

    func request(_ method: String, _ pathAndQuery: String, body: JSONBuilder?) -> HTTPRequest {
        TicketText.request(method, url: "\(configuration.baseURL)/api/now/table/\(configuration.table)\(pathAndQuery)",
                           authorization: configuration.authorization, body: body, timeout: timeout, tls: configuration.tls)
    }

    /// POST /api/now/table/incident: only sys_id and number come back.
    func createRequest(for delivery: Delivery, findingID: String?) -> HTTPRequest {
        let text = Self.withoutCodeTags(String(decoding: delivery.payload, as: UTF8.self))
        let record = JSONBuilder.object()
        for (name, value) in configuration.fields { record[name] = JSONBuilder(value) }
        record["short_description"] = .string(Self.shortDescription(summary: delivery.summary, text: text))
        record["description"] = .string(text)
        if let band = delivery.summary?.severityLabel {
            let (urgency, impact) = Self.urgencyAndImpact(band)
            record["urgency"] = .string(String(urgency))
            record["impact"] = .string(String(impact))
        }
        if let findingID {
            record["correlation_id"] = .string(findingID)
            record["correlation_display"] = "Sluice"
        }
        return request("POST", "?sysparm_fields=sys_id,number", body: record)
    }

    /// The finding's active incident, if any; nil when the id cannot be a query value. An encoded
    /// query has no escape for `^` (its AND; `^OR`, `^NQ` add conditions), and the platform decodes
    /// percent-encoding before parsing it: an id with `^` would change which incidents match.
    func lookupRequest(findingID: String) -> HTTPRequest? {
        guard !findingID.unicodeScalars.contains(where: { $0 == "^" || $0.value < 0x20 }) else { return nil }
        let query = "correlation_id=\(findingID)^active=true"
        return request("GET", "?sysparm_query=\(Self.percentEncoded(query))&sysparm_limit=1&sysparm_fields=sys_id,number", body: nil)
    }

    func updateRequest(sysID: String, workNotes: String) -> HTTPRequest {
        request("PATCH", "/\(Self.percentEncoded(sysID))?sysparm_fields=sys_id,number", body: ["work_notes": .string(Self.withoutCodeTags(workNotes))])
    }

    /// ServiceNow renders `[code]…[/code]` in journal and text fields as HTML (where the instance
    /// allows code tags): finding text must not open one. `[code]` in any case becomes `[ code]`.
    static func withoutCodeTags(_ text: String) -> String {
        guard text.range(of: "[code]", options: .caseInsensitive) != nil || text.range(of: "[/code]", options: .caseInsensitive) != nil else { return text }
        return text.replacingOccurrences(of: "[code]", with: "[ code]", options: .caseInsensitive)
            .replacingOccurrences(of: "[/code]", with: "[ /code]", options: .caseInsensitive)
    }

    /// Critical 1/1, High 1/2, Medium 2/2, Low 3/3: (urgency, impact), 1 the highest.
    static func urgencyAndImpact(_ band: FindingSummary.SeverityLabel) -> (Int, Int) {
        switch band {
        case .critical: return (1, 1)
        case .high: return (1, 2)
        case .medium: return (2, 2)
        case .low: return (3, 3)
        }
    }

    /// "GuardDuty High: <title>" on one line, at most 160 characters (the column's length).
    static func shortDescription(summary: FindingSummary?, text: String) -> String {
        TicketText.titleLine(summary: summary, prefix: "GuardDuty ", text: text, limit: 160)
    }

    /// Everything but unreserved characters percent-encoded (`^` and `=` inside a query value).
    static func percentEncoded(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")) ?? s
    }

    // MARK: Responses

    static func firstSysID(in response: HTTPResponse) -> String? {
        (try? JSON.parse(response.bodyText))?["result"]?.arrayValue?.first?["sys_id"]?.stringValue
    }

    /// ServiceNow's error answer, `{"error": {"message", "detail"}, "status": "failure"}`, as one line.
    static func errorText(_ body: String) -> String? {
        guard let error = (try? JSON.parse(body))?["error"], let message = error["message"]?.stringValue else { return nil }
        guard let detail = error["detail"]?.stringValue, !detail.isEmpty else { return message }
        return "\(message) (\(detail))"
    }
}

extension ServiceNowConnector: ConnectorType {
    public static let kind = "servicenow"
    public static let summary = "ServiceNow incident per finding (Table API, correlation_id); a repeat adds work notes"
    public static let payloadFormat = PayloadFormat.text
    public static let usesSummary = true
    public static let defaultTemplate: String? = TicketText.findingDescription

    public static func configuration(from r: MappingReader) -> Configuration? {
        let url = r.baseHTTPURL("url", required: true)
        let table = r.string("table") ?? "incident"
        if !table.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) { r.report(r.at("table").error("table must be a table name such as incident")) }
        let username = r.string("username")
        let password = r.secret("password")
        let token = r.secret("token")
        var fields: [(String, JSON)] = []
        for (key, column) in [("category", "category"), ("subcategory", "subcategory"), ("assignment_group", "assignment_group"), ("caller", "caller_id")] {
            if let v = r.string(key) { fields.append((column, .string(v))) }
        }
        if let n = r.node("fields") {
            if case .object(let members) = n.json(), n.isMapping { fields += members.map { ($0.key, $0.value) } } else {
                r.report(n.error("'fields' must be a mapping of column names to values"))
            }
        }
        let tls = r.tlsOptions()
        var authorization: Secret?
        switch (username, password, token) {
        case (let user?, let password?, nil):
            authorization = Secret("Basic " + Data("\(user):\(password.value)".utf8).base64EncodedString())
        case (nil, nil, let token?):
            authorization = Secret("Bearer " + token.value)
        default:
            r.report(r.node.error("servicenow needs 'username' and 'password' (Basic auth), or 'token' (OAuth), not both"))
        }
        guard let url, let authorization else { return nil }
        return Configuration(baseURL: url, table: table, authorization: authorization, fields: fields, tls: tls)
    }

    public static func make(name: String, configuration: Configuration, context: ConnectorContext) throws -> any Connector {
        ServiceNowConnector(configuration: configuration, client: context.http, timeout: context.timeout)
    }
}
