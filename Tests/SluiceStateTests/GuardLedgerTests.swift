import SluiceCore
import Testing
@testable import SluiceState

/// The guard ledger as a replicated state machine: the same records in the same order give every
/// reader the same verdicts, whoever wrote them.
@Suite struct GuardLedgerTests {
    let minute: EpochMillis = 60_000

    func reserve(_ id: String, kind: String = "http", route: String = "r", isolation: Bool = false, at: EpochMillis) -> GuardLedger.Op {
        .reserve(id: id, kind: kind, route: route, isolation: isolation, at: at)
    }

    @Test func hourlyCapPerKindAdmitsTheFirstThreeInLedgerOrder() {
        var ledger = GuardLedger(caps: .init(perKind: ["default": 3]))
        let verdicts = (0..<10).map { ledger.apply(reserve("a\($0)", at: EpochMillis($0) * minute))?.refusal }
        #expect(verdicts.prefix(3).allSatisfy { $0 == nil })
        #expect(verdicts.dropFirst(3).allSatisfy { $0 == "cap: http reached its limit of 3 actions per hour (all instances)" })
        // An hour after the first, its slot is free again.
        #expect(ledger.apply(reserve("late", at: 60 * minute + 1))?.refusal == nil)
        #expect(ledger.apply(reserve("later", at: 60 * minute + 2))?.refusal != nil)
    }

    @Test func twoReadersOfOneOrderAgree() {
        let ops = (0..<10).map { reserve("x\($0)", route: $0 % 2 == 0 ? "a" : "b", at: 1_000) } + [.refund(id: "x1")] + [reserve("x10", route: "b", at: 2_000)]
        var one = GuardLedger(caps: .init(perKind: ["http": 5], perRoute: 2))
        var two = GuardLedger(caps: .init(perKind: ["http": 5], perRoute: 2))
        let first = ops.compactMap { one.apply($0) }.map(\.refusal)
        let second = ops.compactMap { two.apply($0) }.map(\.refusal)
        #expect(first.map { $0 == nil } == second.map { $0 == nil })
        // Route a: x0, x2 admitted; route b: x1, x3 admitted, x1 refunded, so x10 fits.
        #expect(first.enumerated().filter { $0.element == nil }.map(\.offset) == [0, 1, 2, 3, 10])
    }

    @Test func concurrentIsolationsComeBackWhenReleased() {
        var ledger = GuardLedger(caps: .init(isolations: 1))
        #expect(ledger.apply(reserve("i1", kind: "aws.ec2.isolate", isolation: true, at: 0))?.refusal == nil)
        #expect(ledger.apply(reserve("i2", kind: "aws.ec2.isolate", isolation: true, at: 1))?.refusal == "cap: 1 isolations already under way (limit 1, all instances)")
        #expect(ledger.apply(reserve("h1", at: 2))?.refusal == nil)  // not an isolation
        ledger.apply(.release(id: "i1"))
        #expect(ledger.apply(reserve("i3", kind: "aws.ec2.isolate", isolation: true, at: 3))?.refusal == nil)
    }

    @Test func recordsRoundTripAndForeignOnesAreSkipped() {
        let op = reserve("id-1", kind: "exec", route: "r\"1", isolation: true, at: 42)
        #expect(GuardLedger.decode(GuardLedger.value(op)) == op)
        #expect(GuardLedger.decode(GuardLedger.value(.refund(id: "z"))) == .refund(id: "z"))
        #expect(GuardLedger.decode(Array(#"{"op":"reserve","id":"x","kind":"k","route":"r","at":1.5}"#.utf8)) == nil)
        #expect(GuardLedger.decode(Array("nonsense".utf8)) == nil)
    }

    @Test func aRecordReadTwiceIsOneReservation() {
        var ledger = GuardLedger(caps: .init(perKind: ["default": 1]))
        #expect(ledger.apply(reserve("same", at: 0))?.refusal == nil)
        #expect(ledger.apply(reserve("same", at: 0))?.refusal == nil)
        #expect(ledger.apply(reserve("other", at: 1))?.refusal != nil)
    }
}
