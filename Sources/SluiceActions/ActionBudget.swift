/// Where a playbook step gets permission to act: the hourly caps and concurrent isolations.
/// `ActionGuards` counts in this process; the runtime plugs in a budget shared by every
/// instance (SluiceState's guard ledger) when it consumes Kafka.
public protocol ActionBudget: Sendable {
    /// Admits one real action (not a dry run) or says why not (audited as a refusal).
    func reserve(kind: String, isIsolation: Bool, route: String, target: ActionTarget) async -> ActionBudgetDecision
    /// The admitted action changed nothing (already done): its hourly budget comes back.
    func refund(_ ticket: ActionBudgetTicket)
    /// The admitted step ended: an isolation's concurrency slot comes back.
    func finished(_ ticket: ActionBudgetTicket)
}

/// What `reserve` hands back for `refund` and `finished`.
public struct ActionBudgetTicket: Sendable {
    public var kind: String
    public var route: String
    public var isIsolation: Bool
    /// The shared budget's reservation id (nil for the per-process one).
    public var reservation: String?
    public init(kind: String, route: String, isIsolation: Bool, reservation: String? = nil) {
        self.kind = kind
        self.route = route
        self.isIsolation = isIsolation
        self.reservation = reservation
    }
}

public enum ActionBudgetDecision: Sendable {
    case admitted(ActionBudgetTicket)
    case refused(String)
}

extension ActionGuards: ActionBudget {
    public func reserve(kind: String, isIsolation: Bool, route: String, target: ActionTarget) async -> ActionBudgetDecision {
        if let reason = admit(kind: kind, isIsolation: isIsolation, route: route, target: target) { return .refused(reason) }
        return .admitted(ActionBudgetTicket(kind: kind, route: route, isIsolation: isIsolation))
    }

    public func refund(_ ticket: ActionBudgetTicket) { refund(kind: ticket.kind, route: ticket.route) }
    public func finished(_ ticket: ActionBudgetTicket) { finished(isolation: ticket.isIsolation) }
}
