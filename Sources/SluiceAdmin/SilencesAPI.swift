import Foundation
import Hummingbird

/// Silences from the admin API (`sluice silence` does the same from a shell): the runtime writes
/// them to the silences topic every instance follows. Without Kafka-backed state these paths
/// answer 503.
public protocol SilencesRuntime: Sendable {
    /// Pending and active silences (with `all`, expired ones this instance still knows too).
    func silences(all: Bool) async throws(OperationsError) -> [SilenceStatus]
    /// Writes a new silence; `principal` (the token's name) is its `created_by`.
    func createSilence(_ request: SilenceCreate, by principal: String) async throws(OperationsError) -> SilenceStatus
    /// Ends a silence now.
    func expireSilence(id: String, by principal: String) async throws(OperationsError) -> SilenceStatus
}

/// One silence (`GET /api/v1/silences`). Times are ISO 8601.
public struct SilenceStatus: Codable, Sendable, Equatable {
    public var id: String
    /// The event pattern held findings match, as JSON text.
    public var matchers: String
    /// `pending`, `active` or `expired`.
    public var status: String
    public var startsAt: String
    public var endsAt: String
    public var createdBy: String
    public var comment: String
    public var notify: String?
    public init(id: String, matchers: String, status: String, startsAt: String, endsAt: String, createdBy: String, comment: String, notify: String?) {
        self.id = id
        self.matchers = matchers
        self.status = status
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.createdBy = createdBy
        self.comment = comment
        self.notify = notify
    }
}

/// `POST /api/v1/silences` body: `matchers` is an event pattern as JSON text (as the replay
/// filter is), `duration` a duration such as `30m` or `2h` (at most 7 days).
public struct SilenceCreate: Codable, Sendable, Equatable {
    public var matchers: String
    public var duration: String
    public var comment: String
    public var notify: String?
    public init(matchers: String, duration: String, comment: String, notify: String? = nil) {
        self.matchers = matchers
        self.duration = duration
        self.comment = comment
        self.notify = notify
    }
}

extension AdminServer {
    /// `/api/v1/silences` (roles in `AccessMiddleware.routes`: reading is a viewer's, writing an operator's).
    func addSilenceRoutes(to api: RouterGroup<AdminContext>) {
        let runtime = self.runtime
        @Sendable func store() throws -> any SilencesRuntime {
            guard let silences = runtime.silences else {
                throw HTTPError(.serviceUnavailable, message: "silences need Kafka-backed state (a run consuming Kafka)")
            }
            return silences
        }
        api.get("silences") { request, _ in
            let flag = request.uri.queryParameters["all"].map(String.init)
            guard flag == nil || flag == "true" || flag == "false" else { throw HTTPError(.badRequest, message: "all must be true or false") }
            let s = try store()
            return try await Self.answer { () async throws(OperationsError) in try await s.silences(all: flag == "true") }
        }
        api.post("silences") { [self] request, context in
            let create = try await decode(SilenceCreate.self, request)
            let s = try store()
            let who = context.principal?.name ?? "-"
            return try await Self.answer(status: .created) { () async throws(OperationsError) in try await s.createSilence(create, by: who) }
        }
        api.delete("silences") { request, context in
            guard let id = request.uri.queryParameters["id"].map(String.init), !id.isEmpty else {
                throw HTTPError(.badRequest, message: "id is required")
            }
            let s = try store()
            let who = context.principal?.name ?? "-"
            return try await Self.answer { () async throws(OperationsError) in try await s.expireSilence(id: id, by: who) }
        }
    }
}
