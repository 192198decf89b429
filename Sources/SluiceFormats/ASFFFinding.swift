import Crypto
import SluiceCore

/// ASFF out for Falco and OCSF findings (docs/formats.md §12): what the `aws-securityhub`
/// connector imports when the finding is not GuardDuty (mapped by the connector itself) or
/// already ASFF (imported as it is). Built from the view and the finding's own fields; every
/// text is copied into a JSON string and cut to the AWS limit of its attribute, so a hostile
/// finding yields a finding Security Hub accepts, or a permanent, explained refusal.
public enum ASFFFinding {
    /// Where the finding is imported: the connector's `product_arn` / `account_id` and the
    /// region Security Hub is called in.
    public struct Target: Sendable {
        public var productARN: String?
        public var accountID: String?
        public var region: String
        public var route: String

        public init(productARN: String?, accountID: String?, region: String, route: String) {
            self.productARN = productARN
            self.accountID = accountID
            self.region = region
            self.route = route
        }
    }

    /// Why a finding cannot become ASFF (the delivery is permanent: a retry would not help).
    public enum Refusal: Error, Sendable, Equatable {
        case noAccount
        case noTime
        case noID
        case notConvertible(FindingFormat?)

        public var message: String {
            switch self {
            case .noAccount:
                return "the finding has no AWS account: set account_id or product_arn on the aws-securityhub connector"
            case .noTime: return "the finding has no valid time (ASFF requires CreatedAt and UpdatedAt)"
            case .noID: return "the finding has no id (OCSF finding_info.uid)"
            case .notConvertible(let f): return "findings of format \(f?.rawValue ?? "unknown") are not converted to ASFF here"
            }
        }
    }

    // AWS Security Hub API reference, AwsSecurityFinding and its members.
    static let maxTitle = 256
    static let maxDescription = 1024
    static let maxID = 512
    static let maxGeneratorID = 512
    static let maxResources = 32
    /// ProductFields: up to 50 pairs, keys up to 128 characters, values up to 2048.
    static let maxProductFields = 50
    static let maxProductFieldKey = 128
    static let maxProductFieldValue = 2048
    /// Resource Details.Other: up to 50 pairs, keys and values under 128 and 1024 characters.
    static let maxOtherKey = 127
    static let maxOtherValue = 1023

    /// The ASFF finding of a Falco or OCSF finding.
    public static func make(view: FindingView, finding f: JSONView, target: Target) -> Result<JSON, Refusal> {
        guard view.format == .falco || view.format == .ocsf else { return .failure(.notConvertible(view.format)) }
        guard let rawID = view.id, !rawID.isEmpty else { return .failure(.noID) }
        let info = view.format == .ocsf ? (f["class_uid"]?.double == 2004 ? f["finding_info"] : f["finding"]) : nil
        let created = ViewValues.epochMilliseconds(info?["created_time"]) ?? view.time ?? view.firstSeen
        guard let updated = view.time ?? view.lastSeen, let created else { return .failure(.noTime) }
        let productAccount = target.productARN.flatMap(accountOf(productARN:))
        let account = [view.account, target.accountID, productAccount].compactMap { $0 }.first(where: isAccountID)
        guard let account else { return .failure(.noAccount) }
        let region = nonEmpty(view.region) ?? target.region
        let awsPartition = partition(ofRegion: target.region)
        let productARN = target.productARN ?? "arn:\(awsPartition):securityhub:\(target.region):\(account):product/\(account)/default"

        var out: [(key: String, value: JSON)] = [("SchemaVersion", "2018-10-08")]
        out.append(("Id", .string(rawID.count <= maxID ? rawID : "sluice-sha256/" + sha256Hex(rawID))))
        out.append(("ProductArn", .string(productARN)))
        out.append(("GeneratorId", .string(truncate(generatorID(view: view, finding: f, info: info), maxGeneratorID))))
        out.append(("AwsAccountId", .string(account)))
        out.append(("Types", .array([.string(asffType(view: view, finding: f, info: info))])))
        out.append(("CreatedAt", .string(created)))
        out.append(("UpdatedAt", .string(updated)))
        if let t = view.firstSeen { out.append(("FirstObservedAt", .string(t))) }
        if let t = view.lastSeen { out.append(("LastObservedAt", .string(t))) }
        let severity: JSON = .object([("Label", .string(label(view.severityID))), ("Original", .string(originalSeverity(view, f)))])
        out.append(("Severity", severity))
        let title = truncate(nonEmpty(view.title) ?? nonEmpty(view.type) ?? "\(view.product ?? "Unnamed") finding", maxTitle)
        out.append(("Title", .string(title)))
        out.append(("Description", .string(truncate(nonEmpty(view.description) ?? title, maxDescription))))
        out.append(("ProductName", .string(truncate(nonEmpty(view.product) ?? "unknown", 128))))
        out.append(("CompanyName", .string(truncate(companyName(view, f), 128))))
        out.append(("Region", .string(region)))
        out.append(("Resources", .array(view.format == .falco ? falcoResources(view, f, partition: awsPartition, region: region)
                                                               : ocsfResources(view, f, region: region))))
        if let p = view.process {
            var process: [(key: String, value: JSON)] = []
            if let v = nonEmpty(p.name) { process.append(("Name", .string(truncate(v, 128)))) }
            if let v = nonEmpty(p.executablePath) { process.append(("Path", .string(truncate(v, 512)))) }
            if let v = p.pid, v <= Int(Int32.max) { process.append(("Pid", JSON(integerLiteral: v))) }
            if !process.isEmpty { out.append(("Process", .object(process))) }
        }
        out.append(("RecordState", "ACTIVE"))
        out.append(("ProductFields", .object(productFields(view, f, info: info, route: target.route))))
        return .success(.object(out))
    }

    // MARK: Severity and classification

    /// `severity_id` → `Severity.Label`: ASFF has no unknown and no fatal, so 0 reads as
    /// informational and 6 as critical.
    static func label(_ severityID: Int) -> String {
        switch severityID {
        case 2: return "LOW"
        case 3: return "MEDIUM"
        case 4: return "HIGH"
        case 5, 6: return "CRITICAL"
        default: return "INFORMATIONAL"
        }
    }

    /// Falco's own priority word when it is one Sluice knows (never unknown text), else the label.
    static func originalSeverity(_ view: FindingView, _ f: JSONView) -> String {
        if view.format == .falco, view.severityID != 0, let p = f["priority"]?.string { return p }
        return view.severity
    }

    /// MITRE ATT&CK tactics → ASFF `namespace/category` (Types taxonomy, "Effects" for exfiltration).
    static let tactics: [String: String] = [
        "initial_access": "TTPs/Initial Access", "execution": "TTPs/Execution", "persistence": "TTPs/Persistence",
        "privilege_escalation": "TTPs/Privilege Escalation", "defense_evasion": "TTPs/Defense Evasion",
        "credential_access": "TTPs/Credential Access", "discovery": "TTPs/Discovery", "lateral_movement": "TTPs/Lateral Movement",
        "collection": "TTPs/Collection", "command_and_control": "TTPs/Command and Control",
        "exfiltration": "Effects/Data Exfiltration", "impact": "TTPs/Impact",
    ]

    static func tacticType(_ name: String) -> String? {
        let key = String(name.lowercased().map { $0 == " " || $0 == "-" ? "_" : $0 })
        return tactics[key]
    }

    /// Falco: the first `mitre_<tactic>` tag; OCSF: `attacks[0].tactic.name`, else `types[0]` when it
    /// names a tactic. Otherwise runtime behaviour (Falco) or application behaviour (OCSF).
    static func asffType(view: FindingView, finding f: JSONView, info: JSONView?) -> String {
        if view.format == .falco {
            var found: String?
            f["tags"]?.forEachElement { tag in
                if found == nil, let t = tag.string, t.hasPrefix("mitre_") { found = tacticType(String(t.dropFirst(6))) }
            }
            return found ?? (view.type == "k8s_audit" ? "Unusual Behaviors/Container" : "Unusual Behaviors/Process")
        }
        let tactic = info?["attacks"]?.element(0)?["tactic"]?["name"]?.string ?? info?["types"]?.element(0)?.string
        return tactic.flatMap(tacticType) ?? "Unusual Behaviors/Application"
    }

    static func generatorID(view: FindingView, finding f: JSONView, info: JSONView?) -> String {
        if view.format == .falco { return "falco/" + (nonEmpty(view.title) ?? "unnamed-rule") }
        let analytic = info?["analytic"]
        return nonEmpty(analytic?["uid"]?.string) ?? nonEmpty(analytic?["name"]?.string)
            ?? nonEmpty(f["metadata"]?["product"]?["uid"]?.string) ?? nonEmpty(view.product) ?? "ocsf"
    }

    static func companyName(_ view: FindingView, _ f: JSONView) -> String {
        view.format == .falco ? "Falcosecurity" : nonEmpty(f["metadata"]?["product"]?["vendor_name"]?.string) ?? "unknown"
    }

    // MARK: Resources

    /// The pod (or audited Kubernetes object, or host) as an `Other` resource, and the container
    /// when there is one; at least one resource, as ASFF requires.
    static func falcoResources(_ view: FindingView, _ f: JSONView, partition: String, region: String) -> [JSON] {
        let fields = f["output_fields"].flatMap { $0.isObject ? $0 : nil }
        func field(_ key: String) -> String? { nonEmpty(fields?[key]?.string) }
        var out: [JSON] = []
        if let r = view.resource, r.type != "Container", let id = nonEmpty(r.id) {
            var other: [(key: String, value: JSON)] = []
            if let t = r.type { other.append(("kind", .string(t))) }
            if let n = r.name { other.append(("name", .string(truncate(n, maxOtherValue)))) }
            if r.type == "KubernetesPod", let ns = field("k8s.ns.name") { other.append(("namespace", .string(truncate(ns, maxOtherValue)))) }
            out.append(resource("Other", id: id, partition: partition, region: region, details: ("Other", .object(other))))
        }
        if let cid = field("container.id"), cid != "host" {
            var details: [(key: String, value: JSON)] = []
            if let n = field("container.name") { details.append(("Name", .string(truncate(n, 1024)))) }
            if let repo = field("container.image.repository") {
                let tag = field("container.image.tag").map { ":" + $0 } ?? ""
                details.append(("ImageName", .string(truncate(repo + tag, 1024))))
            }
            out.append(resource("Container", id: cid, partition: partition, region: region,
                                details: details.isEmpty ? nil : ("Container", .object(details))))
        }
        if out.isEmpty { out.append(resource("Other", id: nonEmpty(f["hostname"]?.string) ?? "unknown", partition: partition, region: region)) }
        return out
    }

    /// OCSF resource types (AWS Config names, as Security Hub writes them) → ASFF resource types.
    static let resourceTypes: [String: String] = [
        "AWS::EC2::Instance": "AwsEc2Instance", "AWS::S3::Bucket": "AwsS3Bucket", "AWS::IAM::AccessKey": "AwsIamAccessKey",
        "AWS::IAM::Role": "AwsIamRole", "AWS::IAM::User": "AwsIamUser", "AWS::EKS::Cluster": "AwsEksCluster",
        "AWS::ECS::Cluster": "AwsEcsCluster", "AWS::ECS::Task": "AwsEcsTask", "AWS::Lambda::Function": "AwsLambdaFunction",
        "AWS::RDS::DBInstance": "AwsRdsDbInstance", "AWS::ECR::Repository": "AwsEcrRepository", "Container": "Container",
    ]

    static func ocsfResources(_ view: FindingView, _ f: JSONView, region: String) -> [JSON] {
        var out: [JSON] = []
        f["resources"]?.forEachElement { r in
            guard out.count < maxResources, r.isObject, let id = nonEmpty(r["uid"]?.string) ?? nonEmpty(r["name"]?.string) else { return }
            let given = r["type"]?.string
            let type = given.flatMap { resourceTypes[$0] } ?? "Other"
            var details: (String, JSON)?
            if type == "Other" {
                var other: [(key: String, value: JSON)] = []
                if let t = nonEmpty(given) { other.append(("type", .string(truncate(t, maxOtherValue)))) }
                if let n = nonEmpty(r["name"]?.string) { other.append(("name", .string(truncate(n, maxOtherValue)))) }
                if !other.isEmpty { details = ("Other", .object(other)) }
            }
            let partition = r["cloud_partition"]?.string.flatMap { ["aws", "aws-cn", "aws-us-gov"].contains($0) ? $0 : nil }
            out.append(resource(type, id: id, partition: partition, region: nonEmpty(r["region"]?.string) ?? region, details: details))
        }
        if out.isEmpty { out.append(resource("Other", id: view.id ?? "unknown", partition: nil, region: region)) }
        return out
    }

    static func resource(_ type: String, id: String, partition: String?, region: String, details: (String, JSON)? = nil) -> JSON {
        var r: [(key: String, value: JSON)] = [("Type", .string(type)), ("Id", .string(truncate(id, maxID)))]
        if let partition { r.append(("Partition", .string(partition))) }
        r.append(("Region", .string(truncate(region, 16))))
        if let details { r.append(("Details", .object([(key: details.0, value: details.1)]))) }
        return .object(r)
    }

    // MARK: ProductFields

    /// `sluice/*`, then the source's own context: Falco's priority, source, hostname, tags and
    /// `output_fields` (each `falco/<field>`, numbers as their text), OCSF's product and analytic.
    /// Within AWS's limits: 50 pairs, keys over 128 characters left out, values cut to 2048.
    static func productFields(_ view: FindingView, _ f: JSONView, info: JSONView?, route: String) -> [(key: String, value: JSON)] {
        var out: [(key: String, value: JSON)] = []
        func put(_ key: String, _ value: String?) {
            guard let value, out.count < maxProductFields, key.count <= maxProductFieldKey else { return }
            out.append((key, .string(truncate(value, maxProductFieldValue))))
        }
        put("sluice/route", route)
        put("sluice/format", view.format.rawValue)
        put("sluice/severity", view.severity)
        if view.format == .falco {
            put("falco/priority", f["priority"]?.string)
            put("falco/source", f["source"]?.string)
            put("falco/hostname", f["hostname"]?.string)
            var tags: [String] = []
            f["tags"]?.forEachElement { if let t = $0.string { tags.append(t) } }
            if !tags.isEmpty { put("falco/tags", tags.joined(separator: ",")) }
            f["output_fields"]?.forEachMember { key, value in
                put("falco/" + String(decoding: key, as: UTF8.self), scalarText(value))
            }
        } else {
            put("ocsf/class_uid", f["class_uid"].flatMap(scalarText))
            put("ocsf/version", f["metadata"]?["version"]?.string)
            put("ocsf/product", view.product)
            put("ocsf/vendor_name", f["metadata"]?["product"]?["vendor_name"]?.string)
            put("ocsf/analytic", info?["analytic"]?["name"]?.string)
            put("ocsf/type", view.type)
        }
        return out
    }

    /// A string, bool or number as text (integers beyond 2^53 exactly, from the tape); nil for
    /// null, arrays and objects.
    static func scalarText(_ v: JSONView) -> String? {
        switch v.kind {
        case .string: return v.string
        case .bool: return v.bool == true ? "true" : "false"
        case .number:
            if let i = v.int64 { return String(i) }
            if let u = v.uint64 { return String(u) }
            return v.double.map(JSON.numberText)
        default: return nil
        }
    }

    // MARK: Values

    public static func isAccountID(_ s: String) -> Bool { s.utf8.count == 12 && s.utf8.allSatisfy { (0x30...0x39).contains($0) } }

    /// The account field of `arn:<partition>:securityhub:<region>:<account>:product/…`.
    public static func accountOf(productARN arn: String) -> String? {
        let fields = arn.split(separator: ":", omittingEmptySubsequences: false)
        return fields.count >= 6 ? String(fields[4]) : nil
    }

    public static func partition(ofRegion region: String) -> String {
        region.hasPrefix("cn-") ? "aws-cn" : region.hasPrefix("us-gov-") ? "aws-us-gov" : "aws"
    }

    /// At most `n` characters, the last one an ellipsis when cut.
    static func truncate(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }

    static func nonEmpty(_ s: String?) -> String? { s?.isEmpty == false ? s : nil }

    static func sha256Hex(_ s: String) -> String {
        SHA256.hash(data: Array(s.utf8)).map { byte in
            let h = String(byte, radix: 16)
            return h.count == 1 ? "0" + h : h
        }.joined()
    }
}

extension DecodedFinding {
    /// This finding as ASFF for `aws-securityhub` (Falco and OCSF; nil for other formats).
    public func asffFinding(target: ASFFFinding.Target) -> Result<JSON, ASFFFinding.Refusal>? {
        guard format == .falco || format == .ocsf, let view = view(), let finding else { return nil }
        return ASFFFinding.make(view: view, finding: finding, target: target)
    }
}
