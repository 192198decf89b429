import SluiceCore

/// Members of the `sluice` view (docs/formats.md §2). The decoder builds and adds to each event
/// only those something reads (route patterns, suppressions, state keys, inhibit rules); the whole
/// view is built when a template, a summary or the Hold stage asks for it.
public struct ViewFields: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let format = ViewFields(rawValue: 1 << 0)
    public static let id = ViewFields(rawValue: 1 << 1)
    public static let title = ViewFields(rawValue: 1 << 2)
    public static let description = ViewFields(rawValue: 1 << 3)
    public static let severityID = ViewFields(rawValue: 1 << 4)
    public static let severity = ViewFields(rawValue: 1 << 5)
    public static let product = ViewFields(rawValue: 1 << 6)
    public static let type = ViewFields(rawValue: 1 << 7)
    public static let account = ViewFields(rawValue: 1 << 8)
    public static let region = ViewFields(rawValue: 1 << 9)
    public static let time = ViewFields(rawValue: 1 << 10)
    public static let firstSeen = ViewFields(rawValue: 1 << 11)
    public static let lastSeen = ViewFields(rawValue: 1 << 12)
    public static let count = ViewFields(rawValue: 1 << 13)
    public static let resource = ViewFields(rawValue: 1 << 14)
    public static let process = ViewFields(rawValue: 1 << 15)
    public static let via = ViewFields(rawValue: 1 << 16)
    public static let part = ViewFields(rawValue: 1 << 17)
    /// Template-only: `kubernetes`, `container`, `host`, `workload`, `severity_score`.
    public static let templateOnly = ViewFields(rawValue: 1 << 18)

    /// The routing view: everything routes can match.
    public static let routing = ViewFields(rawValue: (1 << 18) - 1)
    /// The routing view and the template-only fields.
    public static let all = ViewFields(rawValue: (1 << 19) - 1)

    /// Either severity member needs the source's severity read.
    var needsSeverity: Bool { !isDisjoint(with: [.severityID, .severity, .templateOnly]) }

    private static let byName: [String: ViewFields] = [
        "format": .format, "id": .id, "title": .title, "description": .description, "severity_id": .severityID,
        "severity": .severity, "product": .product, "type": .type, "account": .account, "region": .region, "time": .time,
        "first_seen": .firstSeen, "last_seen": .lastSeen, "count": .count, "resource": .resource, "process": .process,
        "via": .via, "part": .part,
    ]

    /// The members a dotted event path reads: `sluice` alone reads them all, `sluice.NAME…` one,
    /// any other path (and a name the routing view does not have) none.
    public init(path: String) {
        guard path.hasPrefix("sluice") else { self = []; return }
        let rest = path.utf8.dropFirst(6)
        if rest.isEmpty { self = .routing; return }
        guard rest.first == UInt8(ascii: ".") else { self = []; return }
        let name = rest.dropFirst().split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false).first
        self = name.flatMap { Self.byName[String(decoding: $0, as: UTF8.self)] } ?? []
    }

    /// The members the flattened paths of `pattern` read.
    public init(pattern: Pattern) {
        self = []
        for branch in pattern.branches { for field in branch.fields { formUnion(ViewFields(path: field.path)) } }
    }
}

extension RouteTable {
    /// The view members some route's pattern, suppression or state key reads: the decoder adds
    /// those to each event (none: the event is matched where it was parsed).
    public var viewFields: ViewFields {
        var fields: ViewFields = []
        for (i, route) in routes.enumerated() {
            fields.formUnion(ViewFields(pattern: patterns[i]))
            for s in suppressions[i] { fields.formUnion(ViewFields(pattern: s)) }
            let keys = [route.hold.partitionPaths, route.hold.dedupe?.key, route.hold.throttle?.key, route.hold.group?.by]
            for path in keys.compactMap({ $0 }).joined() { fields.formUnion(ViewFields(path: path)) }
        }
        return fields
    }

    /// Some route reads the view.
    public var readsView: Bool { !viewFields.isEmpty }
}

extension InhibitRule {
    /// The view members the rule's source, target and `equal` paths read (a pattern the loader
    /// would reject counts as reading the whole view).
    public var viewFields: ViewFields {
        var fields: ViewFields = []
        for pattern in [source, target] {
            if let p = try? Pattern(json: pattern) { fields.formUnion(ViewFields(pattern: p)) } else { fields.formUnion(.routing) }
        }
        for path in equal { fields.formUnion(ViewFields(path: path)) }
        return fields
    }

    /// The rule reads the view.
    public var readsView: Bool { !viewFields.isEmpty }
}
