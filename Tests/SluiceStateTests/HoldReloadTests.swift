import SluiceCore
import Testing
@testable import SluiceState

/// A reload's state rules (`HoldEngine.replaceRules`): new windows and limits decide the next
/// finding; what a removed rule left pending goes out as a last digest, never dropped.
@Suite struct HoldReloadTests {
    let dedupe = Fixture(rules: HoldRules(dedupe: DedupeRule(key: ["detail.id"], window: .seconds(3600))))

    func delivered(_ engine: inout HoldEngine, _ item: HoldItem, at now: EpochMillis) -> Bool {
        guard case .deliver(let release) = engine.offer(item, now: now) else { return false }
        if let ticket = release.ticket { _ = engine.settled(ticket: ticket, succeeded: true, now: now) }
        return true
    }

    @Test func aShorterDedupeWindowAppliesToTheKeysAlreadyHeld() {
        var e = HoldEngine(rules: [dedupe.route: dedupe.rules])
        #expect(delivered(&e, dedupe.item(id: "a", at: 0), at: 0))
        #expect(!delivered(&e, dedupe.item(id: "a", at: 10 * minute), at: 10 * minute))
        e.replaceRules([dedupe.route: HoldRules(dedupe: DedupeRule(key: ["detail.id"], window: .seconds(300)))])
        // 11 minutes after the last delivery: past the new 5-minute window, within the old hour.
        #expect(delivered(&e, dedupe.item(id: "a", at: 11 * minute), at: 11 * minute))
        #expect(!delivered(&e, dedupe.item(id: "a", at: 12 * minute), at: 12 * minute))
    }

    @Test func aLongerDedupeWindowHoldsWhatTheOldOneWouldHaveLetThrough() {
        var e = HoldEngine(rules: [dedupe.route: dedupe.rules])
        #expect(delivered(&e, dedupe.item(id: "a", at: 0), at: 0))
        e.replaceRules([dedupe.route: HoldRules(dedupe: DedupeRule(key: ["detail.id"], window: .seconds(7200)))])
        #expect(!delivered(&e, dedupe.item(id: "a", at: 90 * minute), at: 90 * minute))
    }

    @Test func keysOfARouteThatLostItsDedupeRuleAreForgottenAndTombstoned() {
        var e = HoldEngine(rules: [dedupe.route: dedupe.rules])
        #expect(delivered(&e, dedupe.item(id: "a", at: 0), at: 0))
        _ = e.takeChanges()
        e.replaceRules([:])
        // Without state rules the route's findings go straight through.
        #expect(delivered(&e, dedupe.item(id: "a", at: minute), at: minute))
        e.expire(now: 2 * minute)
        #expect(e.keyCounts.dedupe == 0)
        let changes = e.takeChanges()
        #expect(changes.count == 1 && changes.first?.kind == .dedupe && changes.first?.record == nil)
    }

    @Test func aGroupWhoseRuleWasRemovedIsFlushedAtOnceThenTombstoned() {
        let g = Fixture(rules: HoldRules(group: GroupRule(by: ["detail.accountId"], wait: .seconds(30), interval: .seconds(300), repeatAfter: .seconds(3600))))
        var e = HoldEngine(rules: [g.route: g.rules])
        #expect(e.offer(g.item(id: "a", at: 0, account: "111122223333"), now: 0) == .held(.grouped))
        #expect(e.offer(g.item(id: "b", at: 1000, account: "111122223333"), now: 1000) == .held(.grouped))
        _ = e.takeChanges()
        #expect(e.nextDue == 30_000)
        e.replaceRules([:])
        #expect(e.nextDue == 0, "a group without its rule is due at once")
        let digests = e.due(now: 2000)
        #expect(digests.count == 1)
        #expect(digests.first?.total == 2)
        #expect(digests.first?.first.map(\.account) == ["111122223333", "111122223333"])
        #expect(e.keyCounts.groups == 0)
        #expect(e.takeChanges().isEmpty, "the record stays until the last digest settled")
        if let d = digests.first { e.digestDelivered(d) }
        let changes = e.takeChanges()
        #expect(changes.count == 1 && changes.first?.kind == .group && changes.first?.record == nil)
    }

    @Test func aGroupWithNewTimingsKeepsItsMembers() {
        let rule = GroupRule(by: ["detail.accountId"], wait: .seconds(30), interval: .seconds(300), repeatAfter: .seconds(3600))
        let g = Fixture(rules: HoldRules(group: rule))
        var e = HoldEngine(rules: [g.route: g.rules])
        _ = e.offer(g.item(id: "a", at: 0), now: 0)
        e.replaceRules([g.route: HoldRules(group: GroupRule(by: ["detail.accountId"], wait: .seconds(30), interval: .seconds(60), repeatAfter: .seconds(600)))])
        // The flush already scheduled stands; the group is not flushed early.
        #expect(e.due(now: 29_000).isEmpty)
        #expect(e.due(now: 30_000).first?.total == 1)
        _ = e.offer(g.item(id: "b", at: 31_000), now: 31_000)
        // The next tick follows the new 60 s interval, not the old 300 s.
        #expect(e.nextDue == 90_000)
    }

    @Test func aThrottleWhoseRuleWasRemovedSendsItsOverflowAtOnce() {
        let t = Fixture(rules: HoldRules(throttle: ThrottleRule(key: ["detail.type"], limit: 1, per: .seconds(3600))))
        var e = HoldEngine(rules: [t.route: t.rules])
        #expect(delivered(&e, t.item(id: "a", at: 0), at: 0))
        #expect(e.offer(t.item(id: "b", at: 1000), now: 1000) == .held(.throttle))
        #expect(e.offer(t.item(id: "c", at: 2000), now: 2000) == .held(.throttle))
        e.replaceRules([:])
        #expect(e.nextDue == 0)
        let digests = e.due(now: 3000)
        #expect(digests.count == 1)
        #expect(digests.first?.total == 2)
        #expect(digests.first?.first.compactMap(\.findingID) == ["b", "c"])
    }

    @Test func groupMembersKeepTheirAccountThroughTheChangelog() throws {
        let g = Fixture(rules: HoldRules(group: GroupRule(by: ["detail.accountId"], wait: .seconds(30), interval: .seconds(300), repeatAfter: .seconds(3600))))
        var e = HoldEngine(rules: [g.route: g.rules])
        _ = e.offer(g.item(id: "a", at: 0, account: "111122223333"), now: 0)
        let change = try #require(e.takeChanges().first)
        let decoded = try #require(StateCodec.decode(key: StateCodec.key(change), value: StateCodec.value(change)))
        var restored = HoldEngine(rules: [g.route: g.rules])
        restored.restore(decoded)
        #expect(restored.due(now: 30_000).first?.first.first?.account == "111122223333")
        // A record written before accounts were kept (five fields per member) still reads.
        let old = Array(#"{"r":"r","t":"t","at":30000,"sent":null,"chg":true,"m":[["a","T",5,0,0]]}"#.utf8)
        #expect(StateCodec.decode(key: StateCodec.key(change), value: old) != nil)
    }

    @Test func repartitionRecordsCarryTheAccount() throws {
        let item = dedupe.item(id: "a", at: 0, account: "111122223333")
        #expect(item.account == "111122223333")
        #expect(HoldItemCodec.decode(HoldItemCodec.encode(item)) == item)
    }
}
