import Foundation
import SluiceCore
import SluiceHTTP

/// The task role of an ECS task (or Fargate) and EKS Pod Identity credentials, from the
/// container credentials endpoint the agent sets up:
/// - `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`: a path on `http://169.254.170.2` (ECS);
/// - `AWS_CONTAINER_CREDENTIALS_FULL_URI`: a full URL (EKS Pod Identity uses
///   `http://169.254.170.23/v1/credentials`), plain HTTP allowed only to loopback and the
///   agents' link-local addresses, as the SDKs require;
/// - the `Authorization` header from `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read on every
///   fetch: it rotates) or `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
public struct ContainerCredentialsProvider: AWSCredentialsProvider {
    public static let ecsHost = "http://169.254.170.2"
    public let url: String
    let tokenFile: String?
    let token: Secret?
    let http: HTTPClient

    /// From the environment; nil when neither URI variable is set.
    public init?(environment: [String: String], http: HTTPClient) {
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], !relative.isEmpty {
            url = Self.ecsHost + (relative.hasPrefix("/") ? relative : "/" + relative)
        } else if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"], !full.isEmpty {
            url = full
        } else {
            return nil
        }
        tokenFile = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        token = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"].flatMap { $0.isEmpty ? nil : Secret($0) }
        self.http = http
    }

    /// Plain HTTP only to loopback or the ECS / EKS agents; HTTPS anywhere. The URL is parsed and
    /// its host compared, never a string prefix: `http://127.0.0.1@192.0.2.2/` goes to 192.0.2.2.
    /// User-info is refused outright (the agents take a token header, never a URL password).
    public static func isAllowed(_ url: String) -> Bool {
        guard let parsed = HTTPURL(url), parsed.userinfo == nil else { return false }
        if parsed.scheme == "https" { return true }
        let host = parsed.host
        return host == "localhost" || isIPv4Loopback(host) || host == "::1" || host == "169.254.170.2" || host == "169.254.170.23"
            || host == "fd00:ec2::23"
    }

    /// `127.a.b.c` in dotted-decimal form only (`127.evil.example` is a name, not loopback).
    static func isIPv4Loopback(_ host: String) -> Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127"
            && parts.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) && (Int($0) ?? 256) <= 255 }
    }

    public func credentials() async throws(AWSError) -> AWSCredentials {
        guard Self.isAllowed(url) else {
            throw .configuration("container credentials URL \(HTTPRequest.redactURL(url)) must be HTTPS, loopback or the ECS/EKS agent")
        }
        var headers: [(name: String, value: String)] = [("Accept", "application/json")]
        if let tokenFile {
            guard let data = FileManager.default.contents(atPath: tokenFile) else {
                throw .credentials("cannot read the container authorization token file \(tokenFile)", retriable: true)
            }
            headers.append(("Authorization", String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        } else if let token {
            headers.append(("Authorization", token.value))
        }
        let response: HTTPResponse
        do {
            response = try await http.execute(HTTPRequest(method: "GET", url: url, headers: headers, timeout: .seconds(5), connectTimeout: .seconds(2), proxy: ""))
        } catch {
            throw .credentials("the container credentials endpoint is unreachable: \(error)", retriable: error.isRetriable)
        }
        guard response.status == 200 else {
            throw .credentials("the container credentials endpoint answered HTTP \(response.status)",
                               retriable: HTTPOutcome.statusClass(response.status) == .retryable)
        }
        guard let json = try? JSON.parse(response.bodyText), let id = json["AccessKeyId"]?.stringValue,
              let secret = json["SecretAccessKey"]?.stringValue else {
            throw .credentials("the container credentials endpoint returned no credentials", retriable: true)
        }
        return AWSCredentials(accessKeyID: id, secretAccessKey: Secret(secret), sessionToken: json["Token"]?.stringValue.map(Secret.init),
                              expiration: json["Expiration"]?.stringValue.flatMap(ISO8601.date),
                              source: "container credentials\(json["RoleArn"]?.stringValue.map { " (\($0))" } ?? "")")
    }
}
