import SluiceCore

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
    /// their findings array), with the view under `sluice` when the decoder injects it.
    public let event: JSONView
    /// nil when the record is of no known format (it still matches patterns on its own fields).
    public let format: FindingFormat?
    public let part: FindingView.Part
    /// This finding's own bytes (without `sluice`), for targets that pass the event through.
    /// nil: the record's bytes as they came.
    public let ownBytes: [UInt8]?
    let finding: JSONView?
    let envelope: JSONView?
    let injected: FindingView?

    /// The normalised view (computed here when the decoder did not already inject it).
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
        if format != nil, let id = view()?.id { return id }
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
    /// Put the view under `sluice` in each event. Off on the GuardDuty hot path when no route
    /// reads `sluice`: an enveloped finding is then matched where it was parsed, with no copy.
    public let injectsView: Bool
    private let parser: JSONParser
    /// For the events the decoder writes (wrapped, split, with a view): the record plus an
    /// envelope and a view, which copies the finding's text fields once more.
    private let derivedParser: JSONParser

    public init(limits: DecodeLimits = .standard, format: InputFormat = .auto, injectsView: Bool = true) {
        self.limits = limits
        self.format = format
        self.injectsView = injectsView
        parser = JSONParser(maxBytes: limits.maxBytes, maxDepth: limits.maxDepth)
        derivedParser = JSONParser(maxBytes: limits.maxBytes * 3 + 4096, maxDepth: limits.maxDepth + 3)
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
        if case .failure(let r) = result { return .json(r, detail: parser.lastErrorDescription) }
        return rejection
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
            let ownSluice = root["sluice"] != nil
            guard injectsView || ownSluice else {
                // The hot path: matched where parsed.
                body(DecodedFinding(event: root, format: format, part: single, ownBytes: nil, finding: finding, envelope: envelope, injected: nil))
                return nil
            }
            let view = format.flatMap { f in finding.map { FindingView(format: f, finding: $0, envelope: envelope, part: single) } }
            let derived: [UInt8]
            if ownSluice {
                // The record's own `sluice` never reaches a route: the view (or nothing) replaces it.
                derived = Self.serialize(JSON(root), view: injectsView ? view : nil)
            } else {
                derived = Self.splice(view: view, into: bytes)
            }
            return parseDerived(derived) { event in
                body(DecodedFinding(event: event, format: format, part: single, ownBytes: nil, finding: finding, envelope: envelope,
                                    injected: injectsView ? view : nil))
            }
        case .bareGuardDuty:
            let view = FindingView(format: .guardduty, finding: root, envelope: nil, part: single)
            let wrapped = GuardDutyEnvelope.envelope(around: Array(bytes), finding: root)
            let derived = injectsView ? Self.splice(view: view, into: wrapped) : wrapped
            return parseDerived(derived) { event in
                // Routes match the envelope; the finding itself is the bare record.
                body(DecodedFinding(event: event, format: .guardduty, part: single, ownBytes: nil, finding: root, envelope: nil,
                                    injected: injectsView ? view : nil))
            }
        case .split(let format, let array, let inDetail):
            var elements: [JSONView] = []
            array.forEachElement { elements.append($0) }
            guard !elements.isEmpty else { return nil }
            var base = JSON(root)
            Self.removeMember("sluice", from: &base)
            for (i, element) in elements.enumerated() {
                let part = FindingView.Part(index: i, count: elements.count)
                let child = Self.child(of: base, element: JSON(element), inDetail: inDetail)
                let own = Array(child.serialized().utf8)
                let view = FindingView(format: format, finding: element, envelope: inDetail ? root : nil, part: part)
                let derived = injectsView ? Self.splice(view: view, into: own) : own
                if let r = parseDerived(derived, { event in
                    body(DecodedFinding(event: event, format: format, part: part, ownBytes: own, finding: element,
                                        envelope: inDetail ? root : nil, injected: injectsView ? view : nil))
                }) { return r }
            }
            return nil
        }
    }

    private func parseDerived(_ bytes: [UInt8], _ body: (JSONView) -> Void) -> DecodeRejection? {
        let result = derivedParser.parse(bytes) { doc in body(doc.root) }
        if case .failure(let r) = result {
            return .json(r, detail: "the normalised finding is over the limits (\(r.rawValue))")
        }
        return nil
    }

    /// `{"sluice":VIEW,` + the object `bytes` without its opening brace. Only for objects with
    /// no top-level `sluice` of their own (those are rebuilt by `serialize`).
    static func splice(view: FindingView?, into bytes: UnsafeRawBufferPointer) -> [UInt8] {
        guard let view, let open = bytes.firstIndex(of: UInt8(ascii: "{")) else { return Array(bytes) }
        var out = Array("{\"sluice\":".utf8)
        out.append(contentsOf: view.jsonBytes)
        let rest = bytes[(open + 1)...]
        // An empty object has nothing after the view: no comma.
        if let next = rest.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }), next == UInt8(ascii: "}") {
            out.append(UInt8(ascii: "}"))
        } else {
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: rest)
        }
        return out
    }

    static func splice(view: FindingView, into bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { splice(view: view, into: $0) }
    }

    /// `object` without its own `sluice`, with `view` first under `sluice` when given.
    static func serialize(_ object: JSON, view: FindingView?) -> [UInt8] {
        var o = object
        removeMember("sluice", from: &o)
        if let view, case .object(let members) = o { o = .object([(key: "sluice", value: view.json)] + members) }
        return Array(o.serialized().utf8)
    }

    static func removeMember(_ key: String, from json: inout JSON) {
        if case .object(var members) = json {
            members.removeAll { $0.key == key }
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
