import SluiceCore
import SluiceGuardDuty

/// A silence: findings matching `matchers` (an event pattern) are held from `startsAt` to `endsAt`.
/// Kept in the compacted `<prefix>silences` topic, keyed by id, read whole by every instance.
public struct Silence: Sendable, Equatable {
    public var id: String
    public var matchers: JSON
    public var startsAt: EpochMillis
    public var endsAt: EpochMillis
    public var createdBy: String
    public var comment: String
    /// A connector instance told at expiry how many findings the silence held (optional).
    public var notify: String?

    /// Longest silence accepted unless configured otherwise: a forgotten silence must end.
    public static let defaultMaxDuration: Duration = .seconds(7 * 86_400)

    public init(id: String, matchers: JSON, startsAt: EpochMillis, endsAt: EpochMillis, createdBy: String, comment: String, notify: String? = nil) {
        self.notify = notify
        self.id = id
        self.matchers = matchers
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.createdBy = createdBy
        self.comment = comment
    }

    /// Whether a silence with `pattern` holds `event`: the one test every check uses — at match
    /// time, at send time, on a digest's entries and in the dashboard's preview.
    public static func holds(_ pattern: Pattern, _ event: JSON) -> Bool { ReferenceMatcher.matches(pattern, event) }

    /// Problems that make the silence unacceptable (empty when valid).
    public func problems(maxDuration: Duration = Silence.defaultMaxDuration) -> [String] {
        var out: [String] = []
        if id.isEmpty || id.utf8.count > 128 { out.append("id must be 1 to 128 bytes") }
        if createdBy.trimmingCharacters(in: .whitespaces).isEmpty { out.append("created_by is required") }
        if comment.trimmingCharacters(in: .whitespaces).isEmpty { out.append("comment is required") }
        if let notify, notify.isEmpty || notify.utf8.count > 128 { out.append("notify must name a connector instance") }
        if endsAt <= startsAt { out.append("ends_at must be after starts_at") }
        if endsAt - startsAt > millis(maxDuration) { out.append("a silence lasts at most \(maxDuration)") }
        do { _ = try Pattern(json: matchers) } catch { out.append("matchers: \(error.message)") }
        return out
    }

    public var json: JSON {
        var fields: [(key: String, value: JSON)] = [
            (key: "id", value: .string(id)), (key: "matchers", value: matchers),
            (key: "starts_at", value: JSON.number(Double(startsAt))), (key: "ends_at", value: JSON.number(Double(endsAt))),
            (key: "created_by", value: .string(createdBy)), (key: "comment", value: .string(comment)),
        ]
        if let notify { fields.append((key: "notify", value: .string(notify))) }
        return .object(fields)
    }

    /// Reads a silence record; nil when a field is missing or of the wrong type (a bad record is skipped, never trusted).
    public init?(json: JSON) {
        guard let id = json["id"]?.stringValue, let m = json["matchers"], m.objectValue != nil,
              let s = json["starts_at"]?.doubleValue, let e = json["ends_at"]?.doubleValue,
              let by = json["created_by"]?.stringValue, let c = json["comment"]?.stringValue,
              let startsAt = EpochMillis(exactly: s.rounded()), let endsAt = EpochMillis(exactly: e.rounded()),
              // A record of the topic is outside data: an end near Int64.min overflowed `now - endsAt`.
              isPlausibleEpochMillis(startsAt), isPlausibleEpochMillis(endsAt) else { return nil }
        self.init(id: id, matchers: m, startsAt: startsAt, endsAt: endsAt, createdBy: by, comment: c, notify: json["notify"]?.stringValue)
    }
}

extension Silence {
    /// What a silence can judge of a finding known only by a few fields (a digest entry, a row of
    /// the admin feed): those fields as GuardDuty's `detail.*`, a top-level `id` and the view's
    /// `sluice.*`. A silence on any other field does not match it.
    public static func partialEvent(id: String?, title: String? = nil, type: String? = nil, severity: Double?, account: String? = nil) -> JSON {
        var detail: [(key: String, value: JSON)] = []
        var view: [(key: String, value: JSON)] = []
        if let account { detail.append((key: "accountId", value: .string(account))); view.append((key: "account", value: .string(account))) }
        if let id { detail.append((key: "id", value: .string(id))); view.append((key: "id", value: .string(id))) }
        if let title { detail.append((key: "title", value: .string(title))); view.append((key: "title", value: .string(title))) }
        if let type { detail.append((key: "type", value: .string(type))); view.append((key: "type", value: .string(type))) }
        if let severity, severity.isFinite {
            detail.append((key: "severity", value: JSON.number(severity)))
            view.append((key: "severity", value: .string(FindingSummary.SeverityLabel(severity: severity).rawValue)))
        }
        return .object((id.map { [(key: "id", value: JSON.string($0))] } ?? []) + (account.map { [(key: "account", value: JSON.string($0))] } ?? [])
                       + [(key: "detail", value: .object(detail)), (key: "sluice", value: .object(view))])
    }
}

/// Every known silence, with compiled patterns; answers "is this finding silenced now?".
public struct SilenceSet: Sendable {
    var silences: [String: (silence: Silence, pattern: Pattern)] = [:]
    /// What each silence held on this instance (for the expiry summary).
    public private(set) var heldBy: [String: SilenceTally] = [:]

    public init() {}

    /// Adds or replaces a silence (a record of the silences topic); nil removes it (a tombstone).
    public mutating func apply(id: String, _ silence: Silence?) {
        guard let silence, let pattern = try? Pattern(json: silence.matchers) else {
            silences[id] = nil
            return
        }
        silences[id] = (silence, pattern)
    }

    public var all: [Silence] { silences.values.map(\.silence).sorted { $0.startsAt == $1.startsAt ? $0.id < $1.id : $0.startsAt < $1.startsAt } }

    /// The id of a silence holding `event` at `now`, counting the hold.
    public mutating func silencing(_ event: JSON, findingID: String? = nil, now: EpochMillis) -> String? {
        for (id, s) in silences.sorted(by: { $0.key < $1.key }) {
            if now >= s.silence.startsAt, now < s.silence.endsAt, Silence.holds(s.pattern, event) {
                heldBy[id, default: SilenceTally()].add(findingID, at: now)
                return id
            }
        }
        return nil
    }

    /// Silences with `notify:` that ended at most `within` ago, with what they held here.
    public func ended(now: EpochMillis, within: EpochMillis) -> [(silence: Silence, tally: SilenceTally)] {
        silences.values.compactMap { s in
            guard s.silence.notify != nil, s.silence.endsAt <= now, now - s.silence.endsAt <= within else { return nil }
            return (s.silence, heldBy[s.silence.id] ?? SilenceTally())
        }.sorted { $0.silence.id < $1.silence.id }
    }
}

/// The findings one silence held on one instance: every hold counted, distinct findings with the
/// time they were last held (bounded: beyond the cap, holds are still counted).
public struct SilenceTally: Sendable, Equatable {
    public static let findingCap = 10_000
    public private(set) var held = 0
    public private(set) var lastHeld: [String: EpochMillis] = [:]

    public init() {}

    mutating func add(_ findingID: String?, at now: EpochMillis) {
        held += 1
        guard let findingID, lastHeld[findingID] != nil || lastHeld.count < Self.findingCap else { return }
        lastHeld[findingID] = now
    }

    /// Findings held within `window` before `end`: GuardDuty republishes an active finding at
    /// least every 6 hours, so one held in the silence's last 6 hours is still active.
    public func active(before end: EpochMillis, window: EpochMillis = 6 * 3_600_000) -> [String] {
        lastHeld.filter { end - $0.value <= window }.keys.sorted()
    }
}
