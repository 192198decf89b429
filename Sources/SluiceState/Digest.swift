import SluiceCore

/// One finding listed in a digest.
public struct DigestEntry: Sendable, Equatable {
    public var findingID: String?
    public var title: String
    public var severity: Double
}

/// Collects the findings of a digest in bounded memory: the first `HoldEngine.digestSample`
/// listed, every one counted by severity band.
public struct DigestAccumulator: Sendable, Equatable {
    public private(set) var first: [DigestEntry] = []
    public private(set) var total = 0
    public private(set) var bySeverity: [String: Int] = [:]

    public init() {}

    mutating func add(_ item: HoldItem) {
        add(DigestEntry(findingID: item.findingID, title: item.title, severity: item.severity))
    }

    mutating func add(_ entry: DigestEntry) {
        total += 1
        bySeverity[FindingSummary.SeverityLabel(severity: entry.severity).rawValue, default: 0] += 1
        if first.count < HoldEngine.digestSample { first.append(entry) }
    }

    mutating func setCounts(total: Int, bySeverity: [String: Int]) {
        self.total = total
        self.bySeverity = bySeverity
    }

    func digest(kind: Digest.Kind, route: String, target: String, key: [String], at: EpochMillis) -> Digest {
        Digest(kind: kind, route: route, target: target, key: key, first: first, total: total, bySeverity: bySeverity, at: at)
    }
}

/// One message standing for many findings: a throttle period's overflow or a group.
public struct Digest: Sendable, Equatable {
    public enum Kind: String, Sendable { case throttle, group }
    public var kind: Kind
    public var route: String
    public var target: String
    /// The values of the throttle key or the group's `by` paths, as JSON text.
    public var key: [String]
    public var first: [DigestEntry]
    public var total: Int
    public var bySeverity: [String: Int]
    public var at: EpochMillis
    /// The state key the digest came from: `HoldEngine.digestDelivered` persists it.
    public var stateKey = ""

    public var more: Int { max(0, total - first.count) }

    /// Severity bands from the highest down, for stable output.
    public var severityCounts: [(label: String, count: Int)] {
        ["Critical", "High", "Medium", "Low"].compactMap { l in bySeverity[l].map { (l, $0) } }
    }

    /// The default text: a headline, the first findings, "and N more", counts by severity.
    /// Finding text is data here: it is only ever placed in a string, never interpreted.
    public var text: String {
        let what = kind == .group ? "grouped" : "throttled"
        var lines = ["\(total) \(what) finding\(total == 1 ? "" : "s") on route \(route) (\(severityCounts.map { "\($0.count) \($0.label)" }.joined(separator: ", ")))"]
        for e in first {
            lines.append("- [\(FindingSummary.SeverityLabel(severity: e.severity).rawValue)] \(e.title)" + (e.findingID.map { " (\($0))" } ?? ""))
        }
        if more > 0 { lines.append("and \(more) more") }
        return lines.joined(separator: "\n")
    }

    /// What a route's `digest_template` renders from: the default payload's fields, plus
    /// `severities` as a list (`{{#severities}}{{count}} {{label}}{{/severities}}`) and each
    /// finding's `severity_label`.
    public var templateContext: JSON {
        guard case .object(var fields) = json else { return json }
        fields.append((key: "severities", value: .array(severityCounts.map {
            .object([(key: "label", value: .string($0.label)), (key: "count", value: JSON.number(Double($0.count)))])
        })))
        fields = fields.map { f in
            guard f.key == "findings" else { return f }
            return (key: "findings", value: .array(first.map { e in
                .object([(key: "id", value: e.findingID.map { .string($0) } ?? .null), (key: "title", value: .string(e.title)),
                         (key: "severity", value: JSON.number(e.severity)),
                         (key: "severity_label", value: .string(FindingSummary.SeverityLabel(severity: e.severity).rawValue))])
            }))
        }
        return .object(fields)
    }

    /// The default JSON payload, for connectors that send JSON: the same facts as `text`.
    public var json: JSON {
        .object([
            (key: "sluice_digest", value: .string(kind.rawValue)),
            (key: "route", value: .string(route)),
            (key: "target", value: .string(target)),
            (key: "key", value: .array(key.map { .string($0) })),
            (key: "total", value: JSON.number(Double(total))),
            (key: "more", value: JSON.number(Double(more))),
            (key: "by_severity", value: .object(severityCounts.map { (key: $0.label, value: JSON.number(Double($0.count))) })),
            (key: "findings", value: .array(first.map { e in
                .object([(key: "id", value: e.findingID.map { .string($0) } ?? .null),
                         (key: "title", value: .string(e.title)),
                         (key: "severity", value: JSON.number(e.severity))])
            })),
            (key: "text", value: .string(text)),
        ])
    }
}
