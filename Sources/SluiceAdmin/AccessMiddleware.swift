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

    /// The role a request needs; nil: open.
    static func requiredRole(method: HTTPRequest.Method, path: String) -> AdminRole? {
        switch (method, path) {
        case (.get, "/-/healthy"), (.get, "/healthz"), (.get, "/-/ready"), (.get, "/metrics"), (.get, "/"), (.head, _): return nil
        case (.get, _): return .viewer
        // Tries an event against the routes: sends nothing, changes nothing.
        case (.post, "/api/v1/test"): return .viewer
        case (.post, "/-/reload"): return .admin
        default: return .operator
        }
    }

    func handle(_ request: Request, context: AdminContext, next: (Request, AdminContext) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard let required = Self.requiredRole(method: request.method, path: path) else {
            return try await next(request, context)
        }
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
