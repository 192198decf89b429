import SluiceConnectors
import SluiceCore
import SluiceHTTP

/// `http`: calls an endpoint (a SOAR playbook, a Lambda function URL, an internal API) with a
/// templated body. 2xx succeeds, and a JSON response body becomes the step's output
/// (`steps.<name>.output.body`); 408/429/5xx and transport errors are retried by the step's
/// `retry`; any other status fails the step.
///
/// ```yaml
/// - name: open-case
///   action: http
///   params:
///     url: https://soar.example.com/api/cases         # required
///     method: POST                                    # POST (default), PUT, PATCH
///     headers: {Authorization: "Bearer ${SOAR_TOKEN}"}
///     body: '{"finding": "{{detail.id}}", "instance": "{{steps.isolate.output.instance_id}}"}'
///     timeout: 10s
/// ```
/// Without `body`, the finding itself is sent.
public struct HTTPActionExecutor: ActionExecutor {
    public static let kind = "http"
    public static let summary = "Call an endpoint (SOAR, Lambda URL) with a templated JSON body"
    public static let parameters = [
        ActionParameter("url", .string, required: true, help: "endpoint URL"),
        ActionParameter("method", .string, help: "POST (default), PUT or PATCH"),
        ActionParameter("headers", .map, help: "request headers; values that look like credentials are redacted in the audit"),
        ActionParameter("body", .string, json: true, help: "Mustache template of the body (default: the finding)"),
        ActionParameter("content_type", .string, help: "default application/json"),
        ActionParameter("timeout", .duration, help: "per attempt, default 10s"),
    ]

    let http: HTTPClient

    public init(context: ActionContext) { http = context.http }

    public func target(_ request: ActionRequest) async throws(ActionError) -> ActionTarget {
        ActionTarget(kind: "url", id: HTTPRequest.redactURL(try request.parameters.requiredString("url")))
    }

    /// The request for one step (pure: tested without a server).
    static func makeRequest(_ request: ActionRequest) throws(ActionError) -> HTTPRequest {
        let p = request.parameters
        let url = try p.requiredString("url")
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw .permanent("url must start with http:// or https://") }
        let method = p.string("method") ?? "POST"
        guard ["POST", "PUT", "PATCH"].contains(method) else { throw .permanent("method must be POST, PUT or PATCH") }
        var headers = p.map("headers").sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) }
        if !headers.contains(where: { $0.name.lowercased() == "content-type" }) {
            headers.append(("Content-Type", p.string("content_type") ?? "application/json"))
        }
        headers.append(("X-Sluice-Finding-Id", request.findingID))
        headers.append(("X-Sluice-Run-Id", request.runID))
        let body = p.string("body").map { Array($0.utf8) } ?? JSONBuilder(request.finding).serialized()
        return HTTPRequest(method: method, url: url, headers: headers, body: body, timeout: try p.duration("timeout") ?? .seconds(10))
    }

    public func execute(_ request: ActionRequest, target: ActionTarget) async throws(ActionError) -> ActionOutput {
        let httpRequest = try Self.makeRequest(request)
        let result: Result<HTTPResponse, HTTPClientError>
        do { result = .success(try await http.execute(httpRequest)) } catch { result = .failure(error) }
        switch WebhookConnector.classify(result) {
        case .delivered:
            guard case .success(let response) = result else { return ActionOutput(.null) }
            let body = (try? JSON.parse(response.bodyText)) ?? .string(String(response.bodyText.prefix(4096)))
            return ActionOutput(["status": .number(Double(response.status)), "body": body])
        case .retryable(let message, _): throw .retryable(message)
        case .permanent(let message): throw .permanent(message)
        }
    }
}
