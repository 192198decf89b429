import SluiceCore
import SluiceGuardDuty

/// One finding listed in a digest.
public struct DigestEntry: Sendable, Equatable {
    public var findingID: String?
    public var title: String
    public var severity: Double
    /// The finding's AWS account (GuardDuty's `accountId`, else the view's `account`), when it has one.
    public var account: String?

    public init(findingID: String?, title: String, severity: Double, account: String? = nil) {
        self.findingID = findingID
        self.title = title
        self.severity = severity
        self.account = account
    }
}

/// Collects the findings of a digest in bounded memory: the first `HoldEngine.digestSample`
/// listed, every one counted by severity band.
public struct DigestAccumulator: Sendable, Equatable {
    public private(set) var first: [DigestEntry] = []
    public private(set) var total = 0
    public private(set) var bySeverity: [String: Int] = [:]

    public init() {}

    mutating func add(_ item: HoldItem) {
        add(DigestEntry(findingID: item.findingID, title: item.listedTitle, severity: item.severity, account: item.account))
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
        var lines = [headline]
        for e in first {
            lines.append("- [\(FindingSummary.SeverityLabel(severity: e.severity).rawValue)] \(e.title)" + (e.findingID.map { " (\($0))" } ?? ""))
        }
        if more > 0 { lines.append("and \(more) more") }
        return lines.joined(separator: "\n")
    }

    /// The first line of `text`: "30 throttled findings on route r (2 High, 28 Low)".
    public var headline: String {
        let what = kind == .group ? "grouped" : "throttled"
        return "\(total) \(what) finding\(total == 1 ? "" : "s") on route \(route) (\(severityCounts.map { "\($0.count) \($0.label)" }.joined(separator: ", ")))"
    }

    /// The highest severity band with a finding (nil for an empty digest).
    public var highestSeverity: String? { severityCounts.first?.label }

    /// The distinct accounts of the listed findings, in the order they are listed.
    public var accounts: [String] {
        var seen: [String] = []
        for e in first { if let a = e.account, !seen.contains(a) { seen.append(a) } }
        return seen
    }

    /// What a route's `digest_template` and the connectors' default digests render from: the
    /// default payload's fields, plus `severities` as a list (`{{#severities}}{{count}}
    /// {{label}}{{/severities}}`), each finding's `severity_label`, `headline`, `key_text` (the
    /// key's values joined), `has_more`, and `highest` with one flag for its band
    /// (`highest_critical`, `highest_high`, `highest_medium`, `highest_low`: Mustache has no
    /// comparisons, so a target's own severity names are written in sections).
    public var templateContext: JSON {
        guard case .object(var fields) = json else { return json }
        fields.append((key: "severities", value: .array(severityCounts.map {
            .object([(key: "label", value: .string($0.label)), (key: "count", value: JSON.number(Double($0.count)))])
        })))
        fields.append((key: "headline", value: .string(headline)))
        fields.append((key: "key_text", value: .string(key.joined(separator: ", "))))
        fields.append((key: "has_more", value: .bool(more > 0)))
        fields.append((key: "accounts", value: .array(accounts.map { .string($0) })))
        fields.append((key: "time", value: .string(RFC3339.format(at))))
        fields.append((key: "accounts_text", value: .string(accounts.joined(separator: ", "))))
        if let highest = highestSeverity {
            fields.append((key: "highest", value: .string(highest)))
            fields.append((key: "highest_" + highest.lowercased(), value: .bool(true)))
        }
        fields = fields.map { f in
            guard f.key == "findings" else { return f }
            // No `id` key for a finding without one: a null would render as text in `{{#id}}…{{/id}}`.
            return (key: "findings", value: .array(first.map { e in
                .object((e.findingID.map { [(key: "id", value: JSON.string($0))] } ?? []) + [
                    (key: "title", value: .string(e.title)), (key: "severity", value: JSON.number(e.severity)),
                    (key: "severity_label", value: .string(FindingSummary.SeverityLabel(severity: e.severity).rawValue))]
                    + (e.account.map { [(key: "account", value: JSON.string($0))] } ?? []))
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
                         (key: "severity", value: JSON.number(e.severity))]
                        + (e.account.map { [(key: "account", value: JSON.string($0))] } ?? []))
            })),
            (key: "text", value: .string(text)),
        ])
    }
}
