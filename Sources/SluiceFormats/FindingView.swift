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


    /// `json`, serialized straight into bytes: the hot path when routes read `sluice` (building
    /// the `JSON` value and appending its text scalar by scalar cost ~15x the parse; measured
    /// with `sluice-bench-match --decode`).
    public var jsonBytes: [UInt8] {
        var w = ViewJSONWriter()
        w.begin("format"); w.string(format.rawValue)
        w.optional("id", id)
        w.optional("title", title)
        w.optional("description", description)
        w.begin("severity_id"); w.int(severityID)
        w.begin("severity"); w.string(severity)
        w.optional("product", product)
        w.optional("type", type)
        w.optional("account", account)
        w.optional("region", region)
        w.optional("time", time)
        w.optional("first_seen", firstSeen)
        w.optional("last_seen", lastSeen)
        w.begin("count"); w.int(count)
        if let r = resource {
            w.begin("resource"); w.open()
            w.optional("type", r.type)
            w.optional("id", r.id)
            w.optional("name", r.name)
            w.close()
        }
        if let p = process {
            w.begin("process"); w.open()
            w.optional("name", p.name)
            w.optional("executable_path", p.executablePath)
            if let pid = p.pid { w.begin("pid"); w.int(pid) }
            w.optional("user", p.user)
            w.optional("command_line", p.commandLine)
            w.close()
        }
        w.begin("via"); w.string(via)
        w.begin("part"); w.open()
        w.begin("index"); w.int(part.index)
        w.begin("count"); w.int(part.count)
        w.close()
        w.close()
        return w.out
    }
}

/// A minimal JSON object writer over bytes: keys are ours, strings are escaped byte by byte
/// (UTF-8 continuation bytes are >= 0x80, so only `"`, `\` and control bytes need escapes).
struct ViewJSONWriter {
    var out: [UInt8] = [UInt8(ascii: "{")]
    private var first = [true]

    init() { out.reserveCapacity(512) }

    mutating func begin(_ key: String) {
        if first[first.count - 1] { first[first.count - 1] = false } else { out.append(UInt8(ascii: ",")) }
        string(key)
        out.append(UInt8(ascii: ":"))
    }

    mutating func optional(_ key: String, _ value: String?) {
        guard let value else { return }
        begin(key)
        string(value)
    }

    mutating func open() {
        out.append(UInt8(ascii: "{"))
        first.append(true)
    }

    mutating func close() {
        out.append(UInt8(ascii: "}"))
        if first.count > 1 { first.removeLast() }
    }

    mutating func int(_ v: Int) {
        guard v >= 0 else { return out.append(contentsOf: String(v).utf8) }
        // Digits written in place: counts, pids and indexes are small and never negative.
        var divisor = 1
        while divisor <= v / 10 { divisor *= 10 }
        var rest = v
        while divisor > 0 {
            out.append(UInt8(truncatingIfNeeded: 0x30 + rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    /// Runs of bytes that need no escape are copied whole (callgrind: the byte-by-byte loop was
    /// the largest single cost of the view, ahead of building it).
    mutating func string(_ s: String) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            var start = 0
            for (i, b) in bytes.enumerated() where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                if start < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i])) }
                escape(b)
                start = i + 1
            }
            if start < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...])) }
        }
        out.append(UInt8(ascii: "\""))
    }

    private mutating func escape(_ b: UInt8) {
        switch b {
        case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
        case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
        case 0x0D: out.append(contentsOf: [0x5C, 0x72])
        case 0x09: out.append(contentsOf: [0x5C, 0x74])
        default:
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
        }
    }
}
