import Foundation
import SluiceCore
import SluiceHTTP

/// The EC2 instance role's credentials from the instance metadata service, IMDSv2 only:
/// `PUT /latest/api/token` for a session token, then the role name and its credentials from
/// `/latest/meta-data/iam/security-credentials/`, each request carrying the token.
/// The endpoint is `http://169.254.169.254` unless `AWS_EC2_METADATA_SERVICE_ENDPOINT` says otherwise.
public struct InstanceMetadataCredentialsProvider: AWSCredentialsProvider {
    public static let defaultEndpoint = "http://169.254.169.254"
    public let endpoint: String
    let http: HTTPClient
    /// IMDS is a link-local hop away: anything slower than this is not there.
    let timeout: Duration

    public init(http: HTTPClient, endpoint: String? = nil, timeout: Duration = .seconds(2)) {
        self.http = http
        var e = endpoint ?? Self.defaultEndpoint
        if e.hasSuffix("/") { e.removeLast() }
        self.endpoint = e
        self.timeout = timeout
    }

    public init(http: HTTPClient, environment: [String: String]) {
        self.init(http: http, endpoint: environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Whether `AWS_EC2_METADATA_DISABLED=true` turns the service off.
    public static func isDisabled(_ environment: [String: String]) -> Bool {
        environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true"
    }

    public func credentials() async throws(AWSError) -> AWSCredentials {
        let token = try await call("PUT", "/latest/api/token", headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")])
        let auth = [(name: "X-aws-ec2-metadata-token", value: token)]
        let roles = try await call("GET", "/latest/meta-data/iam/security-credentials/", headers: auth)
        guard let role = roles.split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty else {
            throw .credentials("the instance has no IAM role", retriable: false)
        }
        let body = try await call("GET", "/latest/meta-data/iam/security-credentials/\(AWSClient.percentEncode(role))", headers: auth)
        guard let json = try? JSON.parse(body), json["Code"]?.stringValue ?? "Success" == "Success",
              let id = json["AccessKeyId"]?.stringValue, let secret = json["SecretAccessKey"]?.stringValue else {
            throw .credentials("instance metadata returned no usable credentials for role \(role)", retriable: true)
        }
        return AWSCredentials(accessKeyID: id, secretAccessKey: Secret(secret), sessionToken: json["Token"]?.stringValue.map(Secret.init),
                              expiration: json["Expiration"]?.stringValue.flatMap(ISO8601.date), source: "instance metadata (\(role))")
    }

    private func call(_ method: String, _ path: String, headers: [(name: String, value: String)]) async throws(AWSError) -> String {
        let request = HTTPRequest(method: method, url: endpoint + path, headers: headers, timeout: timeout, connectTimeout: .seconds(1), proxy: "")
        let response: HTTPResponse
        do { response = try await http.execute(request) } catch {
            throw .credentials("instance metadata at \(endpoint) is unreachable: \(error)", retriable: error.isRetriable)
        }
        switch response.status {
        case 200: return response.bodyText
        case 404 where path.hasPrefix("/latest/meta-data/iam"):
            throw .credentials("the instance has no IAM role (instance metadata \(path): 404)", retriable: false)
        default:
            throw .credentials("instance metadata \(method) \(path): HTTP \(response.status)", retriable: HTTPOutcome.statusClass(response.status) == .retryable)
        }
    }
}
