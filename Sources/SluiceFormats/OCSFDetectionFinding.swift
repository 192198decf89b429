import SluiceCore

/// OCSF out (docs/formats.md §10): any finding, whatever its input format, as one OCSF
/// Detection Finding (class 2004), built from its view. Schema 1.1.0 by default — the version
/// Amazon Security Lake ingests and the first with class 2004; every attribute used here exists
/// unchanged up to 1.8.0.
public enum OCSFDetectionFinding {
    public static let defaultVersion = "1.1.0"

    /// The Detection Finding of `view`; `finding` is the finding it was read from (for the vendor
    /// name and an OCSF input's cloud provider), `version` goes to `metadata.version`.
    public static func make(view: FindingView, finding: JSON?, version: String = defaultVersion) -> JSON {
        let vendor: String?
        switch view.format {
        case .guardduty: vendor = "AWS"
        case .falco: vendor = "Falcosecurity"
        case .asff:
            vendor = firstNonEmpty(finding?["CompanyName"]?.stringValue, finding?["ProductFields"]?["aws/securityhub/CompanyName"]?.stringValue)
        case .ocsf: vendor = finding?["metadata"]?["product"]?["vendor_name"]?.stringValue
        }
        func ms(_ t: String?) -> Int? { t.flatMap(ViewValues.epochMilliseconds(viewTime:)) }
        let time = ms(view.time) ?? 0
        var metadata: [(key: String, value: JSON)] = [
            ("version", .string(version)),
            ("product", .object([("name", .string(nonEmpty(view.product) ?? "unknown")), ("vendor_name", .string(nonEmpty(vendor) ?? "unknown"))])),
            ("log_provider", "sluice"),
        ]
        var info: [(key: String, value: JSON)] = [("uid", .string(view.id ?? "")), ("title", .string(view.title ?? ""))]
        if let d = view.description { info.append(("desc", .string(d))) }
        if let t = view.type { info.append(("types", .array([.string(t)]))) }
        info.append(("created_time", int(time)))
        if let t = ms(view.firstSeen) { info.append(("first_seen_time", int(t))) }
        if let t = ms(view.lastSeen) { info.append(("last_seen_time", int(t))) }
        var out: [(key: String, value: JSON)] = [
            ("activity_id", 1), ("activity_name", "Create"),
            ("category_uid", 2), ("category_name", "Findings"),
            ("class_uid", 2004), ("class_name", "Detection Finding"),
            ("type_uid", 200401), ("type_name", "Detection Finding: Create"),
            ("severity_id", int(view.severityID)), ("severity", .string(view.severity)),
            ("status_id", 1), ("status", "New"),
            ("time", int(time)),
            ("count", int(view.count)),
            ("message", .string(view.title ?? "")),
        ]
        let aws = view.format == .guardduty || view.format == .asff
        var cloud: [(key: String, value: JSON)]?
        if view.account != nil || view.region != nil {
            metadata.append(("profiles", ["cloud"]))
            let provider = aws ? "AWS" : nonEmpty(finding?["cloud"]?["provider"]?.stringValue) ?? "unknown"
            var c: [(key: String, value: JSON)] = [("provider", .string(provider))]
            if let r = view.region { c.append(("region", .string(r))) }
            if let a = view.account {
                var account: [(key: String, value: JSON)] = [("uid", .string(a))]
                if aws { account += [("type_id", 10), ("type", "AWS Account")] }
                c.append(("account", .object(account)))
            }
            cloud = c
        }
        out.append(("metadata", .object(metadata)))
        out.append(("finding_info", .object(info)))
        out.append(("unmapped", .object([("sluice_format", .string(view.format.rawValue))])))
        if let cloud { out.append(("cloud", .object(cloud))) }
        if let r = view.resource, r.id != nil || r.name != nil {
            var res: [(key: String, value: JSON)] = []
            if let v = r.type { res.append(("type", .string(v))) }
            if let v = r.id { res.append(("uid", .string(v))) }
            if let v = r.name { res.append(("name", .string(v))) }
            if let v = view.region { res.append(("region", .string(v))) }
            if r.type == "KubernetesPod", let id = r.id {
                res.append(("namespace", .string(String(id.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""))))
            }
            out.append(("resources", .array([.object(res)])))
        }
        return .object(out)
    }

    private static func int(_ v: Int) -> JSON { JSON(integerLiteral: v) }
    private static func nonEmpty(_ s: String?) -> String? { s?.isEmpty == false ? s : nil }
    private static func firstNonEmpty(_ a: String?, _ b: String?) -> String? { nonEmpty(a) ?? nonEmpty(b) ?? b }
}

extension DecodedFinding {
    /// This finding as an OCSF Detection Finding (nil for a record of no known format).
    public func ocsfDetectionFinding(version: String = OCSFDetectionFinding.defaultVersion) -> JSON? {
        guard let view = view() else { return nil }
        return OCSFDetectionFinding.make(view: view, finding: finding.map(JSON.init), version: version)
    }
}
