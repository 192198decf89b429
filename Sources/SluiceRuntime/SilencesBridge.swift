import Foundation
import SluiceAdmin
import SluiceCore
import SluiceFormats
import SluiceKafka
import SluiceState

/// The admin API's silences: written to the silences topic with the state producer (every
/// instance, this one included, follows that topic) and applied here at once, so the answer
/// and the next finding agree.
final class SilencesBridge: SilencesRuntime {
    let hold: HoldStage
    let producer: KafkaProducer
    let topic: String
    /// The run's decode limits: the preview reads the feed's records as the planner did.
    let limits: DecodeLimits

    init(hold: HoldStage, producer: KafkaProducer, topic: String, limits: DecodeLimits = .standard) {
        self.limits = limits
        self.hold = hold
        self.producer = producer
        self.topic = topic
    }

    static func nowMs() -> EpochMillis { EpochMillis(Date().timeIntervalSince1970 * 1000) }

    func silences(all: Bool) async throws(OperationsError) -> [SilenceStatus] {
        let now = Self.nowMs()
        return hold.silences.filter { all || $0.endsAt > now }.map { Self.status($0, now: now) }
    }

    func createSilence(_ request: SilenceCreate, by principal: String) async throws(OperationsError) -> SilenceStatus {
        guard let duration = DurationText.parse(request.duration) else {
            throw .badRequest("duration must be a duration such as 30m, 2h or 7d")
        }
        guard duration <= Silence.defaultMaxDuration else { throw .badRequest("a silence lasts at most 7d") }
        let matchers: JSON
        do { matchers = try JSON.parse(request.matchers) } catch { throw .badRequest("matchers is not JSON (\(error.rawValue))") }
        let now = Self.nowMs()
        let silence = Silence(id: UUID().uuidString.lowercased(), matchers: matchers, startsAt: now,
                              endsAt: now + HoldRuleLoader.milliseconds(duration), createdBy: principal, comment: request.comment,
                              notify: request.notify)
        let problems = silence.problems()
        guard problems.isEmpty else { throw .badRequest(problems.joined(separator: "; ")) }
        try await write(silence)
        return Self.status(silence, now: now)
    }

    func expireSilence(id: String, by principal: String) async throws(OperationsError) -> SilenceStatus {
        guard var silence = hold.silences.first(where: { $0.id == id }) else { throw .notFound("no silence \(id)") }
        let now = Self.nowMs()
        silence.endsAt = max(silence.startsAt + 1, min(silence.endsAt, now))
        try await write(silence)
        return Self.status(silence, now: now)
    }

    func previewSilence(matchers text: String, recent: [FindingRecord]) async throws(OperationsError) -> SilencePreview {
        let json: JSON
        do { json = try JSON.parse(text) } catch { throw .badRequest("matchers is not JSON (\(error.rawValue))") }
        let pattern: Pattern
        do { pattern = try Pattern(json: json) } catch { throw .badRequest("matchers: \(error.message)") }
        // Each finding of the record as routes and silences see it (its format's fields and the
        // `sluice` view), judged by the silences' own test; a record whose bytes the feed did not
        // keep (over the cap) or that no longer decodes is judged on id, type and severity.
        let decoder = FindingDecoder(limits: limits)
        let held = recent.filter { record in
            if let bytes = record.finding {
                var hit = false
                let rejection = decoder.decode(bytes) { f in
                    if !hit, Silence.holds(pattern, JSON(f.event)) { hit = true }
                }
                if rejection == nil { return hit }
            }
            return Silence.holds(pattern, Silence.partialEvent(id: record.id, type: record.type, severity: record.severity))
        }
        return SilencePreview(examined: recent.count, matching: held.count, findings: held)
    }

    private func write(_ silence: Silence) async throws(OperationsError) {
        do {
            try await producer.send(topic: topic, key: Array(silence.id.utf8), value: SilenceRecords.value(silence))
        } catch {
            throw .unavailable("the silences topic did not take the silence: \(error)")
        }
        hold.applySilence(id: silence.id, silence)
    }

    static func status(_ s: Silence, now: EpochMillis) -> SilenceStatus {
        func iso(_ ms: EpochMillis) -> String { Date(timeIntervalSince1970: Double(ms) / 1000).formatted(.iso8601) }
        return SilenceStatus(
            id: s.id, matchers: s.matchers.serialized(), status: now < s.startsAt ? "pending" : now < s.endsAt ? "active" : "expired",
            startsAt: iso(s.startsAt), endsAt: iso(s.endsAt), createdBy: s.createdBy, comment: s.comment, notify: s.notify)
    }
}
