import Foundation
import SluiceAWS
@testable import SluiceConnectors
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

@Suite struct SecurityHubConnectorTests {
    /// moto keeps findings per region: this suite has one of its own on the shared server.
    static let region = "ap-southeast-2"

    static func connector(endpoint: String, http: HTTPClient, extra: String = "") throws -> SecurityHubConnector {
        try AWSFixtures.connector("""
            name: security-hub
            type: aws-securityhub
            region: \(region)
            endpoint: \(endpoint)
            batch: {max_items: 100}
            timeout: \(AWSFixtures.motoCallTimeout)s
            \(extra)
            \(AWSFixtures.credentialsYAML)
            """, http: http) as! SecurityHubConnector
    }

    /// Every finding in the region, through GetFindings' pages.
    static func allFindings(aws: AWSClient) async throws -> [JSON] {
        var out: [JSON] = []
        var token: String?
        repeat {
            let body: JSONBuilder = ["MaxResults": 100]
            if let token { body["NextToken"] = .string(token) }
            let page = try await aws.rest(.securityHub, method: "POST", path: "/findings", body: body)
            out += page["Findings"]?.arrayValue ?? []
            token = page["NextToken"]?.stringValue
        } while token?.isEmpty == false
        return out
    }

    @Test func importsEverySampleFindingAsASFF() async throws {
        let moto = try await MotoServer.startShared()
        let http = HTTPClient()
        defer { http.shutdown() }
        let connector = try Self.connector(endpoint: moto.endpoint, http: http)
        let deliveries = try AWSFixtures.deliveries()
        let outcomes = try await AWSFixtures.attempt(connector, batch: deliveries)
        #expect(outcomes.map(AWSFixtures.kind) == Array(repeating: "delivered", count: deliveries.count))

        let stored = try await Self.allFindings(aws: AWSFixtures.moto(moto, http: http, region: Self.region))
        let byID = Dictionary(stored.compactMap { f in f["Id"]?.stringValue.map { ($0, f) } }, uniquingKeysWith: { _, b in b })
        let events = try AWSFixtures.findings()
        for (name, event, _) in events {
            let arn = try #require(event.value(atPath: "detail.arn")?.stringValue)
            let f = try #require(byID[arn], "\(name) is not in Security Hub")
            #expect(ASFFContract.violations(f).isEmpty, "\(name): \(ASFFContract.violations(f))")
            let account = try #require(event.value(atPath: "detail.accountId")?.stringValue)
            let findingRegion = try #require(event.value(atPath: "detail.region")?.stringValue)
            #expect(f["AwsAccountId"]?.stringValue == account)
            // The default product of the finding's account, in the region Security Hub is called in.
            #expect(f["ProductArn"]?.stringValue == "arn:aws:securityhub:\(Self.region):\(account):product/\(account)/default")
            #expect(f["SourceUrl"]?.stringValue?.hasPrefix("https://\(findingRegion).console.aws.amazon.com/guardduty/") == true)
            #expect(f["Resources"]?.arrayValue?.first?["Region"]?.stringValue == findingRegion)
        }

        let ecs = try #require(byID["arn:aws:guardduty:us-east-1:111122223333:detector/2cb4e6f8a0c1d3e5f7a9b1c3d5e7f9a1/finding/60c201a98e842bef0c6541ba882c5999"])
        #expect(ecs["Types"]?.arrayValue?.first?.stringValue == "TTPs/Execution/Execution:Runtime-ReverseShell")
        #expect(ecs["Severity"]?["Label"]?.stringValue == "HIGH" && ecs["Severity"]?["Original"]?.stringValue == "8")
        #expect(ecs["GeneratorId"]?.stringValue == "arn:aws:guardduty:us-east-1:111122223333:detector/2cb4e6f8a0c1d3e5f7a9b1c3d5e7f9a1")
        #expect(ecs["Resources"]?.arrayValue?.compactMap { $0["Type"]?.stringValue } == ["AwsEcsCluster", "AwsEcsTask", "Container"])
        #expect(ecs["Resources"]?.arrayValue?.first?["Details"]?["AwsEcsCluster"]?["ClusterName"]?.stringValue == "checkout-fargate")
        #expect(ecs["Process"]?["Name"]?.stringValue == "sh" && ecs["Process"]?["Pid"]?.doubleValue == 214)
        #expect(ecs["ProductFields"]?["sluice/route"]?.stringValue == "test-route")
    }

    @Test func resourcesPerGuardDutyResourceType() throws {
        let http = HTTPClient()
        defer { http.shutdown() }
        let connector = try Self.connector(endpoint: "http://127.0.0.1:1", http: http, extra: "account_id: \"999988887777\"")
        var seen: [String: [String]] = [:]
        for (name, _, bytes) in try AWSFixtures.findings() {
            let asff = try connector.asff(for: AWSFixtures.delivery(bytes)).get()
            let f = try JSON.parse(asff.text)
            #expect(ASFFContract.violations(f).isEmpty, "\(name): \(ASFFContract.violations(f))")
            #expect(f["ProductArn"]?.stringValue == "arn:aws:securityhub:\(Self.region):999988887777:product/999988887777/default")
            let resources = f["Resources"]?.arrayValue ?? []
            seen[try #require(f.value(atPath: "ProductFields")?["guardduty/type"]?.stringValue)] = resources.compactMap { $0["Type"]?.stringValue }

            if let ec2 = resources.first(where: { $0["Type"]?.stringValue == "AwsEc2Instance" }) {
                #expect(ec2["Id"]?.stringValue?.hasPrefix("arn:aws:ec2:") == true && ec2["Id"]?.stringValue?.contains(":instance/i-") == true)
                #expect(ec2["Details"]?["AwsEc2Instance"]?["Type"]?.stringValue != nil)
            }
            if let key = resources.first(where: { $0["Type"]?.stringValue == "AwsIamAccessKey" }) {
                #expect(key["Id"]?.stringValue?.hasPrefix("AWS::IAM::AccessKey:") == true)
                #expect(key["Details"]?["AwsIamAccessKey"]?["PrincipalName"]?.stringValue != nil)
            }
            if let bucket = resources.first(where: { $0["Type"]?.stringValue == "AwsS3Bucket" }) {
                #expect(bucket["Id"]?.stringValue?.hasPrefix("arn:aws:s3:::") == true)
            }
        }
        #expect(seen["CryptoCurrency:Runtime/BitcoinTool.B"] == ["AwsEc2Instance"])
        #expect(seen["CryptoCurrency:Runtime/BitcoinTool.B!DNS"] == ["AwsEksCluster", "Container"])
        #expect(seen["UnauthorizedAccess:IAMUser/TorIPCaller"] == ["AwsIamAccessKey"])
        #expect(seen["Discovery:S3/AnomalousBehavior"]?.first == "AwsS3Bucket")
        #expect(seen.values.allSatisfy { !$0.isEmpty })
    }

    @Test func typesFollowTheThreatPurpose() {
        let cases = [
            "Backdoor:EC2/C&CActivity.B!DNS": "TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS",
            "CryptoCurrency:EC2/BitcoinTool.B": "TTPs/Command and Control/CryptoCurrency:EC2-BitcoinTool.B",
            "Recon:EC2/PortProbeUnprotectedPort": "TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort",
            "Stealth:IAMUser/CloudTrailLoggingDisabled": "TTPs/Defense Evasion/Stealth:IAMUser-CloudTrailLoggingDisabled",
            "Policy:S3/BucketBlockPublicAccessDisabled": "Software and Configuration Checks/Policy/Policy:S3-BucketBlockPublicAccessDisabled",
            "Behavior:EC2/NetworkPortUnusual": "Unusual Behaviors/VM/Behavior:EC2-NetworkPortUnusual",
            "Exfiltration:S3/AnomalousBehavior": "Effects/Data Exfiltration/Exfiltration:S3-AnomalousBehavior",
            "UnauthorizedAccess:IAMUser/TorIPCaller": "TTPs/Initial Access/UnauthorizedAccess:IAMUser-TorIPCaller",
            "PrivilegeEscalation:Runtime/DockerSocketAccessed": "TTPs/Privilege Escalation/PrivilegeEscalation:Runtime-DockerSocketAccessed",
        ]
        for (guardDuty, asff) in cases { #expect(ASFFMapping.asffType(guardDutyType: guardDuty) == asff) }
    }

    @Test func rejectedFindingsArePermanentOneByOne() async throws {
        let moto = try await MotoServer.startShared()
        let http = HTTPClient()
        defer { http.shutdown() }
        let connector = try Self.connector(endpoint: moto.endpoint, http: http)
        let good = try AWSFixtures.deliveries()[0]
        // An ASFF payload (a template rendered it) goes as it is; this one has no resource, which Security Hub refuses.
        let badID = "sluice-test/\(UUID().uuidString)"
        let bad = Delivery(payload: Array("""
            {"SchemaVersion": "2018-10-08", "Id": "\(badID)", "ProductArn": "arn:aws:securityhub:\(Self.region):111122223333:product/111122223333/default",
             "GeneratorId": "sluice-test", "AwsAccountId": "111122223333", "Types": ["TTPs/Execution"], "CreatedAt": "2025-05-23T11:42:10.266Z",
             "UpdatedAt": "2025-05-23T11:42:10.266Z", "Severity": {"Label": "LOW"}, "Title": "t", "Description": "d", "Resources": []}
            """.utf8), route: "r")
        let notAFinding = Delivery(payload: Array(#"{"hello": "world"}"#.utf8), route: "r")
        let outcomes = try await AWSFixtures.attempt(connector, batch: [good, bad, notAFinding])
        #expect(outcomes.map(AWSFixtures.kind) == ["delivered", "permanent", "permanent"])
        #expect(AWSFixtures.message(outcomes[1]).hasPrefix("InvalidInput: "))
        #expect(AWSFixtures.message(outcomes[2]).contains("not a GuardDuty, ASFF, OCSF or Falco finding"))
        let stored = try await Self.allFindings(aws: AWSFixtures.moto(moto, http: http, region: Self.region))
        #expect(!stored.contains { $0["Id"]?.stringValue == badID })
    }

    /// The replay marker in `ProductFields` (README, "Marked"): first, within ASFF's 50 entries
    /// (a payload that brings 50 loses its last), and only Sluice's word: a payload's own
    /// `sluice/replay` never survives, on a live delivery or a replay.
    @Test func aReplayIsMarkedInProductFieldsWithinTheLimitAndALiveDeliveryNever() throws {
        let http = HTTPClient()
        defer { http.shutdown() }
        let connector = try Self.connector(endpoint: "http://127.0.0.1:9", http: http)
        var mapped = try AWSFixtures.deliveries()[0]
        #expect(try connector.asff(for: mapped).get()["ProductFields"]?["sluice/replay"] == nil)
        mapped.replay = "night-1"
        let marked = try connector.asff(for: mapped).get()["ProductFields"]
        #expect(marked?.string("sluice/replay") == "night-1")
        #expect(marked?.string("sluice/route") == "test-route")

        // A template-rendered ASFF finding with 50 fields of its own and a forged marker.
        let own = (1...25).map { #""own/\#($0)": "v\#($0)""# } + [#""sluice/replay": "forged""#] + (26...50).map { #""own/\#($0)": "v\#($0)""# }
        let payload = """
            {"SchemaVersion": "2018-10-08", "Id": "sluice-test/limit", "ProductArn": "arn:aws:securityhub:\(Self.region):111122223333:product/111122223333/default",
             "ProductFields": {\(own.joined(separator: ", "))}}
            """
        var asIs = Delivery(payload: Array(payload.utf8), route: "r")
        let live = try #require(try connector.asff(for: asIs).get()["ProductFields"])
        #expect(live.keys == (1...50).map { "own/\($0)" })
        asIs.replay = "night-1"
        let replayed = try #require(try connector.asff(for: asIs).get()["ProductFields"])
        #expect(replayed.keys == ["sluice/replay"] + (1...49).map { "own/\($0)" })
        #expect(replayed.string("sluice/replay") == "night-1" && replayed.string("own/49") == "v49" && replayed["own/50"] == nil)
    }

    @Test func throttlingRetriesAndDenialIsPermanent() async throws {
        let receiver = try await WebhookReceiver.start(status: 200)
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let connector = try Self.connector(endpoint: receiver.url, http: http)
            let batch = Array(try AWSFixtures.deliveries().prefix(2))
            try await receiver.setStatus(429, body: #"{"Code": "TooManyRequestsException", "Message": "Rate exceeded"}"#, retryAfter: 1)
            let throttled = try await AWSFixtures.attempt(connector, batch: batch)
            #expect(throttled == Array(repeating: .retryable("TooManyRequestsException: Rate exceeded (HTTP 429)", retryAfter: .seconds(1)), count: 2))
            try await receiver.setStatus(403, body: #"{"Code": "AccessDeniedException", "Message": "not subscribed to Security Hub"}"#)
            #expect(try await AWSFixtures.attempt(connector, batch: batch).map(AWSFixtures.kind) == ["permanent", "permanent"])
            try await receiver.setStatus(200, body: #"{"FailedCount": 0, "SuccessCount": 2, "FailedFindings": []}"#)
            #expect(AWSFixtures.kind(await AWSFixtures.attempt(connector, batch[0])) == "delivered")
            let sent = try #require(try receiver.records().last)
            #expect(sent.method == "POST" && sent.path == "/findings/import")
            #expect(sent.header("Authorization")?.contains("/\(Self.region)/securityhub/aws4_request") == true)
        }
    }

    @Test func configurationIsChecked() throws {
        #expect(try AWSFixtures.problems("name: h\ntype: aws-securityhub\naccount_id: 12345\n").contains { $0.contains("account_id must be 12 digits") })
        #expect(try AWSFixtures.problems("name: h\ntype: aws-securityhub\nproduct_arn: default\n").contains { $0.contains("product_arn must be") })
        #expect(try AWSFixtures.problems("name: h\ntype: aws-securityhub\nprofile: p\ncredentials: {access_key_id: a, secret_access_key: b}\n")
            .contains { $0.contains("credentials and profile are exclusive") })
    }
}

/// The ASFF rules a finding must follow for BatchImportFindings (AWS Security Hub User Guide,
/// "Required top-level attributes in ASFF" and the attribute syntax pages). moto stores what
/// it is given, so the test holds the contract.
enum ASFFContract {
    static let required = ["SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Types", "CreatedAt",
                           "UpdatedAt", "Severity", "Title", "Description", "Resources"]
    static let namespaces = ["Software and Configuration Checks", "TTPs", "Effects", "Unusual Behaviors", "Sensitive Data Identifications"]
    static let labels = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
    static let resourceTypes = ["AwsEc2Instance", "AwsEksCluster", "AwsEcsCluster", "AwsEcsTask", "Container", "AwsIamAccessKey",
                                "AwsS3Bucket", "AwsIamRole", "Other"]

    static func violations(_ f: JSON) -> [String] {
        var out = required.filter { f[$0] == nil }.map { "missing \($0)" }
        if f["SchemaVersion"]?.stringValue != "2018-10-08" { out.append("SchemaVersion") }
        if (f["Id"]?.stringValue?.count ?? 0) > 512 { out.append("Id over 512") }
        if f["AwsAccountId"]?.stringValue.map({ $0.count == 12 && $0.allSatisfy(\.isNumber) }) != true { out.append("AwsAccountId") }
        for t in f["Types"]?.arrayValue ?? [] {
            let parts = (t.stringValue ?? "").split(separator: "/", omittingEmptySubsequences: false)
            if parts.count < 1 || parts.count > 3 || !namespaces.contains(String(parts[0])) { out.append("type \(t)") }
        }
        if !labels.contains(f["Severity"]?["Label"]?.stringValue ?? "") { out.append("Severity.Label") }
        for key in ["CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"] {
            if let v = f[key]?.stringValue, ISO8601.date(v) == nil { out.append("\(key) not RFC 3339") }
        }
        if (f["Title"]?.stringValue?.count ?? 0) > 256 { out.append("Title over 256") }
        if (f["Description"]?.stringValue?.count ?? 0) > 1024 { out.append("Description over 1024") }
        let resources = f["Resources"]?.arrayValue ?? []
        if resources.isEmpty || resources.count > 32 { out.append("Resources count") }
        for r in resources {
            guard let type = r["Type"]?.stringValue, resourceTypes.contains(type), r["Id"]?.stringValue?.isEmpty == false else {
                out.append("resource \(r)")
                continue
            }
            if let details = r["Details"]?.objectValue, details.count != 1 || details[0].key != type { out.append("details of \(type)") }
        }
        for (_, v) in f["ProductFields"]?.objectValue ?? [] where v.stringValue == nil { out.append("ProductFields values must be strings") }
        return out
    }
}
