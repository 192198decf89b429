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
    /// Where a runtime finding ran (Kubernetes, container, host), for templates only: not part of
    /// the routing view (docs/formats.md §9, `sluice.kubernetes.*`, `sluice.container.*`, `sluice.host`).
    public var workload: Workload?

    public struct Workload: Sendable, Equatable {
        public var cluster: String?
        public var namespace: String?
        public var pod: String?
        public var containerID: String?
        public var containerName: String?
        public var image: String?
        public var host: String?

        /// One line for templates (`sluice.workload`): `cluster C, namespace N, pod P, container
        /// NAME (ID), image I, host H`, each part only when known.
        public var summary: String {
            var parts: [String] = []
            if let v = cluster { parts.append("cluster \(v)") }
            if let v = namespace { parts.append("namespace \(v)") }
            if let v = pod { parts.append("pod \(v)") }
            switch (containerName, containerID) {
            case (let name?, let id?) where name != id: parts.append("container \(name) (\(id))")
            case (let name?, _): parts.append("container \(name)")
            case (nil, let id?): parts.append("container \(id)")
            case (nil, nil): break
            }
            if let v = image { parts.append("image \(v)") }
            if let v = host { parts.append("host \(v)") }
            return parts.joined(separator: ", ")
        }
    }

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
        var sink = ViewJSONValue()
        write(to: &sink, fields: .all)
        return sink.json
    }

    /// Writes the members of `fields` in the order of docs/formats.md §2: the one description of
    /// the view's shape, for its JSON value and for the tape the decoder adds to an event.
    func write<Sink: ViewSink>(to w: inout Sink, fields: ViewFields) {
        func put(_ field: ViewFields, _ key: String, _ value: String?) {
            if fields.contains(field), let value { w.string(key, value) }
        }
        put(.format, "format", format.rawValue)
        put(.id, "id", id)
        put(.title, "title", title)
        put(.description, "description", description)
        if fields.contains(.severityID) { w.int("severity_id", severityID) }
        put(.severity, "severity", severity)
        put(.product, "product", product)
        put(.type, "type", type)
        put(.account, "account", account)
        put(.region, "region", region)
        put(.time, "time", time)
        put(.firstSeen, "first_seen", firstSeen)
        put(.lastSeen, "last_seen", lastSeen)
        if fields.contains(.count) { w.int("count", count) }
        if fields.contains(.resource), let r = resource {
            w.object("resource") { o in
                if let v = r.type { o.string("type", v) }
                if let v = r.id { o.string("id", v) }
                if let v = r.name { o.string("name", v) }
            }
        }
        if fields.contains(.process), let p = process {
            w.object("process") { o in
                if let v = p.name { o.string("name", v) }
                if let v = p.executablePath { o.string("executable_path", v) }
                if let v = p.pid { o.int("pid", v) }
                if let v = p.user { o.string("user", v) }
                if let v = p.commandLine { o.string("command_line", v) }
            }
        }
        put(.via, "via", via)
        if fields.contains(.part) {
            w.object("part") { o in
                o.int("index", part.index)
                o.int("count", part.count)
            }
        }
    }

    /// What templates read under `sluice`: `json` plus the template-only fields (`kubernetes`,
    /// `container`, `host`: each present only when the finding has some of it).
    public var templateJSON: JSON {
        guard let w = workload, case .object(var m) = json else { return json }
        func object(_ pairs: [(String, String?)]) -> JSON? {
            let present = pairs.compactMap { p in p.1.map { (key: p.0, value: JSON.string($0)) } }
            return present.isEmpty ? nil : .object(present)
        }
        if let k = object([("cluster", w.cluster), ("namespace", w.namespace), ("pod", w.pod)]) { m.append(("kubernetes", k)) }
        if let c = object([("id", w.containerID), ("name", w.containerName), ("image", w.image)]) { m.append(("container", c)) }
        if let h = w.host { m.append(("host", .string(h))) }
        m.append(("workload", .string(w.summary)))
        return .object(m)
    }


}

/// Where `FindingView.write` puts the view: a `JSON` value, or the tape of an event.
protocol ViewSink {
    mutating func string(_ key: String, _ value: String)
    mutating func int(_ key: String, _ value: Int)
    mutating func object(_ key: String, _ body: (inout Self) -> Void)
}

/// The view as a `JSON` value.
struct ViewJSONValue: ViewSink {
    var members: [(key: String, value: JSON)] = []
    var json: JSON { .object(members) }

    mutating func string(_ key: String, _ value: String) { members.append((key, .string(value))) }
    mutating func int(_ key: String, _ value: Int) { members.append((key, JSON(integerLiteral: value))) }
    mutating func object(_ key: String, _ body: (inout ViewJSONValue) -> Void) {
        var inner = ViewJSONValue()
        body(&inner)
        members.append((key, inner.json))
    }
}

extension TapeObjectWriter: ViewSink {}
