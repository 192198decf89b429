import SluiceCore
import SluiceHTTP

/// The AWS keys shared by every AWS connector and action executor, read from their YAML:
///
/// ```yaml
/// region: eu-west-1                 # else AWS_REGION, AWS_DEFAULT_REGION, the profile's region
/// endpoint: http://127.0.0.1:5000   # optional override (moto, LocalStack, a VPC endpoint)
/// profile: security                 # optional: a profile of the shared files, used alone
/// credentials:                      # optional: instead of the default chain
///   access_key_id: ${SLUICE_AWS_KEY_ID}
///   secret_access_key: ${SLUICE_AWS_SECRET}   # or file:/run/secrets/aws-secret
///   session_token: ${SLUICE_AWS_TOKEN}
/// assume_role:                      # optional: a role assumed with the credentials above
///   role_arn: arn:aws:iam::111122223333:role/sluice-delivery
///   session_name: sluice
///   external_id: ${SLUICE_EXTERNAL_ID}
/// sts_endpoint: https://sts.eu-west-1.amazonaws.com   # optional, for assume_role and web identity
/// ```
public struct AWSSettings: Sendable {
    public var region: String?
    public var endpoint: String?
    public var profile: String?
    public var accessKeyID: String?
    public var secretAccessKey: Secret?
    public var sessionToken: Secret?
    public var roleARN: String?
    public var roleSessionName: String?
    public var externalID: Secret?
    public var stsEndpoint: String?

    public init(region: String? = nil, endpoint: String? = nil, profile: String? = nil) {
        self.region = region
        self.endpoint = endpoint
        self.profile = profile
    }

    /// Reads the keys above from `reader` (the caller's own keys are read by the caller);
    /// reports problems on the reader and returns nil when they are fatal.
    public static func read(from r: MappingReader) -> AWSSettings? {
        var s = AWSSettings(region: r.string("region"), endpoint: r.string("endpoint"), profile: r.string("profile"))
        var ok = true
        if let e = s.endpoint, HTTPURL(e) == nil {
            r.report((r.node["endpoint"] ?? r.node).error("endpoint must start with http:// or https:// and name a host, without spaces"))
            ok = false
        }
        if let c = r.nested("credentials", what: "credentials") {
            s.accessKeyID = c.string("access_key_id", required: true)
            s.secretAccessKey = c.secret("secret_access_key", required: true)
            s.sessionToken = c.secret("session_token")
            if s.profile != nil {
                r.report(r.at("credentials").error("credentials and profile are exclusive"))
                ok = false
            }
            if s.accessKeyID == nil || s.secretAccessKey == nil { ok = false }
        }
        if let a = r.nested("assume_role", what: "assume_role") {
            s.roleARN = a.string("role_arn", required: true)
            s.roleSessionName = a.string("session_name")
            s.externalID = a.secret("external_id")
            if let arn = s.roleARN, !arn.hasPrefix("arn:") {
                a.report(a.at("role_arn").error("role_arn must be an ARN (arn:aws:iam::<account>:role/<name>)"))
                ok = false
            }
            if s.roleARN == nil { ok = false }
        }
        s.stsEndpoint = r.string("sts_endpoint")
        return ok ? s : nil
    }

    /// The credentials these settings name: static keys, a profile, or the default chain;
    /// wrapped in an assumed role when `assume_role` is set.
    public func credentialsProvider(region: String, http: HTTPClient, environment: [String: String]) -> any AWSCredentialsProvider {
        var base: any AWSCredentialsProvider
        if let accessKeyID, let secretAccessKey {
            base = StaticCredentialsProvider(AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey,
                                                            sessionToken: sessionToken, source: "configuration"))
        } else {
            var env = environment
            if let stsEndpoint { env["AWS_ENDPOINT_URL_STS"] = stsEndpoint }
            base = DefaultCredentialsChain.make(profile: profile, region: region, http: http, environment: env)
        }
        if let roleARN {
            let sts = AWSClient(region: region, credentials: base, http: http,
                                serviceEndpoints: stsEndpoint.map { [.sts: $0] } ?? [:], environment: environment)
            base = CachedCredentialsProvider(AssumeRoleCredentialsProvider(
                roleARN: roleARN, sessionName: roleSessionName, externalID: externalID?.value, sts: sts))
        }
        return base
    }

    /// A client for these settings, or a configuration error when no region can be found.
    public func makeClient(http: HTTPClient, environment: [String: String], timeout: Duration = .seconds(10)) throws(AWSError) -> AWSClient {
        guard let region = DefaultCredentialsChain.region(configured: region, profile: profile, environment: environment) else {
            throw .configuration("no AWS region: set region, AWS_REGION or the profile's region")
        }
        return AWSClient(region: region, credentials: credentialsProvider(region: region, http: http, environment: environment),
                         http: http, endpoint: endpoint, environment: environment, timeout: timeout)
    }
}
