import Foundation
import SluiceCore
import SluiceHTTP

/// The AWS CLI's shared files: `~/.aws/credentials` (`[name]` sections) and `~/.aws/config`
/// (`[default]` and `[profile name]` sections), or the files named by
/// `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE`. A key in the credentials file wins over
/// the same key in the config file. Indented lines (nested settings such as `s3 =`) are skipped.
public struct SharedConfigFiles: Sendable, Equatable {
    /// Profile name → settings, both files merged.
    public var profiles: [String: [String: String]]

    public init(profiles: [String: [String: String]] = [:]) { self.profiles = profiles }

    /// Reads both files (a missing file is an empty one).
    public static func load(environment: [String: String]) -> SharedConfigFiles {
        let (credentialsPath, configPath) = paths(environment: environment)
        let read = { (path: String) in FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? "" }
        return parse(credentials: read(credentialsPath), config: read(configPath))
    }

    public static func paths(environment: [String: String]) -> (credentials: String, config: String) {
        let home = environment["HOME"] ?? NSHomeDirectory()
        func expand(_ p: String) -> String { p.hasPrefix("~/") ? home + p.dropFirst() : p }
        return (expand(environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "~/.aws/credentials"),
                expand(environment["AWS_CONFIG_FILE"] ?? "~/.aws/config"))
    }

    public static func parse(credentials: String, config: String) -> SharedConfigFiles {
        var profiles: [String: [String: String]] = [:]
        for (section, settings) in sections(config) {
            // In the config file, profiles other than default are `[profile name]`; `[sso-session x]` and alike are not profiles.
            let name: String
            if section == "default" { name = "default" } else if section.hasPrefix("profile ") {
                name = section.dropFirst("profile ".count).trimmingCharacters(in: .whitespaces)
            } else { continue }
            profiles[name, default: [:]].merge(settings) { $1 }
        }
        for (name, settings) in sections(credentials) {
            profiles[name, default: [:]].merge(settings) { $1 }
        }
        return SharedConfigFiles(profiles: profiles)
    }

    /// INI sections in file order: `[name]` headers, `key = value` lines, `#` and `;` comments.
    static func sections(_ text: String) -> [(String, [String: String])] {
        var result: [(String, [String: String])] = []
        var current: (String, [String: String])?
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            if raw.first == " " || raw.first == "\t" { continue }  // a nested setting's continuation
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), let close = line.firstIndex(of: "]") {
                if let current { result.append(current) }
                current = (line[line.index(after: line.startIndex)..<close].trimmingCharacters(in: .whitespaces), [:])
                continue
            }
            guard let eq = line.firstIndex(of: "="), current != nil else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if let comment = value.range(of: " #") ?? value.range(of: " ;") { value = value[..<comment.lowerBound].trimmingCharacters(in: .whitespaces) }
            current!.1[key] = value
        }
        if let current { result.append(current) }
        return result
    }
}

/// Credentials from a named profile of the shared files: static keys, or a role assumed with
/// `role_arn` and one of `source_profile` (chained, cycles rejected), `credential_source`
/// (`Environment`, `Ec2InstanceMetadata`, `EcsContainer`) or `web_identity_token_file`.
///
/// The profile is resolved when the provider is made; a profile that does not exist or cannot
/// work is reported on the first `credentials()` call as a non-retriable error.
public struct ProfileCredentialsProvider: AWSCredentialsProvider {
    public let profile: String
    private let resolved: Result<any AWSCredentialsProvider, AWSError>

    /// - Parameters:
    ///   - region: for the STS calls of role profiles (the profile's own `region` wins).
    ///   - environment: for `credential_source = Environment` and STS endpoint overrides.
    ///   - named: the profile was named (configuration, `AWS_PROFILE`): its absence is a
    ///     configuration error that stops the chain, not a reason to try the next source.
    public init(profile: String, files: SharedConfigFiles, region: String, http: HTTPClient, environment: [String: String], named: Bool = true) {
        self.profile = profile
        resolved = Result { () throws(AWSError) -> any AWSCredentialsProvider in
            if named && files.profiles[profile] == nil {
                throw .configuration("profile '\(profile)' is not in the shared credentials or config file")
            }
            return try Self.provider(for: profile, files: files, region: region, http: http, environment: environment, visited: [])
        }
    }

    public func credentials() async throws(AWSError) -> AWSCredentials {
        try await resolved.get().credentials()
    }

    public func invalidate() {
        if case .success(let p) = resolved { p.invalidate() }
    }

    private static func provider(for name: String, files: SharedConfigFiles, region: String, http: HTTPClient,
                                 environment: [String: String], visited: Set<String>) throws(AWSError) -> any AWSCredentialsProvider {
        guard let p = files.profiles[name] else {
            throw .credentials("profile '\(name)' is not in the shared credentials or config file", retriable: false)
        }
        guard !visited.contains(name) else { throw .configuration("profile '\(name)': source_profile loop") }
        let region = p["region"] ?? region
        guard let roleARN = p["role_arn"] else {
            guard let id = p["aws_access_key_id"], let secret = p["aws_secret_access_key"] else {
                throw .credentials("profile '\(name)' has neither keys nor role_arn", retriable: false)
            }
            return StaticCredentialsProvider(AWSCredentials(
                accessKeyID: id, secretAccessKey: Secret(secret), sessionToken: p["aws_session_token"].map(Secret.init), source: "profile \(name)"))
        }
        let stsClient = { (source: any AWSCredentialsProvider) in
            AWSClient(region: region, credentials: source, http: http, environment: environment)
        }
        if let tokenFile = p["web_identity_token_file"] {
            return WebIdentityCredentialsProvider(tokenFile: tokenFile, roleARN: roleARN, sessionName: p["role_session_name"],
                                                  sts: stsClient(UnsignedCallsOnly()))
        }
        let source: any AWSCredentialsProvider
        if let sourceProfile = p["source_profile"] {
            // A profile that names itself as source uses its own keys; another role profile is chained.
            var sourceFiles = files
            if sourceProfile == name { sourceFiles.profiles[name]?["role_arn"] = nil }
            source = try provider(for: sourceProfile, files: sourceFiles, region: region, http: http, environment: environment,
                                  visited: sourceProfile == name ? visited : visited.union([name]))
        } else if let credentialSource = p["credential_source"] {
            switch credentialSource {
            case "Environment": source = EnvironmentCredentialsProvider(environment: environment)
            case "Ec2InstanceMetadata": source = CachedCredentialsProvider(InstanceMetadataCredentialsProvider(http: http, environment: environment))
            case "EcsContainer":
                guard let container = ContainerCredentialsProvider(environment: environment, http: http) else {
                    throw .configuration("profile '\(name)': credential_source EcsContainer needs AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI")
                }
                source = CachedCredentialsProvider(container)
            default: throw .configuration("profile '\(name)': credential_source \(credentialSource) is not supported")
            }
        } else {
            throw .configuration("profile '\(name)': role_arn needs source_profile, credential_source or web_identity_token_file")
        }
        return CachedCredentialsProvider(AssumeRoleCredentialsProvider(
            roleARN: roleARN, sessionName: p["role_session_name"], externalID: p["external_id"],
            durationSeconds: p["duration_seconds"].flatMap { Int($0) }, sts: stsClient(source)))
    }
}

/// The credentials of an STS client that only makes unsigned calls (`AssumeRoleWithWebIdentity`).
struct UnsignedCallsOnly: AWSCredentialsProvider {
    func credentials() async throws(AWSError) -> AWSCredentials {
        throw .credentials("this client makes unsigned calls only", retriable: false)
    }
}
