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
    /// Which of `recent` (the feed) a silence with `matchers` would hold; nothing is written.
    func previewSilence(matchers: String, recent: [FindingRecord]) async throws(OperationsError) -> SilencePreview
}

/// `POST /api/v1/silences/preview` body: the event pattern to try, as JSON text.
public struct SilencePreviewRequest: Codable, Sendable, Equatable {
    public var matchers: String
    public init(matchers: String) { self.matchers = matchers }
}

/// What a silence would hold among the recent findings of the feed, newest first: each judged
/// whole (every field a matcher can name, the `sluice` view included) by the test the silence
/// itself applies; a finding whose bytes the feed did not keep is judged on id, type and severity.
public struct SilencePreview: Codable, Sendable, Equatable {
    /// How many recent findings were tried.
    public var examined: Int
    public var matching: Int
    public var findings: [FindingRecord]
    public init(examined: Int, matching: Int, findings: [FindingRecord]) {
        self.examined = examined
        self.matching = matching
        self.findings = findings
    }
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
        // Tries a pattern on the recent feed (the dashboard shows it before creating a silence).
        api.post("silences/preview") { [self] request, _ in
            let preview = try await decode(SilencePreviewRequest.self, request)
            let s = try store()
            let recent = self.recent.recent(limit: self.recent.capacity)
            return try await Self.answer { () async throws(OperationsError) in try await s.previewSilence(matchers: preview.matchers, recent: recent) }
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
