import SluiceCore
import SluiceHTTP

/// `http`: calls an endpoint (a SOAR playbook, a Lambda function URL, an internal API) with a
/// templated body. 2xx succeeds, and a JSON response body becomes the step's output
/// (`steps.<name>.output.body`); the status table is SluiceHTTP's `HTTPOutcome` (408, 425, 429
/// and 5xx but 501/505 are retried by the step's `retry`; any other status fails the step).
///
/// ```yaml
/// - name: open-case
///   action: http
///   params:
///     url: https://soar.example.com/api/cases/{{detail.id}}   # required
///     method: POST                                    # POST (default), PUT, PATCH
///     headers: {Authorization: "Bearer ${SOAR_TOKEN}"}
///     body: '{"finding": "{{detail.id}}", "instance": "{{steps.isolate.output.instance_id}}"}'
///     timeout: 10s
///     allow_loopback: false                           # default false
///     allow_link_local: false                         # default false
/// ```
/// Without `body`, the finding itself is sent.
///
/// Finding content in the URL: each value is percent-encoded for the component it lands in,
/// and the rendered URL must keep the scheme, host, port and number of path segments of the
/// URL as written, with no `.` or `..` segment; otherwise the step fails before any request.
/// Loopback (127.0.0.0/8, ::1) and link-local addresses (169.254.0.0/16 and fe80::/10, which
/// hold the cloud metadata services, and fd00:ec2::254) are refused — for an address literal
/// before the request, for a name on every address it resolves to, before a socket is opened —
/// unless the step allows them. Header values lose CR, LF and NUL on the way out (`HTTPHeaderField`).
public struct HTTPActionExecutor: ActionExecutor {
    public static let kind = "http"
    public static let summary = "Call an endpoint (SOAR, Lambda URL) with a templated JSON body"
    public static let parameters = [
        ActionParameter("url", .string, required: true, url: true, help: "endpoint URL; values rendered into it are percent-encoded"),
        ActionParameter("method", .string, help: "POST (default), PUT or PATCH"),
        ActionParameter("headers", .map, help: "request headers; in the audit, values are redacted except Content-Type, Accept, User-Agent and Sluice's own"),
        ActionParameter("body", .string, json: true, help: "Mustache template of the body (default: the finding)"),
        ActionParameter("content_type", .string, help: "default application/json"),
        ActionParameter("timeout", .duration, help: "per attempt, default 10s"),
        ActionParameter("allow_loopback", .bool, help: "allow 127.0.0.0/8 and ::1 (default false)"),
        ActionParameter("allow_link_local", .bool, help: "allow 169.254.0.0/16, fe80::/10 and fd00:ec2::254, the metadata services (default false)"),
    ]

    let http: HTTPClient

    public init(context: ActionContext) { http = context.http }

    public static func plannedTarget(_ request: ActionRequest) throws(ActionError) -> PlannedTarget? {
        PlannedTarget(try urlTarget(request))
    }

    public func target(_ request: ActionRequest) async throws(ActionError) -> ActionTarget {
        try Self.urlTarget(request)
    }

    static func urlTarget(_ request: ActionRequest) throws(ActionError) -> ActionTarget {
        ActionTarget(kind: "url", id: HTTPRequest.redactURL(try request.parameters.requiredString("url")))
    }

    /// The request for one step (pure: tested without a server).
    static func makeRequest(_ request: ActionRequest) throws(ActionError) -> HTTPRequest {
        let p = request.parameters
        let url = try p.requiredString("url")
        guard let parsed = HTTPURL(url) else { throw .permanent("url must be an http:// or https:// URL with a host") }
        if case .string(let template)? = request.templates["url"] {
            try checkShape(parsed, written: template.render(.object([])))
        }
        let policy = AddressPolicy(allowLoopback: try p.bool("allow_loopback", default: false),
                                   allowLinkLocal: try p.bool("allow_link_local", default: false))
        if policy.refusesLiteral(parsed.host) {
            throw .permanent("url host \(parsed.host) is a loopback or link-local address; the step must allow it (allow_loopback / allow_link_local)")
        }
        let method = p.string("method") ?? "POST"
        guard ["POST", "PUT", "PATCH"].contains(method) else { throw .permanent("method must be POST, PUT or PATCH") }
        var headers = p.map("headers").sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) }
        if let bad = headers.first(where: { !HTTPHeaderField.isValidName($0.name) }) {
            throw .permanent("header name '\(bad.name)' is not a valid HTTP field name")
        }
        if !headers.contains(where: { $0.name.lowercased() == "content-type" }) {
            headers.append(("Content-Type", p.string("content_type") ?? "application/json"))
        }
        headers.append(("X-Sluice-Finding-Id", request.findingID))
        headers.append(("X-Sluice-Run-Id", request.runID))
        let body = p.string("body").map { Array($0.utf8) } ?? JSONBuilder(request.finding).serialized()
        var out = HTTPRequest(method: method, url: url, headers: headers, body: body, timeout: try p.duration("timeout") ?? .seconds(10))
        out.addressPolicy = policy
        return out
    }

    /// Refuses a rendered URL whose scheme, host, port or number of path segments differ from the
    /// URL as written (rendered with every value empty), or that has a dot segment (libcurl
    /// would resolve `..` and call another path).
    static func checkShape(_ rendered: HTTPURL, written: String) throws(ActionError) {
        guard let skeleton = HTTPURL(written) else {
            throw .permanent("the url as written must be an http(s) URL with a fixed host (finding values may not choose it): refused")
        }
        guard rendered.scheme == skeleton.scheme, rendered.host == skeleton.host, rendered.effectivePort == skeleton.effectivePort,
              rendered.userinfo == skeleton.userinfo else {
            throw .permanent("the rendered url changes its scheme, host or port: refused")
        }
        guard rendered.pathSegments.count == skeleton.pathSegments.count else {
            throw .permanent("the rendered url has \(rendered.pathSegments.count) path segments, the url as written \(skeleton.pathSegments.count): refused")
        }
        if rendered.pathSegments.contains(where: { [".", ".."].contains($0.lowercased().replacing("%2e", with: ".")) }) {
            throw .permanent("the rendered url has a '.' or '..' path segment: refused")
        }
    }

    public func execute(_ request: ActionRequest, target: ActionTarget) async throws(ActionError) -> ActionOutput {
        let httpRequest = try Self.makeRequest(request)
        let result: Result<HTTPResponse, HTTPClientError>
        do { result = .success(try await http.execute(httpRequest)) } catch { result = .failure(error) }
        switch HTTPOutcome(result) {
        case .success(let response):
            let body = (try? JSON.parse(response.bodyText)) ?? .string(String(response.bodyText.prefix(4096)))
            return ActionOutput(["status": .number(Double(response.status)), "body": body])
        case .retryable(let message, _): throw .retryable(message)
        case .permanent(let message): throw .permanent(message)
        }
    }
}
