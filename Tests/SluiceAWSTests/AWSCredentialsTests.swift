import Foundation
import SluiceAWS
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Synchronization
import Testing

/// A temporary directory standing in for `$HOME`, with optional `~/.aws` files.
struct TemporaryHome {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("aws-home-\(UUID().uuidString.prefix(8))")

    init(credentials: String? = nil, config: String? = nil) throws {
        try FileManager.default.createDirectory(at: url.appendingPathComponent(".aws"), withIntermediateDirectories: true)
        if let credentials { try write(".aws/credentials", credentials) }
        if let config { try write(".aws/config", config) }
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = url.appendingPathComponent(name)
        try Data(text.utf8).write(to: file)
        return file.path
    }

    /// An environment with nothing of the developer's: only HOME and IMDS turned off.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        ["HOME": url.path, "AWS_EC2_METADATA_DISABLED": "true"].merging(extra) { $1 }
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// The caller's ARN as moto's STS sees it: shows which identity signed the request.
func callerARN(_ credentials: any AWSCredentialsProvider, moto: MotoServer, http: HTTPClient) async throws -> String? {
    let aws = AWSClient(region: "us-east-1", credentials: credentials, http: http, endpoint: moto.endpoint, timeout: motoCallTimeout)
    return try await aws.query(.sts, action: "GetCallerIdentity").text("GetCallerIdentityResult/Arn")
}

@Suite struct AWSCredentialsChainTests {
    @Test func environmentComesFirst() async throws {
        let home = try TemporaryHome(credentials: "[default]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = profile-secret\n")
        defer { home.remove() }
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let env = home.environment(["AWS_ACCESS_KEY_ID": "ASIAENVEXAMPLE", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "env-token"])
            let c = try await DefaultCredentialsChain.make(region: "us-east-1", http: http, environment: env).credentials()
            #expect(c.accessKeyID == "ASIAENVEXAMPLE" && c.secretAccessKey.value == "env-secret" && c.sessionToken?.value == "env-token")
            #expect(c.source == "environment" && c.expiration == nil)
            // Without the environment's keys, the default profile is next.
            let fromProfile = try await DefaultCredentialsChain.make(region: "us-east-1", http: http, environment: home.environment()).credentials()
            #expect(fromProfile.accessKeyID == "AKIAPROFILE" && fromProfile.source == "profile default")
        }
    }

    @Test func profilesFromCustomFilesWithRegionAndAssumedRole() async throws {
        let moto = try await MotoServer.startShared()
        let home = try TemporaryHome()
        defer { home.remove() }
        let credentialsFile = try home.write("creds.ini", """
            # keys for the dev account
            [dev]
            aws_access_key_id = AKIADEVEXAMPLE
            aws_secret_access_key = dev-secret ; trailing comment
            """)
        let configFile = try home.write("config.ini", """
            [default]
            region = us-east-1
            [profile dev]
            region = eu-west-2
            s3 =
              max_concurrent_requests = 4
            [profile ops]
            role_arn = arn:aws:iam::\(MotoServer.accountID):role/sluice-ops
            source_profile = dev
            role_session_name = sluice-test
            [sso-session corp]
            sso_region = us-east-1
            """)
        let env = home.environment(["AWS_SHARED_CREDENTIALS_FILE": credentialsFile, "AWS_CONFIG_FILE": configFile,
                                    "AWS_PROFILE": "dev", "AWS_ENDPOINT_URL_STS": moto.endpoint,
                                    "AWS_ACCESS_KEY_ID": "AKIAIGNORED", "AWS_SECRET_ACCESS_KEY": "ignored"])
        let files = SharedConfigFiles.load(environment: env)
        #expect(files.profiles["dev"] == ["region": "eu-west-2", "s3": "", "aws_access_key_id": "AKIADEVEXAMPLE", "aws_secret_access_key": "dev-secret"])
        #expect(files.profiles["corp"] == nil && files.profiles["sso-session corp"] == nil)
        #expect(DefaultCredentialsChain.region(configured: nil, profile: nil, environment: env) == "eu-west-2")
        #expect(DefaultCredentialsChain.region(configured: nil, profile: "ops", environment: env) == nil)
        #expect(DefaultCredentialsChain.region(configured: "ap-south-1", profile: nil, environment: env) == "ap-south-1")

        let http = HTTPClient()
        defer { http.shutdown() }
        // An explicit profile is used alone: the environment's keys do not override it.
        let dev = try await DefaultCredentialsChain.make(profile: "dev", region: "eu-west-2", http: http, environment: env).credentials()
        #expect(dev.accessKeyID == "AKIADEVEXAMPLE" && dev.sessionToken == nil)

        // role_arn + source_profile: STS AssumeRole signed with dev's keys, at moto.
        let ops = DefaultCredentialsChain.make(profile: "ops", region: "us-east-1", http: http, environment: env)
        let assumed = try await ops.credentials()
        #expect(assumed.accessKeyID != "AKIADEVEXAMPLE" && assumed.sessionToken != nil)
        #expect(assumed.expiration.map { $0 > Date() } == true)
        #expect(assumed.source == "role arn:aws:iam::\(MotoServer.accountID):role/sluice-ops")
        #expect(try await callerARN(ops, moto: moto, http: http) == "arn:aws:sts::\(MotoServer.accountID):assumed-role/sluice-ops/sluice-test")

        let missing = DefaultCredentialsChain.make(profile: "nope", region: "us-east-1", http: http, environment: env)
        let e = await failure { try await missing.credentials() }
        #expect(e?.kind == .configuration && e?.isRetriable == false && e?.message.contains("'nope'") == true)
        // AWS_PROFILE naming a missing profile stops the chain too (no silent fall-through to another identity).
        let misnamed = DefaultCredentialsChain.make(region: "us-east-1", http: http, environment: env.merging(["AWS_PROFILE": "nope"]) { $1 }
            .filter { $0.key != "AWS_ACCESS_KEY_ID" })
        #expect(await failure { try await misnamed.credentials() }?.kind == .configuration)
    }

    @Test func webIdentityTokenThroughMotoSTS() async throws {
        let moto = try await MotoServer.startShared()
        let home = try TemporaryHome()
        defer { home.remove() }
        let tokenFile = try home.write("token", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c2x1aWNlIn0.c2ln\n")
        let role = "arn:aws:iam::\(MotoServer.accountID):role/sluice-irsa"
        let env = home.environment(["AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": role,
                                    "AWS_ROLE_SESSION_NAME": "sluice-pod", "AWS_ENDPOINT_URL_STS": moto.endpoint])
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let chain = DefaultCredentialsChain.make(region: "eu-west-1", http: http, environment: env)
            let c = try await chain.credentials()
            #expect(c.source == "web identity \(role)")
            #expect(c.sessionToken != nil && c.expiration != nil)
            #expect(try await callerARN(chain, moto: moto, http: http) == "arn:aws:sts::\(MotoServer.accountID):assumed-role/sluice-irsa/sluice-pod")

            // A token file that cannot be read fails the fetch, retriably (the kubelet may be rotating it).
            let broken = DefaultCredentialsChain.make(region: "eu-west-1", http: http,
                                                      environment: env.merging(["AWS_WEB_IDENTITY_TOKEN_FILE": home.url.path + "/absent"]) { $1 })
            let e = await failure { try await broken.credentials() }
            #expect(e?.kind == .credentials && e?.isRetriable == true)
        }
    }

    @Test func instanceMetadataV2() async throws {
        let imds = try await WebhookReceiver.start(vendor: "imds", options: ["role": "sluice-node", "access_key_id": "ASIAIMDSEXAMPLE"])
        try await withCleanup { cleanup in
            cleanup.add { await imds.stopAndWait() }
            let home = try TemporaryHome()
            defer { home.remove() }
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let env = ["HOME": home.url.path, "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url]
            let chain = DefaultCredentialsChain.make(region: "us-east-1", http: http, environment: env)
            let c = try await chain.credentials()
            #expect(c.accessKeyID == "ASIAIMDSEXAMPLE" && c.secretAccessKey.value == "imds-secret-1" && c.sessionToken?.value == "imds-token-1")
            #expect(c.source == "instance metadata (sluice-node)")
            let expiresInOverAnHour = c.expiration.map { $0.timeIntervalSinceNow > 3000 }
            #expect(expiresInOverAnHour == true)
            _ = try await chain.credentials()  // cached: no second fetch
            #expect(try imds.violations() == [])
            let records = try imds.records()
            let calls = records.map { "\($0.method) \($0.path)" }
            #expect(calls == [
                "PUT /latest/api/token", "GET /latest/meta-data/iam/security-credentials/",
                "GET /latest/meta-data/iam/security-credentials/sluice-node",
            ])
            let token = records[0].header("X-aws-ec2-metadata-token") == nil ? nil : "unexpected"
            #expect(token == nil)
            #expect(records[1].header("X-aws-ec2-metadata-token") != nil)
            #expect(records[1].header("X-aws-ec2-metadata-token") == records[2].header("X-aws-ec2-metadata-token"))

            // The module holds the contract: an IMDSv1 request (no token) is refused.
            let (status, _) = try LoopbackHTTP.exchange(port: imds.port, method: "GET", path: "/latest/meta-data/iam/security-credentials/")
            #expect(status == 401)

            // The temporary credentials sign a request with their session token (moto accepts any).
            let moto = try await MotoServer.startShared()
            let arn = try await callerARN(chain, moto: moto, http: http)
            #expect(arn?.hasPrefix("arn:aws:") == true)
        }
    }

    @Test func containerCredentialsForECSAndEKSPodIdentity() async throws {
        let agent = try await WebhookReceiver.start(status: 200)
        try await withCleanup { cleanup in
            cleanup.add { await agent.stopAndWait() }
            try await agent.setStatus(200, body: """
                {"AccessKeyId": "ASIACONTAINER", "SecretAccessKey": "container-secret", "Token": "container-token",
                 "Expiration": "2099-01-01T00:00:00Z", "RoleArn": "arn:aws:iam::111122223333:role/sluice-task"}
                """)
            let home = try TemporaryHome()
            defer { home.remove() }
            let tokenFile = try home.write("eks-pod-identity-token", "pod-identity-token\n")
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            // EKS Pod Identity: a full URI and a token file (read on each fetch).
            let env = home.environment(["AWS_CONTAINER_CREDENTIALS_FULL_URI": agent.url + "/v1/credentials",
                                        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile,
                                        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ignored-when-the-file-is-set"])
            let c = try await DefaultCredentialsChain.make(region: "eu-west-1", http: http, environment: env).credentials()
            #expect(c.accessKeyID == "ASIACONTAINER" && c.sessionToken?.value == "container-token")
            #expect(c.source == "container credentials (arn:aws:iam::111122223333:role/sluice-task)")
            #expect(c.expiration == ISO8601.date("2099-01-01T00:00:00Z"))
            let r = try #require(try agent.records().last)
            #expect(r.method == "GET" && r.path == "/v1/credentials" && r.header("Authorization") == "pod-identity-token")

            // The environment comes first; the container endpoint before instance metadata.
            let withKeys = env.merging(["AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "s"]) { $1 }
            #expect(try await DefaultCredentialsChain.make(region: "eu-west-1", http: http, environment: withKeys).credentials().source == "environment")

            // Plain HTTP elsewhere than loopback or the agents' addresses is refused.
            #expect(ContainerCredentialsProvider.isAllowed("http://169.254.170.2/v2/credentials/abc"))
            #expect(ContainerCredentialsProvider.isAllowed("http://[fd00:ec2::23]/v1/credentials"))
            #expect(ContainerCredentialsProvider.isAllowed("https://creds.example.com/x"))
            #expect(!ContainerCredentialsProvider.isAllowed("http://creds.example.com/x"))
            let remote = DefaultCredentialsChain.make(region: "eu-west-1", http: http,
                                                      environment: home.environment(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://10.0.0.1/creds"]))
            let e = await failure { try await remote.credentials() }
            #expect(e?.kind == .configuration)
        }
    }

    /// The check parses the URL and compares its host: pure, so nothing is ever sent to the
    /// addresses below (192.0.2.0/24 is TEST-NET-1).
    @Test func containerCredentialsURLCheckReadsTheHost() {
        #expect(!ContainerCredentialsProvider.isAllowed("http://127.0.0.1@192.0.2.2/"))
        #expect(!ContainerCredentialsProvider.isAllowed("http://127.0.0.1:80@192.0.2.2/creds"))
        #expect(!ContainerCredentialsProvider.isAllowed("http://localhost@192.0.2.2/"))
        #expect(!ContainerCredentialsProvider.isAllowed("http://127.evil.example/creds"))
        #expect(!ContainerCredentialsProvider.isAllowed("http://169.254.170.2.evil.example/"))
        #expect(!ContainerCredentialsProvider.isAllowed("http://user:pw@127.0.0.1/creds"))
        #expect(ContainerCredentialsProvider.isAllowed("http://127.0.0.1:51679/creds"))
        #expect(ContainerCredentialsProvider.isAllowed("http://[::1]:8080/creds"))
        #expect(ContainerCredentialsProvider.isAllowed("http://localhost/creds"))
    }

    @Test func noCredentialsAnywhere() async throws {
        let home = try TemporaryHome()
        defer { home.remove() }
        try await withCleanup { cleanup in
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let e = await failure { try await DefaultCredentialsChain.make(region: "us-east-1", http: http, environment: home.environment()).credentials() }
            #expect(e?.kind == .credentials && e?.isRetriable == false)
        }
    }
}

@Suite struct CachedCredentialsTests {
    /// A settable clock.
    final class Clock: Sendable {
        private let time = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
        var now: Date { time.withLock { $0 } }
        func advance(_ seconds: TimeInterval) { time.withLock { $0 += seconds } }
    }

    /// Credentials valid for ten minutes from the clock's now; can be told to fail; slow on purpose.
    final class TenMinuteProvider: AWSCredentialsProvider {
        let clock: Clock
        private let state = Mutex((fetches: 0, failing: false))
        init(clock: Clock) { self.clock = clock }
        var fetches: Int { state.withLock { $0.fetches } }
        func fail(_ on: Bool) { state.withLock { $0.failing = on } }
        func credentials() async throws(AWSError) -> AWSCredentials {
            try? await Task.sleep(for: .milliseconds(50))
            let (n, failing) = state.withLock { s in s.fetches += 1; return (s.fetches, s.failing) }
            if failing { throw .credentials("source down", retriable: true) }
            return AWSCredentials(accessKeyID: "ASIA\(n)", secretAccessKey: Secret("s"), sessionToken: Secret("t"),
                                  expiration: clock.now.addingTimeInterval(600))
        }
    }

    @Test func refreshesBeforeExpiryAndSharesOneFetch() async throws {
        let clock = Clock()
        let source = TenMinuteProvider(clock: clock)
        let cache = CachedCredentialsProvider(source, refreshMargin: 300, now: { clock.now })
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 { group.addTask { try await cache.credentials().accessKeyID } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(ids == ["ASIA1"] && source.fetches == 1)
        clock.advance(200)
        #expect(try await cache.credentials().accessKeyID == "ASIA1" && source.fetches == 1)
        clock.advance(200)  // 200 s left: inside the margin
        #expect(try await cache.credentials().accessKeyID == "ASIA2" && source.fetches == 2)

        // A failed refresh keeps the old credentials while they last, then reports the failure.
        source.fail(true)
        clock.advance(400)
        #expect(try await cache.credentials().accessKeyID == "ASIA2")
        clock.advance(300)
        let e = await failure { try await cache.credentials() }
        #expect(e?.message == "source down")
        source.fail(false)
        #expect(try await cache.credentials().accessKeyID.hasPrefix("ASIA"))
    }

    @Test func configurationParsesSettings() throws {
        let yaml = """
            region: eu-west-1
            endpoint: http://127.0.0.1:5000
            credentials:
              access_key_id: AKIAEXAMPLE
              secret_access_key: wJalrXUtnFEMI
            assume_role:
              role_arn: arn:aws:iam::123456789012:role/x
              external_id: ext-1
            """
        let node = try #require(try YAMLNode.load(path: "aws.yaml", text: yaml, environment: [:]))
        let reader = MappingReader(node, what: "test")
        let s = try #require(AWSSettings.read(from: reader))
        #expect(reader.finish().isEmpty)
        #expect(s.region == "eu-west-1" && s.endpoint == "http://127.0.0.1:5000" && s.accessKeyID == "AKIAEXAMPLE")
        #expect(s.secretAccessKey?.value == "wJalrXUtnFEMI" && s.roleARN == "arn:aws:iam::123456789012:role/x" && s.externalID?.value == "ext-1")

        let badNode = try #require(try YAMLNode.load(path: "bad.yaml", text: "endpoint: localhost:5000\nprofile: p\ncredentials:\n  access_key_id: A\n", environment: [:]))
        let bad = MappingReader(badNode, what: "test")
        #expect(AWSSettings.read(from: bad) == nil)
        let messages = bad.finish().map(\.description).joined(separator: "\n")
        #expect(messages.contains("endpoint must start with http://"))
        #expect(messages.contains("secret_access_key"))
        #expect(messages.contains("credentials and profile are exclusive"))
    }
}
