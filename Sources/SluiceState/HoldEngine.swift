import SluiceCore

/// One planned delivery of a route target that has state rules, as the owner of its state key
/// sees it. Built on the source instance (`HoldItem.make`), carried through the repartition topic.
public struct HoldItem: Sendable, Equatable {
    public var route: String
    public var target: String
    /// Chooses the owner (and the changelog partition): the route's coarsest key.
    public var stateKey: String
    public var dedupeKey: String?
    public var throttleKey: String?
    public var findingID: String?
    public var title: String
    public var severity: Double
    /// When the finding was seen (the owner's clock; offline, the finding's own time).
    public var seenAt: EpochMillis
    /// The rendered payload, delivered as is when released.
    public var payload: [UInt8]
    /// The finding's JSON, carried only when the target's template reads `sluice.hold.*`: a
    /// delivery released after held repeats is rendered again with them.
    public var finding: [UInt8]?
    /// The finding's AWS account, listed with it in a digest.
    public var account: String?
    /// The title a digest lists: an item made while no rule could put it in a digest (dedupe
    /// only) carries none, and one can still reach a digest across a reload.
    var listedTitle: String { title.isEmpty ? findingID ?? "finding" : title }

    public init(route: String, target: String, stateKey: String, dedupeKey: String? = nil, throttleKey: String? = nil,
                findingID: String?, title: String, severity: Double, seenAt: EpochMillis, payload: [UInt8], finding: [UInt8]? = nil,
                account: String? = nil) {
        self.account = account
        self.route = route
        self.target = target
        self.stateKey = stateKey
        self.dedupeKey = dedupeKey
        self.throttleKey = throttleKey
        self.findingID = findingID
        self.title = title
        self.severity = severity
        self.seenAt = seenAt
        self.payload = payload
        self.finding = finding
    }

    /// The item for `rules` of `route`/`target`, or nil when the route has no state rules.
    public static func make(rules: HoldRules, route: String, target: String, event: JSON, findingID: String?,
                            title: String, severity: Double, seenAt: EpochMillis, payload: [UInt8], finding: [UInt8]? = nil,
                            account: String? = nil) -> HoldItem? {
        guard let paths = rules.partitionPaths else { return nil }
        // The partition key is one of the rule keys: each distinct path list is read once.
        let stateKey = StateKey.make(route: route, target: target, paths: paths, event: event)
        func key(_ keyPaths: [String]) -> String {
            keyPaths == paths ? stateKey : StateKey.make(route: route, target: target, paths: keyPaths, event: event)
        }
        return HoldItem(
            route: route, target: target,
            stateKey: stateKey,
            dedupeKey: rules.dedupe.map { key($0.key) },
            throttleKey: rules.throttle.map { key($0.key) },
            findingID: findingID, title: title, severity: severity, seenAt: seenAt, payload: payload, finding: finding, account: account)
    }
}

/// Why a finding was held (`sluice_held_total{reason}`).
public enum HoldReason: String, Sendable, CaseIterable {
    case dedupe, throttle, grouped, inhibited, silenced
}

/// What templates of a delivery released after held repeats see as `sluice.hold.*`.
public struct HoldMetadata: Sendable, Equatable {
    public var heldCount: Int
    public var firstSeen: EpochMillis
    public var lastSeen: EpochMillis

    /// `sluice.hold.*` for templates; times as RFC 3339 UTC.
    public var templateContext: HoldTemplateContext {
        HoldTemplateContext(heldCount: heldCount, firstSeen: RFC3339.format(firstSeen), lastSeen: RFC3339.format(lastSeen))
    }
}

/// A delivery the engine lets through. `ticket` is set when the engine waits for its outcome
/// (dedupe writes its record only after a successful delivery): pass it to `settled`.
public struct HoldRelease: Sendable, Equatable {
    public var item: HoldItem
    public var ticket: UInt64?
    public var hold: HoldMetadata?
}

public enum HoldDecision: Sendable, Equatable {
    case deliver(HoldRelease)
    case held(HoldReason)
}

/// Dedupe, throttle and grouping for the keys one instance owns: pure logic, no I/O, no clock of
/// its own (every call takes `now`). The Kafka layer persists `takeChanges()` to the changelog
/// and replays it through `restore`; offline runs keep it in memory. Not thread-safe: one owner.
public struct HoldEngine: Sendable {
    public private(set) var rules: [String: HoldRules]
    /// Sample findings kept per digest; the rest are counted ("and N more").
    public static let digestSample = 10
    /// Finding ids remembered per group to tell a new finding from a repeat.
    public static let groupMemberCap = 10_000

    /// Dedupe keys by digest (`DedupeID`): the million-key case, kept in flat slots.
    var dedupe = DedupeTable()
    var throttle: [String: ThrottleState] = [:]
    var groups: [String: GroupState] = [:]
    /// Deliveries whose outcome dedupe waits for: ticket → dedupe key.
    var pending: [UInt64: DedupeID] = [:]
    var nextTicket: UInt64 = 1
    /// Keys changed since the last `takeChanges`.
    var changed: [StateKind: Set<String>] = [:]
    var changedDedupe: Set<DedupeID> = []
    /// Route names by the index a `DedupeID` carries (rules' routes first, then restored ones).
    var routeNames: [String]
    var routeIndex: [String: UInt16] = [:]
    var lastRestoredRoute: UInt16?

    public init(rules: [String: HoldRules]) {
        self.rules = rules
        routeNames = []
        for name in rules.keys.sorted() { _ = index(ofRoute: name) }
    }

    /// A reload's rules, in force for the next decision. What the old rules left pending is kept
    /// or sent, never dropped (docs/state.md, "Reload"): a changed dedupe window or throttle
    /// limit and period apply to the keys already held; groups of a changed `group` rule keep
    /// their members and follow the new timings; a key whose route lost its rule (or the route
    /// itself) is flushed at once — a group that changed since its last digest, a throttle
    /// period's overflow, as a last digest — and dedupe keys of such a route are forgotten
    /// once no delivery of theirs is under way.
    public mutating func replaceRules(_ new: [String: HoldRules]) {
        rules = new
        for name in new.keys.sorted() { _ = index(ofRoute: name) }
    }

    /// The index of a route name, added when new; nil past 65,535 names (that key is not deduplicated).
    mutating func index(ofRoute name: String) -> UInt16? {
        if let i = routeIndex[name] { return i }
        guard let i = UInt16(exactly: routeNames.count) else { return nil }
        routeNames.append(name)
        routeIndex[name] = i
        return i
    }

    /// The id of a dedupe key of `route`.
    mutating func dedupeID(_ key: String, route: String) -> DedupeID? {
        guard let r = index(ofRoute: route) else { return nil }
        let d = DedupeID.digest(of: key)
        return DedupeID(high: d.high, low: d.low, route: r)
    }

    /// The changelog key text of a dedupe id: `route \0 32 hex digits`. (Records written before
    /// keys were hashed carry the whole key instead: `restore` reads both.)
    func changelogKey(_ id: DedupeID) -> String { routeNames[Int(id.route)] + "\u{0}" + id.hex }

    /// The id a changelog key names (hashed form, or a whole key from before).
    mutating func dedupeID(changelogKey key: String) -> DedupeID? {
        guard let sep = key.firstIndex(of: "\u{0}") else { return nil }
        let route = String(key[..<sep])
        let rest = key[key.index(after: sep)...]
        if !rest.contains("\u{0}"), let d = DedupeID.parse(hex: rest.utf8), let r = index(ofRoute: route) {
            return DedupeID(high: d.high, low: d.low, route: r)
        }
        return dedupeID(key, route: route)
    }

    /// Decides one item. A hold is final (counted by the caller); a delivery may carry a ticket.
    public mutating func offer(_ item: HoldItem, now: EpochMillis) -> HoldDecision {
        guard let r = rules[item.route] else { return .deliver(HoldRelease(item: item, ticket: nil, hold: nil)) }
        if let g = r.group {
            addToGroup(item, rule: g, now: now)
            return .held(.grouped)
        }
        var hold: HoldMetadata?
        let dedupeKey = r.dedupe != nil ? item.dedupeKey.flatMap { dedupeID($0, route: item.route) } : nil
        if let d = r.dedupe, let key = dedupeKey {
            switch dedupeDecision(item, key: key, rule: d, now: now) {
            case .hold: return .held(.dedupe)
            case .pass(let m): hold = m
            }
        }
        if let t = r.throttle, let key = item.throttleKey, !throttleAdmits(item, key: key, rule: t, now: now) {
            // The finding goes out in the period's digest, never dropped: for dedupe that is its
            // delivery, so its repeats are held rather than piled into the digest again.
            if let key = dedupeKey, var s = dedupe[key] {
                s.lastDelivery = now
                s.severity = item.severity
                dedupe[key] = s
                mark(key)
            }
            return .held(.throttle)
        }
        var ticket: UInt64?
        if let key = dedupeKey {
            let t = nextTicket
            ticket = t
            nextTicket &+= 1
            pending[t] = key
            var s = dedupe[key] ?? DedupeState(firstSeen: item.seenAt)
            s.inFlight = InFlight(ticket: t, severity: item.severity, at: now)
            dedupe[key] = s
        }
        return .deliver(HoldRelease(item: item, ticket: ticket, hold: hold))
    }

    /// The outcome of a delivery released with a ticket. Success writes the dedupe record (and
    /// releases a repeat held behind it that came after the window); a failure writes nothing and
    /// releases the latest repeat held behind the delivery, if any.
    public mutating func settled(ticket: UInt64, succeeded: Bool, now: EpochMillis) -> HoldRelease? {
        guard let key = pending.removeValue(forKey: ticket), var s = dedupe[key], let flight = s.inFlight, flight.ticket == ticket else { return nil }
        s.inFlight = nil
        if succeeded {
            // Every delivery restarts the window: it is either the first of a new window or a
            // severity increase, so its severity is the one later repeats are compared with.
            s.lastDelivery = flight.at
            s.severity = flight.severity
            let parked = s.parked
            s.parked = nil
            // A repeat seen after the window while the delivery was under way (a fast offline
            // input, a slow target) would have been delivered had the delivery been instant: it
            // goes now, carrying the repeats held before it. (With a throttle too, it stays held.)
            if let item = parked, rules[item.route]?.throttle == nil, let rule = dedupeRule(key), item.seenAt >= flight.at + millis(rule.window) {
                if s.heldCount > 0 { s.heldCount -= 1 }
                let hold = metadata(&s)
                let ticket = nextTicket
                nextTicket &+= 1
                pending[ticket] = key
                s.inFlight = InFlight(ticket: ticket, severity: item.severity, at: item.seenAt)
                dedupe[key] = s
                mark(key)
                return HoldRelease(item: item, ticket: ticket, hold: hold)
            }
            dedupe[key] = s
            mark(key)
            return nil
        }
        let parked = s.parked
        s.parked = nil
        if s.lastDelivery == nil, parked == nil {
            dedupe[key] = nil  // never delivered: forget the key entirely
            return nil
        }
        guard var item = parked else {
            dedupe[key] = s
            return nil
        }
        item.seenAt = max(item.seenAt, now)
        // The parked repeat was counted as held; releasing it moves it from held to delivered.
        if s.heldCount > 0 { s.heldCount -= 1 }
        dedupe[key] = s
        guard case .deliver(let release) = offer(item, now: now) else { return nil }
        return release
    }

    // MARK: Dedupe

    enum DedupeOutcome { case hold, pass(HoldMetadata?) }

    mutating func dedupeDecision(_ item: HoldItem, key: DedupeID, rule: DedupeRule, now: EpochMillis) -> DedupeOutcome {
        guard var s = dedupe[key] else {
            dedupe[key] = DedupeState(firstSeen: item.seenAt, lastSeen: item.seenAt)
            return .pass(nil)
        }
        s.lastSeen = max(s.lastSeen, item.seenAt)
        if s.inFlight != nil {
            // A delivery of this key is under way: hold the repeat, but keep it in case that
            // delivery fails (a dead-lettered delivery must not hide the next repeat).
            s.heldCount += 1
            if item.severity > (s.inFlight?.severity ?? 0) {
                let m = metadata(&s)
                dedupe[key] = s
                return .pass(m)  // a severity increase never waits
            }
            s.parked = item
            dedupe[key] = s
            return .hold
        }
        let inWindow = s.lastDelivery.map { now < $0 + millis(rule.window) } ?? false
        if inWindow, item.severity <= (s.severity ?? 0) {
            s.heldCount += 1
            dedupe[key] = s
            mark(key)
            return .hold
        }
        let m = metadata(&s)
        dedupe[key] = s
        return .pass(m)
    }

    /// The held repeats since the last delivery, reset as this delivery carries them.
    func metadata(_ s: inout DedupeState) -> HoldMetadata? {
        defer { s.heldCount = 0 }
        return s.heldCount > 0 ? HoldMetadata(heldCount: s.heldCount, firstSeen: s.firstSeen, lastSeen: s.lastSeen) : nil
    }

    // MARK: Throttle

    mutating func throttleAdmits(_ item: HoldItem, key: String, rule: ThrottleRule, now: EpochMillis) -> Bool {
        var s = throttle[key] ?? ThrottleState(periodStart: now)
        if now >= s.periodStart + millis(rule.per) {
            // The previous period is over (its digest fired, or it had no overflow): a new one starts.
            if s.overflow.total > 0 { return false }  // its digest is due: `due(now:)` sends it first
            s = ThrottleState(periodStart: now)
        }
        defer { throttle[key] = s; mark(.throttle, key) }
        if s.count < rule.limit {
            s.count += 1
            return true
        }
        s.overflow.add(item)
        return false
    }

    // MARK: Group

    mutating func addToGroup(_ item: HoldItem, rule: GroupRule, now: EpochMillis) {
        var g = groups[item.stateKey] ?? GroupState(route: item.route, target: item.target, flushAt: now + millis(rule.wait))
        let id = item.findingID ?? "\(item.seenAt):\(g.members.count)"
        if let old = g.members[id] {
            if item.severity > old.severity { g.changed = true }
            g.members[id] = GroupMember(title: item.listedTitle, severity: max(old.severity, item.severity), firstSeen: old.firstSeen, lastSeen: item.seenAt,
                                        account: item.account ?? old.account)
        } else {
            if g.members.count >= Self.groupMemberCap, let oldest = g.members.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key {
                g.members[oldest] = nil
            }
            g.members[id] = GroupMember(title: item.listedTitle, severity: item.severity, firstSeen: item.seenAt, lastSeen: item.seenAt, account: item.account)
            g.order.append(id)
            g.changed = true
        }
        groups[item.stateKey] = g
        mark(.group, item.stateKey)
    }

    // MARK: Timers

    /// The earliest time a digest falls due, if any.
    public var nextDue: EpochMillis? {
        var next: EpochMillis?
        // A key whose rule a reload removed is due at once (0): its last digest goes now.
        for g in groups.values {
            let at = rules[g.route]?.group == nil ? 0 : g.flushAt
            next = min(next ?? at, at)
        }
        for (key, t) in throttle where t.overflow.total > 0 {
            let at = throttleRule(key).map { t.periodStart + millis($0.per) } ?? 0
            next = min(next ?? at, at)
        }
        return next
    }

    /// Digests due at `now`: throttle overflow at its period's end, groups at their flush time.
    /// Their new state is not marked for the changelog until `digestDelivered`.
    public mutating func due(now: EpochMillis) -> [Digest] {
        var out: [Digest] = []
        for key in throttle.keys.sorted() {
            guard let t = throttle[key] else { continue }
            // Without its rule (a reload removed it) the period's overflow goes now.
            if let r = throttleRule(key), now < t.periodStart + millis(r.per) { continue }
            guard let d = takeOverflow(key, at: now) else { continue }
            out.append(d)
        }
        for key in groups.keys.sorted() {
            guard var g = groups[key] else { continue }
            guard let r = rules[g.route]?.group else {
                // The route lost its `group` rule in a reload: a last digest if the group changed
                // since its last one, then the group is gone (tombstoned once that digest settled).
                groups[key] = nil
                if g.changed {
                    var d = g.digest(key: key, at: now)
                    d.stateKey = key
                    out.append(d)
                } else {
                    mark(.group, key)
                }
                continue
            }
            guard now >= g.flushAt else { continue }
            // Findings not seen for `repeat` leave the group (GuardDuty re-reports active ones).
            for (id, m) in g.members where now - m.lastSeen >= millis(r.repeatAfter) && g.lastSent != nil {
                g.members[id] = nil
            }
            g.order.removeAll { g.members[$0] == nil }
            if g.members.isEmpty {
                groups[key] = nil
                mark(.group, key)
                continue
            }
            let repeatDue = g.lastSent.map { now - $0 >= millis(r.repeatAfter) } ?? true
            let step = millis(r.interval)
            // Alertmanager's cadence: ticks every `interval` from the first flush.
            g.flushAt += step * max(1, (now - g.flushAt) / step + 1)
            if g.changed || repeatDue {
                var d = g.digest(key: key, at: now)
                d.stateKey = key
                out.append(d)
                g.lastSent = now
                g.changed = false
            } else {
                mark(.group, key)  // only the next tick moved: nothing to deliver first
            }
            groups[key] = g
        }
        return out
    }

    /// The digest of a throttle key's overflow, and the key's period ended (nil: no overflow).
    mutating func takeOverflow(_ key: String, at now: EpochMillis) -> Digest? {
        guard let t = throttle[key], t.overflow.total > 0 else { return nil }
        let parts = StateKey.parts(key)
        var d = t.overflow.digest(kind: .throttle, route: parts[0], target: parts.count > 1 ? parts[1] : "", key: Array(parts.dropFirst(2)), at: now)
        d.stateKey = key
        throttle[key] = nil
        return d
    }

    /// A digest from `due` was delivered (or dead-lettered): now its state may be written. Until
    /// then a restart restores the state from before the digest, which sends it again rather
    /// than never.
    public mutating func digestDelivered(_ d: Digest) {
        mark(d.kind == .group ? .group : .throttle, d.stateKey)
    }

    /// Every pending digest, now (end of an offline run's input).
    public mutating func flushAll(now: EpochMillis) -> [Digest] {
        var out: [Digest] = []
        for key in throttle.keys.sorted() {
            guard let d = takeOverflow(key, at: now) else { continue }
            out.append(d)
            mark(.throttle, key)
        }
        for key in groups.keys.sorted() {
            guard var g = groups[key], g.changed else { continue }
            out.append(g.digest(key: key, at: now))
            g.lastSent = now
            g.changed = false
            groups[key] = g
            mark(.group, key)
        }
        return out
    }

    /// Forgets keys whose state no longer holds anything back; they are tombstoned in the changelog.
    public mutating func expire(now: EpochMillis) {
        let ended = dedupe.ids { id, s in
            guard s.inFlight == nil else { return false }
            // A route without a dedupe rule (a reload removed it) keeps nothing of its keys.
            guard let r = dedupeRule(id) else { return true }
            guard s.heldCount == 0, let last = s.lastDelivery else { return false }
            return now >= last + millis(r.window)
        }
        for id in ended {
            dedupe[id] = nil
            mark(id)
        }
        for (key, t) in throttle where t.overflow.total == 0 {
            if let r = throttleRule(key), now < t.periodStart + millis(r.per) { continue }
            throttle[key] = nil
            mark(.throttle, key)
        }
    }

    func dedupeRule(_ id: DedupeID) -> DedupeRule? { rules[routeNames[Int(id.route)]]?.dedupe }
    func throttleRule(_ key: String) -> ThrottleRule? { routeOf(key).flatMap { rules[$0]?.throttle } }
    func routeOf(_ key: String) -> String? { key.firstIndex(of: "\u{0}").map { String(key[..<$0]) } }

    // MARK: Persistence

    mutating func mark(_ kind: StateKind, _ key: String) { changed[kind, default: []].insert(key) }
    mutating func mark(_ id: DedupeID) { changedDedupe.insert(id) }

    /// Marks the key of `change` changed again: the next `takeChanges` carries its record as it
    /// is now (a changelog write that failed is written again with the key's current state).
    public mutating func markForRewrite(_ change: StateChange) {
        switch change.kind {
        case .dedupe: if let id = dedupeID(changelogKey: change.key) { mark(id) }
        case .throttle, .group: mark(change.kind, change.key)
        }
    }

    /// Records to write since the last call: a record per changed key, nil for a tombstone.
    public mutating func takeChanges() -> [StateChange] {
        if changed.isEmpty {
            if changedDedupe.isEmpty { return [] }
            // The common case, one decision's key: no sorting, no set left to walk.
            if changedDedupe.count == 1, let id = changedDedupe.first {
                changedDedupe.removeAll(keepingCapacity: true)
                return [dedupeChange(id)]
            }
        }
        var out: [StateChange] = []
        out.reserveCapacity(changedDedupe.count)
        for id in changedDedupe.sorted() { out.append(dedupeChange(id)) }
        changedDedupe.removeAll(keepingCapacity: true)
        for (kind, keys) in changed.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            for key in keys.sorted() {
                let record: StateRecord?
                switch kind {
                case .dedupe: record = nil  // dedupe keys are in `changedDedupe`
                case .throttle: record = throttle[key].map { .throttle($0) }
                case .group: record = groups[key].map { .group($0) }
                }
                out.append(StateChange(kind: kind, key: key, record: record))
            }
        }
        changed = [:]
        return out
    }

    /// A dedupe key's record as it is now (a tombstone once it has no delivery).
    func dedupeChange(_ id: DedupeID) -> StateChange {
        let record = dedupe[id].flatMap { $0.lastDelivery == nil ? nil : StateRecord.dedupe($0.persisted) }
        return StateChange(kind: .dedupe, key: changelogKey(id), record: record)
    }

    /// A record for every key held now (what a changelog compacted to this state holds).
    public mutating func allRecords() -> [StateChange] {
        for id in dedupe.ids(where: { _, s in s.lastDelivery != nil }) { mark(id) }
        for key in throttle.keys { mark(.throttle, key) }
        for key in groups.keys { mark(.group, key) }
        return takeChanges()
    }

    /// Replays one changelog record straight from its bytes (restore's path: no strings made
    /// for the common record, a hashed dedupe key). False when the bytes are not a record.
    public mutating func restore(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?) -> Bool {
        // `d \0 route \0 32 hex digits`, the form this version writes.
        if key.count > 35, key[0] == UInt8(ascii: "d"), key[1] == 0, key[key.count - 33] == 0,
           let d = DedupeID.parse(hex: UnsafeRawBufferPointer(rebasing: key[(key.count - 32)...])) {
            let routeBytes = UnsafeRawBufferPointer(rebasing: key[2..<(key.count - 33)])
            if !routeBytes.contains(0) {
                guard let value else {
                    if let r = restoredRouteIndex(routeBytes) { dedupe[DedupeID(high: d.high, low: d.low, route: r)] = nil }
                    return true
                }
                guard let s = DedupeRecordFormat.decode(value), let r = restoredRouteIndex(routeBytes) else { return false }
                dedupe[DedupeID(high: d.high, low: d.low, route: r)] = s
                return true
            }
        }
        guard let change = StateCodec.decode(key: key, value: value) else { return false }
        restore(change)
        return true
    }

    /// The index of a route named by bytes; the last one found is remembered (a changelog
    /// partition is mostly one route's keys).
    private mutating func restoredRouteIndex(_ bytes: UnsafeRawBufferPointer) -> UInt16? {
        if let last = lastRestoredRoute, routeNames[Int(last)].utf8.elementsEqual(bytes) { return last }
        let i = index(ofRoute: String(decoding: bytes, as: UTF8.self))
        lastRestoredRoute = i
        return i
    }

    /// Replays one changelog record (nil: a tombstone).
    public mutating func restore(_ change: StateChange) {
        switch (change.kind, change.record) {
        case (.dedupe, .dedupe(let s)?): if let id = dedupeID(changelogKey: change.key) { dedupe[id] = s }
        case (.throttle, .throttle(let s)?): throttle[change.key] = s
        case (.group, .group(let s)?): groups[change.key] = s
        case (.dedupe, _): if let id = dedupeID(changelogKey: change.key) { dedupe[id] = nil }
        case (.throttle, _): throttle[change.key] = nil
        case (.group, _): groups[change.key] = nil
        }
    }

    /// Keys held in memory, by kind (for metrics and the bench's bytes-per-key figure).
    public var keyCounts: (dedupe: Int, throttle: Int, groups: Int) { (dedupe.count, throttle.count, groups.count) }
}

// MARK: State records

public enum StateKind: String, Sendable, Hashable {
    case dedupe = "d", throttle = "t", group = "g"

    /// The kind a changelog key's first byte names.
    init?(byte: UInt8) {
        switch byte {
        case UInt8(ascii: "d"): self = .dedupe
        case UInt8(ascii: "t"): self = .throttle
        case UInt8(ascii: "g"): self = .group
        default: return nil
        }
    }
}

/// One changelog record: the state of one key, or a tombstone (`record == nil`).
public struct StateChange: Sendable, Equatable {
    public var kind: StateKind
    public var key: String
    public var record: StateRecord?
}

public enum StateRecord: Sendable, Equatable {
    case dedupe(DedupeState)
    case throttle(ThrottleState)
    case group(GroupState)
}

final class ParkedItem: Sendable, Equatable {
    let item: HoldItem
    init(_ item: HoldItem) { self.item = item }
    static func == (a: ParkedItem, b: ParkedItem) -> Bool { a.item == b.item }
}

struct InFlight: Sendable, Equatable {
    var ticket: UInt64
    var severity: Double
    var at: EpochMillis
}

public struct DedupeState: Sendable, Equatable {
    /// When the last successful delivery was released; the window runs from here.
    var lastDelivery: EpochMillis?
    /// The highest severity delivered in the window.
    var severity: Double?
    var heldCount = 0
    var firstSeen: EpochMillis
    var lastSeen: EpochMillis
    /// In memory only: a delivery under way and the latest repeat held behind it (boxed: a
    /// rare case that must not make every one of a million records larger).
    var inFlight: InFlight?
    var parkedBox: ParkedItem?
    var parked: HoldItem? {
        get { parkedBox?.item }
        set { parkedBox = newValue.map(ParkedItem.init) }
    }

    init(firstSeen: EpochMillis, lastSeen: EpochMillis? = nil) {
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen ?? firstSeen
    }

    init(lastDelivery: EpochMillis?, severity: Double?, heldCount: Int, firstSeen: EpochMillis, lastSeen: EpochMillis) {
        self.lastDelivery = lastDelivery
        self.severity = severity
        self.heldCount = heldCount
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }

    var persisted: DedupeState { DedupeState(lastDelivery: lastDelivery, severity: severity, heldCount: heldCount, firstSeen: firstSeen, lastSeen: lastSeen) }
}

public struct ThrottleState: Sendable, Equatable {
    var periodStart: EpochMillis
    var count = 0
    var overflow = DigestAccumulator()
}

struct GroupMember: Sendable, Equatable {
    var title: String
    var severity: Double
    var firstSeen: EpochMillis
    var lastSeen: EpochMillis
    var account: String? = nil
}

public struct GroupState: Sendable, Equatable {
    var route: String
    var target: String
    var flushAt: EpochMillis
    var lastSent: EpochMillis?
    /// New findings or a severity increase since the last digest.
    var changed = false
    var members: [String: GroupMember] = [:]
    /// Member ids in arrival order (the digest lists the first ones).
    var order: [String] = []

    init(route: String, target: String, flushAt: EpochMillis) {
        self.route = route
        self.target = target
        self.flushAt = flushAt
    }

    func digest(key: String, at now: EpochMillis) -> Digest {
        var acc = DigestAccumulator()
        for id in order {
            guard let m = members[id] else { continue }
            acc.add(DigestEntry(findingID: id, title: m.title, severity: m.severity, account: m.account))
        }
        return acc.digest(kind: .group, route: route, target: target, key: Array(StateKey.parts(key).dropFirst(2)), at: now)
    }
}
