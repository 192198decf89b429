import SluiceHTTP

/// The SDKs' default credentials chain, in their order:
/// 1. the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`);
/// 2. a web identity token file (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, EKS IRSA) through STS;
/// 3. the shared credentials and config files, profile `AWS_PROFILE` or `default`;
/// 4. the container credentials endpoint (ECS task role, EKS Pod Identity), when its variables are set;
/// 5. the EC2 instance metadata service (IMDSv2), unless `AWS_EC2_METADATA_DISABLED=true`.
///
/// An explicitly named profile is used alone (like `--profile` in the CLI): the environment
/// does not override it. The result caches credentials and refreshes them before they expire.
public enum DefaultCredentialsChain {
    /// - Parameters:
    ///   - profile: a profile named in configuration; nil for the chain.
    ///   - region: for STS calls; AWS's regional STS endpoints serve every region.
    ///   - environment: the process environment (tests pass their own).
    public static func make(profile: String? = nil, region: String, http: HTTPClient, environment: [String: String]) -> any AWSCredentialsProvider {
        let files = { SharedConfigFiles.load(environment: environment) }
        if let profile {
            return CachedCredentialsProvider(ProfileCredentialsProvider(profile: profile, files: files(), region: region, http: http, environment: environment))
        }
        var providers: [any AWSCredentialsProvider] = []
        if EnvironmentCredentialsProvider.isConfigured(environment) {
            providers.append(EnvironmentCredentialsProvider(environment: environment))
        }
        let sts = AWSClient(region: region, credentials: UnsignedCallsOnly(), http: http, environment: environment)
        if let webIdentity = WebIdentityCredentialsProvider(environment: environment, sts: sts) {
            providers.append(webIdentity)
        }
        let shared = files()
        let named = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }
        if let name = named ?? (shared.profiles["default"] != nil ? "default" : nil) {
            providers.append(ProfileCredentialsProvider(profile: name, files: shared, region: region, http: http, environment: environment,
                                                        named: named != nil))
        }
        if let container = ContainerCredentialsProvider(environment: environment, http: http) {
            providers.append(container)
        }
        if !InstanceMetadataCredentialsProvider.isDisabled(environment) {
            providers.append(InstanceMetadataCredentialsProvider(http: http, environment: environment))
        }
        return CachedCredentialsProvider(CredentialsProviderChain(providers))
    }

    /// The region: configured, else `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`.
    public static func region(configured: String?, profile: String?, environment: [String: String]) -> String? {
        if let configured, !configured.isEmpty { return configured }
        for key in ["AWS_REGION", "AWS_DEFAULT_REGION"] { if let r = environment[key], !r.isEmpty { return r } }
        let name = profile ?? environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        return SharedConfigFiles.load(environment: environment).profiles[name]?["region"]
    }
}
