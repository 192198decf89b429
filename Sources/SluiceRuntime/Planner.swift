import SluiceConnectors
import SluiceCore
import SluiceState

/// A route target bound to its lane, with its template compiled.
struct BoundTarget: Sendable {
    let lane: DeliveryLane
    let renderer: PayloadRenderer?
    /// The connector reads `Delivery.summary`.
    let usesSummary: Bool
    /// Successful deliveries of this route through this target.
    let delivered: DeliveryCounter
}

/// Routes compiled together with their bound targets. Immutable; a reload swaps the whole thing.
final class RoutingPlan: Sendable {
    let table: RouteTable
    /// Targets of `table.routes[i]`.
    let targets: [[BoundTarget]]
    /// The Hold stage (dedupe, throttle, group, inhibit, silences); nil when nothing uses it.
    let gate: HoldGate?

    init(table: RouteTable, targets: [[BoundTarget]], hold: HoldStage? = nil, useEventTime: Bool = false, forwarder: StateForwarder? = nil) {
        self.table = table
        self.targets = targets
        gate = hold.map { HoldGate(stage: $0, table: table, targets: targets, useEventTime: useEventTime, forwarder: forwarder) }
    }
}

/// Decode → match → render for one record. Owns a simdjson parser, so one planner per thread.
final class Planner {
    enum Outcome {
        case rejected(DeadLetterReason, String)
        case unmatched
        case deliveries([(route: String, target: BoundTarget, delivery: Delivery)])
    }

    private let parser: JSONParser
    private let envelopeParser: JSONParser
    /// The matcher's per-event working memory, reused: no allocation per finding once warm.
    private let scratch = MatchScratch()
    let plan: RoutingPlan
    /// The last planned finding as JSON, kept only when the Hold stage needs it.
    var lastEvent: JSON?

    init(plan: RoutingPlan, maxMessageBytes: Int, maxDepth: Int) {
        self.plan = plan
        parser = JSONParser(maxBytes: maxMessageBytes, maxDepth: maxDepth)
        envelopeParser = JSONParser(maxBytes: maxMessageBytes + 512, maxDepth: maxDepth + 1)
    }

    func plan(_ record: SourceRecord) -> Outcome {
        guard let value = record.value else { return .rejected(.nullPayload, "record has a NULL payload") }
        let result = parser.parse(value) { doc -> Outcome in
            let root = doc.root
            guard root.kind == .object else { return .rejected(.notJSON, "a finding must be a JSON object, got \(root.kind)") }
            if GuardDutyEnvelope.isBareFinding(root) {
                // Match bare findings as EventBridge would deliver them, so one set of routes
                // serves both shapes.
                let wrapped = GuardDutyEnvelope.envelope(around: value, finding: root)
                let inner = envelopeParser.parse(wrapped) { plan(event: $0.root, payload: value, record: record) }
                switch inner {
                case .success(let o): return o
                case .failure(let r): return .rejected(reason(r), "cannot wrap bare finding: \(r.rawValue)")
                }
            }
            return plan(event: root, payload: value, record: record)
        }
        switch result {
        case .success(let outcome): return outcome
        case .failure(let rejection): return .rejected(reason(rejection), parser.lastErrorDescription)
        }
    }

    private func plan(event: JSONView, payload: [UInt8], record: SourceRecord) -> Outcome {
        let matched = plan.table.match(event, scratch: scratch)
        if matched.isEmpty { return .unmatched }
        // `JSON?.none`, not `nil`: JSON is nil-literal expressible, so a bare `nil` here was `.null`.
        lastEvent = plan.gate?.needsEvent == true ? JSON(event) : JSON?.none
        let id = GuardDutyEnvelope.findingID(event)
        let key = id.map { Array($0.utf8) } ?? record.key
        // The owned event and its summary are built once per finding, and only for targets that
        // render a template or read the summary; pass-through targets send the bytes as they came.
        var owned: (event: JSON, summary: FindingSummary?)?
        func materialized() -> (event: JSON, summary: FindingSummary?) {
            if let owned { return owned }
            let e = JSON(event)
            owned = (e, FindingSummary(event: e))
            return owned!
        }
        var out: [(route: String, target: BoundTarget, delivery: Delivery)] = []
        for index in matched {
            let route = plan.table.routes[index].name
            for target in plan.targets[index] {
                var body = payload
                var summary: FindingSummary?
                if let renderer = target.renderer {
                    let m = materialized()
                    body = renderer.render(m.event, summary: m.summary)
                    summary = m.summary
                }
                if target.usesSummary { summary = materialized().summary }
                out.append((route, target, Delivery(payload: body, key: key, findingID: id, route: route, summary: summary)))
            }
        }
        return .deliveries(out)
    }

    private func reason(_ r: JSONRejection) -> DeadLetterReason {
        switch r {
        case .tooLarge: return .tooLarge
        case .tooDeep: return .tooDeep
        case .invalidUTF8: return .invalidUTF8
        case .empty: return .empty
        case .notJSON, .noMemory: return .notJSON
        }
    }
}
