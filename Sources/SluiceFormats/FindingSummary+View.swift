import SluiceCore

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

extension DecodedFinding {
    /// The owned event and summary templates render: the event as routes saw it, and the
    /// summary of its view (nil for a record of no known format that is not GuardDuty-shaped).
    public func materialized() -> (event: JSON, summary: FindingSummary?) {
        let event = JSON(self.event)
        guard let view = view() else { return (event, FindingSummary(event: event)) }
        return (event, FindingSummary(view: view, event: event))
    }
}

extension RouteTable {
    /// A pattern, suppression or state key of some route reads `sluice.*`: the decoder must
    /// inject the view. Conservative (any object key `sluice` anywhere in a pattern counts).
    public var readsView: Bool {
        let mentions = ViewReading.mentions
        return routes.contains { route in
            mentions(route.match) || route.suppress.contains(where: mentions)
                || (route.hold.partitionPaths ?? []).contains(where: ViewReading.isViewPath)
                || [route.hold.dedupe?.key, route.hold.throttle?.key, route.hold.group?.by].contains { keys in
                    (keys ?? []).contains(where: ViewReading.isViewPath)
                }
        }
    }
}

extension InhibitRule {
    /// The rule's source or target pattern, or one of its `equal` paths, reads `sluice.*`: the
    /// decoder must inject the view, or the rule could never see it.
    public var readsView: Bool {
        ViewReading.mentions(source) || ViewReading.mentions(target) || equal.contains(where: ViewReading.isViewPath)
    }
}

enum ViewReading {
    /// Conservative: any object key `sluice` anywhere in a pattern counts.
    static func mentions(_ j: JSON) -> Bool {
        switch j {
        case .object(let m): return m.contains { $0.key == "sluice" || mentions($0.value) }
        case .array(let a): return a.contains(where: mentions)
        default: return false
        }
    }

    static func isViewPath(_ path: String) -> Bool { path == "sluice" || path.hasPrefix("sluice.") }
}
