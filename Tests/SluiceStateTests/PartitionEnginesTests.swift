import SluiceCore
import Testing
@testable import SluiceState

/// The owner's engines by partition: decisions mutate the stored engine, numbers a broker never
/// assigns (negative, past the flat array) still work, and the partition list is in order.
@Suite struct PartitionEnginesTests {
    let f = Fixture(rules: HoldRules(dedupe: DedupeRule(key: ["detail.id"], window: .seconds(3600))))

    @Test func aDecisionThroughTheSubscriptIsKeptByTheStoredEngine() {
        var engines = PartitionEngines()
        #expect(engines[3] == nil)
        engines[3] = HoldEngine(rules: [f.route: f.rules])
        guard case .deliver(let first) = engines[3]?.offer(f.item(id: "a", at: 0), now: 0), let ticket = first.ticket else {
            Issue.record("first not delivered")
            return
        }
        _ = engines[3]?.settled(ticket: ticket, succeeded: true, now: 0)
        #expect(engines[3]?.offer(f.item(id: "a", at: minute), now: minute) == .held(.dedupe))
        #expect(engines[3]?.takeChanges().count == 1)
        // Another partition's engine knows nothing of that key.
        engines[2] = HoldEngine(rules: [f.route: f.rules])
        if case .held = engines[2]?.offer(f.item(id: "a", at: minute), now: minute) { Issue.record("key leaked to partition 2") }
    }

    @Test func anyPartitionNumberIsAKeyNeverAnIndexOutOfRange() {
        var engines = PartitionEngines()
        let numbers: [Int32] = [Int32.max, 0, -1, PartitionEngines.denseLimit, PartitionEngines.denseLimit - 1, Int32.min, 7]
        for p in numbers { engines[p] = HoldEngine(rules: [f.route: f.rules]) }
        #expect(engines.partitions == numbers.sorted().filter { $0 >= 0 && $0 < PartitionEngines.denseLimit }
            + numbers.filter { $0 < 0 || $0 >= PartitionEngines.denseLimit }.sorted())
        for p in numbers {
            guard case .deliver = engines[p]?.offer(f.item(id: "k\(p)", at: 0), now: 0) else {
                Issue.record("partition \(p) has no engine")
                return
            }
        }
        engines[-1] = nil
        engines[7] = nil
        engines[Int32.max] = nil
        #expect(engines[-1] == nil && engines[7] == nil && engines[Int32.max] == nil)
        #expect(engines.partitions == [0, PartitionEngines.denseLimit - 1, Int32.min, PartitionEngines.denseLimit])
        #expect(engines[1] == nil)  // below the array's end, never set
    }
}
