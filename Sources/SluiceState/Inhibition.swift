import SluiceCore

/// Inhibition: a finding matching a rule's `target` is held while a finding matching its `source`,
/// seen within `for`, has equal values at every `equal` path. Unlike Alertmanager, a path missing
/// on both sides is not equal, and a finding cannot inhibit itself.
///
/// Sources are small (one record per rule and equal-values), so every instance reads the whole
/// `<prefix>inhibit.<group>` topic into this index.
public struct InhibitIndex: Sendable {
    struct CompiledRule: Sendable {
        var rule: InhibitRule
        var source: Pattern
        var target: Pattern
    }

    /// A source sighting: the finding that raised it and when it was last seen.
    public struct Sighting: Sendable, Equatable {
        public var findingID: String?
        public var seenAt: EpochMillis
    }

    private(set) var rules: [CompiledRule]
    /// Rule name \0 equal values → the latest source sighting.
    var sources: [String: Sighting] = [:]

    public init(rules: [InhibitRule]) {
        self.rules = Self.compiled(rules)
    }

    static func compiled(_ rules: [InhibitRule]) -> [CompiledRule] {
        rules.compactMap { r in
            guard let s = try? Pattern(json: r.source), let t = try? Pattern(json: r.target) else { return nil }
            return CompiledRule(rule: r, source: s, target: t)
        }
    }

    /// A reload's rules. Sightings stay: those of a rule that kept its name and `equal` paths
    /// still inhibit; the others match nothing and expire.
    public mutating func replaceRules(_ new: [InhibitRule]) {
        rules = Self.compiled(new)
    }

    static func sourceKey(_ rule: InhibitRule, _ event: JSON) -> String? {
        var key = rule.name
        for v in StateKey.values(paths: rule.equal, event: event) {
            guard let v else { return nil }  // a missing path never equals anything
            key += "\u{0}" + v
        }
        return key
    }

    /// Records `event` as a source of every rule it matches; returns the records to publish
    /// (key, sighting) so other instances learn of it.
    public mutating func observe(_ event: JSON, findingID: String?, now: EpochMillis) -> [(key: String, sighting: Sighting)] {
        var out: [(key: String, sighting: Sighting)] = []
        for r in rules where ReferenceMatcher.matches(r.source, event) {
            guard let key = Self.sourceKey(r.rule, event) else { continue }
            let s = Sighting(findingID: findingID, seenAt: now)
            sources[key] = s
            out.append((key, s))
        }
        return out
    }

    /// Applies a sighting read from the inhibit topic (nil: a tombstone).
    public mutating func apply(key: String, _ sighting: Sighting?) {
        guard let sighting else {
            sources[key] = nil
            return
        }
        if let old = sources[key], old.seenAt > sighting.seenAt { return }
        sources[key] = sighting
    }

    /// The name of a rule inhibiting `event` at `now`, if any.
    public func inhibiting(_ event: JSON, findingID: String?, now: EpochMillis) -> String? {
        for r in rules where ReferenceMatcher.matches(r.target, event) {
            guard let key = Self.sourceKey(r.rule, event), let s = sources[key] else { continue }
            if now - s.seenAt >= millis(r.rule.duration) { continue }
            if let id = findingID, s.findingID == id { continue }  // a finding cannot inhibit itself
            return r.rule.name
        }
        return nil
    }

    /// Sightings older than their rule's `for`: forget them (and tombstone them in the topic).
    public mutating func expire(now: EpochMillis) -> [String] {
        let longest = Dictionary(rules.map { ($0.rule.name, millis($0.rule.duration)) }, uniquingKeysWith: max)
        var gone: [String] = []
        for (key, s) in sources {
            let name = String(key.prefix { $0 != "\u{0}" })
            if now - s.seenAt >= (longest[name] ?? 0) { gone.append(key) }
        }
        for key in gone { sources[key] = nil }
        return gone.sorted()
    }
}
