/// The members of the `sluice` view, Sluice's own schema (docs/formats.md §2 and §9): what route
/// patterns can match, and what templates can render besides. A misspelt member renders empty
/// and never matches, so `validate` names it; a template-only member in a route never matches.
public enum SluiceViewSchema {
    /// Where a `sluice.…` path is read.
    public enum Use: Sendable { case route, template }

    /// A member: a leaf, or an object with these members.
    indirect enum Member: Sendable {
        case leaf
        case object([String: Member])
    }

    /// The routing view (docs/formats.md §2): routes match these, templates render them.
    static let routing: [String: Member] = [
        "format": .leaf, "id": .leaf, "title": .leaf, "description": .leaf, "severity_id": .leaf, "severity": .leaf,
        "product": .leaf, "type": .leaf, "account": .leaf, "region": .leaf, "time": .leaf, "first_seen": .leaf,
        "last_seen": .leaf, "count": .leaf, "via": .leaf,
        "resource": .object(["type": .leaf, "id": .leaf, "name": .leaf]),
        "process": .object(["name": .leaf, "executable_path": .leaf, "pid": .leaf, "user": .leaf, "command_line": .leaf]),
        "part": .object(["index": .leaf, "count": .leaf]),
    ]

    /// Only templates have these (§9): the workload members, today's names kept as aliases, and
    /// `hold` (a release of dedupe, throttle or group).
    static let templateOnly: [String: Member] = [
        "kubernetes": .object(["cluster": .leaf, "namespace": .leaf, "pod": .leaf]),
        "container": .object(["id": .leaf, "name": .leaf, "image": .leaf]),
        "host": .leaf, "workload": .leaf, "severity_score": .leaf,
        "severity_label": .leaf, "severity_colour": .leaf, "severity_colour_decimal": .leaf, "resource_type": .leaf,
        "resource_id": .leaf, "resource_summary": .leaf, "arn": .leaf, "created_at": .leaf, "updated_at": .leaf,
        "is_runtime": .leaf, "console_url": .leaf,
        "hold": .object(["held_count": .leaf, "first_seen": .leaf, "last_seen": .leaf]),
        // GuardDuty's process hash is in the summary, not in the routed view.
        "process": .object(["sha256": .leaf]),
    ]

    /// Why `path` (the members after `sluice`) is not a field for `use`, or nil when it is.
    public static func problem(_ path: [String], use: Use) -> String? {
        let dotted = (["sluice"] + path).joined(separator: ".")
        if path.isEmpty { return nil }
        if resolves(path, in: routing) { return nil }
        if resolves(path, in: templateOnly) {
            return use == .template ? nil
                : "`\(dotted)` is a template-only member of the view (docs/formats.md §9): routes never match it"
        }
        let hint = nearest(path, use: use).map { " (did you mean `\($0)`?)" } ?? ""
        return "the sluice view has no field `\(dotted)`\(hint)"
    }

    static func resolves(_ path: [String], in members: [String: Member]) -> Bool {
        guard let first = path.first, let member = members[first] else { return false }
        switch member {
        case .leaf: return path.count == 1
        case .object(let inner): return path.count == 1 || resolves(Array(path.dropFirst()), in: inner)
        }
    }

    /// The valid path at most two typos away from `path`, member by member.
    static func nearest(_ path: [String], use: Use) -> String? {
        var members = use == .template ? routing.merging(templateOnly) { a, _ in a } : routing
        var fixed = ["sluice"]
        for (i, key) in path.enumerated() {
            let name = members[key] != nil ? key
                : members.keys.filter { typoDistance($0, key) <= 2 }.min { (typoDistance($0, key), $0) < (typoDistance($1, key), $1) }
            guard let name, let member = members[name] else { return nil }
            fixed.append(name)
            switch member {
            case .leaf: if i != path.count - 1 { return nil }
            case .object(let inner): members = inner
            }
        }
        return fixed.joined(separator: ".")
    }
}

/// Edits from `a` to `b`, a swap of two neighbours counting as one (`titel` is one from `title`,
/// two from `time`): the usual typo.
func typoDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a), y = Array(b)
    if x.isEmpty || y.isEmpty { return max(x.count, y.count) }
    var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
    for i in 0...x.count { d[i][0] = i }
    for j in 0...y.count { d[0][j] = j }
    for i in 1...x.count {
        for j in 1...y.count {
            let cost = x[i - 1] == y[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
        }
    }
    return d[x.count][y.count]
}

/// Warnings for route patterns on the `sluice` view: a member the view does not have, or one
/// only templates have. Each is located at the offending key.
public enum SluiceViewRouteLint {
    public static func warnings(_ node: YAMLNode, label: String) -> [Diagnostic] {
        guard node.isMapping else { return [] }
        var found: [Diagnostic] = []
        walk(node, prefix: [], label: label, into: &found)
        return found.map(\.asWarning)
    }

    static func walk(_ node: YAMLNode, prefix: [String], label: String, into found: inout [Diagnostic]) {
        node.forEachPatternField { key, keyNode, value in
            // A dotted key is a path (`sluice.severity_id: [6]`).
            let path = prefix + key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard path.first == "sluice" else { return }
            // Operator objects (inside a list or not) are the pattern parser's and the other lint's.
            if value.isMapping, let op = value.entries.first?.key, FindingFieldRouteLint.operators.contains(op) { return }
            if let problem = SluiceViewSchema.problem(Array(path.dropFirst()), use: .route) {
                found.append(keyNode.error("\(label): \(problem)"))
                return
            }
            if value.isMapping { walk(value, prefix: path, label: label, into: &found) }
        }
    }
}
