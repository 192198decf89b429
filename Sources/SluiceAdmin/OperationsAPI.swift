import Foundation
import Hummingbird
import NIOCore

/// The operator's side of the runtime: dead letters, replays and approvals. The runtime
/// implements it (SluiceRuntime's `OperationsBridge`); without it these paths answer 503.
public protocol OperationsRuntime: Sendable {
    /// The dead-letter topic, filtered, newest last, at most `query.limit` letters.
    func deadLetters(_ query: DeadLetterQuery) async throws(OperationsError) -> DeadLetterPage
    /// Every replay the progress topic knows, newest last.
    func replays() async throws(OperationsError) -> [ReplayStatus]
    /// Starts a replay in the background; returns its first status.
    func startReplay(_ request: ReplayStart, by principal: String) async throws(OperationsError) -> ReplayStatus
    /// Stops a replay between two letters: at once when this process runs it, else through a
    /// cancel request the instance running it reads (`elsewhere`).
    func cancelReplay(name: String, by principal: String) async throws(OperationsError) -> (status: ReplayStatus, elsewhere: Bool)
    /// Playbook runs waiting for approval (with `all`, decided and finished ones too).
    func approvals(all: Bool) async throws(OperationsError) -> [ApprovalStatus]
    /// Approves or denies a waiting step; the decision names `principal` and carries `comment`.
    func decide(_ decision: ApprovalDecision, by principal: String) async throws(OperationsError) -> ApprovalStatus
}

/// Why an operation was refused; `status` is the HTTP status it answers with.
public struct OperationsError: Error, Sendable {
    public var status: Int
    public var message: String
    public init(status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
    public static func badRequest(_ m: String) -> OperationsError { OperationsError(status: 400, m) }
    public static func notFound(_ m: String) -> OperationsError { OperationsError(status: 404, m) }
    public static func conflict(_ m: String) -> OperationsError { OperationsError(status: 409, m) }
    public static func unavailable(_ m: String) -> OperationsError { OperationsError(status: 503, m) }
}

/// `GET /api/v1/dead-letters` query: every filter optional; times ISO 8601.
public struct DeadLetterQuery: Sendable, Equatable {
    public var reason: String?
    public var route: String?
    public var connector: String?
    public var since: String?
    public var until: String?
    public var limit: Int
    public init(reason: String? = nil, route: String? = nil, connector: String? = nil, since: String? = nil, until: String? = nil, limit: Int = 100) {
        self.reason = reason
        self.route = route
        self.connector = connector
        self.since = since
        self.until = until
        self.limit = limit
    }
}

/// One letter as the API shows it (payload cut to 2 KiB).
public struct DeadLetterItem: Codable, Sendable, Equatable {
    public var id: String
    public var reason: String
    public var route: String?
    public var connector: String?
    public var attempts: Int
    public var error: String?
    public var failedAt: String?
    public var findingId: String?
    public var sourceTopic: String?
    public var payload: String?
    public var payloadTruncated: Bool
    public init(id: String, reason: String, route: String?, connector: String?, attempts: Int, error: String?, failedAt: String?,
                findingId: String?, sourceTopic: String?, payload: String?, payloadTruncated: Bool) {
        self.id = id
        self.reason = reason
        self.route = route
        self.connector = connector
        self.attempts = attempts
        self.error = error
        self.failedAt = failedAt
        self.findingId = findingId
        self.sourceTopic = sourceTopic
        self.payload = payload
        self.payloadTruncated = payloadTruncated
    }
}

/// `GET /api/v1/dead-letters`.
public struct DeadLetterPage: Codable, Sendable, Equatable {
    public var topic: String
    /// Letters the filter matched, of which `letters` holds the newest `limit`.
    public var total: Int
    /// Letters in the topic, whatever the filter.
    public var inTopic: Int
    /// Matched letters by reason.
    public var byReason: [String: Int]
    public var letters: [DeadLetterItem]
    public init(topic: String, total: Int, inTopic: Int, byReason: [String: Int], letters: [DeadLetterItem]) {
        self.topic = topic
        self.total = total
        self.inTopic = inTopic
        self.byReason = byReason
        self.letters = letters
    }
}

/// `POST /api/v1/replays` body: as `sluice dlq replay`'s flags.
public struct ReplayStart: Codable, Sendable, Equatable {
    public var name: String?
    public var reason: String?
    public var route: String?
    public var connector: String?
    public var since: String?
    public var until: String?
    /// An event pattern (JSON text) the finding must match.
    public var filter: String?
    public var reroute: Bool?
    public var dryRun: Bool?
    /// Deliveries per second at most.
    public var rate: Double?
    public init(name: String? = nil, reason: String? = nil, route: String? = nil, connector: String? = nil, since: String? = nil,
                until: String? = nil, filter: String? = nil, reroute: Bool? = nil, dryRun: Bool? = nil, rate: Double? = nil) {
        self.name = name
        self.reason = reason
        self.route = route
        self.connector = connector
        self.since = since
        self.until = until
        self.filter = filter
        self.reroute = reroute
        self.dryRun = dryRun
        self.rate = rate
    }
}

/// One replay's progress (`GET /api/v1/replays`).
public struct ReplayStatus: Codable, Sendable, Equatable {
    public var name: String
    /// `running`, `finished` or `cancelled`.
    public var status: String
    public var reroute: Bool
    public var selection: String
    public var matched: Int
    public var processed: Int
    public var delivered: Int
    public var alreadyDone: Int
    public var approvalsRequested: Int
    public var failed: Int
    public var skipped: Int
    public var startedAt: String
    public var updatedAt: String
    public init(name: String, status: String, reroute: Bool, selection: String, matched: Int, processed: Int, delivered: Int,
                alreadyDone: Int, approvalsRequested: Int, failed: Int, skipped: Int, startedAt: String, updatedAt: String) {
        self.name = name
        self.status = status
        self.reroute = reroute
        self.selection = selection
        self.matched = matched
        self.processed = processed
        self.delivered = delivered
        self.alreadyDone = alreadyDone
        self.approvalsRequested = approvalsRequested
        self.failed = failed
        self.skipped = skipped
        self.startedAt = startedAt
        self.updatedAt = updatedAt
    }
}

/// One playbook run at an approval gate (`GET /api/v1/approvals`).
public struct ApprovalStatus: Codable, Sendable, Equatable {
    public var runId: String
    public var route: String
    public var findingId: String
    public var step: String
    /// `pending`, `approved`, `denied` or `finished`.
    public var status: String
    public var requestedAt: String
    public var deadline: String
    /// Seconds left before the default decision applies (0 once decided or expired).
    public var expiresInSeconds: Int
    /// `approve` or `deny`: what happens when nobody decides in time.
    public var defaultDecision: String
    public var decidedBy: String?
    public var comment: String?
    public init(runId: String, route: String, findingId: String, step: String, status: String, requestedAt: String, deadline: String,
                expiresInSeconds: Int, defaultDecision: String, decidedBy: String?, comment: String?) {
        self.runId = runId
        self.route = route
        self.findingId = findingId
        self.step = step
        self.status = status
        self.requestedAt = requestedAt
        self.deadline = deadline
        self.expiresInSeconds = expiresInSeconds
        self.defaultDecision = defaultDecision
        self.decidedBy = decidedBy
        self.comment = comment
    }
}

/// `POST /api/v1/approvals` body.
public struct ApprovalDecision: Codable, Sendable, Equatable {
    public var runId: String
    /// `approve` or `deny`.
    public var decision: String
    public var comment: String?
    public init(runId: String, decision: String, comment: String? = nil) {
        self.runId = runId
        self.decision = decision
        self.comment = comment
    }
}

extension AdminServer {
    /// The routes of `OperationsRuntime` under `/api/v1` (their roles are in `AccessMiddleware.routes`).
    func addOperationsRoutes(to api: RouterGroup<AdminContext>) {
        let operations = runtime.operations
        @Sendable func ops() throws -> any OperationsRuntime {
            guard let operations else { throw HTTPError(.serviceUnavailable, message: "this instance has no dead-letter topic or approvals store") }
            return operations
        }
        api.get("dead-letters") { request, _ in
            let q = request.uri.queryParameters
            let limit = q["limit"].map { Self.integer(String($0)) } ?? 100
            guard let limit, (0...1000).contains(limit) else { throw HTTPError(.badRequest, message: "limit must be an integer from 0 to 1000") }
            let query = DeadLetterQuery(reason: q["reason"].map(String.init), route: q["route"].map(String.init), connector: q["connector"].map(String.init),
                                        since: q["since"].map(String.init), until: q["until"].map(String.init), limit: limit)
            let o = try ops()
            return try await Self.answer { () async throws(OperationsError) in try await o.deadLetters(query) }
        }
        api.get("replays") { _, _ in
            let o = try ops()
            return try await Self.answer { () async throws(OperationsError) in try await o.replays() }
        }
        api.post("replays") { [self] request, context in
            let start = try await decode(ReplayStart.self, request)
            let o = try ops()
            let who = context.principal?.name ?? "-"
            return try await Self.answer(status: .accepted) { () async throws(OperationsError) in try await o.startReplay(start, by: who) }
        }
        api.delete("replays") { request, context in
            guard let name = request.uri.queryParameters["name"].map(String.init), !name.isEmpty else {
                throw HTTPError(.badRequest, message: "name is required")
            }
            let o = try ops()
            let who = context.principal?.name ?? "-"
            let cancelled: (status: ReplayStatus, elsewhere: Bool)
            do throws(OperationsError) { cancelled = try await o.cancelReplay(name: name, by: who) } catch {
                throw HTTPError(HTTPResponse.Status(code: error.status), message: error.message)
            }
            // Asked of another instance: accepted, it stops at its next look at the ledger.
            return try Response.json(cancelled.status, status: cancelled.elsewhere ? .accepted : .ok)
        }
        api.get("approvals") { request, _ in
            let flag = request.uri.queryParameters["all"].map(String.init)
            guard flag == nil || flag == "true" || flag == "false" else { throw HTTPError(.badRequest, message: "all must be true or false") }
            let all = flag == "true"
            let o = try ops()
            return try await Self.answer { () async throws(OperationsError) in try await o.approvals(all: all) }
        }
        api.post("approvals") { [self] request, context in
            let decision = try await decode(ApprovalDecision.self, request)
            guard decision.decision == "approve" || decision.decision == "deny" else {
                throw HTTPError(.badRequest, message: "decision must be approve or deny")
            }
            let o = try ops()
            let who = context.principal?.name ?? "-"
            return try await Self.answer { () async throws(OperationsError) in try await o.decide(decision, by: who) }
        }
    }

    /// The JSON of what `body` returns, or the HTTP status its `OperationsError` names.
    static func answer<T: Encodable>(status: HTTPResponse.Status = .ok, _ body: () async throws(OperationsError) -> T) async throws -> Response {
        let value: T
        do { value = try await body() } catch {
            throw HTTPError(HTTPResponse.Status(code: error.status), message: error.message)
        }
        return try Response.json(value, status: status)
    }

    /// A JSON body of `type`, within the server's size and time bounds; 400 when it does not decode.
    func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let body = try await collectBody(request)
        do { return try JSONDecoder().decode(type, from: Data(body)) } catch {
            throw HTTPError(.badRequest, message: "the body is not a valid \(T.self) JSON object")
        }
    }
}
