import SluiceCore
import SluiceGuardDuty
import SluiceHTTP

/// A connector that keeps one ticket per finding (`jira`, `servicenow`): a repeat of a finding id
/// updates its open ticket instead of opening another. The connector says how to find, update
/// and open a ticket; the shared `attempt` does the rest: the in-process index first, the
/// vendor's search after a restart or when the indexed ticket has gone, and one delivery per
/// finding id at a time, so that concurrent repeats never open two tickets.
protocol TicketingConnector: Connector {
    var index: FindingTicketIndex { get }
    /// The finding's open ticket, found with the vendor's search.
    func findOpenTicket(findingID: String) async -> TicketLookup
    /// Adds the repeat to the ticket (a comment, work notes).
    func update(ticket: String, with delivery: Delivery) async -> TicketCall
    /// Opens a ticket; the finding id is nil for events that have none (no dedupe then).
    func open(_ delivery: Delivery, findingID: String?) async -> TicketCall
    /// The new ticket's id in the answer to `open`.
    func ticketID(created response: HTTPResponse) -> String?
}

enum TicketLookup {
    case found(String)
    case none
    case failed(DeliveryOutcome)
}

extension TicketingConnector {
    /// One attempt.
    func attempt(_ delivery: Delivery) async -> DeliveryOutcome {
        let id = delivery.findingID ?? delivery.summary?.id
        guard let findingID = id, !findingID.isEmpty else { return Self.outcome(of: await open(delivery, findingID: nil)) }
        return await index.serialized(findingID) { await self.upsert(delivery, findingID: findingID) }
    }

    private func upsert(_ delivery: Delivery, findingID: String) async -> DeliveryOutcome {
        if let ticket = index.ticket(for: findingID) {
            switch await update(ticket: ticket, with: delivery) {
            case .ok: return .delivered
            case .failed(_, status: 404): index.forget(findingID)  // deleted or moved since: search again
            case .failed(let outcome, _): return outcome
            }
        }
        switch await findOpenTicket(findingID: findingID) {
        case .failed(let outcome): return outcome
        case .found(let ticket):
            let call = await update(ticket: ticket, with: delivery)
            if case .ok = call { index.record(ticket, for: findingID) }
            return Self.outcome(of: call)
        case .none:
            let call = await open(delivery, findingID: findingID)
            if case .ok(let response) = call, let ticket = ticketID(created: response) { index.record(ticket, for: findingID) }
            return Self.outcome(of: call)
        }
    }

    private static func outcome(of call: TicketCall) -> DeliveryOutcome {
        switch call {
        case .ok: return .delivered
        case .failed(let outcome, _): return outcome
        }
    }
}

/// What the ticketing connectors share beside: the default description of a finding and the
/// reading of keys they both have.
enum TicketText {
    /// Plain lines, so the text reads well as ADF paragraphs (Jira Cloud), wiki text (Jira Data
    /// Center) and a ServiceNow description alike.
    static let findingDescription = """
        {{sluice.title}}
        {{#sluice.description}}

        {{sluice.description}}
        {{/sluice.description}}

        Severity: {{sluice.severity}}{{#sluice.severity_score}} ({{sluice.severity_score}}){{/sluice.severity_score}}
        Product: {{sluice.product}}
        Type: {{sluice.type}}
        {{#sluice.account}}
        Account: {{sluice.account}}
        Region: {{sluice.region}}
        {{/sluice.account}}
        Resource: {{sluice.resource_summary}}
        {{#sluice.workload}}
        Where: {{sluice.workload}}
        {{/sluice.workload}}
        {{#sluice.process}}
        Process: {{sluice.process.name}} ({{sluice.process.executable_path}}){{#sluice.process.user}} as {{sluice.process.user}}{{/sluice.process.user}}
        {{/sluice.process}}
        {{#sluice.process.command_line}}
        Command line: {{sluice.process.command_line}}
        {{/sluice.process.command_line}}
        Count: {{sluice.count}}
        First seen: {{sluice.first_seen}}
        Last seen: {{sluice.last_seen}}
        Finding: {{sluice.id}}
        {{#sluice.console_url}}

        Console: {{sluice.console_url}}
        {{/sluice.console_url}}
        """

    /// A JSON API request with the instance's credentials.
    static func request(_ method: String, url: String, authorization: Secret, body: JSONBuilder?,
                        timeout: Duration, tls: TLSOptions) -> HTTPRequest {
        var headers: [(name: String, value: String)] = [("Authorization", authorization.value), ("Accept", "application/json")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        return HTTPRequest(method: method, url: url, headers: headers, body: body?.serialized() ?? [], timeout: timeout, tls: tls)
    }

    /// "<prefix><Severity>: <title>" (or the text's first line) as one line of at most `limit`
    /// characters: the ticket's title.
    static func titleLine(summary: FindingSummary?, prefix: String, text: String, limit: Int) -> String {
        let raw = summary.map { "\(prefix)\($0.severityLabel.rawValue): \($0.title)" }
            ?? text.split(whereSeparator: \.isNewline).first.map(String.init) ?? "Sluice finding"
        let line = raw.map { $0.isNewline ? " " : $0 }
        return line.count <= limit ? String(line) : String(line.prefix(limit - 1)) + "…"
    }

    /// What a repeat adds to the finding's ticket: the new count and last-seen time.
    static func repeatNote(for delivery: Delivery) -> String {
        guard let s = delivery.summary else {
            return "Sluice: the finding was reported again (route \(delivery.route))."
        }
        return """
            Sluice: the finding was reported again (route \(delivery.route)).
            Count: \(s.count)
            Last seen: \(s.lastSeen)
            Severity: \(s.severityLabel.rawValue) (\(s.severity))
            """
    }

    /// A list of strings (`labels: [a, b]`), reporting anything else.
    static func stringList(_ r: MappingReader, _ key: String) -> [String]? {
        guard let n = r.node(key) else { return nil }
        guard n.isSequence else {
            r.report(n.error("'\(key)' must be a list of strings"))
            return nil
        }
        return n.items.compactMap { item in
            guard let s = item.string, !item.isMapping, !item.isSequence else {
                r.report(item.error("'\(key)' must hold strings only"))
                return nil
            }
            return s
        }
    }
}

/// One call of a ticketing API within an attempt: a 2xx response to go on with, or the outcome
/// that ends the attempt (the shared HTTP classification, with the vendor's own error text).
enum TicketCall {
    case ok(HTTPResponse)
    /// The outcome, and the HTTP status when there was one (a 404 may mean "search again").
    case failed(DeliveryOutcome, status: Int?)

    static func send(_ request: HTTPRequest, on client: HTTPClient, to vendor: String, doing what: String,
                     errorText: (String) -> String?) async -> TicketCall {
        do {
            return classify(.success(try await client.execute(request)), vendor: vendor, doing: what, errorText: errorText)
        } catch {
            return classify(.failure(error), vendor: vendor, doing: what, errorText: errorText)
        }
    }

    static func classify(_ result: Result<HTTPResponse, HTTPClientError>, vendor: String, doing what: String,
                         errorText: (String) -> String?) -> TicketCall {
        if case .success(let r) = result, (200..<300).contains(r.status) { return .ok(r) }
        let response = try? result.get()
        switch WebhookConnector.classify(result) {
        case .retryable(let message, let retryAfter):
            return .failed(.retryable("\(vendor) \(what): \(message)", retryAfter: retryAfter), status: response?.status)
        case .permanent(let message):
            let detail = response.flatMap { r in errorText(r.bodyText).map { "HTTP \(r.status): \($0)" } } ?? message
            return .failed(.permanent("\(vendor) \(what): \(detail)"), status: response?.status)
        case .delivered:
            return .failed(.delivered, status: response?.status)  // not reached: 2xx returned above
        }
    }
}
