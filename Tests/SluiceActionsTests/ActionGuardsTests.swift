import Synchronization
import Testing
@testable import SluiceActions

/// The blast-radius guards on an injected clock: caps per rolling hour, refunds, isolation slots.
@Suite struct ActionGuardsTests {
    final class FakeClock: Sendable {
        let seconds = Mutex<Double>(1_000_000)
        func advance(_ s: Double) { seconds.withLock { $0 += s } }
        var read: @Sendable () -> Double { { [self] in seconds.withLock { $0 } } }
    }

    let instance = ActionTarget(kind: "ec2-instance", id: "i-0abc", account: "111122223333")

    func guards(_ edit: (inout GuardSettings) -> Void, clock: FakeClock) -> ActionGuards {
        var g = GuardSettings()
        edit(&g)
        return ActionGuards(settings: g, now: clock.read)
    }

    @Test func hourlyCapPerKindRollsOverAfterAnHour() {
        let clock = FakeClock()
        let g = guards({ $0.maxPerHour = ["ec2-isolate": 2] }, clock: clock)
        #expect(g.admit(kind: "ec2-isolate", isIsolation: false, route: "r", target: instance) == nil)
        clock.advance(1800)
        #expect(g.admit(kind: "ec2-isolate", isIsolation: false, route: "r", target: instance) == nil)
        #expect(g.admit(kind: "ec2-isolate", isIsolation: false, route: "r", target: instance) == "cap: ec2-isolate reached its limit of 2 actions per hour")
        #expect(g.admit(kind: "exec", isIsolation: false, route: "r", target: instance) == nil)   // other kinds have no cap
        clock.advance(1800)   // the first action is an hour old: its budget is back
        #expect(g.admit(kind: "ec2-isolate", isIsolation: false, route: "r", target: instance) == nil)
        #expect(g.admit(kind: "ec2-isolate", isIsolation: false, route: "r", target: instance) != nil)
    }

    @Test func refundGivesBackTheBudgetOfAnActionThatChangedNothing() {
        let clock = FakeClock()
        let g = guards({ $0.maxPerHour = ["default": 1]; $0.maxPerHourPerRoute = 1 }, clock: clock)
        #expect(g.admit(kind: "ec2-tag", isIsolation: false, route: "quarantine", target: instance) == nil)
        #expect(g.admit(kind: "ec2-tag", isIsolation: false, route: "quarantine", target: instance) == "cap: ec2-tag reached its limit of 1 actions per hour")
        g.refund(kind: "ec2-tag", route: "quarantine")
        #expect(g.admit(kind: "ec2-tag", isIsolation: false, route: "quarantine", target: instance) == nil)
        // A refund with nothing spent does not create credit.
        g.refund(kind: "ec2-tag", route: "quarantine")
        g.refund(kind: "ec2-tag", route: "quarantine")
        #expect(g.admit(kind: "ec2-tag", isIsolation: false, route: "quarantine", target: instance) == nil)
        #expect(g.admit(kind: "ec2-tag", isIsolation: false, route: "quarantine", target: instance) != nil)
    }

    @Test func refundOfOneRouteLeavesAnotherRoutesBudgetAlone() {
        let clock = FakeClock()
        let g = guards({ $0.maxPerHourPerRoute = 1 }, clock: clock)
        #expect(g.admit(kind: "exec", isIsolation: false, route: "a", target: instance) == nil)
        #expect(g.admit(kind: "exec", isIsolation: false, route: "b", target: instance) == nil)
        g.refund(kind: "exec", route: "a")
        #expect(g.admit(kind: "exec", isIsolation: false, route: "a", target: instance) == nil)
        #expect(g.admit(kind: "exec", isIsolation: false, route: "b", target: instance) == "cap: route 'b' reached its limit of 1 actions per hour")
    }

    @Test func concurrentIsolationsHoldASlotUntilFinished() {
        let clock = FakeClock()
        let g = guards({ $0.maxConcurrentIsolations = 1 }, clock: clock)
        #expect(g.admit(kind: "ec2-isolate", isIsolation: true, route: "r", target: instance) == nil)
        #expect(g.admit(kind: "ec2-isolate", isIsolation: true, route: "r", target: instance) == "cap: 1 isolations already under way (limit 1)")
        #expect(g.admit(kind: "ec2-tag", isIsolation: false, route: "r", target: instance) == nil)   // not an isolation
        g.finished(isolation: true)
        #expect(g.admit(kind: "ec2-isolate", isIsolation: true, route: "r", target: instance) == nil)
    }

    @Test func protectedTargetsAreRefusedBeforeAnyBudgetIsSpent() {
        let clock = FakeClock()
        let g = guards({ $0.maxPerHour = ["default": 1]; $0.protectedAccounts = ["999988887777"] }, clock: clock)
        let tagged = ActionTarget(kind: "ec2-instance", id: "i-1", tags: ["sluice:protected": "true"])
        #expect(g.admit(kind: "ec2-isolate", isIsolation: false, route: "r", target: tagged) == "protected: ec2-instance i-1 carries tag sluice:protected=true")
        let other = ActionTarget(kind: "ec2-instance", id: "i-2", account: "999988887777")
        #expect(g.admit(kind: "ec2-isolate", isIsolation: false, route: "r", target: other) == "protected: account 999988887777 is protected")
        let pod = ActionTarget(kind: "pod", id: "coredns", namespace: "kube-system")
        #expect(g.admit(kind: "k8s-delete-pod", isIsolation: false, route: "r", target: pod) == "protected: namespace kube-system is protected")
        // None of the refusals used the budget of 1.
        #expect(g.admit(kind: "ec2-isolate", isIsolation: false, route: "r", target: instance) == nil)
    }
}
