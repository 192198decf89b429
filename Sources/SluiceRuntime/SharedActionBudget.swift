import SluiceActions
import SluiceState

/// The playbook runner's budget when Sluice consumes Kafka: hourly caps and concurrent
/// isolations counted by the guard ledger every instance of the group shares (docs/state.md).
struct SharedActionBudget: ActionBudget {
    let ledger: KafkaGuardLedger

    static func caps(_ g: GuardSettings) -> GuardLedger.Caps {
        GuardLedger.Caps(perKind: g.maxPerHour, perRoute: g.maxPerHourPerRoute, isolations: g.maxConcurrentIsolations)
    }

    func reserve(kind: String, isIsolation: Bool, route: String, target: ActionTarget) async -> ActionBudgetDecision {
        let (id, refusal) = await ledger.reserve(kind: kind, route: route, isolation: isIsolation)
        if let refusal { return .refused(refusal) }
        return .admitted(ActionBudgetTicket(kind: kind, route: route, isIsolation: isIsolation, reservation: id))
    }

    func refund(_ ticket: ActionBudgetTicket) {
        if let id = ticket.reservation { ledger.refund(id) }
    }

    func finished(_ ticket: ActionBudgetTicket) {
        if ticket.isIsolation, let id = ticket.reservation { ledger.release(id) }
    }
}
