import Foundation

/// A route's state rules (`dedupe`, `throttle`, `group`), applied per target after `match` and
/// `suppress`. SluiceState enforces them; see docs/state.md.
public struct HoldRules: Sendable, Equatable {
    public var dedupe: DedupeRule?
    public var throttle: ThrottleRule?
    public var group: GroupRule?
    /// `digest_template:`: the Mustache template of this route's digests (throttle overflow,
    /// groups) over the digest (`total`, `more`, `findings`, `severities`, `text`…), JSON-escaped;
    /// without it each target gets the default digest.
    public var digestTemplate: String?

    public init(dedupe: DedupeRule? = nil, throttle: ThrottleRule? = nil, group: GroupRule? = nil, digestTemplate: String? = nil) {
        self.dedupe = dedupe
        self.throttle = throttle
        self.group = group
        self.digestTemplate = digestTemplate
    }

    public var isEmpty: Bool { dedupe == nil && throttle == nil && group == nil }

    /// The paths whose values choose the owner of this route's state: the coarsest key, which
    /// every other key of the route includes (checked at load).
    public var partitionPaths: [String]? { group?.by ?? throttle?.key ?? dedupe?.key }

    /// The route keys this type reads.
    public static let routeKeys: Set<String> = ["dedupe", "throttle", "group", "digest_template"]
}

/// `dedupe: {key: [paths], window: 1h}`: repeats of a key within `window` of its last delivery
/// are held; a severity increase is delivered at once.
public struct DedupeRule: Sendable, Equatable {
    public var key: [String]
    public var window: Duration
    public init(key: [String], window: Duration) {
        self.key = key
        self.window = window
    }
}

/// `throttle: {key: [paths], limit: N, per: 10m}`: at most `limit` deliveries per key per
/// period; the overflow goes out as one digest at the end of the period.
public struct ThrottleRule: Sendable, Equatable {
    public var key: [String]
    public var limit: Int
    public var per: Duration
    public init(key: [String], limit: Int, per: Duration) {
        self.key = key
        self.limit = limit
        self.per = per
    }
}

/// `group: {by: [paths], wait: 30s, interval: 5m, repeat: 4h}`: Alertmanager's grouping. The
/// first digest after `wait`; then at most every `interval` and only when the group changed;
/// an unchanged group again after `repeat` (a multiple of `interval`).
public struct GroupRule: Sendable, Equatable {
    public var by: [String]
    public var wait: Duration
    public var interval: Duration
    /// `repeat:` in YAML.
    public var repeatAfter: Duration
    public init(by: [String], wait: Duration, interval: Duration, repeatAfter: Duration) {
        self.by = by
        self.wait = wait
        self.interval = interval
        self.repeatAfter = repeatAfter
    }
}

/// A top-level `inhibit:` entry of a route file: a `target` finding is held while a `source`
/// finding seen within `for` has equal values at every `equal` path (a path missing on both
/// sides is not equal; a finding cannot inhibit itself).
public struct InhibitRule: Sendable {
    public var name: String
    public var source: JSON
    public var target: JSON
    public var equal: [String]
    public var duration: Duration
    public var location: Diagnostic
    public init(name: String, source: JSON, target: JSON, equal: [String], duration: Duration,
                location: Diagnostic = Diagnostic(path: "<memory>", message: "")) {
        self.name = name
        self.source = source
        self.target = target
        self.equal = equal
        self.duration = duration
        self.location = location
    }
}

/// Parses the state keys of a route and the `inhibit:` lists of route files.
public enum HoldRuleLoader {
    /// Longest window, period or `for` accepted: a year. Beyond that a typo is likelier than intent,
    /// and the millisecond arithmetic of the engine stays far from overflow.
    static let longest: Duration = .seconds(366 * 86_400)

    /// Reads `dedupe`, `throttle` and `group` of a route mapping; problems are located at their key.
    public static func rules(of route: YAMLNode, label: String) -> (HoldRules, [Diagnostic]) {
        var rules = HoldRules()
        var problems: [Diagnostic] = []
        if let n = route["dedupe"] {
            let r = MappingReader(n, what: "\(label): dedupe")
            let key = paths(r, "key", label: "\(label): dedupe")
            let window = duration(r, "window", label: "\(label): dedupe")
            problems += r.finish()
            if let key, let window { rules.dedupe = DedupeRule(key: key, window: window) }
        }
        if let n = route["throttle"] {
            let r = MappingReader(n, what: "\(label): throttle")
            let key = paths(r, "key", label: "\(label): throttle")
            let per = duration(r, "per", label: "\(label): throttle")
            let limit = r.int("limit", min: 1)
            if r.node.isMapping, r.node["limit"] == nil { r.report(r.node.error("\(label): throttle needs `limit`")) }
            problems += r.finish()
            if let key, let per, let limit { rules.throttle = ThrottleRule(key: key, limit: limit, per: per) }
        }
        if let n = route["group"] {
            let r = MappingReader(n, what: "\(label): group")
            let by = paths(r, "by", label: "\(label): group")
            let wait = duration(r, "wait", label: "\(label): group", allowZero: true)
            let interval = duration(r, "interval", label: "\(label): group")
            let repeatNode = r.node.isMapping ? r.node["repeat"] : nil
            let repeatValue = duration(r, "repeat", label: "\(label): group")
            if let interval, let repeatValue, let repeatNode {
                let i = milliseconds(interval), p = milliseconds(repeatValue)
                if p < i || p % i != 0 {
                    r.report(repeatNode.error("\(label): group: `repeat` (\(repeatValue)) must be a multiple of `interval` (\(interval))"))
                }
            }
            let groupProblems = r.finish()
            problems += groupProblems
            if let by, let wait, let interval, let repeatValue, groupProblems.isEmpty {
                rules.group = GroupRule(by: by, wait: wait, interval: interval, repeatAfter: repeatValue)
            }
        }
        if let n = route["digest_template"] {
            if let text = n.string, !text.isEmpty {
                if rules.throttle == nil, rules.group == nil {
                    problems.append(n.error("\(label): `digest_template` needs `throttle` or `group` (only they send digests)"))
                }
                do { _ = try PayloadTemplate(text, format: .json) } catch { problems.append(n.error("\(label): digest_template: \(error.message)")) }
                rules.digestTemplate = text
            } else {
                problems.append(n.error("\(label): `digest_template` must be a non-empty string"))
            }
        }
        // One owner per state key: a route's keys must nest so one partition key covers them all.
        if rules.group != nil, rules.dedupe != nil || rules.throttle != nil, let n = route["group"] {
            problems.append(n.error("\(label): `group` cannot be combined with `dedupe` or `throttle` (a group already collapses repeats of a finding)"))
        }
        if let d = rules.dedupe, let t = rules.throttle, !Set(t.key).isSubset(of: Set(d.key)), let n = route["dedupe"] {
            problems.append(n.error("\(label): dedupe `key` must include every throttle `key` path (\(t.key.joined(separator: ", "))) so one instance owns both"))
        }
        return (rules, problems)
    }

    /// The `inhibit:` list of a route file's root mapping (none when absent).
    public static func inhibitRules(of root: YAMLNode) -> ([InhibitRule], [Diagnostic]) {
        guard let list = root["inhibit"] else { return ([], []) }
        guard list.isSequence else { return ([], [list.error("`inhibit` must be a list of rules")]) }
        var rules: [InhibitRule] = []
        var problems: [Diagnostic] = []
        for item in list.items {
            let r = MappingReader(item, what: "an inhibit rule")
            let name = r.string("name", required: true) ?? ""
            let label = "inhibit '\(name)'"
            let source = pattern(r, "source", label: label)
            let target = pattern(r, "target", label: label)
            let equal = paths(r, "equal", label: label)
            let duration = duration(r, "for", label: label)
            problems += r.finish()
            if let source, let target, let equal, let duration, !name.isEmpty {
                rules.append(InhibitRule(name: name, source: source, target: target, equal: equal, duration: duration,
                                         location: item.error(label)))
            }
        }
        return (rules, problems)
    }

    /// Every `inhibit:` rule of the route files in `directory`, in file-name order.
    public static func loadInhibitRules(directory: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(Diagnostics) -> [InhibitRule] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        var rules: [InhibitRule] = []
        var problems: [Diagnostic] = []
        for name in names where RouteLoader.routeFileExtensions.contains(where: { name.hasSuffix($0) }) {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            do {
                guard let root = try YAMLNode.load(path: path, text: try YAMLNode.text(of: data, path: path), environment: environment),
                      root.isMapping else { continue }
                let (r, p) = inhibitRules(of: root)
                rules += r
                problems += p
            } catch { problems += error.items }
        }
        var seen = Set<String>()
        for rule in rules where !seen.insert(rule.name).inserted {
            var d = rule.location
            d.message = "duplicate inhibit rule name '\(rule.name)'"
            problems.append(d)
        }
        if !problems.isEmpty { throw Diagnostics(problems) }
        return rules
    }

    static func pattern(_ r: MappingReader, _ key: String, label: String) -> JSON? {
        guard let n = r.node(key) else {
            if r.node.isMapping { r.report(r.node.error("\(label) needs `\(key)` (an event pattern)")) }
            return nil
        }
        switch RouteLoader.patternJSON(n) {
        case .failure(let d):
            r.report(d)
            return nil
        case .success(let json):
            do { _ = try Pattern(json: json) } catch {
                r.report(n.error("\(label): \(key): \(error.message)"))
                return nil
            }
            return json
        }
    }

    static func paths(_ r: MappingReader, _ key: String, label: String) -> [String]? {
        guard let n = r.node(key) else {
            if r.node.isMapping { r.report(r.node.error("\(label) needs `\(key)` (a list of dotted field paths)")) }
            return nil
        }
        let list = n.items.compactMap { $0.isMapping || $0.isSequence ? nil : $0.string }
        guard n.isSequence, !list.isEmpty, list.count == n.items.count,
              list.allSatisfy({ !$0.isEmpty && !$0.hasPrefix(".") && !$0.hasSuffix(".") && !$0.contains("..") }) else {
            r.report(n.error("\(label): `\(key)` must be a non-empty list of dotted field paths (detail.id)"))
            return nil
        }
        return list
    }

    static func duration(_ r: MappingReader, _ key: String, label: String, allowZero: Bool = false) -> Duration? {
        guard let n = r.node(key) else {
            if r.node.isMapping { r.report(r.node.error("\(label) needs `\(key)` (a duration such as 30s, 5m, 1h)")) }
            return nil
        }
        let text = (n.string ?? "").trimmingCharacters(in: .whitespaces)
        guard !n.isMapping, !n.isSequence, let d = DurationText.parse(text), d <= longest, allowZero || d > .zero else {
            r.report(n.error("\(label): `\(key)` must be a duration such as 30s, 5m or 1h, \(allowZero ? "at least 0" : "above 0") and at most 366d"))
            return nil
        }
        return d
    }

    /// Whole milliseconds of a duration within `longest` (never traps).
    public static func milliseconds(_ d: Duration) -> Int64 {
        let (s, atto) = d.components
        return s.multipliedReportingOverflow(by: 1000).partialValue + atto / 1_000_000_000_000_000
    }
}
