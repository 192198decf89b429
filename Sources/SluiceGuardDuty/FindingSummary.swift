import SluiceCore

/// What every connector's default template needs to say about a GuardDuty finding, computed
/// once per finding: title, severity label by AWS's bands, resource summary per resource type,
/// process details for runtime findings, counts, first/last seen and a console link.
///
/// Templates see it as `sluice.*` (`{{sluice.title}}`, `{{sluice.severity}}`,
/// `{{#sluice.process}}{{name}}{{/sluice.process}}`); connectors read it from `Delivery.summary`.
/// Findings of the other formats (ASFF, OCSF, Falco) get one too, built from their normalised
/// view (`SluiceFormats`), so every connector's default template renders all four
/// (docs/formats.md §9 lists the names and their aliases).
public struct FindingSummary: Sendable, Equatable {
    public var id: String
    public var title: String
    public var description: String
    public var type: String
    public var severity: Double
    public var severityLabel: SeverityLabel
    public var account: String
    public var region: String
    public var partition: String
    public var arn: String
    public var count: Int
    public var firstSeen: String
    public var lastSeen: String
    public var createdAt: String
    public var updatedAt: String
    /// `Instance`, `EKSCluster`, `ECSCluster`, `Container`, `AccessKey`, `S3Bucket`, …
    public var resourceType: String
    /// One line naming the affected resource: "Instance i-0a4f… (m5.large) in vpc-…".
    public var resourceSummary: String
    /// The identifier an action would target (instance id, cluster/pod, task ARN, access key id, bucket).
    public var resourceID: String
    public var process: Process?
    public var isRuntime: Bool
    public var consoleURL: String
    /// The normalised view (`sluice.*` of docs/formats.md) when the decoder made one: templates
    /// see its fields (`format`, `severity_id`, `product`, `resource.id`, …) beside the names above.
    public var view: JSON?
    /// The source's own severity number (GuardDuty `severity`, ASFF `Severity.Normalized`): the
    /// template field `severity_score` (today's `sluice.severity` number).
    public var severityScore: Double?
    /// The company whose product made the finding (CEF Device Vendor): `Amazon` for GuardDuty, an
    /// ASFF finding's `CompanyName`, OCSF `metadata.product.vendor_name`, `Falcosecurity` for
    /// Falco; empty when the finding does not say.
    public var vendor = ""
    /// The product's version when the finding says (OCSF `metadata.product.version`), else empty.
    public var productVersion = ""

    public struct Process: Sendable, Equatable {
        public var name: String
        public var executablePath: String
        public var pid: Int?
        public var user: String
        public var sha256: String

        public init(name: String, executablePath: String, pid: Int?, user: String, sha256: String) {
            self.name = name
            self.executablePath = executablePath
            self.pid = pid
            self.user = user
            self.sha256 = sha256
        }
    }

    /// A finding of another format, from its normalised view. `severity` is the source's score
    /// when it has one, else a score in the GuardDuty band of the view's label (what the SNS
    /// attribute, syslog and digests compare).
    public init(id: String, title: String, description: String, type: String, severity: Double, severityScore: Double?,
                account: String, region: String, count: Int, firstSeen: String, lastSeen: String, resourceType: String,
                resourceSummary: String, resourceID: String, process: Process?, isRuntime: Bool, consoleURL: String, view: JSON?) {
        self.id = id
        self.title = title
        self.description = description
        self.type = type
        self.severity = severity
        self.severityScore = severityScore
        severityLabel = SeverityLabel(severity: severity)
        self.account = account
        self.region = region
        partition = "aws"
        arn = ""
        self.count = count
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        createdAt = firstSeen
        updatedAt = lastSeen
        self.resourceType = resourceType
        self.resourceSummary = resourceSummary
        self.resourceID = resourceID
        self.process = process
        self.isRuntime = isRuntime
        self.consoleURL = consoleURL
        self.view = view
    }

    /// GuardDuty's severity bands (AWS docs, "Severity levels for GuardDuty findings").
    public enum SeverityLabel: String, Sendable, Comparable {
        case low = "Low", medium = "Medium", high = "High", critical = "Critical"

        public init(severity: Double) {
            switch severity {
            case 9.0...: self = .critical
            case 7.0..<9.0: self = .high
            case 4.0..<7.0: self = .medium
            default: self = .low
            }
        }

        /// A colour per band for chat attachments (hex, no '#').
        public var colour: String {
            switch self {
            case .low: return "2EB67D"
            case .medium: return "ECB22E"
            case .high: return "E8710A"
            case .critical: return "E01E5A"
            }
        }

        /// `colour` as a number (Discord embeds, `sluice.severity_colour_decimal`).
        public var colourDecimal: Int {
            switch self {
            case .low: return 0x2EB67D
            case .medium: return 0xECB22E
            case .high: return 0xE8710A
            case .critical: return 0xE01E5A
            }
        }

        private var rank: Int {
            switch self {
            case .low: return 0
            case .medium: return 1
            case .high: return 2
            case .critical: return 3
            }
        }
        public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
    }

    /// Reads a GuardDuty finding, bare or in its EventBridge envelope (`detail`). nil when the
    /// event is not a finding.
    public init?(event: JSON) {
        let f = event["detail"] ?? event
        guard let type = f["type"]?.stringValue, let resource = f["resource"] else { return nil }
        self.type = type
        vendor = "Amazon"
        id = f["id"]?.stringValue ?? ""
        title = f["title"]?.stringValue ?? type
        description = f["description"]?.stringValue ?? ""
        severity = f["severity"]?.doubleValue ?? 0
        severityScore = f["severity"]?.doubleValue
        severityLabel = SeverityLabel(severity: severity)
        account = f["accountId"]?.stringValue ?? event["account"]?.stringValue ?? ""
        region = f["region"]?.stringValue ?? event["region"]?.stringValue ?? ""
        partition = f["partition"]?.stringValue ?? "aws"
        arn = f["arn"]?.stringValue ?? ""
        let service = f["service"]
        count = service?["count"]?.clampedIntValue ?? 1
        firstSeen = service?["eventFirstSeen"]?.stringValue ?? f["createdAt"]?.stringValue ?? ""
        lastSeen = service?["eventLastSeen"]?.stringValue ?? f["updatedAt"]?.stringValue ?? ""
        createdAt = f["createdAt"]?.stringValue ?? ""
        updatedAt = f["updatedAt"]?.stringValue ?? ""
        resourceType = resource["resourceType"]?.stringValue ?? "Unknown"
        (resourceSummary, resourceID) = FindingSummary.describe(resource: resource, type: resourceType)
        isRuntime = service?["featureName"]?.stringValue == "RuntimeMonitoring" || type.contains(":Runtime/")
        if let p = service?["runtimeDetails"]?["process"] {
            process = Process(
                name: p["name"]?.stringValue ?? "", executablePath: p["executablePath"]?.stringValue ?? "",
                pid: p["pid"]?.clampedIntValue, user: p["user"]?.stringValue ?? "",
                sha256: p["executableSha256"]?.stringValue ?? "")
        }
        let host = partition == "aws-us-gov" ? "console.amazonaws-us-gov.com" : partition == "aws-cn" ? "console.amazonaws.cn" : "console.aws.amazon.com"
        // Region and id come from the finding: a region that is not a region name ("evil.example/")
        // would otherwise become the link's host, and an id could add query parameters.
        let linkRegion = FindingSummary.isRegionName(region) ? region : ""
        consoleURL = "https://\(linkRegion.isEmpty ? "" : "\(linkRegion).")\(host)/guardduty/home?region=\(linkRegion)#/findings?macros=current&fId=\(FindingSummary.unreservedEscaped(id))"
    }

    /// AWS region names: lowercase letter groups joined by `-`, ending in a number (`us-east-1`,
    /// `us-gov-west-1`, `cn-north-1`).
    static func isRegionName(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 3, s.utf8.count <= 32, let last = parts.last, !last.isEmpty,
              last.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return false }
        return parts.dropLast().allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { (0x61...0x7A).contains($0) } }
    }

    /// `s` percent-encoded but for RFC 3986's unreserved characters, fit for any URL component.
    static func unreservedEscaped(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E: out.unicodeScalars.append(Unicode.Scalar(byte))
            default: out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    private static func describe(resource r: JSON, type: String) -> (String, String) {
        func s(_ path: String) -> String? { r.value(atPath: path)?.stringValue }
        switch type {
        case "Instance":
            let id = s("instanceDetails.instanceId") ?? "unknown instance"
            var text = "Instance \(id)"
            if let t = s("instanceDetails.instanceType") { text += " (\(t))" }
            if let vpc = r.value(atPath: "instanceDetails.networkInterfaces")?.arrayValue?.first?["vpcId"]?.stringValue { text += " in \(vpc)" }
            return (text, id)
        case "EKSCluster":
            let cluster = s("eksClusterDetails.name") ?? "unknown cluster"
            var text = "EKS cluster \(cluster)"
            var id = cluster
            if let w = r.value(atPath: "kubernetesDetails.kubernetesWorkloadDetails"), let name = w["name"]?.stringValue {
                let ns = w["namespace"]?.stringValue ?? "default"
                text += ", \(w["type"]?.stringValue ?? "workload") \(ns)/\(name)"
                id = "\(cluster)/\(ns)/\(name)"
            }
            if let image = s("containerDetails.image") { text += ", image \(image)" }
            return (text, id)
        case "ECSCluster":
            let cluster = s("ecsClusterDetails.name") ?? "unknown cluster"
            var text = "ECS cluster \(cluster)"
            let task = s("ecsClusterDetails.taskDetails.arn")
            if let task { text += ", task \(task.split(separator: "/").last.map(String.init) ?? task)" }
            if let image = s("containerDetails.image") { text += ", image \(image)" }
            return (text, task ?? cluster)
        case "Container":
            let name = s("containerDetails.name") ?? s("containerDetails.id") ?? "unknown container"
            var text = "Container \(name)"
            if let image = s("containerDetails.image") { text += " (\(image))" }
            return (text, s("containerDetails.id") ?? name)
        case "AccessKey":
            let key = s("accessKeyDetails.accessKeyId") ?? "unknown key"
            var text = "Access key \(key)"
            if let user = s("accessKeyDetails.userName") { text += " of \(s("accessKeyDetails.userType") ?? "user") \(user)" }
            return (text, key)
        case "S3Bucket":
            let buckets = (r["s3BucketDetails"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
            return ("S3 bucket \(buckets.isEmpty ? "unknown" : buckets.joined(separator: ", "))", buckets.first ?? "")
        default:
            return (type, "")
        }
    }

    /// The Mustache context under `sluice`: the view's fields, then today's names. `severity` is
    /// the label (docs/formats.md §9); the number is `severity_score`.
    public var templateContext: [String: Any] {
        var c = (view.map { PayloadTemplate.context($0) } as? [String: Any]) ?? [:]
        let label = (c["severity"] as? String) ?? severityLabel.rawValue
        let viewProcess = c["process"] as? [String: Any]
        let fields: [String: Any] = [
            "id": id, "title": title, "description": description, "type": type,
            "severity": label, "severity_label": label,
            "severity_colour": Self.colour(label: label, fallback: severityLabel).0,
            "severity_colour_decimal": Self.colour(label: label, fallback: severityLabel).1,
            "account": account, "region": region, "arn": arn, "count": count,
            "first_seen": firstSeen, "last_seen": lastSeen, "created_at": createdAt, "updated_at": updatedAt,
            "resource_type": resourceType, "resource_summary": resourceSummary, "resource_id": resourceID,
            "is_runtime": isRuntime, "console_url": consoleURL,
        ]
        // An empty text is left out rather than set to "": Mustache sections treat "" as true, and
        // templates test presence (`{{#sluice.account}}`, `{{#sluice.console_url}}`) across formats.
        c.merge(fields.filter { ($0.value as? String)?.isEmpty != true }) { _, new in new }
        if let severityScore { c["severity_score"] = severityScore }
        if let p = process {
            var pc: [String: Any] = viewProcess ?? [:]
            pc.merge(["name": p.name, "executable_path": p.executablePath, "user": p.user, "sha256": p.sha256]) { old, new in
                (new as? String)?.isEmpty == false ? new : old
            }
            if let pid = p.pid { pc["pid"] = pid }
            c["process"] = pc
        }
        return c
    }

    /// Colours per label: informational and unknown grey, fatal as critical.
    static func colour(label: String, fallback: SeverityLabel) -> (String, Int) {
        switch label {
        case "Informational", "Unknown": return ("9E9E9E", 0x9E9E9E)
        case "Fatal": return (SeverityLabel.critical.colour, SeverityLabel.critical.colourDecimal)
        default:
            let l = SeverityLabel(rawValue: label) ?? fallback
            return (l.colour, l.colourDecimal)
        }
    }
}

/// Templates read the summary under `sluice`.
extension FindingSummary: TemplateSummary {}
