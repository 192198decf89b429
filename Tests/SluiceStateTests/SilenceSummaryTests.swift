import SluiceCore
import Testing
@testable import SluiceState

/// The expiry summary of a silence, as two instances reading one silences topic decide it:
/// each reports, the first report's instance sends once, summing every report.
@Suite struct SilenceSummaryTests {
    let silence = Silence(id: "s1", matchers: .object([(key: "source", value: .array([.string("aws.guardduty")]))]),
                          startsAt: 0, endsAt: 60_000, createdBy: "ana", comment: "patching", notify: "hook")
    let hour: EpochMillis = 3_600_000

    func event(_ id: String) -> JSON {
        .object([(key: "source", value: .string("aws.guardduty")), (key: "detail", value: .object([(key: "id", value: .string(id))]))])
    }

    /// Carries out `publish` actions as the topic would: appended in order, read by both.
    func deliver(_ actions: [SilenceSummaries.Action], to readers: [SilenceSummaries], now: EpochMillis) {
        for case .publish(let key, let value) in actions {
            for r in readers { #expect(r.apply(key: key, value: value, now: now)) }
        }
    }

    @Test func firstReporterSendsOnceWithTheSumOfAllReports() throws {
        var a = SilenceSet(), b = SilenceSet()
        a.apply(id: "s1", silence)
        b.apply(id: "s1", silence)
        // a holds f1 twice and f2; b holds f2 and f3: 5 holds, 3 distinct findings.
        for id in ["f1", "f1", "f2"] { #expect(a.silencing(event(id), findingID: id, now: 1_000) == "s1") }
        for id in ["f2", "f3"] { #expect(b.silencing(event(id), findingID: id, now: 2_000) == "s1") }
        let sa = SilenceSummaries(instance: "a", grace: 5_000), sb = SilenceSummaries(instance: "b", grace: 5_000)

        #expect(sa.tick(ended: a.ended(now: 59_000, within: sa.reportWithin), now: 59_000).isEmpty)  // not ended yet
        let reportA = sa.tick(ended: a.ended(now: 60_500, within: sa.reportWithin), now: 60_500)
        let reportB = sb.tick(ended: b.ended(now: 60_700, within: sb.reportWithin), now: 60_700)
        #expect(reportA.count == 1 && reportB.count == 1)
        deliver(reportA + reportB, to: [sa, sb], now: 61_000)

        #expect(sa.tick(ended: a.ended(now: 65_999, within: sa.reportWithin), now: 65_999).isEmpty)  // within the grace
        let sent = sa.tick(ended: a.ended(now: 66_000, within: sa.reportWithin), now: 66_000)
        #expect(sb.tick(ended: b.ended(now: 70_000, within: sb.reportWithin), now: 70_000).isEmpty)  // b was not first
        #expect(sa.tick(ended: a.ended(now: 70_000, within: sa.reportWithin), now: 70_000).isEmpty)  // once
        guard case .send(let connector, let id, let payload)? = sent.first, sent.count == 1 else {
            Issue.record("expected one summary, got \(sent)")
            return
        }
        #expect(connector == "hook" && id == "s1")
        let json = try JSON.parse(String(decoding: payload, as: UTF8.self))
        #expect(json["text"]?.stringValue == "Silence s1 ended: 5 findings were held by this silence; 3 are still active (patching)")
        #expect(json["held"]?.doubleValue == 5)
        #expect(json["active"]?.doubleValue == 3)
    }

    @Test func aFindingLastHeldMoreThanSixHoursBeforeTheEndIsNoLongerActive() {
        var tally = SilenceTally()
        tally.add("old", at: 0)
        tally.add("new", at: 7 * hour)
        tally.add(nil, at: 7 * hour)
        #expect(tally.held == 3)
        #expect(tally.active(before: 8 * hour) == ["new"])
    }

    @Test func aRestartLongAfterTheEndReportsNothing() {
        var set = SilenceSet()
        set.apply(id: "s1", silence)
        let late = SilenceSummaries(instance: "c")
        #expect(late.tick(ended: set.ended(now: 60_000 + late.reportWithin + 1, within: late.reportWithin), now: 60_000 + late.reportWithin + 1).isEmpty)
    }

    @Test func reportRecordsAreNotSilences() {
        let s = SilenceSummaries(instance: "a")
        #expect(!s.apply(key: Array("s1".utf8), value: SilenceRecords.value(silence), now: 0))
        #expect(s.apply(key: Array("\u{1}report\u{0}s1\u{0}x".utf8), value: Array("not json".utf8), now: 0))  // taken, ignored
    }

    /// A silences-topic record is outside data. One ending near Int64.min with `notify:` trapped
    /// every instance in `now - endsAt` (the summary tick, twice a second); times beyond ±9e15 ms
    /// make it no silence, as any record that does not decode.
    @Test func aSilenceRecordWithAbsurdTimesIsNoSilence() throws {
        let hostile = [(-9.2e18, -9.2e18), (0.0, 9.2e18), (-1e300, 0.0), (9e15, 9.1e15)]
        var set = SilenceSet()
        for (n, (start, end)) in hostile.enumerated() {
            let text = #"{"id":"h\#(n)","matchers":{"source":["aws.guardduty"]},"starts_at":\#(start),"ends_at":\#(end),"created_by":"x","comment":"x","notify":"hook"}"#
            let json = try JSON.parse(text)
            #expect(Silence(json: json) == nil, "\(text)")
            set.apply(id: "h\(n)", Silence(json: json))
        }
        #expect(set.all.isEmpty)
        #expect(set.ended(now: 1_700_000_000_000, within: hour).isEmpty)
        // The widest times taken still subtract from now without trapping.
        let wide = try #require(Silence(json: try JSON.parse(
            #"{"id":"w","matchers":{"source":["aws.guardduty"]},"starts_at":-8.9e15,"ends_at":-8.8e15,"created_by":"x","comment":"x","notify":"hook"}"#)))
        set.apply(id: "w", wide)
        #expect(set.ended(now: 1_700_000_000_000, within: hour).isEmpty)
        let summaries = SilenceSummaries(instance: "a", reportWithin: .max)
        #expect(summaries.tick(ended: set.ended(now: 1_700_000_000_000, within: .max), now: 1_700_000_000_000).count == 1)
    }

    @Test func notifyRoundTripsAndIsValidated() {
        #expect(Silence(json: silence.json) == silence)
        var bad = silence
        bad.notify = ""
        #expect(bad.problems().contains("notify must name a connector instance"))
    }
}
