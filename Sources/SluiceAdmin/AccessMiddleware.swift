import Foundation
import Hummingbird
import Logging

/// Decides, before any handler runs, whether the caller may do what it asks, and audits every
/// write. Probes, `/metrics` and the page itself are open (a kubelet and a scraper carry no
/// token; the page holds no data). Other reads need a viewer token when tokens are configured
/// and are open when none are (the server then listens on loopback only). Writes always need a
/// token with the route's role: with none configured, every write is refused with 401.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = AdminContext
    let access: AccessControl
    let audit: any AdminAuditSink
    let logger: Logger

    /// Every path the server answers, its methods and the role each needs (nil: open). A path
    /// not listed is 404 and a method not listed 405, before any token is looked at.
    static let routes: [String: [HTTPRequest.Method: AdminRole?]] = [
        "/-/healthy": [.get: nil], "/healthz": [.get: nil], "/-/ready": [.get: nil], "/metrics": [.get: nil], "/": [.get: nil],
        "/-/reload": [.post: .admin],
        "/api/v1/status": [.get: .viewer], "/api/v1/routes": [.get: .viewer], "/api/v1/connectors": [.get: .viewer],
        "/api/v1/inhibitions": [.get: .viewer],
        "/api/v1/findings": [.get: .viewer], "/api/v1/events": [.get: .viewer],
        // Tries an event against the routes: sends nothing, changes nothing.
        "/api/v1/test": [.post: .viewer],
        // Operations (OperationsAPI.swift): browsing is a read; replays and decisions act.
        "/api/v1/dead-letters": [.get: .viewer],
        "/api/v1/replays": [.get: .viewer, .post: .operator, .delete: .operator],
        "/api/v1/approvals": [.get: .viewer, .post: .operator],
        // Silences (SilencesAPI.swift): creating or ending one changes what is delivered.
        "/api/v1/silences": [.get: .viewer, .post: .operator, .delete: .operator],
        // Tries a pattern on the recent feed: writes nothing.
        "/api/v1/silences/preview": [.post: .viewer],
    ]

    func handle(_ request: Request, context: AdminContext, next: (Request, AdminContext) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard let methods = Self.routes[path] else { throw HTTPError(.notFound) }
        guard let entry = methods[request.method] else {
            var headers = HTTPFields()
            headers[.allow] = methods.keys.map(\.rawValue).sorted().joined(separator: ", ")
            throw HTTPError(.methodNotAllowed, headers: headers)
        }
        guard let required = entry else { return try await next(request, context) }
        var context = context
        let presented = Self.bearer(request.headers[.authorization])
        if access.isEmpty, required == .viewer {
            return try await next(request, context)
        }
        guard let presented, let principal = access.principal(token: presented) else {
            logger.warning("admin request refused: no valid token", metadata: ["http.method": "\(request.method)", "http.path": "\(path)"])
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = "Bearer realm=\"sluice\""
            throw HTTPError(.unauthorized, headers: headers, message: access.isEmpty ? "no admin token is configured: writes are disabled" : "a valid bearer token is required")
        }
        guard principal.role >= required else {
            logger.warning("admin request refused: role too low", metadata: [
                "admin.principal": "\(principal.name)", "http.method": "\(request.method)", "http.path": "\(path)",
            ])
            throw HTTPError(.forbidden, message: "role \(required.rawValue) or higher is required")
        }
        context.principal = principal
        guard required > .viewer else { return try await next(request, context) }
        do {
            let response = try await next(request, context)
            audit.record(AdminAuditRecord(principal: principal.name, role: principal.role, method: request.method.rawValue, path: path, status: response.status.code))
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            audit.record(AdminAuditRecord(principal: principal.name, role: principal.role, method: request.method.rawValue, path: path, status: status))
            throw error
        }
    }

    static func bearer(_ header: String?) -> String? {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}
