import Foundation
import SluiceCore
import SluiceHTTP

/// Calls AWS APIs over the shared libcurl client, signed by libcurl (`CURLOPT_AWS_SIGV4`) with
/// credentials from a provider. One client serves every service in one region, in the three
/// wire protocols Sluice needs:
///
/// - Query (`query`): form-encoded `Action=…&Version=…`, XML answers — EC2, IAM, STS, SNS.
/// - JSON 1.0 / 1.1 (`json`): `X-Amz-Target: <prefix>.<Operation>` — ECS, EventBridge, SQS, SSM.
/// - REST-JSON (`rest`): method + path, JSON body — Security Hub, EKS.
///
/// Errors come back as `AWSError` with AWS's code and message. On `ExpiredToken` the
/// credentials cache is dropped, so the caller's retry signs with fresh credentials.
public final class AWSClient: Sendable {
    public let region: String
    public let credentials: any AWSCredentialsProvider
    public let http: HTTPClient
    /// One endpoint for every service (moto, LocalStack, a VPC endpoint), when set.
    public let endpoint: String?
    /// Per-service endpoints; they win over `endpoint`.
    public let serviceEndpoints: [AWSService: String]
    /// `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` are read from here, as the SDKs do.
    public let environment: [String: String]
    public let timeout: Duration

    public init(region: String, credentials: any AWSCredentialsProvider, http: HTTPClient, endpoint: String? = nil,
                serviceEndpoints: [AWSService: String] = [:], environment: [String: String] = [:], timeout: Duration = .seconds(10)) {
        self.region = region
        self.credentials = credentials
        self.http = http
        self.endpoint = endpoint.map(Self.trimSlash)
        self.serviceEndpoints = serviceEndpoints.mapValues(Self.trimSlash)
        self.environment = environment
        self.timeout = timeout
    }

    /// The base URL for `service`: a per-service override, the client-wide one,
    /// `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`, or the public regional endpoint.
    public func endpoint(for service: AWSService) -> String {
        if let e = serviceEndpoints[service] ?? endpoint { return e }
        if let e = environment["AWS_ENDPOINT_URL_\(service.environmentID)"], !e.isEmpty { return Self.trimSlash(e) }
        if let e = environment["AWS_ENDPOINT_URL"], !e.isEmpty { return Self.trimSlash(e) }
        return service.defaultEndpoint(region: region)
    }

    private static func trimSlash(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }

    // MARK: Protocols

    /// A Query-protocol call; returns the response's root element (`<ActionResponse>`).
    /// `parameters` are the flattened members (`InstanceId.1`, `Attributes.entry.1.key`).
    /// `signed: false` is for the calls that take no credentials (STS `AssumeRoleWithWebIdentity`).
    public func query(_ service: AWSService, action: String, parameters: [(String, String)] = [], version: String? = nil,
                      signed: Bool = true) async throws(AWSError) -> XMLTree {
        guard let v = version ?? service.queryVersion else { throw .configuration("\(service) has no Query API version") }
        let body = Self.formEncode([("Action", action), ("Version", v)] + parameters)
        let response = try await send(service, method: "POST", path: "/", body: Array(body.utf8),
                                      headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")], signed: signed)
        return try Self.queryResult(response)
    }

    /// A JSON-protocol call (`X-Amz-Target: <prefix>.<operation>`); returns the parsed answer.
    public func json(_ service: AWSService, operation: String, body: JSONBuilder) async throws(AWSError) -> JSON {
        guard let prefix = service.jsonTargetPrefix, let version = service.jsonVersion else {
            throw .configuration("\(service) has no JSON protocol target")
        }
        let response = try await send(service, method: "POST", path: "/", body: body.serialized(),
                                      headers: [("Content-Type", "application/x-amz-json-\(version)"), ("X-Amz-Target", "\(prefix).\(operation)")])
        return try Self.jsonResult(response)
    }

    /// A REST-JSON call (`POST /findings/import`); returns the parsed answer.
    public func rest(_ service: AWSService, method: String, path: String, body: JSONBuilder? = nil) async throws(AWSError) -> JSON {
        let response = try await send(service, method: method, path: path, body: body?.serialized() ?? [],
                                      headers: [("Content-Type", "application/json")])
        return try Self.jsonResult(response)
    }

    /// Sends a signed request and returns any 2xx answer; other answers become `AWSError`s
    /// parsed from their XML or JSON error bodies.
    public func send(_ service: AWSService, method: String, path: String, body: [UInt8], headers: [(name: String, value: String)],
                     signed: Bool = true) async throws(AWSError) -> HTTPResponse {
        var request = HTTPRequest(method: method, url: endpoint(for: service) + path, headers: headers, body: body, timeout: timeout)
        if signed {
            let c = try await credentials.credentials()
            request.awsSigV4 = "aws:amz:\(service.signingRegion(for: region)):\(service.signingName)"
            request.credentials = "\(c.accessKeyID):\(c.secretAccessKey.value)"
            if let token = c.sessionToken { request.headers.append(("X-Amz-Security-Token", token.value)) }
        }
        let response: HTTPResponse
        do { response = try await http.execute(request) } catch { throw .transport(error) }
        if (200..<300).contains(response.status) { return response }
        let error = Self.error(from: response)
        if error.isExpiredCredentials { credentials.invalidate() }
        throw error
    }

    // MARK: Pure parts (tested without a server)

    /// Query-protocol list members, numbered from 1: `queryList("InstanceId", ["i-1", "i-2"])`
    /// is `InstanceId.1=i-1`, `InstanceId.2=i-2` (EC2 style; for `member` lists pass `"Names.member"`).
    public static func queryList(_ name: String, _ values: [String]) -> [(String, String)] {
        values.enumerated().map { ("\(name).\($0.offset + 1)", $0.element) }
    }

    /// `application/x-www-form-urlencoded` with RFC 3986 escaping, as SigV4 expects.
    public static func formEncode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    }

    /// Escapes everything but RFC 3986's unreserved characters.
    public static func percentEncode(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    /// The root of a Query protocol answer.
    public static func queryResult(_ response: HTTPResponse) throws(AWSError) -> XMLTree {
        guard let tree = XMLTree.parse(response.body) else {
            throw AWSError(kind: .invalidResponse, code: "InvalidResponse", message: "the answer is not XML", status: response.status)
        }
        return tree
    }

    /// A JSON answer; an empty body is an empty object.
    public static func jsonResult(_ response: HTTPResponse) throws(AWSError) -> JSON {
        if response.body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return .object([]) }
        do { return try JSON.parse(response.bodyText) } catch {
            throw AWSError(kind: .invalidResponse, code: "InvalidResponse", message: "the answer is not JSON (\(error))", status: response.status)
        }
    }

    /// The error in a non-2xx answer: XML (`<Error><Code>`, Query services), JSON (`__type` /
    /// `code` / `x-amzn-ErrorType`, JSON and REST services), or just the status.
    public static func error(from response: HTTPResponse) -> AWSError {
        var code: String?
        var message: String?
        var requestID = response.header("x-amzn-requestid") ?? response.header("x-amz-request-id")
        let first = response.body.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        if first == UInt8(ascii: "<"), let tree = XMLTree.parse(response.body) {
            let error = tree.first(named: "Error")
            code = error?.text("Code")
            message = error?.text("Message")
            requestID = requestID ?? tree.text("RequestId") ?? tree.text("RequestID")
        } else if first == UInt8(ascii: "{"), let json = try? JSON.parse(response.bodyText) {
            code = (json["__type"] ?? json["code"] ?? json["Code"])?.stringValue
            message = (json["message"] ?? json["Message"] ?? json["errorMessage"])?.stringValue
        }
        if code == nil || code == "" { code = response.header("x-amzn-errortype") }
        let cleaned = code.map(shortCode) ?? "HTTP\(response.status)"
        let text = message ?? (response.body.isEmpty ? "HTTP \(response.status)" : String(response.bodyText.prefix(200)))
        return .service(code: cleaned, message: text, status: response.status, requestID: requestID, retryAfter: response.retryAfter)
    }

    /// `com.amazonaws.sqs#QueueDoesNotExist` and `ResourceNotFoundException:http://…` → the bare code.
    static func shortCode(_ raw: String) -> String {
        var s = Substring(raw)
        if let hash = s.lastIndex(of: "#") { s = s[s.index(after: hash)...] }
        if let colon = s.firstIndex(of: ":") { s = s[..<colon] }
        return String(s)
    }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
