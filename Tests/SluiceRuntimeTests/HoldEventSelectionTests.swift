import Foundation
import SluiceCore
import SluiceFormats
import SluiceTestSupport
import Testing
@testable import SluiceRuntime

/// While no silence or inhibit rule exists, the Hold stage screens an event holding only the paths
/// its state rules and digests read (`HoldGate.eventPaths`), not a copy of the whole finding. On
/// every example of every format, hostile ones included, those paths must read as on the whole
/// event, and a digest must list the same title, severity and account.
@Suite struct HoldEventSelectionTests {
    /// Rule keys users write, across formats, plus what the gate always reads.
    static let rulePaths = [
        "detail.id", "detail.resource.instanceDetails.instanceId", "detail.service.resourceRole", "detail",
        "sluice.account", "sluice.resource.uid", "sluice.id",
        "rule", "output_fields.k8s.ns.name", "finding_info.uid", "Resources", "detail.findings",
    ]

    static func records() throws -> [String] {
        try ["findings-all-formats.ndjson", "findings-hostile.ndjson", "findings.ndjson"].flatMap { name in
            try String(contentsOf: PackagePaths.root.appendingPathComponent("examples/\(name)"), encoding: .utf8)
                .split(separator: "\n").map(String.init)
        }
    }

    @Test func theSelectedPathsReadAsOnTheWholeEventInEveryFormat() throws {
        let paths = HoldGate.eventTimePaths + HoldGate.summaryPaths + Self.rulePaths
        let selection = JSONPathSelection(paths)
        let decoder = FindingDecoder()
        var compared = 0
        var formats = Set<String>()
        for record in try Self.records() {
            _ = decoder.decode(record) { finding in
                let whole = finding.eventWithView()
                let few = finding.eventWithView(keeping: selection)
                formats.insert(finding.format?.rawValue ?? "none")
                for path in paths {
                    #expect(few.value(atPath: path) == whole.value(atPath: path), "\(path) of \(record.prefix(80))")
                    compared += 1
                }
                let id = finding.findingID()
                let a = HoldGate.listing(whole, findingID: id), b = HoldGate.listing(few, findingID: id)
                #expect(a.title == b.title && a.severity == b.severity && a.account == b.account, "\(record.prefix(80))")
                #expect(HoldGate.eventTime(few) == HoldGate.eventTime(whole), "\(record.prefix(80))")
            }
        }
        // Every format was seen, and the comparison ran on each path of each finding.
        #expect(formats.isSuperset(of: ["guardduty", "asff", "ocsf", "falco"]))
        #expect(compared >= 30 * paths.count)
    }

    @Test func aSelectionCopiesEachPathWholeAndNothingElse() throws {
        let doc = #"{"a": {"b": 1, "c": {"d": [1, 2]}, "e": "x"}, "a": {"b": 2}, "f": 3, "g": "y"}"#
        let selection = JSONPathSelection(["a.c", "a.c.d", "g", "a..b", "missing.path", "f.x"])
        let parser = JSONParser()
        let result = parser.parse(Array(doc.utf8)) { document in selection.members(of: document.root) }
        let members = try result.get()
        // The first `a` only (as JSON's subscript reads it); `a.c` whole (its own sub-path adds
        // nothing); `a..b` reads `a.b`; a missing path and a path through a number select nothing.
        #expect(JSON.object(members) == (try JSON.parse(#"{"a": {"b": 1, "c": {"d": [1, 2]}}, "g": "y"}"#)))
        #expect(JSONPathSelection(["sluice.title"]).hasRoot("sluice"))
        #expect(!JSONPathSelection(["detail.sluice"]).hasRoot("sluice"))
    }
}
