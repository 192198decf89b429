import SluiceCore
import Synchronization

/// `sluice_held_total{route,target,reason}`: every held finding is counted, none dropped silently.
public final class HeldCounter: Sendable {
    public struct Label: Hashable, Sendable, Comparable {
        public var route: String
        public var target: String
        public var reason: HoldReason
        public static func < (a: Label, b: Label) -> Bool {
            (a.route, a.target, a.reason.rawValue) < (b.route, b.target, b.reason.rawValue)
        }
    }

    private let counts = Mutex<[Label: Int]>([:])

    public init() {}

    public func count(route: String, target: String, reason: HoldReason) {
        counts.withLock { $0[Label(route: route, target: target, reason: reason), default: 0] += 1 }
    }

    public var snapshot: [(label: Label, count: Int)] {
        counts.withLock { $0.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }

    public var total: Int { counts.withLock { $0.values.reduce(0, +) } }

    /// Prometheus text lines.
    public func prometheus() -> String {
        var out = "# HELP sluice_held_total Findings held by a state rule, by route, target and reason.\n# TYPE sluice_held_total counter\n"
        for (l, n) in snapshot {
            out += "sluice_held_total{route=\"\(escape(l.route))\",target=\"\(escape(l.target))\",reason=\"\(l.reason.rawValue)\"} \(n)\n"
        }
        return out
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// The Hold stage of one process: silences and inhibition (whole views), then dedupe, throttle
/// and grouping (the engine). Thread-safe; offline runs use it with all state in memory, the
/// Kafka layer feeds it the records of the partitions this instance owns.
public final class HoldStage: Sendable {
    struct Inner: Sendable {
        var engine: HoldEngine
        var inhibit: InhibitIndex
        var silences: SilenceSet
    }

    private let inner: Mutex<Inner>
    public let held: HeldCounter
    /// The state rules by route, as of the last reload.
    public var rules: [String: HoldRules] { currentRules.withLock { $0 } }
    private let currentRules: Mutex<[String: HoldRules]>
    /// Read per finding: an atomic, not the lock.
    public var hasInhibitRules: Bool { inhibitRuleCount.load(ordering: .relaxed) > 0 }
    private let inhibitRuleCount = Atomic<Int>(0)

    /// The state rules of `routes`, by route name.
    public static func rules(of routes: [Route]) -> [String: HoldRules] {
        var rules: [String: HoldRules] = [:]
        for r in routes where !r.hold.isEmpty { rules[r.name] = r.hold }
        return rules
    }

    public init(routes: [Route], inhibitRules: [InhibitRule] = [], silences: [Silence] = [], held: HeldCounter = HeldCounter()) {
        self.held = held
        let rules = Self.rules(of: routes)
        currentRules = Mutex(rules)
        var set = SilenceSet()
        for s in silences { set.apply(id: s.id, s) }
        inner = Mutex(Inner(engine: HoldEngine(rules: rules), inhibit: InhibitIndex(rules: inhibitRules), silences: set))
        silenceCount.store(set.silences.count, ordering: .relaxed)
        inhibitRuleCount.store(inhibitRules.count, ordering: .relaxed)
    }

    /// Read per finding on the hot path: an atomic, not the lock.
    public var hasSilences: Bool { silenceCount.load(ordering: .relaxed) > 0 }
    private let silenceCount = Atomic<Int>(0)

    /// Whether anything in this stage could hold a delivery of `route` (otherwise skip it cheaply).
    public func isActive(route: String) -> Bool {
        rules[route] != nil || hasInhibitRules || hasSilences
    }

    /// A reload: the routes' state rules and the inhibit rules in force from the next finding.
    /// What the old rules left pending is kept or flushed as `HoldEngine.replaceRules` says;
    /// inhibition sightings are kept (a rule still named the same still finds its sources).
    public func replaceRules(routes: [Route], inhibitRules: [InhibitRule]) {
        let rules = Self.rules(of: routes)
        inner.withLock { s in
            s.engine.replaceRules(rules)
            s.inhibit.replaceRules(inhibitRules)
        }
        currentRules.withLock { $0 = rules }
        inhibitRuleCount.store(inhibitRules.count, ordering: .relaxed)
    }

    /// Once per finding, before its targets: records it as an inhibition source.
    @discardableResult
    public func observe(_ event: JSON, findingID: String?, now: EpochMillis) -> [(key: String, sighting: InhibitIndex.Sighting)] {
        guard hasInhibitRules else { return [] }
        return inner.withLock { $0.inhibit.observe(event, findingID: findingID, now: now) }
    }

    /// Silence, then inhibition, for one target: the reason it is held (and counted), or nil.
    public func screen(_ event: JSON, findingID: String?, route: String, target: String, now: EpochMillis) -> HoldReason? {
        guard hasSilences || hasInhibitRules else { return nil }
        let reason: HoldReason? = inner.withLock { s in
            if s.silences.silencing(event, findingID: findingID, now: now) != nil { return .silenced }
            if s.inhibit.inhibiting(event, findingID: findingID, now: now) != nil { return .inhibited }
            return nil
        }
        if let reason { held.count(route: route, target: target, reason: reason) }
        return reason
    }

    /// Silences only: the check made again at send time (a hold is counted).
    public func isSilenced(_ event: JSON, findingID: String? = nil, now: EpochMillis) -> Bool {
        inner.withLock { $0.silences.silencing(event, findingID: findingID, now: now) != nil }
    }

    /// The send-time check of one delivery: a silence holding it now is counted as `silenced`.
    public func silencedAtSend(_ event: JSON, findingID: String?, route: String, target: String, now: EpochMillis) -> Bool {
        guard hasSilences, isSilenced(event, findingID: findingID, now: now) else { return false }
        held.count(route: route, target: target, reason: .silenced)
        return true
    }

    /// Dedupe / throttle / group for one item; a hold is counted.
    public func offer(_ item: HoldItem, now: EpochMillis) -> HoldDecision {
        let d = inner.withLock { $0.engine.offer(item, now: now) }
        if case .held(let reason) = d { held.count(route: item.route, target: item.target, reason: reason) }
        return d
    }

    public func settled(ticket: UInt64, succeeded: Bool, now: EpochMillis) -> HoldRelease? {
        inner.withLock { $0.engine.settled(ticket: ticket, succeeded: succeeded, now: now) }
    }

    public func due(now: EpochMillis) -> [Digest] { inner.withLock { $0.engine.due(now: now) } }
    public func flushAll(now: EpochMillis) -> [Digest] { inner.withLock { $0.engine.flushAll(now: now) } }
    public var nextDue: EpochMillis? { inner.withLock { $0.engine.nextDue } }

    /// Every silence this instance knows (expired ones until the topic's tombstones drop them).
    public var silences: [Silence] { inner.withLock { $0.silences.all } }

    public func applySilence(id: String, _ silence: Silence?) {
        let n = inner.withLock { s in
            s.silences.apply(id: id, silence)
            return s.silences.silences.count
        }
        silenceCount.store(n, ordering: .relaxed)
    }
    /// Silences with `notify:` that ended at most `within` ago, with what they held on this instance.
    public func endedSilences(now: EpochMillis, within: EpochMillis) -> [(silence: Silence, tally: SilenceTally)] {
        inner.withLock { $0.silences.ended(now: now, within: within) }
    }
    public func applySighting(key: String, _ sighting: InhibitIndex.Sighting?) { inner.withLock { $0.inhibit.apply(key: key, sighting) } }
    public func takeChanges() -> [StateChange] { inner.withLock { $0.engine.takeChanges() } }
    public func restore(_ change: StateChange) { inner.withLock { $0.engine.restore(change) } }
}
