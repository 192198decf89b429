import Foundation
import Logging
import SluiceConnectors
import SluiceCore
import SluiceFormats
import SluiceGuardDuty
import SluiceKafka
import SluiceState
import Synchronization

/// The runtime's narrow interface to SluiceState: between plan and dispatch it asks the Hold
/// stage about each planned delivery, tells it how ticketed deliveries ended, and sends the
/// digests that fall due. Offline (`--input`) the stage keeps its state in memory and the clock
/// is the findings' own time, so a backtest sees real windows; pending digests are flushed at
/// end of input.
final class HoldGate: HoldDispatch, Sendable {
    let stage: HoldStage
    /// The state rules of this gate's plan (a reload builds a new plan and gate).
    let rules: [String: HoldRules]
    /// Kafka runs: items with state rules go to the repartition topic, to their key's owner.
    let forwarder: StateForwarder?
    /// Route → its bound targets by connector name (digests go to the same lane).
    let targets: [String: [String: BoundTarget]]
    let useEventTime: Bool
    /// The send-time check's decoders, one per lane (a decoder owns parsers: not shared across lanes).
    let sendTimeDecoders: [String: SendTimeDecoder]
    /// What the gates of one run share across reloads.
    let run: HoldGateRun
    /// Digests and released repeats under way (of every gate of the run): the drain waits for them too.
    var outstandingCount: Int { run.outstanding.load(ordering: .relaxed) }

    init(stage: HoldStage, table: RouteTable, targets bound: [[BoundTarget]], useEventTime: Bool, forwarder: StateForwarder?,
         limits: DecodeLimits = .standard, run: HoldGateRun = HoldGateRun()) {
        self.stage = stage
        self.run = run
        rules = HoldStage.rules(of: table.routes)
        listsFindings = rules.values.contains { $0.throttle != nil || $0.group != nil }
        // A gate with dedupe rules only never lists a finding: its events need no title or account.
        // Only a gate on event time (offline runs) reads the finding's time; Kafka runs use the clock.
        eventPaths = JSONPathSelection((useEventTime ? Self.eventTimePaths : []) + (listsFindings ? Self.summaryPaths : Self.decisionPaths)
            + rules.values.flatMap { r in [r.partitionPaths, r.dedupe?.key, r.throttle?.key, r.group?.by].compactMap { $0 }.joined() })
        self.forwarder = forwarder
        var targets: [String: [String: BoundTarget]] = [:]
        for (i, route) in table.routes.enumerated() {
            for t in bound[i] { targets[route.name, default: [:]][t.lane.name] = t }
        }
        self.targets = targets
        self.useEventTime = useEventTime
        let lanes = Set(targets.values.flatMap(\.keys))
        sendTimeDecoders = Dictionary(uniqueKeysWithValues: lanes.map { ($0, SendTimeDecoder(limits: limits)) })
    }

    /// Whether a rule can put a finding in a digest (throttle, group): only then does an item
    /// carry the finding's title and account.
    let listsFindings: Bool

    /// Whether the planner must keep the event for `screen` (any state rule, inhibition or silence).
    var needsEvent: Bool { !rules.isEmpty || stage.hasInhibitRules || stage.hasSilences }
    /// Whether `screen` reads the whole event: a silence or an inhibit rule may name any path.
    /// Otherwise the planner keeps only `eventPaths`, what the state rules and `screen` read.
    var needsWholeEvent: Bool { stage.hasInhibitRules || stage.hasSilences }
    /// Every path `screen` and `HoldItem.make` read from an event while `needsWholeEvent` is false
    /// (the `sluice` view is always kept whole).
    let eventPaths: JSONPathSelection
    static let summaryPaths = decisionPaths + ["detail.title", "detail.type", "detail.accountId", "account"]
    /// What a decision reads besides the rules' keys: the finding's severity...
    static let decisionPaths = ["detail.severity"]
    /// ...and its time, when the gate runs on event time (`eventTime`).
    static let eventTimePaths = ["time", "detail.updatedAt"]

    /// The target of a digest whose route a reload removed: the connector's lane.
    func orphanTarget(_ route: String, _ connector: String) -> BoundTarget? { run.orphanTarget?(route, connector) }

    func now(_ event: JSON?) -> EpochMillis {
        if useEventTime, let t = event.flatMap(Self.eventTime) { return t }
        return Self.wallClock()
    }

    static func wallClock() -> EpochMillis { EpochMillis(Date().timeIntervalSince1970 * 1000) }

    /// The silences feed's tick: publishes this instance's report on each ended silence with
    /// `notify:` and, when this instance was chosen, sends the summary to that connector's lane.
    func silenceSummaryTick(_ summaries: SilenceSummaries, topic: String, producer: KafkaProducer, logger: Logger) -> @Sendable () -> Void {
        let lastTick = Atomic<Int64>(0)
        return { [self] in
            let now = Self.wallClock()
            guard now - lastTick.load(ordering: .relaxed) >= 500 else { return }
            lastTick.store(now, ordering: .relaxed)
            for action in summaries.tick(ended: stage.endedSilences(now: now, within: summaries.reportWithin), now: now) {
                switch action {
                case .publish(let key, let value):
                    try? producer.produce(topic: topic, key: key, value: value) { error in
                        if let error { logger.warning("silence report not published", metadata: ["error": "\(error.message)"]) }
                    }
                case .send(let connector, let silence, let payload):
                    guard let (route, target) = targets.lazy.compactMap({ r in r.value[connector].map { (r.key, $0) } }).first else {
                        logger.warning("silence summary: no route uses the connector it names", metadata: ["sluice.silence": "\(silence)", "connector.name": "\(connector)"])
                        continue
                    }
                    send(payload: payload, route: route, target: target, record: SourceRecord(topic: nil, offset: 0, value: nil), ticket: nil)
                }
            }
        }
    }

    /// The finding's time: EventBridge `time`, else the finding's `updatedAt`.
    static func eventTime(_ event: JSON) -> EpochMillis? {
        guard let text = event["time"]?.stringValue ?? event.value(atPath: "detail.updatedAt")?.stringValue else { return nil }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let date = f.date(from: text) ?? ISO8601DateFormatter().date(from: text) else { return nil }
        let ms = date.timeIntervalSince1970 * 1000
        return ms.isFinite && abs(ms) < 1e15 ? EpochMillis(ms) : nil
    }

    /// What happens to one planned delivery that was not held here.
    enum Step {
        /// Deliver now; dedupe waits on the ticket's outcome (nil: no ticket).
        case deliver(route: String, target: BoundTarget, delivery: Delivery, ticket: UInt64?)
        /// Send to the owner of its state key (Kafka runs).
        case forward(route: String, target: BoundTarget, delivery: Delivery, item: HoldItem)
        /// Held here (counted): the admin feed shows `held: <reason>` for its target.
        case held(target: String, reason: HoldReason)
    }

    /// The deliveries that go on; held ones are counted and reported with their reason.
    /// `finding` is the finding's own bytes (of a split record, its part): what the owner decodes
    /// again for a send-time silence check or a `sluice.hold.*` template.
    func screen(_ list: [(route: String, target: BoundTarget, delivery: Delivery)], event: JSON, finding: [UInt8]) -> [Step] {
        let now = now(event)
        let id = list.first?.delivery.findingID
        let sightings = stage.observe(event, findingID: id, now: now)
        if let forwarder { for s in sightings { forwarder.publish(s) } }
        // Title and account are for digests: a gate with dedupe rules only reads the severity.
        let (title, severity, account) = listsFindings ? Self.listing(event, findingID: id) : ("", Self.severity(event), nil)
        var out: [Step] = []
        for (route, target, delivery) in list {
            if let reason = stage.screen(event, findingID: id, route: route, target: target.lane.name, now: now) {
                out.append(.held(target: target.lane.name, reason: reason))
                continue
            }
            // The owner needs the finding itself when the payload is not it (a template): to check
            // silences at send time, and to render `sluice.hold.*`. In memory only the latter.
            let keepEvent = target.renderer != nil && (forwarder != nil || (rules[route]?.dedupe != nil && target.renderer?.readsHold == true))
            guard let rules = rules[route],
                  let item = HoldItem.make(rules: rules, route: route, target: target.lane.name, event: event, findingID: id,
                                           title: title, severity: severity, seenAt: now, payload: delivery.payload,
                                           finding: keepEvent ? finding : nil, account: account) else {
                out.append(.deliver(route: route, target: target, delivery: delivery, ticket: nil))
                continue
            }
            if forwarder != nil {
                out.append(.forward(route: route, target: target, delivery: delivery, item: item))
            } else {
                switch stage.offer(item, now: now) {
                case .deliver(let release):
                    var delivery = delivery
                    if release.hold != nil { delivery.payload = payload(for: release) }
                    out.append(.deliver(route: route, target: target, delivery: delivery, ticket: release.ticket))
                case .held(let reason):
                    out.append(.held(target: target.lane.name, reason: reason))
                }
            }
        }
        return out
    }

    /// What a digest lists of a finding: title and severity, GuardDuty's own, else the view's
    /// (ASFF, OCSF, Falco); and its account (Security Hub imports into it; CEF and chat list it).
    /// Reads `summaryPaths` and `sluice` only.
    static func listing(_ event: JSON, findingID id: String?) -> (title: String, severity: Double, account: String?) {
        let severity = Self.severity(event)
        let title = event.value(atPath: "detail.title")?.stringValue ?? event.value(atPath: "sluice.title")?.stringValue
            ?? event.value(atPath: "detail.type")?.stringValue ?? (id ?? "finding")
        let account = event.value(atPath: "detail.accountId")?.stringValue ?? event.value(atPath: "sluice.account")?.stringValue
            ?? event["account"]?.stringValue
        return (title, severity, account)
    }

    /// A finding's severity as dedupe compares it and digests list it: GuardDuty's own, else the view's.
    static func severity(_ event: JSON) -> Double {
        event.value(atPath: "detail.severity")?.doubleValue ?? Self.viewSeverity(event) ?? 0
    }

    /// The view's `severity_id` as a GuardDuty-scale score in its band (as `FindingSummary` reads it).
    static func viewSeverity(_ event: JSON) -> Double? {
        guard let id = event.value(atPath: "sluice.severity_id")?.doubleValue, let band = Int(exactly: id), (1...6).contains(band) else { return nil }
        return FindingSummary.representativeScore(band)
    }

    // MARK: HoldDispatch (the Kafka owner releases through the lanes)

    func deliver(route: String, target: String, payload: [UInt8], findingID: String?, event: [UInt8]?, completion: @escaping @Sendable (Bool) -> Void) {
        guard let bound = targets[route]?[target] else { return completion(false) }  // route gone after a reload
        // Without a template the payload is the finding as it came.
        let finding = event ?? (findingID != nil && bound.renderer == nil ? payload : nil)
        send(payload: payload, route: route, target: bound, record: SourceRecord(topic: nil, offset: 0, value: nil), ticket: nil,
             findingID: findingID, check: finding.map { silencedAtSend(route: route, target: target, finding: .bytes($0, part: 0), findingID: findingID) },
             summary: summary(of: finding, for: bound), completion: completion)
    }

    func deliver(digest: Digest, payload: [UInt8], completion: @escaping @Sendable (Bool) -> Void) {
        // A route removed by a reload still sends its last digests, through the connector's lane.
        guard let bound = targets[digest.route]?[digest.target] ?? orphanTarget(digest.route, digest.target) else { return completion(false) }
        send(payload: payload, route: digest.route, target: bound, record: SourceRecord(topic: nil, offset: 0, value: nil), ticket: nil,
             digest: digest.templateContext, completion: completion)
    }

    /// The finding a send-time check reads: the planned event, or bytes decoded only when needed.
    /// (Not an optional JSON: `JSON` is nil-literal expressible, so `nil` would read as `.null`.)
    enum FindingSource: Sendable {
        /// The event as the planner matched it (with the `sluice` view while the stage needs events).
        case event(JSON)
        /// A record's bytes (or a planned event's): decoded as the planner does; `part` picks the
        /// finding of a split record (0 for one-finding records).
        case bytes([UInt8], part: Int)
    }

    /// The lane's send-time check for one delivery: the finding against the silences of now.
    /// Bytes are decoded only while some silence exists.
    func silencedAtSend(route: String, target: String, finding: FindingSource, findingID: String?) -> @Sendable () -> Bool {
        { [self] in
            guard stage.hasSilences else { return false }
            let event: JSON?
            var id = findingID
            switch finding {
            case .event(let e): event = e
            case .bytes(let b, let part):
                let decoded = (sendTimeDecoders[target] ?? SendTimeDecoder(limits: .standard)).finding(b, part: part)
                event = decoded?.event
                id = id ?? decoded?.id
            }
            guard let event else { return false }
            return stage.silencedAtSend(event, findingID: id, route: route, target: target, now: now(event))
        }
    }

    /// The digest's payload: the route's `digest_template` (checked at load), else the target's
    /// default digest in its native shape, else the generic JSON digest. Silences are checked
    /// first: a silenced finding is not listed, and a digest that would list only silenced
    /// findings (none beyond them) is not sent (nil), each of them counted held `silenced`.
    func payload(for digest: Digest) -> [UInt8]? {
        guard let digest = Self.unsilenced(digest, stage: stage, now: Self.wallClock()) else { return nil }
        let context = digest.templateContext
        if let source = rules[digest.route]?.digestTemplate, let template = try? PayloadTemplate(source, format: .json) {
            return Array(template.render(context).utf8)
        }
        if let template = (targets[digest.route]?[digest.target] ?? orphanTarget(digest.route, digest.target))?.digestTemplate {
            return Array(template.render(context).utf8)
        }
        return Array(digest.json.serialized().utf8)
    }

    /// The digest without the findings silences hold now; nil when nothing would be left to tell.
    /// A digest keeps each finding's id, title and severity, not the finding: a silence is
    /// judged on those fields as `detail.*`, top-level `id` and `sluice.*` (a silence on any
    /// other field does not take a finding out of a digest).
    static func unsilenced(_ digest: Digest, stage: HoldStage, now: EpochMillis) -> Digest? {
        guard stage.hasSilences else { return digest }
        var kept = digest
        kept.first = digest.first.filter { entry in
            !stage.silencedAtSend(Silence.partialEvent(id: entry.findingID, title: entry.title, severity: entry.severity, account: entry.account),
                                  findingID: entry.findingID, route: digest.route, target: digest.target, now: now)
        }
        let removed = digest.first.filter { !kept.first.contains($0) }
        if removed.isEmpty { return digest }
        for entry in removed {
            let band = FindingSummary.SeverityLabel(severity: entry.severity).rawValue
            kept.bySeverity[band] = (kept.bySeverity[band] ?? 1) - 1
            if kept.bySeverity[band] == 0 { kept.bySeverity[band] = nil }
        }
        kept.total = max(0, digest.total - removed.count)
        return kept.total == 0 ? nil : kept
    }

    /// The release's payload, rendered again with `sluice.hold.*` when its template reads them.
    func payload(for release: HoldRelease) -> [UInt8] {
        guard let hold = release.hold, let bytes = release.item.finding,
              let target = targets[release.item.route]?[release.item.target], let renderer = target.renderer,
              let finding = (sendTimeDecoders[target.lane.name] ?? SendTimeDecoder(limits: .standard)).materialized(bytes)
        else { return release.item.payload }
        // Read through the decoder as the planner reads it: the view (any format) and its summary.
        return renderer.render(finding.event, summary: finding.summary, hold: hold.templateContext)
    }

    /// Reports a ticketed delivery's outcome; a repeat parked behind a failed one is sent now.
    func outcome(ticket: UInt64, succeeded: Bool, record: SourceRecord) {
        guard let release = stage.settled(ticket: ticket, succeeded: succeeded, now: now(nil)),
              let target = targets[release.item.route]?[release.item.target] else { return }
        let finding = release.item.finding ?? (target.renderer == nil ? release.item.payload : nil)
        send(payload: payload(for: release), route: release.item.route, target: target, record: record, ticket: release.ticket,
             findingID: release.item.findingID,
             check: finding.map { silencedAtSend(route: release.item.route, target: release.item.target, finding: .bytes($0, part: 0),
                                                 findingID: release.item.findingID) },
             summary: summary(of: finding, for: target))
    }

    /// Digests due now (or all pending ones, at end of input).
    func sendDigests(flushAll: Bool, lastEvent: JSON?) {
        let now = now(lastEvent)
        let digests = flushAll ? stage.flushAll(now: now) : stage.due(now: now)
        for d in digests {
            guard let target = targets[d.route]?[d.target] ?? orphanTarget(d.route, d.target), let payload = payload(for: d) else { continue }
            let record = SourceRecord(topic: nil, offset: 0, value: nil)
            send(payload: payload, route: d.route, target: target, record: record, ticket: nil, digest: d.templateContext)
        }
    }

    /// Whether a digest may be due (cheap; checked after each record).
    func digestsDue(lastEvent: JSON?) -> Bool {
        guard let next = stage.nextDue else { return false }
        return next <= now(lastEvent)
    }


    /// The summary a target that reads one (syslog CEF, SNS/SQS attributes…) needs with a released
    /// finding, as the planner gives it to a delivery it sends at once.
    func summary(of finding: [UInt8]?, for target: BoundTarget) -> FindingSummary? {
        guard target.usesSummary, let finding else { return nil }
        return (sendTimeDecoders[target.lane.name] ?? SendTimeDecoder(limits: .standard)).summary(finding)
    }

    private func send(payload: [UInt8], route: String, target: BoundTarget, record: SourceRecord, ticket: UInt64?,
                      findingID: String? = nil, check: (@Sendable () -> Bool)? = nil, digest: JSON? = nil, summary: FindingSummary? = nil,
                      completion: (@Sendable (Bool) -> Void)? = nil) {
        run.outstanding.add(1, ordering: .relaxed)
        let message = InFlightMessage(record: record, ticket: nil, work: 1) { [run] _ in run.outstanding.subtract(1, ordering: .relaxed) }
        var job = DeliveryJob(message: message, route: route, delivered: target.delivered,
                              delivery: Delivery(payload: payload, key: findingID.map { Array($0.utf8) }, findingID: findingID, route: route,
                                                 summary: summary),
                              firstAttempt: .now)
        job.heldAtSend = check
        job.delivery.digest = digest
        if let ticket { job.onOutcome = { [self] ok in outcome(ticket: ticket, succeeded: ok, record: record) } }
        if let completion { job.onOutcome = completion }
        target.lane.submit(job)
    }
}

/// What the gates of one run share: a reload builds a new plan and gate, and work of the old
/// gate still under way must count for the drain; a digest of a route the reload removed still
/// needs its connector's lane.
final class HoldGateRun: Sendable {
    let outstanding = Atomic<Int>(0)
    /// The target for a digest of a route no longer in the plan (nil: such a digest has nowhere to go).
    let orphanTarget: (@Sendable (_ route: String, _ connector: String) -> BoundTarget?)?

    init(orphanTarget: (@Sendable (_ route: String, _ connector: String) -> BoundTarget?)? = nil) {
        self.orphanTarget = orphanTarget
    }
}

/// Reads a finding again at send time with the one decoder every command uses (docs/formats.md):
/// an ASFF, OCSF or Falco finding, a bare GuardDuty finding in its envelope, each with its `sluice`
/// view, so a silence on any field a route could match holds at send time as at match time.
/// One per lane; the lock only serialises that lane's attempts (the check runs while silences exist).
final class SendTimeDecoder: Sendable {
    private let decoder: Mutex<FindingDecoder>

    init(limits: DecodeLimits) {
        // The bytes may be a planned event with its view injected: larger than the record, a level deeper.
        decoder = Mutex(FindingDecoder(limits: DecodeLimits(maxBytes: limits.maxBytes * 3 + 4096, maxDepth: limits.maxDepth + 3)))
    }

    /// The `part`-th finding of `bytes` as routes match it, with its id; nil when the bytes do not decode.
    func finding(_ bytes: [UInt8], part: Int) -> (event: JSON, id: String?)? {
        decoder.withLock { decoder -> (event: JSON, id: String?)? in
            var found: (event: JSON, id: String?)?
            var index = 0
            let rejection = decoder.decode(bytes) { f in
                if index == part { found = (JSON(f.event), f.findingID()) }
                index += 1
            }
            return rejection == nil ? found : nil
        }
    }

    /// The summary of the first finding of `bytes`, as the planner gives it (any input format).
    func summary(_ bytes: [UInt8]) -> FindingSummary? { materialized(bytes)?.summary }

    /// The first finding of `bytes` as templates render it (the event with its whole view) and
    /// its summary, as the planner gives them; nil when the bytes do not decode.
    func materialized(_ bytes: [UInt8]) -> (event: JSON, summary: FindingSummary?)? {
        decoder.withLock { decoder -> (event: JSON, summary: FindingSummary?)? in
            var found: (event: JSON, summary: FindingSummary?)?
            decoder.decode(bytes) { f in if found == nil { found = f.materialized() } }
            return found
        }
    }
}

/// This instance's key owner, set once when it starts; read per forwarded item without a lock.
final class LocalOwnerSlot: Sendable {
    let owner = AtomicLazyReference<KafkaHoldOwner>()
}

/// The source side of Kafka-backed state: planned deliveries that need state go to the
/// repartition topic keyed by their state key; inhibition sources to the inhibit topic. When
/// this instance owns the key's partition (`localOwner`), the item is decided here instead.
struct StateForwarder: Sendable {
    let producer: KafkaProducer
    let topics: StateTopics
    let logger: Logger
    /// The key owner of this instance, once it runs (set by the runner; unset, every item is forwarded).
    let localOwner = LocalOwnerSlot()

    init(producer: KafkaProducer, topics: StateTopics, logger: Logger) {
        self.producer = producer
        self.topics = topics
        self.logger = logger
    }

    /// The state partition of `item`'s key (its owner's).
    func partition(of item: HoldItem) -> Int32 { topics.partition(forKey: item.stateKey) }

    /// `completion(true)` once the item is durably with its key's owner: acknowledged by the
    /// broker on the repartition topic. Then the source offset may settle. (When this instance
    /// owns the partition, the pipeline asks `localOwner` first.)
    func forward(_ item: HoldItem, to partition: Int32, completion: @escaping @Sendable (Bool) -> Void) {
        let key = Array(item.stateKey.utf8)
        let timings = StateTimings.shared
        let started = timings.start()
        if timings.enabled { timings.forwarding.add(1, ordering: .relaxed) }
        do {
            try producer.produce(topic: topics.repartition, partition: partition, key: key, value: HoldItemCodec.encode(item)) { error in
                timings.end(.repartitionAck, since: started)
                if timings.enabled { timings.forwarding.subtract(1, ordering: .relaxed) }
                completion(error == nil)
            }
        } catch {
            if timings.enabled { timings.forwarding.subtract(1, ordering: .relaxed) }
            completion(false)
        }
    }

    func publish(_ s: (key: String, sighting: InhibitIndex.Sighting)) {
        try? producer.produce(topic: topics.inhibit, key: Array(s.key.utf8), value: InhibitRecords.value(s.sighting)) { [logger] error in
            if let error { logger.warning("inhibition source not published", metadata: ["error": "\(error.message)"]) }
        }
    }
}
