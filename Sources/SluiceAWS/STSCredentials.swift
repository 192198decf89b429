import Foundation
import SluiceCore
import SluiceHTTP

/// Temporary credentials from STS `AssumeRoleWithWebIdentity`: the token file that EKS (IRSA)
/// or another OIDC issuer mounts, exchanged for a role's credentials. The file is read on every
/// fetch, because its token rotates. The call is unsigned (the token is the proof).
///
/// Settings come from `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME`
/// (see `init(environment:…)`) or a profile's `web_identity_token_file` + `role_arn`.
public struct WebIdentityCredentialsProvider: AWSCredentialsProvider {
    public let tokenFile: String
    public let roleARN: String
    public let sessionName: String
    let sts: AWSClient

    /// - Parameter sts: a client whose `.sts` endpoint is used; its credentials are never asked for.
    public init(tokenFile: String, roleARN: String, sessionName: String?, sts: AWSClient) {
        self.tokenFile = tokenFile
        self.roleARN = roleARN
        self.sessionName = sessionName ?? AssumeRoleCredentialsProvider.defaultSessionName()
        self.sts = sts
    }

    /// From the IRSA environment variables; nil when `AWS_WEB_IDENTITY_TOKEN_FILE` or `AWS_ROLE_ARN` is unset.
    public init?(environment: [String: String], sts: AWSClient) {
        guard let file = environment["AWS_WEB_IDENTITY_TOKEN_FILE"], !file.isEmpty,
              let role = environment["AWS_ROLE_ARN"], !role.isEmpty else { return nil }
        self.init(tokenFile: file, roleARN: role, sessionName: environment["AWS_ROLE_SESSION_NAME"].flatMap { $0.isEmpty ? nil : $0 }, sts: sts)
    }

    public func credentials() async throws(AWSError) -> AWSCredentials {
        guard let data = FileManager.default.contents(atPath: tokenFile) else {
            throw .credentials("cannot read the web identity token file \(tokenFile)", retriable: true)
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let tree = try await sts.query(.sts, action: "AssumeRoleWithWebIdentity", parameters: [
            ("RoleArn", roleARN), ("RoleSessionName", sessionName), ("WebIdentityToken", token),
        ], signed: false)
        return try STSAnswer.credentials(tree, result: "AssumeRoleWithWebIdentityResult", source: "web identity \(roleARN)")
    }
}

/// Temporary credentials from STS `AssumeRole`, signed with another provider's credentials:
/// a profile's `role_arn` + `source_profile`, or a connector's `role_arn`.
public struct AssumeRoleCredentialsProvider: AWSCredentialsProvider {
    public let roleARN: String
    public let sessionName: String
    public let externalID: String?
    public let durationSeconds: Int?
    /// A client signed with the source credentials, for its `.sts` endpoint.
    let sts: AWSClient

    public init(roleARN: String, sessionName: String? = nil, externalID: String? = nil, durationSeconds: Int? = nil, sts: AWSClient) {
        self.roleARN = roleARN
        self.sessionName = sessionName ?? Self.defaultSessionName()
        self.externalID = externalID
        self.durationSeconds = durationSeconds
        self.sts = sts
    }

    public func credentials() async throws(AWSError) -> AWSCredentials {
        var parameters = [("RoleArn", roleARN), ("RoleSessionName", sessionName)]
        if let externalID { parameters.append(("ExternalId", externalID)) }
        if let durationSeconds { parameters.append(("DurationSeconds", String(durationSeconds))) }
        let tree = try await sts.query(.sts, action: "AssumeRole", parameters: parameters)
        return try STSAnswer.credentials(tree, result: "AssumeRoleResult", source: "role \(roleARN)")
    }

    public func invalidate() { sts.credentials.invalidate() }

    /// `sluice-<epoch seconds>`: STS wants 2–64 characters of `[\w+=,.@-]`.
    static func defaultSessionName() -> String { "sluice-\(Int(Date().timeIntervalSince1970))" }
}

/// Reading STS answers.
enum STSAnswer {
    /// The `<Credentials>` of an `…Result` element.
    static func credentials(_ tree: XMLTree, result: String, source: String) throws(AWSError) -> AWSCredentials {
        guard let c = tree["\(result)/Credentials"], let id = c.text("AccessKeyId"), let secret = c.text("SecretAccessKey") else {
            throw AWSError(kind: .invalidResponse, code: "InvalidResponse", message: "STS answered without credentials")
        }
        let token = c.text("SessionToken").map(Secret.init)
        return AWSCredentials(accessKeyID: id, secretAccessKey: Secret(secret), sessionToken: token,
                              expiration: c.text("Expiration").flatMap(ISO8601.date), source: source)
    }
}

/// ISO 8601 timestamps as AWS writes them (`2026-11-24T02:00:00Z`, with or without fractions).
public enum ISO8601 {
    public static func date(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        if let d = plain.date(from: text) { return d }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    /// `2026-11-24T02:00:00.000Z`, the form ASFF and EventBridge accept.
    public static func string(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }
}
