import Foundation
import SluiceAWS
import SluiceCore
import SluiceFormats
import SluiceGuardDuty

/// `aws-securityhub`: imports findings into AWS Security Hub (`BatchImportFindings`), each
/// GuardDuty, Falco or OCSF finding mapped to the AWS Security Finding Format (ASFF; Falco and
/// OCSF as docs/formats.md §12 says). A payload that already is ASFF (a template that renders
/// one, with `SchemaVersion`) is imported as it is.
///
/// The finding's ARN is the ASFF `Id`, so a later update of the same GuardDuty finding updates
/// the Security Hub finding. Findings Security Hub rejects (`FailedFindings`) are permanent,
/// one by one; throttling and 5xx retry the batch. Batches hold at most 100 findings and 240 KB.
/// A finding that came from Security Hub (its EventBridge events, or ASFF of `product_arn`) is
/// never imported back: it is settled as delivered (docs/formats.md §8).
///
/// ```yaml
/// name: security-hub
/// type: aws-securityhub
/// region: eu-west-1                 # else AWS_REGION / AWS_DEFAULT_REGION / the profile's
/// product_arn: arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default
/// account_id: "111122223333"        # for the default product_arn; default: the finding's account
/// endpoint: http://127.0.0.1:5000   # optional override
/// profile: security                 # optional; or credentials:/assume_role: (see AWSSettings)
/// batch: {max_items: 100, max_wait: 1s}
/// ```
public final class SecurityHubConnector: BatchingConnector {
    public struct Configuration: Sendable {
        var aws: AWSSettings
        var productARN: String?
        var accountID: String?
    }

    /// BatchImportFindings' limits: 100 findings and 240 KB per call.
    static let maxFindings = 100
    static let maxBytes = 240 * 1024

    let configuration: Configuration
    let client: AWSClient
    let name: String
    /// Counts what the loop guard skips, under `name`.
    let loopSkips: LoopSkipCounter

    init(configuration: Configuration, client: AWSClient, name: String = "aws-securityhub", loopSkips: LoopSkipCounter = LoopSkipCounter()) {
        self.configuration = configuration
        self.client = client
        self.name = name
        self.loopSkips = loopSkips
        loopSkips.register(name)
    }


    public func deliver(batch: [Delivery], completion: @escaping @Sendable ([DeliveryOutcome]) -> Void) {
        // No loops (docs/formats.md §8): a finding that came from Security Hub is settled as
        // delivered, not imported back as a second copy.
        let loops = batch.map { Self.cameFromSecurityHub($0.payload, productARN: configuration.productARN) }
        guard loops.contains(true) else { return importFindings(batch, completion: completion) }
        loopSkips.add(loops.filter { $0 }.count, connector: name)
        let rest = batch.indices.filter { !loops[$0] }
        guard !rest.isEmpty else { return completion(batch.map { _ in .delivered }) }
        importFindings(rest.map { batch[$0] }) { outcomes in
            var all = [DeliveryOutcome](repeating: .delivered, count: batch.count)
            for (k, i) in rest.enumerated() where k < outcomes.count { all[i] = outcomes[k] }
            completion(all)
        }
    }

    /// The payload is a Security Hub event (`source: aws.securityhub`: ASFF or OCSF findings it
    /// already holds), or an ASFF finding of the product this connector imports under.
    static func cameFromSecurityHub(_ payload: [UInt8], productARN: String?) -> Bool {
        guard let event = try? JSON.parse(String(decoding: payload, as: UTF8.self)) else { return false }
        if event["source"]?.stringValue == "aws.securityhub" { return true }
        guard let productARN else { return false }
        let findings = event["Findings"]?.arrayValue ?? [event]
        return !findings.isEmpty && findings.allSatisfy { $0["SchemaVersion"] != nil && $0["ProductArn"]?.stringValue == productARN }
    }

    private func importFindings(_ batch: [Delivery], completion: @escaping @Sendable ([DeliveryOutcome]) -> Void) {
        // The margin leaves room for `{"Findings":[…]}` around the findings.
        AWSConnectorSupport.attempt(batch: batch, completion: completion, maxItems: Self.maxFindings, maxBytes: Self.maxBytes - 64,
                                    entry: { [self] in asff(for: $0) }, size: { $0.serialized().count }) { [client] (findings) async throws(AWSError) in
            let answer = try await client.rest(.securityHub, method: "POST", path: "/findings/import", body: ["Findings": JSONBuilder.list(findings)])
            let failed = Self.failedFindings(answer)
            return findings.map { f in
                failed[f.string("Id") ?? ""].map { DeliveryOutcome.rejectedEntry(code: $0.code, message: $0.message) } ?? .delivered
            }
        }
    }

    /// `FailedFindings` by finding id.
    static func failedFindings(_ answer: JSON) -> [String: (code: String, message: String)] {
        var out: [String: (code: String, message: String)] = [:]
        for f in answer["FailedFindings"]?.arrayValue ?? [] {
            guard let id = f["Id"]?.stringValue else { continue }
            out[id] = (f["ErrorCode"]?.stringValue ?? "Failed", f["ErrorMessage"]?.stringValue ?? "rejected by Security Hub")
        }
        return out
    }

    /// The ASFF finding for one delivery (pure: tested without a server), with the replay marker
    /// in its `ProductFields` when a dead-letter replay sends it (`ReplayMarking`).
    func asff(for delivery: Delivery) -> Result<JSONBuilder, PayloadRejection> {
        unmarkedASFF(for: delivery).map { ReplayMarking.marked($0, replay: delivery.replay) }
    }

    private func unmarkedASFF(for delivery: Delivery) -> Result<JSONBuilder, PayloadRejection> {
        guard let event = try? JSON.parse(String(decoding: delivery.payload, as: UTF8.self)) else {
            return .failure(PayloadRejection( "the payload is not JSON"))
        }
        if event["SchemaVersion"] != nil { return .success(JSONBuilder(event)) }
        // One part of a split BatchImportFindings body: its one finding is already ASFF.
        if let findings = event["Findings"]?.arrayValue, findings.count == 1, findings[0]["SchemaVersion"] != nil {
            return .success(JSONBuilder(findings[0]))
        }
        if let digest = delivery.digest { return digestFinding(digest) }
        if let converted = convertedFinding(delivery) { return converted }
        guard let finding = ASFFMapping(event: event, region: client.region, productARN: configuration.productARN,
                                        accountID: configuration.accountID, route: delivery.route) else {
            return .failure(PayloadRejection( "the payload is not a GuardDuty, ASFF, OCSF or Falco finding"))
        }
        return .success(finding.build())
    }

    /// A Falco or OCSF finding mapped to ASFF (docs/formats.md §12); nil for other formats.
    private func convertedFinding(_ delivery: Delivery) -> Result<JSONBuilder, PayloadRejection>? {
        let target = ASFFFinding.Target(productARN: configuration.productARN, accountID: configuration.accountID,
                                        region: client.region, route: delivery.route)
        var converted: Result<JSON, ASFFFinding.Refusal>?
        // A decoder per call: decoders own parsers and are not shared across lanes' threads.
        FindingDecoder(injectsView: false).decode(delivery.payload) { finding in
            if converted == nil { converted = finding.asffFinding(target: target) }
        }
        switch converted {
        case .success(let json)?: return .success(JSONBuilder(json))
        case .failure(let refusal)?: return .failure(PayloadRejection(refusal.message))
        case nil: return nil
        }
    }
}

// MARK: Digests

extension SecurityHubConnector {
    /// A digest (throttle overflow, group) as **one ASFF finding per digest key**: its `Id` is the
    /// key (`sluice-digest:<kind>:<route>:<target>:<key>`), so each later digest of the same key
    /// updates that finding, as PagerDuty's `dedup_key` and Opsgenie's `alias` do. Title: the
    /// headline; Description: the listed findings and "and N more"; Severity: the highest band;
    /// Resources: one `Other` resource per listed finding (its id); counts and accounts in
    /// ProductFields. It is imported into `account_id`, else the account of the first listed
    /// finding, else that of `product_arn`; with none of them it is refused (permanent).
    func digestFinding(_ d: JSON) -> Result<JSONBuilder, PayloadRejection> {
        func text(_ key: String) -> String { d[key]?.stringValue ?? "" }
        let accounts = (d["accounts"]?.arrayValue ?? []).compactMap(\.stringValue)
        let productAccount = configuration.productARN.flatMap(ASFFFinding.accountOf(productARN:))
        guard let account = ([configuration.accountID] + accounts.map(Optional.some) + [productAccount]).compactMap({ $0 }).first(where: ASFFFinding.isAccountID) else {
            return .failure(PayloadRejection("the digest lists no AWS account: set account_id or product_arn on the aws-securityhub connector"))
        }
        let region = client.region
        let productARN = configuration.productARN
            ?? "arn:\(ASFFFinding.partition(ofRegion: region)):securityhub:\(region):\(account):product/\(account)/default"
        let time = text("time").isEmpty ? FindingTimestamp.now().rfc3339 : text("time")
        let label = (d["highest"]?.stringValue ?? "Low").uppercased()
        let severity: JSON = .object([(key: "Label", value: .string(label))])
        let types: JSON = .array([.string("Unusual Behaviors/Sluice/Digest")])
        let listed = (d["findings"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }.filter { !$0.isEmpty }
        let resourceIDs = listed.isEmpty ? ["sluice-digest:\(text("route"))"] : listed
        let counts = (d["severities"]?.arrayValue ?? []).map { "\($0["count"]?.doubleValue.map(JSON.numberText) ?? "0") \($0["label"]?.stringValue ?? "")" }
        let fields: [(key: String, value: JSON)] = [
            ("sluice/digest", .string(text("sluice_digest"))), ("sluice/route", .string(text("route"))), ("sluice/target", .string(text("target"))),
            ("sluice/key", .string(ASFFMapping.truncate(text("key_text"), 2048))),
            ("sluice/total", .string(d["total"]?.doubleValue.map(JSON.numberText) ?? "0")),
            ("sluice/more", .string(d["more"]?.doubleValue.map(JSON.numberText) ?? "0")),
            ("sluice/by_severity", .string(counts.joined(separator: ", "))),
            ("sluice/accounts", .string(ASFFMapping.truncate(accounts.joined(separator: ", "), 2048))),
        ]
        let finding: JSON = .object([
            ("SchemaVersion", "2018-10-08"),
            ("Id", .string(ASFFMapping.truncate("sluice-digest:\(text("sluice_digest")):\(text("route")):\(text("target")):\(text("key_text"))", 512))),
            ("ProductArn", .string(productARN)),
            ("GeneratorId", .string(ASFFMapping.truncate("sluice-digest:\(text("route"))", 512))),
            ("AwsAccountId", .string(account)),
            ("Types", types),
            ("CreatedAt", .string(time)), ("UpdatedAt", .string(time)),
            ("Severity", severity),
            ("FindingProviderFields", .object([(key: "Severity", value: severity), (key: "Types", value: types)])),
            ("Title", .string(ASFFMapping.truncate(text("headline"), 256))),
            ("Description", .string(ASFFMapping.truncate(text("text"), 1024))),
            ("CompanyName", "Sluice"), ("ProductName", "Sluice digest"),
            ("Resources", .array(resourceIDs.prefix(32).map { id in
                .object([(key: "Type", value: "Other"), (key: "Id", value: .string(ASFFMapping.truncate(id, 512))),
                         (key: "Partition", value: .string(ASFFFinding.partition(ofRegion: region))), (key: "Region", value: .string(region))])
            })),
            ("RecordState", "ACTIVE"),
            ("ProductFields", .object(fields)),
        ])
        return .success(JSONBuilder(finding))
    }
}

/// GuardDuty finding → ASFF (AWS Security Hub User Guide, "AWS Security Finding Format").
/// Required attributes: SchemaVersion, Id, ProductArn, GeneratorId, AwsAccountId, Types,
/// CreatedAt, UpdatedAt, Severity, Title, Description, Resources.
struct ASFFMapping {
    let finding: JSON
    let summary: FindingSummary
    let region: String
    let productARN: String
    let route: String

    init?(event: JSON, region: String, productARN: String?, accountID: String?, route: String) {
        guard let summary = FindingSummary(event: event) else { return nil }
        finding = event["detail"] ?? event
        self.summary = summary
        self.region = summary.region.isEmpty ? region : summary.region
        let account = accountID ?? summary.account
        self.productARN = productARN ?? "arn:\(summary.partition):securityhub:\(region):\(account):product/\(account)/default"
        self.route = route
    }

    func build() -> JSONBuilder {
        let s = summary
        let out: JSONBuilder = ["SchemaVersion": "2018-10-08"]
        out.put("Id", s.arn.isEmpty ? s.id : s.arn)
        out.put("ProductArn", productARN)
        out.put("GeneratorId", generatorID)
        out.put("AwsAccountId", s.account)
        let types: JSONBuilder = [.string(Self.asffType(guardDutyType: s.type))]
        out["Types"] = types
        out.put("CreatedAt", s.createdAt)
        out.put("UpdatedAt", s.updatedAt)
        out.put("FirstObservedAt", s.firstSeen)
        out.put("LastObservedAt", s.lastSeen)
        let severity: JSONBuilder = ["Label": .string(s.severityLabel.rawValue.uppercased()), "Original": .string(JSON.numberText(s.severity))]
        out["Severity"] = severity
        out["FindingProviderFields"] = ["Severity": severity.copy(), "Types": types.copy()]
        out.put("Title", Self.truncate(s.title, 256))
        out.put("Description", Self.truncate(s.description.isEmpty ? s.title : s.description, 1024))
        out.put("SourceUrl", s.consoleURL)
        out.put("CompanyName", "Sluice")
        out.put("ProductName", "GuardDuty")
        out["Resources"] = resources()
        if let p = s.process {
            let process: JSONBuilder = .object()
            process.put("Name", p.name)
            process.put("Path", p.executablePath)
            if let pid = p.pid { process["Pid"] = .int(pid) }
            out["Process"] = process
        }
        out["RecordState"] = .string(finding.value(atPath: "service.archived")?.boolValue == true ? "ARCHIVED" : "ACTIVE")
        let fields: JSONBuilder = .object()
        fields.put("sluice/route", route)
        fields.put("guardduty/type", s.type)
        fields.put("guardduty/id", s.id)
        fields.put("guardduty/count", String(s.count))
        fields.put("guardduty/resourceRole", finding.value(atPath: "service.resourceRole")?.stringValue)
        out["ProductFields"] = fields
        return out
    }

    /// The detector's ARN (the finding ARN up to `/finding/`), else the finding type.
    var generatorID: String {
        if let r = summary.arn.range(of: "/finding/") { return String(summary.arn[..<r.lowerBound]) }
        return summary.type
    }

    /// `Execution:Runtime/ReverseShell` → `TTPs/Execution/Execution:Runtime-ReverseShell`: the
    /// namespace and category from the threat purpose, as GuardDuty's own integration names
    /// them; the GuardDuty type as the classifier, its `/` turned into `-` (ASFF types have
    /// exactly three `/`-separated parts).
    static func asffType(guardDutyType type: String) -> String {
        let purpose = type.split(separator: ":").first.map(String.init) ?? type
        let namespace: String
        switch purpose {
        case "Backdoor", "CryptoCurrency", "Trojan": namespace = "TTPs/Command and Control"
        case "Behavior": namespace = type.contains(":IAMUser/") ? "Unusual Behaviors/User" : "Unusual Behaviors/VM"
        case "CredentialAccess": namespace = "TTPs/Credential Access"
        case "DefenseEvasion", "Stealth": namespace = "TTPs/Defense Evasion"
        case "Discovery", "Recon", "PenTest": namespace = "TTPs/Discovery"
        case "Execution": namespace = "TTPs/Execution"
        case "Exfiltration": namespace = "Effects/Data Exfiltration"
        case "Impact": namespace = "TTPs/Impact"
        case "InitialAccess", "UnauthorizedAccess": namespace = "TTPs/Initial Access"
        case "Persistence": namespace = "TTPs/Persistence"
        case "PrivilegeEscalation": namespace = "TTPs/Privilege Escalation"
        case "Policy": namespace = "Software and Configuration Checks/Policy"
        default: namespace = "TTPs/\(purpose.isEmpty ? "Other" : purpose)"
        }
        return "\(namespace)/\(type.replacingOccurrences(of: "/", with: "-"))"
    }

    // MARK: Resources

    func resources() -> JSONBuilder {
        let r = finding["resource"] ?? .object([])
        let list = JSONBuilder.array()
        switch summary.resourceType {
        case "Instance":
            list.append(ec2Instance(r["instanceDetails"] ?? .object([])))
        case "EKSCluster":
            list.append(eksCluster(r["eksClusterDetails"] ?? .object([])))
            if let c = r["containerDetails"] { list.append(container(c)) }
        case "ECSCluster":
            let cluster = r["ecsClusterDetails"] ?? .object([])
            list.append(ecsCluster(cluster))
            if let task = cluster["taskDetails"], task["arn"] != nil { list.append(ecsTask(task, clusterARN: cluster["arn"]?.stringValue)) }
            if let c = r["containerDetails"] { list.append(container(c)) }
        case "Container":
            list.append(container(r["containerDetails"] ?? .object([])))
        case "AccessKey":
            list.append(accessKey(r["accessKeyDetails"] ?? .object([])))
        case "S3Bucket":
            for bucket in r["s3BucketDetails"]?.arrayValue ?? [] { list.append(s3Bucket(bucket)) }
            if let key = r["accessKeyDetails"], key["accessKeyId"] != nil { list.append(accessKey(key)) }
        default:
            break
        }
        if list.count == 0 {  // ASFF needs at least one resource
            list.append(resource("Other", id: summary.resourceID.isEmpty ? (summary.arn.isEmpty ? summary.id : summary.arn) : summary.resourceID))
        }
        return list
    }

    private func resource(_ type: String, id: String, details: JSONBuilder? = nil, tags: JSON? = nil) -> JSONBuilder {
        let out: JSONBuilder = ["Type": .string(type), "Id": .string(id)]
        out.put("Partition", summary.partition)
        out.put("Region", region)
        if let tags = Self.tags(tags) { out["Tags"] = tags }
        if let details { out["Details"] = [type: details] }
        return out
    }

    private func ec2Instance(_ d: JSON) -> JSONBuilder {
        let details = Self.strings(from: d, [("Type", "instanceType"), ("ImageId", "imageId"), ("IamInstanceProfileArn", "iamInstanceProfile.arn")])
        details.put("LaunchedAt", Self.timestamp(d["launchTime"]))
        let nic = d["networkInterfaces"]?.arrayValue?.first ?? .object([])
        Self.copyStrings(from: nic, [("VpcId", "vpcId"), ("SubnetId", "subnetId")], to: details)
        let addresses = [nic["privateIpAddress"]?.stringValue, nic["publicIp"]?.stringValue].compactMap { $0 }
        if !addresses.isEmpty { details["IpV4Addresses"] = JSONBuilder(.array(addresses.map(JSON.string))) }
        let id = d["instanceId"]?.stringValue ?? "unknown"
        return resource("AwsEc2Instance", id: "arn:\(summary.partition):ec2:\(region):\(summary.account):instance/\(id)", details: details, tags: d["tags"])
    }

    /// A cluster's name and ARN (built from the name when GuardDuty gave none).
    private func cluster(_ d: JSON, service: String) -> (name: String, arn: String) {
        let name = d["name"]?.stringValue ?? "unknown"
        return (name, d["arn"]?.stringValue ?? "arn:\(summary.partition):\(service):\(region):\(summary.account):cluster/\(name)")
    }

    private func eksCluster(_ d: JSON) -> JSONBuilder {
        let (name, arn) = cluster(d, service: "eks")
        let details: JSONBuilder = ["Name": .string(name), "Arn": .string(arn)]
        details.put("ClusterStatus", d["status"]?.stringValue)
        return resource("AwsEksCluster", id: arn, details: details, tags: d["tags"])
    }

    private func ecsCluster(_ d: JSON) -> JSONBuilder {
        let (name, arn) = cluster(d, service: "ecs")
        let details: JSONBuilder = ["ClusterArn": .string(arn), "ClusterName": .string(name)]
        details.put("Status", d["status"]?.stringValue)
        if let n = d["activeServicesCount"]?.clampedIntValue { details["ActiveServicesCount"] = .int(n) }
        if let n = d["runningTasksCount"]?.clampedIntValue { details["RunningTasksCount"] = .int(n) }
        return resource("AwsEcsCluster", id: arn, details: details, tags: d["tags"])
    }

    private func ecsTask(_ t: JSON, clusterARN: String?) -> JSONBuilder {
        let details = Self.strings(from: t, [("TaskDefinitionArn", "definitionArn"), ("Version", "version"), ("StartedBy", "startedBy")])
        details.put("ClusterArn", clusterARN)
        details.put("CreatedAt", Self.timestamp(t["createdAt"]))
        details.put("StartedAt", Self.timestamp(t["startedAt"]))
        return resource("AwsEcsTask", id: t["arn"]?.stringValue ?? "unknown", details: details, tags: t["tags"])
    }

    private func container(_ c: JSON) -> JSONBuilder {
        let details = Self.strings(from: c, [("Name", "name"), ("ImageName", "image"), ("ImageId", "imagePrefix")])
        if let privileged = c.value(atPath: "securityContext.privileged")?.boolValue { details["Privileged"] = .bool(privileged) }
        return resource("Container", id: c["id"]?.stringValue ?? c["name"]?.stringValue ?? "unknown", details: details)
    }

    private func accessKey(_ k: JSON) -> JSONBuilder {
        let details = Self.strings(from: k, [("AccessKeyId", "accessKeyId"), ("PrincipalId", "principalId"),
                                             ("PrincipalName", "userName"), ("PrincipalType", "userType")])
        details.put("AccountId", summary.account)
        return resource("AwsIamAccessKey", id: "AWS::IAM::AccessKey:\(k["accessKeyId"]?.stringValue ?? "unknown")", details: details)
    }

    private func s3Bucket(_ b: JSON) -> JSONBuilder {
        let details = Self.strings(from: b, [("OwnerId", "owner.id")])
        details.put("CreatedAt", Self.timestamp(b["createdAt"]))
        if let sse = b.value(atPath: "defaultServerSideEncryption.encryptionType")?.stringValue {
            details["ServerSideEncryptionConfiguration"] = ["Rules": [["ApplyServerSideEncryptionByDefault": ["SSEAlgorithm": .string(sse)]]]]
        }
        let name = b["name"]?.stringValue ?? "unknown"
        return resource("AwsS3Bucket", id: b["arn"]?.stringValue ?? "arn:\(summary.partition):s3:::\(name)", details: details, tags: b["tags"])
    }

    /// ASFF detail members from GuardDuty string fields: (ASFF name, dotted GuardDuty path); absent ones are left out.
    static func strings(from json: JSON, _ fields: [(String, String)]) -> JSONBuilder {
        let out: JSONBuilder = .object()
        copyStrings(from: json, fields, to: out)
        return out
    }

    static func copyStrings(from json: JSON, _ fields: [(String, String)], to out: JSONBuilder) {
        for (name, path) in fields { out.put(name, json.value(atPath: path)?.stringValue) }
    }

    // MARK: Values

    /// GuardDuty tags (`[{key, value}]`) as ASFF's string map.
    static func tags(_ json: JSON?) -> JSONBuilder? {
        guard let list = json?.arrayValue, !list.isEmpty else { return nil }
        let out: JSONBuilder = .object()
        for t in list {
            if let k = t["key"]?.stringValue ?? t["Key"]?.stringValue { out[k] = .string(t["value"]?.stringValue ?? t["Value"]?.stringValue ?? "") }
        }
        return out.count == 0 ? nil : out
    }

    /// A timestamp as ASFF wants it: GuardDuty's ISO strings pass, epoch seconds are converted.
    static func timestamp(_ json: JSON?) -> String? {
        switch json {
        case .string(let s)?: return s
        // Years 0001–9999 only: formatters convert the date to integers, which traps far outside.
        case .number(let seconds, _)? where (-62_135_596_800...253_402_300_799).contains(seconds):
            return ISO8601.string(Date(timeIntervalSince1970: seconds))
        default: return nil
        }
    }

    static func truncate(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }
}

extension SecurityHubConnector: ConnectorType {
    public static let kind = "aws-securityhub"
    public static let summary = "import findings into AWS Security Hub (BatchImportFindings; GuardDuty, Falco and OCSF mapped to ASFF)"
    public static let payloadFormat = PayloadFormat.json
    public static let supportsBatching = true

    public static func configuration(from r: MappingReader) -> Configuration? {
        let aws = AWSSettings.read(from: r)
        let productARN = r.string("product_arn")
        if let p = productARN, !(p.hasPrefix("arn:") && p.contains(":product/")) {
            r.report(r.at("product_arn").error("product_arn must be a Security Hub product ARN (arn:aws:securityhub:<region>:<account>:product/<account>/default)"))
            return nil
        }
        let accountID = r.string("account_id")
        if let a = accountID, a.count != 12 || !a.allSatisfy(\.isNumber) {
            r.report(r.at("account_id").error("account_id must be 12 digits (quote it in YAML)"))
            return nil
        }
        guard var aws else { return nil }
        if aws.region == nil, let p = productARN { aws.region = AWSConnectorSupport.region(ofARN: p) }
        return Configuration(aws: aws, productARN: productARN, accountID: accountID)
    }

    public static func make(name: String, configuration: Configuration, context: ConnectorContext) throws -> any Connector {
        SecurityHubConnector(configuration: configuration, client: try AWSConnectorSupport.client(configuration.aws, context: context),
                             name: name, loopSkips: context.loopSkips)
    }
}
