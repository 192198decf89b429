import SluiceCore
import SluiceGuardDuty

extension FindingSummary {
    /// The summary of a finding of any format from its view, for connectors and default templates.
    /// GuardDuty keeps its own reading (resource summaries per resource type, console link).
    public init(view: FindingView, event: JSON) {
        if view.format == .guardduty, var gd = FindingSummary(event: event) {
            gd.view = view.templateJSON
            self = gd
            return
        }
        let r = view.resource
        let resourceType = r?.type ?? "Unknown"
        let p = view.process
        self.init(
            id: view.id ?? "", title: view.title ?? view.type ?? "", description: view.description ?? "", type: view.type ?? "",
            severity: Self.representativeScore(view.severityID), severityScore: view.severityScore,
            account: view.account ?? "", region: view.region ?? "", count: view.count,
            firstSeen: view.firstSeen ?? "", lastSeen: view.lastSeen ?? "", resourceType: resourceType,
            resourceSummary: r.map { "\($0.type ?? "Resource") \($0.name ?? $0.id ?? "")" } ?? "",
            resourceID: r?.id ?? "",
            process: p.map { Process(name: $0.name ?? "", executablePath: $0.executablePath ?? "", pid: $0.pid, user: $0.user ?? "", sha256: "") },
            isRuntime: view.format == .falco || p != nil,
            // A link taken from a finding (ASFF SourceUrl, OCSF src_url) could point anywhere: none.
            consoleURL: "", view: view.templateJSON)
        (vendor, productVersion) = Self.maker(view.format, event: event)
    }

    /// Vendor and product version as the finding states them (`vendor`, `productVersion`).
    static func maker(_ format: FindingFormat, event: JSON) -> (vendor: String, version: String) {
        func text(_ v: JSON?) -> String { v?.stringValue ?? "" }
        switch format {
        case .guardduty:
            return ("Amazon", "")
        case .falco:
            return ("Falcosecurity", "")
        case .asff:
            // One finding per event: in a Security Hub envelope, a BatchImportFindings body, or bare.
            let f = event["detail"]?["findings"]?.arrayValue?.first ?? event["Findings"]?.arrayValue?.first ?? event
            let company = text(f["CompanyName"])
            return (company.isEmpty ? text(f["ProductFields"]?["aws/securityhub/CompanyName"]) : company, "")
        case .ocsf:
            let product = (event["metadata"] ?? event["detail"]?["metadata"])?["product"]
            return (text(product?["vendor_name"]), text(product?["version"]))
        }
    }

    /// A GuardDuty-scale score in the band of `severityID` (SNS attribute, syslog, digests
    /// compare numbers): 1 informational and 2 low → low, 3 medium, 4 high, 5 and 6 critical.
    public static func representativeScore(_ severityID: Int) -> Double {
        switch severityID {
        case 1: return 1
        case 2: return 2
        case 3: return 5
        case 4: return 8
        case 5: return 9
        case 6: return 10
        default: return 0
        }
    }
}

extension FindingSummary {
    /// The summary of an event already decoded (any input format, with or without its `sluice`
    /// view), read again through the one decoder as the planner reads it: for the places that
    /// hold an event rather than a record's bytes (playbooks). nil when it does not decode.
    public static func of(event: JSON) -> FindingSummary? {
        // The event may carry its view: larger than the record it came from, a level deeper.
        let limits = DecodeLimits(maxBytes: DecodeLimits.standard.maxBytes * 3 + 4096, maxDepth: DecodeLimits.standard.maxDepth + 3)
        var summary: FindingSummary?
        FindingDecoder(limits: limits).decode(Array(event.serialized().utf8)) { f in
            if summary == nil { summary = f.materialized().summary }
        }
        return summary
    }
}

extension DecodedFinding {
    /// The owned event and summary templates render: the event as routes saw it, with the whole
    /// view under `sluice` (whatever part of it the routes read), and the summary of that view
    /// (nil for a record of no known format that is not GuardDuty-shaped).
    public func materialized() -> (event: JSON, summary: FindingSummary?) {
        guard let view = view() else {
            let event = JSON(self.event)
            return (event, FindingSummary(event: event))
        }
        let event = eventWithView(view)
        return (event, FindingSummary(view: view, event: event))
    }

    /// The event with the whole view first under `sluice`, for what reads more of it than the
    /// routes do: the Hold stage (a silence or an inhibit rule made at any time may read any
    /// member), templates, input transformers.
    public func eventWithView() -> JSON {
        guard let view = view() else { return JSON(event) }
        return eventWithView(view)
    }

    /// The event with only `selection`'s paths, and the whole view under `sluice` as
    /// `eventWithView()` has it: for the Hold stage while no silence or inhibit rule exists, when
    /// its state rules read a few paths (the selection must name each path it reads).
    /// A GuardDuty finding's view only restates its own fields, which the stage reads first: it is
    /// built only when `selection` reads under `sluice`.
    public func eventWithView(keeping selection: JSONPathSelection) -> JSON {
        guard event.kind == .object else { return JSON(event) }
        let members = selection.members(of: event)
        if format == .guardduty, !selection.hasRoot("sluice") { return .object(members.filter { $0.key != "sluice" }) }
        guard let view = view() else { return .object(members) }
        // The decoder's own `sluice`, as above.
        return .object([(key: "sluice", value: view.json)] + members.filter { $0.key != "sluice" })
    }

    private func eventWithView(_ view: FindingView) -> JSON {
        let json = JSON(event)
        guard case .object(var members) = json else { return json }
        // The decoder's own `sluice`: the record's never reaches the event.
        members.removeAll { $0.key == "sluice" }
        return .object([(key: "sluice", value: view.json)] + members)
    }
}
