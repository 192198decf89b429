import SluiceCore
import Testing
@testable import SluiceState

/// Builds items the way the source instance does, from a finding-shaped event.
struct Fixture {
    let rules: HoldRules
    let route = "r"
    let target = "t"

    func item(id: String, type: String = "Recon:EC2/PortProbe", severity: Double = 5, at: EpochMillis, account: String = "111") -> HoldItem {
        let event: JSON = .object([(key: "detail", value: .object([
            (key: "id", value: .string(id)), (key: "type", value: .string(type)),
            (key: "severity", value: JSON.number(severity)), (key: "accountId", value: .string(account)),
        ]))])
        return HoldItem.make(rules: rules, route: route, target: target, event: event, findingID: id, title: "\(type) \(id)",
                             severity: severity, seenAt: at, payload: Array(id.utf8), account: account)!
    }
}

let minute: EpochMillis = 60_000

@Suite struct DedupeTests {
    let f = Fixture(rules: HoldRules(dedupe: DedupeRule(key: ["detail.id"], window: .seconds(3600))))

    /// Offers and settles every delivery at once (success unless `fail` says otherwise).
    func run(_ engine: inout HoldEngine, _ item: HoldItem, at now: EpochMillis, fail: Bool = false) -> HoldDecision {
        let d = engine.offer(item, now: now)
        if case .deliver(let r) = d, let t = r.ticket { _ = engine.settled(ticket: t, succeeded: !fail, now: now) }
        return d
    }

    @Test func windowRunsFromLastDeliveryAndCarriesHeldCounts() {
        var e = HoldEngine(rules: [f.route: f.rules])
        guard case .deliver(let first) = run(&e, f.item(id: "a", at: 0), at: 0) else { Issue.record("first not delivered"); return }
        #expect(first.hold == nil)
        // Repeats within the window are held; they do not extend it.
        for t in [10, 30, 59] as [EpochMillis] {
            #expect(run(&e, f.item(id: "a", at: t * minute), at: t * minute) == .held(.dedupe))
        }
        // Another key is independent.
        if case .held = run(&e, f.item(id: "b", at: 5 * minute), at: 5 * minute) { Issue.record("other key held") }
        guard case .deliver(let next) = run(&e, f.item(id: "a", at: 61 * minute), at: 61 * minute) else {
            Issue.record("repeat after the window was held"); return
        }
        #expect(next.hold == HoldMetadata(heldCount: 3, firstSeen: 0, lastSeen: 61 * minute))
        // The window restarted at 61 min.
        #expect(run(&e, f.item(id: "a", at: 100 * minute), at: 100 * minute) == .held(.dedupe))
    }

    @Test func severityIncreaseIsDeliveredAtOnce() {
        var e = HoldEngine(rules: [f.route: f.rules])
        _ = run(&e, f.item(id: "a", severity: 5, at: 0), at: 0)
        #expect(run(&e, f.item(id: "a", severity: 5, at: minute), at: minute) == .held(.dedupe))
        if case .held = run(&e, f.item(id: "a", severity: 8, at: 2 * minute), at: 2 * minute) { Issue.record("increase held") }
        // The increase restarted the window at severity 8: 7 is not an increase any more.
        #expect(run(&e, f.item(id: "a", severity: 7, at: 3 * minute), at: 3 * minute) == .held(.dedupe))
    }

    @Test func failedDeliveryDoesNotHideTheNextRepeat() {
        var e = HoldEngine(rules: [f.route: f.rules])
        if case .held = run(&e, f.item(id: "a", at: 0), at: 0, fail: true) { Issue.record("first held") }
        if case .held = run(&e, f.item(id: "a", at: minute), at: minute) { Issue.record("repeat after a dead-lettered delivery was held") }
        #expect(run(&e, f.item(id: "a", at: 2 * minute), at: 2 * minute) == .held(.dedupe))
    }

    @Test func repeatParkedBehindAFailedDeliveryIsReleased() {
        var e = HoldEngine(rules: [f.route: f.rules])
        guard case .deliver(let first) = e.offer(f.item(id: "a", at: 0), now: 0), let ticket = first.ticket else {
            Issue.record("first not delivered with a ticket"); return
        }
        #expect(e.offer(f.item(id: "a", at: minute), now: minute) == .held(.dedupe))
        let released = e.settled(ticket: ticket, succeeded: false, now: 2 * minute)
        #expect(released?.item.seenAt == 2 * minute)
        #expect(released?.item.payload == Array("a".utf8))
    }

    /// Repeats decided while the first delivery is under way: those within the window stay held;
    /// one after the window goes out when the first succeeds, carrying the count held before it.
    @Test func repeatAfterTheWindowParkedBehindASuccessIsReleasedWithHeldCount() {
        var e = HoldEngine(rules: [f.route: f.rules])
        guard case .deliver(let first) = e.offer(f.item(id: "a", at: 0), now: 0), let ticket = first.ticket else {
            Issue.record("first not delivered with a ticket"); return
        }
        #expect(e.offer(f.item(id: "a", at: 10 * minute), now: 10 * minute) == .held(.dedupe))
        #expect(e.offer(f.item(id: "a", at: 20 * minute), now: 20 * minute) == .held(.dedupe))
        #expect(e.offer(f.item(id: "a", at: 120 * minute), now: 120 * minute) == .held(.dedupe))
        let released = e.settled(ticket: ticket, succeeded: true, now: 0)
        #expect(released?.item.seenAt == 120 * minute)
        #expect(released?.hold == HoldMetadata(heldCount: 2, firstSeen: 0, lastSeen: 120 * minute))
        #expect(released?.ticket != nil)
        // Within the window of that delivery, the next repeat is held again.
        if let t = released?.ticket { _ = e.settled(ticket: t, succeeded: true, now: 120 * minute) }
        #expect(e.offer(f.item(id: "a", at: 130 * minute), now: 130 * minute) == .held(.dedupe))
    }

    @Test func repeatWithinTheWindowParkedBehindASuccessStaysHeld() {
        var e = HoldEngine(rules: [f.route: f.rules])
        guard case .deliver(let first) = e.offer(f.item(id: "a", at: 0), now: 0), let ticket = first.ticket else {
            Issue.record("first not delivered with a ticket"); return
        }
        #expect(e.offer(f.item(id: "a", at: 10 * minute), now: 10 * minute) == .held(.dedupe))
        #expect(e.settled(ticket: ticket, succeeded: true, now: 10 * minute) == nil)
    }

    @Test func recordIsWrittenOnlyAfterSuccess() {
        var e = HoldEngine(rules: [f.route: f.rules])
        guard case .deliver(let r) = e.offer(f.item(id: "a", at: 0), now: 0), let t = r.ticket else { Issue.record("no ticket"); return }
        #expect(e.takeChanges().allSatisfy { $0.record == nil })  // nothing to persist while in flight
        _ = e.settled(ticket: t, succeeded: true, now: 0)
        let changes = e.takeChanges()
        #expect(changes.count == 1)
        #expect(changes.first?.kind == .dedupe)
        if case .dedupe(let s)? = changes.first?.record { #expect(s.lastDelivery == 0) } else { Issue.record("no dedupe record") }
    }

    @Test func restoredStateDecidesTheSame() {
        var a = HoldEngine(rules: [f.route: f.rules])
        _ = run(&a, f.item(id: "a", at: 0), at: 0)
        _ = run(&a, f.item(id: "a", at: minute), at: minute)
        var b = HoldEngine(rules: [f.route: f.rules])
        for change in a.takeChanges() {
            // Through the bytes the changelog holds.
            let decoded = StateCodec.decode(key: StateCodec.key(change), value: StateCodec.value(change))
            #expect(decoded == change)
            if let decoded { b.restore(decoded) }
        }
        #expect(run(&b, f.item(id: "a", at: 2 * minute), at: 2 * minute) == .held(.dedupe))
        guard case .deliver(let r) = run(&b, f.item(id: "a", at: 61 * minute), at: 61 * minute) else { Issue.record("held after window"); return }
        #expect(r.hold?.heldCount == 2)
    }

    @Test func expiredKeysAreTombstoned() {
        var e = HoldEngine(rules: [f.route: f.rules])
        _ = run(&e, f.item(id: "a", at: 0), at: 0)
        _ = e.takeChanges()
        e.expire(now: 30 * minute)
        #expect(e.takeChanges().isEmpty)
        e.expire(now: 60 * minute)
        let c = e.takeChanges()
        #expect(c.count == 1 && c[0].record == nil)
        #expect(e.keyCounts.dedupe == 0)
    }
}

@Suite struct ThrottleTests {
    let f = Fixture(rules: HoldRules(throttle: ThrottleRule(key: ["detail.type"], limit: 20, per: .seconds(600))))

    @Test func twentyOfFiftyThenOneDigestOfThirty() {
        var e = HoldEngine(rules: [f.route: f.rules])
        var delivered = 0, held = 0
        for i in 0..<50 {
            let at = EpochMillis(i) * 1000
            switch e.offer(f.item(id: "f\(i)", severity: i < 25 ? 5 : 8, at: at), now: at) {
            case .deliver: delivered += 1
            case .held(let reason):
                #expect(reason == .throttle)
                held += 1
            }
        }
        #expect(delivered == 20 && held == 30)
        #expect(e.due(now: 599_999).isEmpty)  // not before the period's end
        #expect(e.nextDue == 600_000)
        let digests = e.due(now: 600_000)
        #expect(digests.count == 1)
        guard let d = digests.first else { return }
        #expect(d.kind == .throttle && d.total == 30 && d.first.count == 10 && d.more == 20)
        #expect(d.first.first?.findingID == "f20")
        #expect(d.bySeverity == ["Medium": 5, "High": 25])
        #expect(d.text.contains("and 20 more"))
        #expect(e.due(now: 700_000).isEmpty)  // once
        // A new period admits again.
        if case .held = e.offer(f.item(id: "g", at: 700_000), now: 700_000) { Issue.record("new period held") }
    }

    @Test func digestSurvivesRestore() {
        var a = HoldEngine(rules: [f.route: f.rules])
        for i in 0..<25 { _ = a.offer(f.item(id: "f\(i)", at: EpochMillis(i)), now: EpochMillis(i)) }
        var b = HoldEngine(rules: [f.route: f.rules])
        for c in a.takeChanges() { b.restore(StateCodec.decode(key: StateCodec.key(c), value: StateCodec.value(c))!) }
        let d = b.due(now: 600_000)
        #expect(d.count == 1 && d.first?.total == 5)
    }
}

@Suite struct GroupTests {
    let f = Fixture(rules: HoldRules(group: GroupRule(by: ["detail.accountId"], wait: .seconds(30), interval: .seconds(300), repeatAfter: .seconds(3600))))
    let s: EpochMillis = 1000

    @Test func alertmanagerCadence() {
        var e = HoldEngine(rules: [f.route: f.rules])
        #expect(e.offer(f.item(id: "a", at: 0), now: 0) == .held(.grouped))
        #expect(e.offer(f.item(id: "b", at: 10 * s), now: 10 * s) == .held(.grouped))
        #expect(e.nextDue == 30 * s)
        #expect(e.due(now: 29 * s).isEmpty)
        let first = e.due(now: 30 * s)
        #expect(first.count == 1 && first.first?.total == 2)
        // Next tick at 330 s: unchanged → nothing.
        #expect(e.nextDue == 330 * s)
        #expect(e.due(now: 330 * s).isEmpty)
        // A repeat of a known finding is not a change; a new one is.
        _ = e.offer(f.item(id: "a", at: 400 * s), now: 400 * s)
        #expect(e.due(now: 630 * s).isEmpty)
        _ = e.offer(f.item(id: "c", at: 700 * s), now: 700 * s)
        let second = e.due(now: 930 * s)
        #expect(second.count == 1 && second.first?.total == 3)
        // A severity increase is a change.
        _ = e.offer(f.item(id: "c", severity: 9, at: 1000 * s), now: 1000 * s)
        #expect(e.due(now: 1230 * s).first?.bySeverity["Critical"] == 1)
        // Unchanged: again only after `repeat` (3600 s after the last digest at 1230 s).
        _ = e.offer(f.item(id: "c", severity: 9, at: 4000 * s), now: 4000 * s)
        var sent: [EpochMillis] = []
        var t = 1530 * s
        while t <= 5000 * s {
            if !e.due(now: t).isEmpty { sent.append(t) }
            t += 300 * s
        }
        #expect(sent == [4830 * s])
    }

    @Test func groupsAreSeparateByKeyAndFlushAtEnd() {
        var e = HoldEngine(rules: [f.route: f.rules])
        _ = e.offer(f.item(id: "a", at: 0, account: "1"), now: 0)
        _ = e.offer(f.item(id: "b", at: 0, account: "2"), now: 0)
        let d = e.flushAll(now: 5 * s)
        #expect(d.count == 2)
        #expect(Set(d.map { $0.key }) == [["\"1\""], ["\"2\""]])
        #expect(e.flushAll(now: 6 * s).isEmpty)
    }

    @Test func flushTimeSurvivesRestore() {
        var a = HoldEngine(rules: [f.route: f.rules])
        _ = a.offer(f.item(id: "a", at: 0), now: 0)
        var b = HoldEngine(rules: [f.route: f.rules])
        for c in a.takeChanges() { b.restore(StateCodec.decode(key: StateCodec.key(c), value: StateCodec.value(c))!) }
        #expect(b.nextDue == 30 * s)  // not early, not lost
        #expect(b.due(now: 30 * s).count == 1)
    }
}

@Suite struct InhibitAndSilenceTests {
    func event(type: String, instance: String?, id: String) -> JSON {
        var resource: [(key: String, value: JSON)] = []
        if let instance { resource.append((key: "instanceId", value: .string(instance))) }
        return .object([(key: "detail", value: .object([
            (key: "id", value: .string(id)), (key: "type", value: .string(type)), (key: "resource", value: .object(resource)),
        ]))])
    }

    let rule = InhibitRule(
        name: "compromised", source: try! JSON.parse(#"{"detail":{"type":["Backdoor:EC2/C&CActivity.B"]}}"#),
        target: try! JSON.parse(#"{"detail":{"type":[{"exists":true}]}}"#), equal: ["detail.resource.instanceId"], duration: .seconds(7200))

    @Test func sourceInhibitsEqualTargetsWithinFor() {
        var idx = InhibitIndex(rules: [rule])
        let source = event(type: "Backdoor:EC2/C&CActivity.B", instance: "i-1", id: "s")
        #expect(idx.observe(source, findingID: "s", now: 0).count == 1)
        #expect(idx.inhibiting(event(type: "Recon:EC2/PortProbe", instance: "i-1", id: "t"), findingID: "t", now: minute) == "compromised")
        #expect(idx.inhibiting(event(type: "Recon:EC2/PortProbe", instance: "i-2", id: "t"), findingID: "t", now: minute) == nil)
        #expect(idx.inhibiting(source, findingID: "s", now: minute) == nil)  // not itself
        #expect(idx.inhibiting(event(type: "Recon:EC2/PortProbe", instance: "i-1", id: "t"), findingID: "t", now: 120 * minute) == nil)
        #expect(idx.expire(now: 120 * minute).count == 1)
    }

    @Test func missingOnBothSidesIsNotEqual() {
        var idx = InhibitIndex(rules: [rule])
        #expect(idx.observe(event(type: "Backdoor:EC2/C&CActivity.B", instance: nil, id: "s"), findingID: "s", now: 0).isEmpty)
        #expect(idx.inhibiting(event(type: "Recon:EC2/PortProbe", instance: nil, id: "t"), findingID: "t", now: 1) == nil)
    }

    @Test func silenceHoldsOnlyBetweenItsTimes() {
        let s = Silence(id: "s1", matchers: try! JSON.parse(#"{"detail":{"type":["Recon:EC2/PortProbe"]}}"#),
                        startsAt: 1000, endsAt: 5000, createdBy: "ana", comment: "maintenance")
        #expect(s.problems().isEmpty)
        #expect(Silence(json: s.json) == s)
        var set = SilenceSet()
        set.apply(id: s.id, s)
        let e = event(type: "Recon:EC2/PortProbe", instance: "i-1", id: "x")
        #expect(set.silencing(e, now: 999) == nil)
        #expect(set.silencing(e, now: 1000) == "s1")
        #expect(set.silencing(e, now: 5000) == nil)
        #expect(set.silencing(event(type: "Other", instance: nil, id: "y"), now: 2000) == nil)
        #expect(set.heldBy["s1"]?.held == 1)
        set.apply(id: "s1", nil)
        #expect(set.silencing(e, now: 2000) == nil)
    }

    @Test func silenceValidation() {
        let bad = Silence(id: "", matchers: .object([]), startsAt: 10, endsAt: 10 + 8 * 86_400_000, createdBy: " ", comment: "")
        let p = bad.problems()
        #expect(p.contains("id must be 1 to 128 bytes"))
        #expect(p.contains("created_by is required"))
        #expect(p.contains("comment is required"))
        #expect(p.contains { $0.hasPrefix("a silence lasts at most") })
    }
}

@Suite struct DedupeWithThrottleTests {
    let f = Fixture(rules: HoldRules(dedupe: DedupeRule(key: ["detail.type", "detail.id"], window: .seconds(3600)),
                                     throttle: ThrottleRule(key: ["detail.type"], limit: 2, per: .seconds(600))))

    @Test func aThrottledFindingsRepeatsAreHeldByDedupeNotDigestedTwice() {
        var e = HoldEngine(rules: [f.route: f.rules])
        var decisions: [HoldDecision] = []
        for round in 0..<3 {
            for id in ["a", "b", "c", "d"] {
                let at = EpochMillis(round) * minute
                let d = e.offer(f.item(id: id, at: at), now: at)
                if case .deliver(let r) = d, let t = r.ticket { _ = e.settled(ticket: t, succeeded: true, now: at) }
                decisions.append(d)
            }
        }
        let reasons = decisions.map { d -> String in if case .held(let r) = d { return r.rawValue }; return "deliver" }
        #expect(reasons == ["deliver", "deliver", "throttle", "throttle"] + Array(repeating: "dedupe", count: 8))
        let digest = e.due(now: 600_000)
        #expect(digest.count == 1 && digest.first?.total == 2)
    }
}
