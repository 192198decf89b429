import SluiceCore
import SluiceGuardDuty

/// Why a record was refused before matching. `reason` is the dead-letter reason.
public enum DecodeRejection: Error, Sendable, Equatable {
    /// Not JSON, too large, too deep, invalid UTF-8, empty.
    case json(JSONRejection, detail: String)
    /// JSON, but not an object.
    case notObject(JSONKind)
    /// The input requires a format the record is not of.
    case format(required: FindingFormat, found: FindingFormat?)

    /// The dead-letter reason (`too_large`, `not_json`, `format`, …).
    public var reason: String {
        switch self {
        case .json(let r, _): return r == .noMemory ? JSONRejection.notJSON.rawValue : r.rawValue
        case .notObject: return JSONRejection.notJSON.rawValue
        case .format: return "format"
        }
    }

    /// One line for a dead letter or a command's error message (never the record's own text).
    public var detail: String {
        switch self {
        case .json(_, let detail): return detail
        case .notObject(let kind): return "a finding must be a JSON object, got \(kind)"
        case .format(let required, let found):
            return "the input requires format \(required.rawValue); the record is \(found.map { "of format \($0.rawValue)" } ?? "of no known format")"
        }
    }
}

/// One finding of a decoded record, valid only inside the decoder's callback.
public struct DecodedFinding {
    /// The event routes match: in its EventBridge envelope (bare GuardDuty findings are wrapped as
    /// EventBridge would deliver them), one finding per event (split records carry one element in
    /// their findings array), with the decoder's `viewFields` of the view under `sluice` (none:
    /// no `sluice`). The record's own `sluice` never reaches it.
    public let event: JSONView
    /// nil when the record is of no known format (it still matches patterns on its own fields).
    public let format: FindingFormat?
    public let part: FindingView.Part
    /// This finding's own bytes (without `sluice`), for targets that pass the event through.
    /// nil: the record's bytes as they came.
    public let ownBytes: [UInt8]?
    let finding: JSONView?
    let envelope: JSONView?
    /// The view the decoder built for the event, when it built the whole of it.
    let injected: FindingView?

    /// The whole normalised view (built here unless the decoder already built all of it).
    public func view() -> FindingView? {
        if let injected { return injected }
        guard let format, let finding else { return nil }
        return FindingView(format: format, finding: finding, envelope: envelope, part: part)
    }

    /// The finding's id: the view's, or `detail.id` / `id` for a record of no known format.
    public func findingID() -> String? {
        // GuardDuty's view id is the finding's `id`: read it where it is. Building the whole view
        // for it (times, resources, strings) took half the source thread's CPU in a kafka run.
        if format == .guardduty, injected == nil, let id = finding?["id"]?.string { return id }
        if let format, let finding {
            // The id alone (a Falco id without uuid is a hash, the rest is one lookup), not the whole view.
            let id = injected?.id ?? FindingView(format: format, finding: finding, envelope: envelope, part: part, fields: .id).id
            if let id { return id }
        }
        return event["detail"]?["id"]?.string ?? event["id"]?.string
    }
}

/// The one decode-and-normalise entry point (issue 11.2, 14): bytes → rejected(reason) or the
/// record's findings, each as the event routes see. `run` (Planner), `test`, `backtest`,
/// `test-pattern` and playbooks all decode through it, with the same limits, so they agree.
///
/// Not thread-safe (it owns simdjson parsers): one decoder per thread.
public final class FindingDecoder {
    public let limits: DecodeLimits
    public let format: InputFormat
    /// The members of the view put under `sluice` in each event: those the routes read
    /// (`RouteTable.viewFields`). None on the hot path when no route reads `sluice`: an enveloped
    /// finding is then matched where it was parsed, with no copy.
    public let viewFields: ViewFields
    /// Some of the view goes into each event.
    public var injectsView: Bool { !viewFields.isEmpty }
    private let parser: JSONParser
    /// For the events the decoder rewrites (wrapped, split, stripped of their own `sluice`): the
    /// record plus an envelope.
    private let derivedParser: JSONParser
    /// Puts the view first in an event's tape: no text written, nothing parsed again.
    private let prepender = JSONMemberPrepender()

    public init(limits: DecodeLimits = .standard, format: InputFormat = .auto, viewFields: ViewFields) {
        self.limits = limits
        self.format = format
        self.viewFields = viewFields
        parser = JSONParser(maxBytes: limits.maxBytes, maxDepth: limits.maxDepth)
        derivedParser = JSONParser(maxBytes: limits.maxBytes * 2 + 4096, maxDepth: limits.maxDepth + 2)
    }

    /// `injectsView`: the whole view (what `test`, `backtest` and templates show), or none.
    public convenience init(limits: DecodeLimits = .standard, format: InputFormat = .auto, injectsView: Bool = true) {
        self.init(limits: limits, format: format, viewFields: injectsView ? .all : [])
    }

    /// Decodes `bytes` and calls `body` once per finding, in record order (none for an empty
    /// findings array). Returns why the record was rejected, or nil.
    @discardableResult
    public func decode(_ bytes: [UInt8], _ body: (DecodedFinding) -> Void) -> DecodeRejection? {
        bytes.withUnsafeBytes { decode($0, padded: false, body) }
    }

    @discardableResult
    public func decode(_ text: String, _ body: (DecodedFinding) -> Void) -> DecodeRejection? {
        decode(Array(text.utf8), body)
    }

    /// `padded`: `JSONParser.padding` readable bytes follow `bytes` (NDJSON readers).
    @discardableResult
    public func decode(_ bytes: UnsafeRawBufferPointer, padded: Bool, _ body: (DecodedFinding) -> Void) -> DecodeRejection? {
        var rejection: DecodeRejection?
        let result = parser.parse(bytes, padded: padded) { doc in
            rejection = decodeDocument(doc.root, bytes: bytes, body)
        }
        if case .failure(let r) = result { return .json(r, detail: rejectionDetail(r, size: bytes.count)) }
        return rejection
    }

    /// simdjson's text names neither the limit nor the setting; a user who meets it needs both.
    private func rejectionDetail(_ r: JSONRejection, size: Int) -> String {
        switch r {
        case .tooLarge where size > parser.maxBytes:
            return "\(size) bytes, over the limit of \(parser.maxBytes) set by max_message_bytes"
        case .tooDeep:
            return "nested deeper than \(parser.maxDepth) levels, the limit set by max_depth"
        default:
            return parser.lastErrorDescription
        }
    }

    /// Decodes `bytes` and returns its findings as owned values: for tests and commands that
    /// want values rather than a callback (not for the hot path).
    public func decodeOwned(_ bytes: [UInt8]) -> Result<[(event: JSON, view: FindingView?)], DecodeRejection> {
        var out: [(event: JSON, view: FindingView?)] = []
        if let r = decode(bytes, { out.append((JSON($0.event), $0.view())) }) { return .failure(r) }
        return .success(out)
    }

    // MARK: Recognition (docs/formats.md §1)

    enum Shape {
        /// The record is the event (EventBridge GuardDuty, bare ASFF, OCSF, Falco, unknown); its
        /// finding is `finding` (nil when unknown).
        case record(FindingFormat?, finding: JSONView?, envelope: JSONView?)
        /// A bare GuardDuty finding: wrapped in the envelope EventBridge would add.
        case bareGuardDuty
        /// Several findings in `array`, at `detail.findings` (envelope) or `Findings` (body).
        case split(FindingFormat, array: JSONView, inDetail: Bool)
    }

    static func shape(_ root: JSONView) -> Shape {
        let source = root["source"]?.string, detailType = root["detail-type"]?.string
        let detail = root["detail"]
        if source == "aws.guardduty", detailType == "GuardDuty Finding", let detail, detail.isObject {
            return .record(.guardduty, finding: detail, envelope: root)
        }
        if source == "aws.securityhub", let findings = detail?["findings"], findings.kind == .array {
            if detailType == "Security Hub Findings - Imported" || detailType == "Security Hub Findings - Custom Action" {
                return .split(.asff, array: findings, inDetail: true)
            }
            if detailType == "Findings Imported V2" { return .split(.ocsf, array: findings, inDetail: true) }
        }
        if let findings = root["Findings"], findings.kind == .array { return .split(.asff, array: findings, inDetail: false) }
        if root["SchemaVersion"] != nil, root["ProductArn"] != nil { return .record(.asff, finding: root, envelope: nil) }
        if let c = root["class_uid"]?.double, c == 2004 || c == 2001, root["metadata"]?.isObject == true {
            return .record(.ocsf, finding: root, envelope: nil)
        }
        if root["rule"]?.kind == .string, root["priority"] != nil, root["output"] != nil { return .record(.falco, finding: root, envelope: nil) }
        if root["type"]?.kind == .string, root["resource"]?.isObject == true, root["accountId"] != nil { return .bareGuardDuty }
        return .record(nil, finding: nil, envelope: nil)
    }

    // MARK: Decoding

    private func decodeDocument(_ root: JSONView, bytes: UnsafeRawBufferPointer, _ body: (DecodedFinding) -> Void) -> DecodeRejection? {
        guard root.isObject else { return .notObject(root.kind) }
        let shape = Self.shape(root)
        if let required = format.required {
            let found: FindingFormat?
            switch shape {
            case .record(let f, _, _): found = f
            case .bareGuardDuty: found = .guardduty
            case .split(let f, _, _): found = f
            }
            if found != required { return .format(required: required, found: found) }
        }
        let single = FindingView.Part(index: 0, count: 1)
        switch shape {
        case .record(let format, let finding, let envelope):
            guard Self.hasOwnSluice(root) else {
                // The hot path: matched where parsed, with the view when something reads it.
                return withView(on: root, format: format, finding: finding, envelope: envelope, part: single, ownBytes: nil, body)
            }
            // The record's own `sluice` (or `sluice.…` key, which a dotted path would read as the
            // view's) never reaches a route: the event is rebuilt without it.
            return parseDerived(Self.serialize(JSON(root))) { event in
                withView(on: event, format: format, finding: finding, envelope: envelope, part: single, ownBytes: nil, body)
            }
        case .bareGuardDuty:
            // Routes match the envelope; the finding itself is the bare record.
            return parseDerived(GuardDutyEnvelope.envelope(around: Array(bytes), finding: root)) { event in
                withView(on: event, format: .guardduty, finding: root, envelope: nil, part: single, ownBytes: nil, body)
            }
        case .split(let format, let array, let inDetail):
            var elements: [JSONView] = []
            array.forEachElement { elements.append($0) }
            guard !elements.isEmpty else { return nil }
            var base = JSON(root)
            Self.removeOwnSluice(from: &base)
            // Each part is the record with its array cut to one element: n parts of a record with
            // large other fields are n copies of them (1 MB of 500 KB and 170,000 `{}` made 85 GB).
            let partBytes = Self.child(of: base, element: .null, inDetail: inDetail).serialized().utf8.count
            let (total, overflow) = partBytes.multipliedReportingOverflow(by: elements.count)
            if overflow || total > limits.maxSplitBytes {
                return .json(.tooLarge, detail: "\(elements.count) findings, each with the record's other \(partBytes) bytes, "
                                 + "come to more than \(limits.maxSplitBytes) bytes (16 × max_message_bytes)")
            }
            for (i, element) in elements.enumerated() {
                let part = FindingView.Part(index: i, count: elements.count)
                let own = Array(Self.child(of: base, element: JSON(element), inDetail: inDetail).serialized().utf8)
                if let r = parseDerived(own, { event in
                    withView(on: event, format: format, finding: element, envelope: inDetail ? root : nil, part: part, ownBytes: own, body)
                }) { return r }
            }
            return nil
        }
    }

    /// Calls `body` with `event` led by the `viewFields` of the finding's view (no view: as it is).
    private func withView(on event: JSONView, format: FindingFormat?, finding: JSONView?, envelope: JSONView?, part: FindingView.Part,
                          ownBytes: [UInt8]?, _ body: (DecodedFinding) -> Void) -> DecodeRejection? {
        guard !viewFields.isEmpty, let format, let finding else {
            body(DecodedFinding(event: event, format: format, part: part, ownBytes: ownBytes, finding: finding, envelope: envelope, injected: nil))
            return nil
        }
        let fields = viewFields
        let view = FindingView(format: format, finding: finding, envelope: envelope, part: part, fields: fields)
        let done: Void? = prepender.withLeadingMember("sluice", in: event, object: { view.write(to: &$0, fields: fields) }) { withView in
            body(DecodedFinding(event: withView, format: format, part: part, ownBytes: ownBytes, finding: finding, envelope: envelope,
                                injected: fields == .all ? view : nil))
        }
        // Every event here is its document's root object; were it not, it would go unmatched rather than without its view.
        return done == nil ? .notObject(event.kind) : nil
    }

    private func parseDerived(_ bytes: [UInt8], _ body: (JSONView) -> DecodeRejection?) -> DecodeRejection? {
        var rejection: DecodeRejection?
        let result = derivedParser.parse(bytes) { doc in rejection = body(doc.root) }
        if case .failure(let r) = result {
            return .json(r, detail: "the normalised finding is over the limits (\(r.rawValue))")
        }
        return rejection
    }

    /// A top-level `sluice`, or a key a dotted path reads as one of its members (`sluice.x`).
    static func hasOwnSluice(_ root: JSONView) -> Bool {
        var found = false
        root.forEachMember { key, _ in
            if !found, key.count >= 6, key[0] == UInt8(ascii: "s"), Self.isOwnSluice(key) { found = true }
        }
        return found
    }

    private static let sluiceKey = Array("sluice".utf8)

    static func isOwnSluice<Key: Collection<UInt8>>(_ key: Key) -> Bool {
        key.starts(with: sluiceKey) && (key.count == sluiceKey.count || key.dropFirst(sluiceKey.count).first == UInt8(ascii: "."))
    }

    /// `object` without its own `sluice` members.
    static func serialize(_ object: JSON) -> [UInt8] {
        var o = object
        removeOwnSluice(from: &o)
        return Array(o.serialized().utf8)
    }

    static func removeOwnSluice(from json: inout JSON) {
        if case .object(var members) = json {
            members.removeAll { isOwnSluice($0.key.utf8) }
            json = .object(members)
        }
    }

    /// The record with its findings array reduced to `element`: EventBridge-style routes on
    /// `detail.findings.…` keep matching each finding on its own.
    static func child(of base: JSON, element: JSON, inDetail: Bool) -> JSON {
        guard case .object(var members) = base else { return base }
        if inDetail {
            guard let i = members.firstIndex(where: { $0.key == "detail" }), case .object(var detail) = members[i].value else { return base }
            if let j = detail.firstIndex(where: { $0.key == "findings" }) { detail[j].value = .array([element]) }
            members[i].value = .object(detail)
        } else if let j = members.firstIndex(where: { $0.key == "Findings" }) {
            members[j].value = .array([element])
        }
        return .object(members)
    }
}
