import Foundation
import SluiceCore
import Synchronization

/// The expiry summary of a silence with `notify:` — "N findings were held by this silence; M are
/// still active" — sent once for all instances, with no coordinator but the silences topic.
///
/// Each instance counts its own holds. When a silence has ended, every instance publishes a
/// report (its count and the findings it held) to the silences topic, a single partition every
/// instance reads whole, so all see the reports in one order. The instance whose report is first
/// sends the summary, `grace` after it saw that report, summing every report seen by then. A
/// restart does not send again: the first report names the instance that was chosen then. If that
/// instance dies within the grace, no summary is sent (at most once: it is a notice, not a finding).
public final class SilenceSummaries: Sendable {
    /// Report records share the silences topic under keys that are never silence ids.
    static let reportPrefix = "\u{1}report\u{0}"

    public struct Report: Sendable, Equatable {
        public var silence: String
        public var instance: String
        public var held: Int
        public var active: [String]
    }

    /// What the caller carries out: publish this instance's report, or send a summary.
    public enum Action: Sendable, Equatable {
        case publish(key: [UInt8], value: [UInt8])
        case send(connector: String, silence: String, payload: [UInt8])
    }

    struct Inner {
        var reported: Set<String> = []
        /// Reports by silence, in topic order.
        var reports: [String: [Report]] = [:]
        /// When this instance saw the first report of a silence it must summarise.
        var firstSeen: [String: EpochMillis] = [:]
        var sent: Set<String> = []
    }

    public let instance: String
    let grace: EpochMillis
    /// Ended silences are reported only this long after their end (a restart much later is quiet).
    public let reportWithin: EpochMillis
    private let inner = Mutex(Inner())

    public init(instance: String = UUID().uuidString.lowercased(), grace: EpochMillis = 5_000, reportWithin: EpochMillis = 600_000) {
        self.instance = instance
        self.grace = grace
        self.reportWithin = reportWithin
    }

    /// Takes a record of the silences topic if it is a report (true), else leaves it to `SilenceRecords`.
    public func apply(key: [UInt8], value: [UInt8]?, now: EpochMillis) -> Bool {
        let k = String(decoding: key, as: UTF8.self)
        guard k.hasPrefix(Self.reportPrefix) else { return false }
        guard let value, let j = try? JSON.parse(String(decoding: value, as: UTF8.self)),
              let silence = j["silence"]?.stringValue, let from = j["instance"]?.stringValue,
              let held = StateCodec.int(j["held"]).flatMap({ Int(exactly: $0) }), held >= 0 else { return true }
        let active = (j["active"]?.arrayValue ?? []).compactMap(\.stringValue)
        inner.withLock { s in
            if s.reports[silence]?.contains(where: { $0.instance == from }) == true { return }
            s.reports[silence, default: []].append(Report(silence: silence, instance: from, held: held, active: active))
            if s.reports[silence]?.first?.instance == instance, s.firstSeen[silence] == nil { s.firstSeen[silence] = now }
        }
        return true
    }

    /// Reports to publish for silences that ended, and summaries due from this instance.
    public func tick(ended: [(silence: Silence, tally: SilenceTally)], now: EpochMillis) -> [Action] {
        inner.withLock { s in
            var out: [Action] = []
            for (silence, tally) in ended where !s.reported.contains(silence.id) && now - silence.endsAt <= reportWithin {
                s.reported.insert(silence.id)
                let r = Report(silence: silence.id, instance: instance, held: tally.held, active: tally.active(before: silence.endsAt))
                out.append(.publish(key: Array((Self.reportPrefix + silence.id + "\u{0}" + instance).utf8), value: Self.value(r)))
            }
            for (silence, _) in ended where !s.sent.contains(silence.id) {
                guard let notify = silence.notify, let seen = s.firstSeen[silence.id], now - seen >= grace,
                      let reports = s.reports[silence.id] else { continue }
                s.sent.insert(silence.id)
                out.append(.send(connector: notify, silence: silence.id, payload: Self.summary(silence, reports)))
            }
            return out
        }
    }

    static func value(_ r: Report) -> [UInt8] {
        Array(JSON.object([
            (key: "silence", value: .string(r.silence)), (key: "instance", value: .string(r.instance)),
            (key: "held", value: JSON.number(Double(r.held))), (key: "active", value: .array(r.active.map { .string($0) })),
        ]).serialized().utf8)
    }

    /// The summary payload: JSON with a `text` line chat targets show as is. The silence's own
    /// fields are data, placed in strings only.
    static func summary(_ silence: Silence, _ reports: [Report]) -> [UInt8] {
        let held = reports.reduce(0) { $0 + $1.held }
        let active = Set(reports.flatMap(\.active)).count
        let text = "\(held) finding\(held == 1 ? " was" : "s were") held by this silence; \(active) \(active == 1 ? "is" : "are") still active"
        return Array(JSON.object([
            (key: "sluice_silence_expired", value: .string(silence.id)),
            (key: "held", value: JSON.number(Double(held))), (key: "active", value: JSON.number(Double(active))),
            (key: "created_by", value: .string(silence.createdBy)), (key: "comment", value: .string(silence.comment)),
            (key: "text", value: .string("Silence \(silence.id) ended: " + text + " (\(silence.comment))")),
        ]).serialized().utf8)
    }
}
