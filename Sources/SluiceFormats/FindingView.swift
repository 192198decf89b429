import SluiceCore

/// The normalised view of one finding, whatever its format: what routes see under the virtual
/// top-level field `sluice` and templates under `{{sluice.*}}` (docs/formats.md §2, the contract).
/// A field whose source is missing or of the wrong JSON type is nil (absent from the JSON form).
public struct FindingView: Sendable, Equatable {
    public var format: FindingFormat
    public var id: String?
    public var title: String?
    public var description: String?
    /// OCSF numbering: 0 unknown, 1 informational, 2 low, 3 medium, 4 high, 5 critical, 6 fatal.
    public var severityID: Int
    public var product: String?
    public var type: String?
    public var account: String?
    public var region: String?
    public var time: String?
    public var firstSeen: String?
    public var lastSeen: String?
    public var count: Int
    public var resource: Resource?
    public var process: Process?
    /// `securityhub` when the record came in a Security Hub EventBridge envelope, else empty.
    public var via: String
    public var part: Part
    /// The source's own severity number (GuardDuty `severity`, ASFF `Severity.Normalized`), for
    /// the `severity_score` template field; not part of the routing view.
    public var severityScore: Double?

    public struct Resource: Sendable, Equatable {
        public var type: String?
        public var id: String?
        public var name: String?
    }

    public struct Process: Sendable, Equatable {
        public var name: String?
        public var executablePath: String?
        public var pid: Int?
        public var user: String?
        public var commandLine: String?
    }

    /// Position of the finding in its record (a Security Hub event or a BatchImportFindings body
    /// is split into one finding each).
    public struct Part: Sendable, Equatable {
        public var index: Int
        public var count: Int
        public init(index: Int, count: Int) {
            self.index = index
            self.count = count
        }
    }

    /// `Informational`… for `severityID`.
    public var severity: String { Self.severityLabel(severityID) }

    public static func severityLabel(_ id: Int) -> String {
        switch id {
        case 1: return "Informational"
        case 2: return "Low"
        case 3: return "Medium"
        case 4: return "High"
        case 5: return "Critical"
        case 6: return "Fatal"
        default: return "Unknown"
        }
    }

    /// The view as routes match it and templates read it (docs/formats.md §2, key order as there).
    public var json: JSON {
        var m: [(key: String, value: JSON)] = [("format", .string(format.rawValue))]
        func put(_ key: String, _ value: String?) { if let value { m.append((key, .string(value))) } }
        put("id", id)
        put("title", title)
        put("description", description)
        m.append(("severity_id", JSON(integerLiteral: severityID)))
        m.append(("severity", .string(severity)))
        put("product", product)
        put("type", type)
        put("account", account)
        put("region", region)
        put("time", time)
        put("first_seen", firstSeen)
        put("last_seen", lastSeen)
        m.append(("count", JSON(integerLiteral: count)))
        if let r = resource {
            var o: [(key: String, value: JSON)] = []
            if let t = r.type { o.append(("type", .string(t))) }
            if let i = r.id { o.append(("id", .string(i))) }
            if let n = r.name { o.append(("name", .string(n))) }
            m.append(("resource", .object(o)))
        }
        if let p = process {
            var o: [(key: String, value: JSON)] = []
            if let v = p.name { o.append(("name", .string(v))) }
            if let v = p.executablePath { o.append(("executable_path", .string(v))) }
            if let v = p.pid { o.append(("pid", JSON(integerLiteral: v))) }
            if let v = p.user { o.append(("user", .string(v))) }
            if let v = p.commandLine { o.append(("command_line", .string(v))) }
            m.append(("process", .object(o)))
        }
        m.append(("via", .string(via)))
        m.append(("part", .object([("index", JSON(integerLiteral: part.index)), ("count", JSON(integerLiteral: part.count))])))
        return .object(m)
    }
}
