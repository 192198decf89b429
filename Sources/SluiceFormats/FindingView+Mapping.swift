import Crypto
import Foundation
import SluiceCore

/// Field-by-field mapping of each format into the view (docs/formats.md §3–§6). Everything is
/// read from the decoder's `JSONView`s; text is copied, never evaluated.
extension FindingView {
    /// The view of `finding` (one element of a split record, or the record itself), `envelope`
    /// being the EventBridge event around it when there is one. Only `fields` are read from the
    /// finding (the others keep their empty values): what the decoder adds to events for routes.
    public init(format: FindingFormat, finding f: JSONView, envelope: JSONView?, part: Part, fields: ViewFields = .all) {
        self.init(format: format, severityID: 0, count: 1, via: "", part: part)
        if fields.contains(.via), let envelope, envelope["source"]?.string == "aws.securityhub" { via = "securityhub" }
        guard f.isObject else { return }  // a non-object array element: a view of nothing
        switch format {
        case .guardduty: mapGuardDuty(f, envelope, fields)
        case .asff: mapASFF(f, envelope, fields)
        case .ocsf: mapOCSF(f, fields)
        case .falco: mapFalco(f, fields)
        }
    }

    private init(format: FindingFormat, severityID: Int, count: Int, via: String, part: Part) {
        self.format = format
        self.severityID = severityID
        self.count = count
        self.via = via
        self.part = part
    }

    private typealias V = ViewValues

    // MARK: GuardDuty

    private mutating func mapGuardDuty(_ f: JSONView, _ env: JSONView?, _ fields: ViewFields) {
        let service = fields.isDisjoint(with: [.firstSeen, .lastSeen, .count, .process]) ? nil : f["service"].flatMap { $0.isObject ? $0 : nil }
        if fields.contains(.id) { id = V.text(f["id"]) }
        if fields.contains(.title) { title = V.firstNonEmpty(V.text(f["title"]), V.text(f["type"])) }
        if fields.contains(.description) { description = V.text(f["description"]) }
        if fields.needsSeverity, let s = f["severity"], s.kind == .number, let score = s.double {
            severityScore = score
            // AWS's bands ("Severity levels for GuardDuty findings").
            severityID = score >= 9 ? 5 : score >= 7 ? 4 : score >= 4 ? 3 : 2
        }
        if fields.contains(.product) { product = "GuardDuty" }
        if fields.contains(.type) { type = V.text(f["type"]) }
        if fields.contains(.account) { account = V.firstNonEmpty(V.text(f["accountId"]), V.text(env?["account"])) }
        if fields.contains(.region) { region = V.firstNonEmpty(V.text(f["region"]), V.text(env?["region"])) }
        if fields.contains(.time) { time = V.rfc3339(f["updatedAt"]) ?? V.rfc3339(f["createdAt"]) }
        if fields.contains(.firstSeen) { firstSeen = V.rfc3339(service?["eventFirstSeen"]) ?? V.rfc3339(f["createdAt"]) }
        if fields.contains(.lastSeen) { lastSeen = V.rfc3339(service?["eventLastSeen"]) ?? V.rfc3339(f["updatedAt"]) }
        if fields.contains(.count) { count = V.count(service?["count"]) ?? 1 }
        if fields.contains(.resource) { resource = Self.guardDutyResource(f["resource"]) }
        if fields.contains(.templateOnly) {
            let r = f["resource"]
            let container = r?["containerDetails"]
            let k8s = r?["kubernetesDetails"]?["kubernetesWorkloadDetails"]
            workload = Self.workload(Workload(cluster: V.text(r?["eksClusterDetails"]?["name"]), namespace: V.text(k8s?["namespace"]),
                                              pod: k8s?["type"]?.string == "pods" ? V.text(k8s?["name"]) : nil,
                                              containerID: V.text(container?["id"]), containerName: V.text(container?["name"]),
                                              image: V.text(container?["image"]), host: nil))
        }
        if fields.contains(.process), let p = service?["runtimeDetails"]?["process"], p.isObject {
            process = Self.process(name: V.text(p["name"]), executablePath: V.text(p["executablePath"]),
                                   pid: V.count(p["pid"]), user: V.text(p["user"]), commandLine: nil)
        }
    }

    private static func guardDutyResource(_ r: JSONView?) -> Resource? {
        guard let r else { return nil }
        let type = r["resourceType"]
        func at(_ path: String...) -> JSONView? {
            var v: JSONView? = r
            for key in path { v = v?[key] }
            return v
        }
        switch type?.string {
        case "Instance":
            let iid = at("instanceDetails", "instanceId")
            var name: JSONView?
            at("instanceDetails", "tags")?.forEachElement { t in
                if name == nil, t.isObject, t["key"]?.string == "Name" { name = t["value"] }
            }
            // Python's `name or iid`: an empty or missing tag value falls back to the instance id.
            let chosen = name.flatMap { Self.truthy($0) ? $0 : nil } ?? iid
            return resource(type, iid, chosen)
        case "EKSCluster": return resource(type, at("eksClusterDetails", "arn"), at("eksClusterDetails", "name"))
        case "ECSCluster":
            let task = at("ecsClusterDetails", "taskDetails", "arn")
            return resource(type, task.flatMap { truthy($0) ? $0 : nil } ?? at("ecsClusterDetails", "arn"), at("ecsClusterDetails", "name"))
        case "Container": return resource(type, at("containerDetails", "id"), at("containerDetails", "name"))
        case "AccessKey": return resource(type, at("accessKeyDetails", "accessKeyId"), at("accessKeyDetails", "userName"))
        case "S3Bucket":
            let first = r["s3BucketDetails"]?.element(0)
            return resource(type, first?["arn"], first?["name"])
        case "Lambda": return resource(type, at("lambdaDetails", "functionArn"), at("lambdaDetails", "functionName"))
        case "RDSDBInstance": return resource(type, at("rdsDbInstanceDetails", "dbInstanceArn"), at("rdsDbInstanceDetails", "dbInstanceIdentifier"))
        default: return resource(type, nil, nil)
        }
    }

    /// JSON truthiness as the reference uses it (`a or b`): null, false, 0, "", [] and {} are false.
    private static func truthy(_ v: JSONView) -> Bool {
        switch v.kind {
        case .null: return false
        case .bool: return v.bool == true
        case .number: return v.double != 0
        case .string: return v.stringBytes?.isEmpty == false
        case .array, .object: return v.count > 0
        }
    }

    private static func resource(_ type: JSONView?, _ id: JSONView?, _ name: JSONView?) -> Resource? {
        resource(type: V.text(type), id: V.text(id), name: V.text(name))
    }

    private static func resource(type: String?, id: String?, name: String?) -> Resource? {
        type == nil && id == nil && name == nil ? nil : Resource(type: type, id: id, name: name)
    }

    /// nil when nothing is known (empty texts count as unknown: templates test for presence).
    private static func workload(_ w: Workload) -> Workload? {
        func known(_ s: String?) -> String? { s?.isEmpty == false ? s : nil }
        let k = Workload(cluster: known(w.cluster), namespace: known(w.namespace), pod: known(w.pod), containerID: known(w.containerID),
                         containerName: known(w.containerName), image: known(w.image), host: known(w.host))
        return k == Workload() ? nil : k
    }

    private static func process(name: String?, executablePath: String?, pid: Int?, user: String?, commandLine: String?) -> Process? {
        let p = Process(name: name, executablePath: executablePath, pid: pid, user: user, commandLine: commandLine)
        return p == Process() ? nil : p
    }

    // MARK: ASFF

    private static let asffLabels = ["INFORMATIONAL": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "CRITICAL": 5]

    private mutating func mapASFF(_ f: JSONView, _ env: JSONView?, _ fields: ViewFields) {
        if fields.contains(.id) { id = V.text(f["Id"]) }
        if fields.contains(.title) { title = V.text(f["Title"]) }
        if fields.contains(.description) { description = V.text(f["Description"]) }
        if fields.needsSeverity {
            let severity = f["Severity"]
            let normalized = V.integral(severity?["Normalized"], limit: 100)
            if let n = severity?["Normalized"], n.kind == .number { severityScore = n.double }
            if let label = severity?["Label"]?.string, let labelled = Self.asffLabels[label] {
                severityID = labelled
            } else if let n = normalized {
                severityID = n == 0 ? 1 : n < 40 ? 2 : n < 70 ? 3 : n < 90 ? 4 : 5
            }
        }
        let arn = fields.isDisjoint(with: [.product, .region]) ? "" : V.text(f["ProductArn"]) ?? ""
        if fields.contains(.product) {
            var product = V.firstNonEmpty(V.text(f["ProductName"]), V.text(f["ProductFields"]?["aws/securityhub/ProductName"]))
            if product == nil, let range = arn.range(of: "product/") {
                let rest = arn[range.upperBound...]
                product = rest.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init)
            }
            self.product = product
        }
        if fields.contains(.type) { type = V.text(f["Types"]?.element(0)) }
        if fields.contains(.account) { account = V.text(f["AwsAccountId"]) }
        if fields.contains(.region) {
            let arnFields = arn.split(separator: ":", omittingEmptySubsequences: false)
            let arnRegion = arnFields.count >= 6 && !arnFields[3].isEmpty ? String(arnFields[3]) : nil
            region = V.firstNonEmpty(V.text(f["Region"]), arnRegion, V.text(env?["region"]))
        }
        if fields.contains(.time) { time = V.rfc3339(f["UpdatedAt"]) }
        if fields.contains(.firstSeen) { firstSeen = V.rfc3339(f["FirstObservedAt"]) ?? V.rfc3339(f["CreatedAt"]) }
        if fields.contains(.lastSeen) { lastSeen = V.rfc3339(f["LastObservedAt"]) ?? V.rfc3339(f["UpdatedAt"]) }
        if fields.contains(.count) { count = V.count(f["ProductFields"]?["aws/guardduty/service/count"]) ?? 1 }
        if fields.contains(.resource), let r = f["Resources"]?.element(0), r.isObject {
            let rid = V.text(r["Id"])
            let last = rid.map { id -> String in
                let separator: Character = id.contains("/") ? "/" : ":"
                return id.split(separator: separator, omittingEmptySubsequences: false).last.map(String.init) ?? id
            }
            resource = Self.resource(type: V.text(r["Type"]), id: rid, name: V.firstNonEmpty(V.text(r["Tags"]?["Name"]), last))
        }
    }

    // MARK: OCSF

    private mutating func mapOCSF(_ e: JSONView, _ fields: ViewFields) {
        let info = (e["class_uid"]?.double == 2004 ? e["finding_info"] : e["finding"]).flatMap { $0.isObject ? $0 : nil }
        if fields.contains(.id) { id = V.text(info?["uid"]) }
        if fields.contains(.title) { title = V.text(info?["title"]) }
        if fields.contains(.description) { description = V.firstNonEmpty(V.text(info?["desc"]), V.text(e["message"])) }
        if fields.needsSeverity { severityID = V.integral(e["severity_id"], limit: 6) ?? 0 }
        if fields.contains(.product) { product = V.text(e["metadata"]?["product"]?["name"]) }
        if fields.contains(.type) { type = V.text(info?["types"]?.element(0)) }
        if fields.contains(.account) { account = V.firstNonEmpty(V.text(e["cloud"]?["account"]?["uid"]), V.text(e["cloud"]?["account_uid"])) }
        if fields.contains(.region) { region = V.text(e["cloud"]?["region"]) }
        // First and last seen fall back to the time.
        let time = fields.isDisjoint(with: [.time, .firstSeen, .lastSeen]) ? nil : V.epochMilliseconds(e["time"]) ?? V.rfc3339(e["time_dt"])
        if fields.contains(.time) { self.time = time }
        if fields.contains(.firstSeen) {
            firstSeen = V.epochMilliseconds(info?["first_seen_time"]) ?? V.rfc3339(info?["first_seen_time_dt"])
                ?? V.epochMilliseconds(e["start_time"]) ?? time
        }
        if fields.contains(.lastSeen) {
            lastSeen = V.epochMilliseconds(info?["last_seen_time"]) ?? V.rfc3339(info?["last_seen_time_dt"])
                ?? V.epochMilliseconds(e["end_time"]) ?? time
        }
        if fields.contains(.count) { count = V.count(e["count"]) ?? 1 }
        if fields.contains(.resource), let r = e["resources"]?.element(0), r.isObject {
            resource = Self.resource(r["type"], r["uid"], r["name"])
        }
        if fields.contains(.templateOnly) { workload = Self.workload(Workload(host: V.text(e["device"]?["hostname"]))) }
    }

    // MARK: Falco

    /// falcosidekick's priority table (its OCSF output), compared case-insensitively; `info` too.
    private static let falcoPriorities = ["emergency": 6, "alert": 6, "critical": 5, "error": 4, "warning": 3, "notice": 2,
                                          "informational": 1, "info": 1, "debug": 1]

    private mutating func mapFalco(_ e: JSONView, _ selected: ViewFields) {
        let fields = e["output_fields"].flatMap { $0.isObject ? $0 : nil }
        // Keys of output_fields contain dots: read literally, never as a path.
        func field(_ key: String) -> String? { V.text(fields?[key]) }
        if selected.contains(.id) {
            if let uuid = V.text(e["uuid"]), !uuid.isEmpty { id = uuid } else { id = Self.falcoID(e) }
        }
        // The rest is a few lookups in a small record: read whole.
        title = V.text(e["rule"])
        description = V.text(e["output"])
        severityID = e["priority"]?.string.flatMap { Self.falcoPriorities[$0.lowercased()] } ?? 0
        product = "Falco"
        type = V.text(e["source"])
        time = V.rfc3339(e["time"])
        firstSeen = time
        lastSeen = time
        count = 1
        let pod = field("k8s.pod.name"), ns = field("k8s.ns.name")
        let auditName = V.firstNonEmpty(field("ka.target.name"), field("ka.resp.name"))
        let container = field("container.id")
        if let pod, !pod.isEmpty {
            resource = Resource(type: "KubernetesPod", id: "\(ns ?? "")/\(pod)", name: pod)
        } else if let auditName, !auditName.isEmpty {
            resource = Resource(type: "KubernetesResource", id: "\(field("ka.target.namespace") ?? "")/\(auditName)", name: auditName)
        } else if let container, !container.isEmpty, container != "host" {
            resource = Resource(type: "Container", id: container, name: V.firstNonEmpty(field("container.name"), container))
        } else if let host = V.text(e["hostname"]), !host.isEmpty {
            resource = Resource(type: "Host", id: host, name: host)
        }
        let repository = field("container.image.repository")
        let image = repository.map { repo in field("container.image.tag").map { repo + ":" + $0 } ?? repo }
        workload = Self.workload(Workload(cluster: field("k8s.cluster.name"), namespace: ns, pod: pod,
                                          containerID: container == "host" ? nil : container, containerName: field("container.name"),
                                          image: image, host: V.text(e["hostname"])))
        if let fields {
            process = Self.process(name: field("proc.name"), executablePath: field("proc.exepath"), pid: V.count(fields["proc.pid"]),
                                   user: field("user.name"), commandLine: field("proc.cmdline"))
        }
    }

    /// docs/formats.md §6: SHA-256 over the length-prefixed rule, time, hostname and output,
    /// lowercase hex, first 32 characters.
    static func falcoID(_ e: JSONView) -> String {
        var hasher = SHA256()
        for key in ["rule", "time", "hostname", "output"] {
            let raw = Array((V.text(e[key]) ?? "").utf8)
            hasher.update(data: Array("\(raw.count):".utf8))
            hasher.update(data: raw)
        }
        let hex = hasher.finalize().map { byte -> String in
            let s = String(byte, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
        return String(hex.prefix(32))
    }
}
