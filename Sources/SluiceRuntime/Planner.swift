import SluiceConnectors
import SluiceCore
import SluiceFormats
import SluiceGuardDuty
import SluiceState

/// A route target bound to its lane, with its template compiled.
struct BoundTarget: Sendable {
    let lane: DeliveryLane
    let renderer: PayloadRenderer?
    /// The connector reads `Delivery.summary`.
    let usesSummary: Bool
    /// Successful deliveries of this route through this target.
    let delivered: DeliveryCounter
    /// The connector type's default digest, in the target's native shape (nil: the generic JSON digest).
    var digestTemplate: PayloadTemplate? = nil
}

/// Routes compiled together with their bound targets. Immutable; a reload swaps the whole thing.
final class RoutingPlan: Sendable {
    let table: RouteTable
    /// Targets of `table.routes[i]`.
    let targets: [[BoundTarget]]
    /// The Hold stage (dedupe, throttle, group, inhibit, silences); nil when nothing uses it.
    let gate: HoldGate?
    /// Some route has `suppress:`: the planner then reports what suppression removed (for `--summary`).
    let hasSuppressions: Bool

    init(table: RouteTable, targets: [[BoundTarget]], hold: HoldStage? = nil, useEventTime: Bool = false, forwarder: StateForwarder? = nil,
         inhibitRules: [InhibitRule] = [], limits: DecodeLimits = .standard, gateRun: HoldGateRun = HoldGateRun()) {
        self.table = table
        hasSuppressions = table.routes.contains { !$0.suppress.isEmpty }
        self.targets = targets
        gate = hold.map { HoldGate(stage: $0, table: table, targets: targets, useEventTime: useEventTime, forwarder: forwarder, limits: limits, run: gateRun) }
        viewFields = inhibitRules.reduce(table.viewFields) { $0.union($1.viewFields) }
    }

    /// The `sluice.*` members route patterns, suppressions, state keys and inhibit rules read: the
    /// decoder adds those to each event.
    let viewFields: ViewFields
}

/// Decode → match → render for one record. Owns a simdjson parser, so one planner per thread.
final class Planner {
    enum Outcome: Sendable {
        case rejected(DeadLetterReason, String)
        case unmatched
        case deliveries([(route: String, target: BoundTarget, delivery: Delivery)])
    }

    /// The decoder of records of no configured topic, and of offline input.
    private let decoder: FindingDecoder
    /// Per-topic decoders, for topics whose `format:` is not `auto`.
    private let topicDecoders: [String: FindingDecoder]
    /// The matcher's per-event working memory, reused: no allocation per finding once warm.
    private let scratch = MatchScratch()
    /// Checks what JSON templates rendered: a value the template author did not expect (a string
    /// where `{{detail.severity}}` stands unquoted, a missing field) can break the document.
    private let renderedJSON: JSONParser
    let plan: RoutingPlan
    /// The last planned finding as JSON, kept only when the Hold stage needs it.
    var lastEvent: JSON?
    /// Routes whose pattern matched the last record but a suppression vetoed.
    private(set) var lastSuppressed: [Int] = []
    /// Each matched finding's event and its number of deliveries, in delivery order, kept only
    /// when the Hold stage needs them: a split record's findings are screened each with its own.
    /// `whole`: the event has every member (else only the gate's `eventPaths`); `finding`: the
    /// finding's own bytes.
    var findingEvents: [(event: JSON, whole: Bool, finding: [UInt8], deliveries: Int)] = []
    /// Whether `lastEvent` has every member of the finding.
    private var lastEventIsWhole = false

    init(plan: RoutingPlan, maxMessageBytes: Int, maxDepth: Int, formats: [String: InputFormat] = [:]) {
        self.plan = plan
        // Rendered payloads may be larger than the finding (a template adds text), never deeper by much.
        renderedJSON = JSONParser(maxBytes: 4 * maxMessageBytes + 65_536, maxDepth: maxDepth + 32)
        let limits = DecodeLimits(maxBytes: maxMessageBytes, maxDepth: maxDepth)
        // Only the view members routes read go into events (none: GuardDuty events are matched
        // where they were parsed); templates build the whole view when they render (docs/formats.md §2).
        let fields = plan.viewFields
        decoder = FindingDecoder(limits: limits, viewFields: fields)
        topicDecoders = formats.filter { $0.value != .auto }.mapValues { FindingDecoder(limits: limits, format: $0, viewFields: fields) }
    }

    func plan(_ record: SourceRecord) -> Outcome {
        if !lastSuppressed.isEmpty { lastSuppressed = [] }
        guard let value = record.value else { return .rejected(.nullPayload, "record has a NULL payload") }
        let chosen = record.topic.flatMap { topicDecoders[$0] } ?? decoder
        var out: [(route: String, target: BoundTarget, delivery: Delivery)] = []
        findingEvents.removeAll(keepingCapacity: true)
        let rejection = chosen.decode(value) { finding in
            let before = out.count
            let payload = finding.ownBytes ?? value
            plan(finding, payload: payload, record: record, into: &out)
            if out.count > before, let lastEvent { findingEvents.append((lastEvent, lastEventIsWhole, payload, out.count - before)) }
        }
        if let rejection { return .rejected(reason(rejection), rejection.detail) }
        return out.isEmpty ? .unmatched : .deliveries(out)
    }

    /// A dead letter planned again for a replay, decoded and rendered exactly as the pipeline
    /// did: `part` picks one finding of a split record (nil: every finding); `routes` names the
    /// routes each finding goes to (the failed route, or what matches now for a reroute).
    func replan(_ record: SourceRecord, part: Int?, routes: (JSONView) -> [Int]) -> Outcome {
        guard let value = record.value else { return .rejected(.nullPayload, "record has a NULL payload") }
        let chosen = record.topic.flatMap { topicDecoders[$0] } ?? decoder
        var out: [(route: String, target: BoundTarget, delivery: Delivery)] = []
        let rejection = chosen.decode(value) { finding in
            if let part, finding.part.index != part { return }
            render(finding, routes: routes(finding.event), payload: finding.ownBytes ?? value, record: record, into: &out)
        }
        if let rejection { return .rejected(reason(rejection), rejection.detail) }
        return out.isEmpty ? .unmatched : .deliveries(out)
    }

    private func plan(_ finding: DecodedFinding, payload: [UInt8], record: SourceRecord,
                      into out: inout [(route: String, target: BoundTarget, delivery: Delivery)]) {
        let event = finding.event
        let matched: [Int]
        if plan.hasSuppressions {
            let suppressed: [Int]
            (matched, suppressed) = plan.table.matchReportingSuppressed(event, scratch: scratch)
            lastSuppressed += suppressed
        } else {
            matched = plan.table.match(event, scratch: scratch)
        }
        if matched.isEmpty { return }
        // `JSON?.none`, not `nil`: JSON is nil-literal expressible, so a bare `nil` here was `.null`.
        if let gate = plan.gate, gate.needsEvent {
            // The whole finding as a tree only when a silence or an inhibit rule may read any of it.
            lastEventIsWhole = gate.needsWholeEvent
            lastEvent = lastEventIsWhole ? Self.eventWithView(finding) : finding.eventWithView(keeping: gate.eventPaths)
        } else {
            lastEvent = JSON?.none
        }
        render(finding, routes: matched, payload: payload, record: record, into: &out)
    }

    /// One delivery per target of each of `routes`, rendered for that target.
    private func render(_ finding: DecodedFinding, routes matched: [Int], payload: [UInt8], record: SourceRecord,
                        into out: inout [(route: String, target: BoundTarget, delivery: Delivery)]) {
        let id = finding.findingID()
        let key = id.map { Array($0.utf8) } ?? record.key
        // The owned event and its summary are built once per finding, and only for targets that
        // render a template or read the summary; pass-through targets send the bytes as they came.
        var owned: (event: JSON, summary: FindingSummary?)?
        func materialized() -> (event: JSON, summary: FindingSummary?) {
            if let owned { return owned }
            let m = finding.materialized()
            owned = m
            return m
        }
        for index in matched {
            let route = plan.table.routes[index].name
            for target in plan.targets[index] {
                var body = payload
                var summary: FindingSummary?
                if case .ocsf(let version) = target.renderer, let doc = finding.ocsfDetectionFinding(version: version) {
                    body = Array(doc.serialized().utf8)
                } else if let renderer = target.renderer {
                    let m = materialized()
                    body = renderer.render(m.event, summary: m.summary)
                    summary = m.summary
                }
                if target.usesSummary { summary = materialized().summary }
                var delivery = Delivery(payload: body, key: key, findingID: id, route: route, summary: summary)
                if target.renderer?.producesJSON == true, case .failure(let rejection) = renderedJSON.parse(body, { _ in () }) {
                    delivery.renderFailure = "the template rendered invalid JSON for this finding (\(rejection.rawValue): \(renderedJSON.lastErrorDescription))"
                }
                if finding.part.count > 1 { delivery.part = (finding.part.index, finding.part.count) }
                out.append((route, target, delivery))
            }
        }
    }

    /// The event the Hold stage screens: with the `sluice` view even when no route reads it, since a
    /// silence or an inhibit rule made at any time may (`sluice.product`, an OCSF or Falco field).
    static func eventWithView(_ finding: DecodedFinding) -> JSON { finding.eventWithView() }

    private func reason(_ r: DecodeRejection) -> DeadLetterReason {
        switch r {
        case .json(let j, _):
            switch j {
            case .tooLarge: return .tooLarge
            case .tooDeep: return .tooDeep
            case .invalidUTF8: return .invalidUTF8
            case .empty: return .empty
            case .notJSON, .noMemory: return .notJSON
            }
        case .notObject: return .notJSON
        case .format: return .format
        }
    }
}
