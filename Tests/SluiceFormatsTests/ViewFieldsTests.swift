import Foundation
import SluiceCore
import SluiceTestSupport
import Testing
@testable import SluiceFormats

/// The decoder adds to each event only the view members routes read, without parsing the event
/// again; what routes match must be what they would match on the whole view.
@Suite struct ViewFieldsTests {
    static func table(_ patterns: [String]) throws -> RouteTable {
        try RouteTable(routes: patterns.enumerated().map { i, text in
            Route(name: "r\(i)", match: try JSON.parse(text), targets: [RouteTarget(connector: "sink")])
        })
    }

    /// Routes on the view across formats, with event fields beside them.
    static let viewRoutes = [
        #"{"sluice": {"severity_id": [{"numeric": [">=", 4]}]}}"#,
        #"{"sluice": {"product": ["GuardDuty", "Falco"]}}"#,
        #"{"sluice": {"resource": {"type": ["Instance", "KubernetesPod", "AwsEc2Instance"]}}}"#,
        #"{"sluice.format": ["ocsf"], "sluice.severity": ["Critical", "Fatal"]}"#,
        #"{"sluice": {"title": [{"prefix": "Terminal"}], "count": [{"numeric": [">", 0]}]}}"#,
        #"{"sluice": {"part": {"count": [{"numeric": [">", 1]}]}, "via": ["securityhub"]}}"#,
        #"{"sluice": {"account": [{"exists": false}]}}"#,
        #"{"source": ["aws.guardduty"], "sluice": {"region": [{"prefix": "us-"}]}}"#,
    ]

    @Test func theFieldsRoutesReadAreThePathsTheyName() throws {
        #expect(try Self.table([#"{"detail": {"severity": [{"numeric": [">=", 7]}]}}"#]).viewFields == [])
        #expect(try Self.table([#"{"sluice": {"severity_id": [4]}}"#, #"{"sluice.resource.type": ["Instance"]}"#]).viewFields
            == [.severityID, .resource])
        #expect(try Self.table([#"{"$or": [{"sluice": {"id": ["a"]}}, {"sluice": {"first_seen": [{"exists": true}]}}]}"#]).viewFields
            == [.id, .firstSeen])
        // A name the routing view does not have reads nothing; `sluice` alone reads it all.
        #expect(ViewFields(path: "sluice.kubernetes.pod") == [])
        #expect(ViewFields(path: "sluicex") == [])
        #expect(ViewFields(path: "sluice") == .routing)
        #expect(ViewFields(path: "detail.sluice.id") == [])
        let rule = InhibitRule(name: "i", source: ["sluice": ["severity": ["Critical"]]], target: ["detail": ["type": ["x"]]],
                               equal: ["sluice.account"], duration: .seconds(60))
        #expect(rule.viewFields == [.severity, .account])
    }

    @Test func anEventCarriesOnlyTheFieldsRoutesRead() throws {
        let bytes = try FindingViewTests.fixture("asff/04-custom-action-two-findings.json")
        let decoder = FindingDecoder(viewFields: [.severityID, .resource])
        var seen: [(sluice: JSON?, whole: JSON?, view: JSON?)] = []
        _ = decoder.decode(bytes) { f in
            let m = f.materialized()
            seen.append((JSON(f.event)["sluice"], m.event["sluice"], f.view()?.json))
        }
        #expect(seen.count == 2)
        #expect(seen.first?.sluice == ["severity_id": 3, "resource": ["type": "AwsIamAccessKey", "id": "AWS::IAM::AccessKey:AKIA2B711E0FB7A78824",
                                                                      "name": "AKIA2B711E0FB7A78824"]])
        for s in seen {
            // Templates and the Hold stage get the whole view.
            #expect(s.whole != nil && s.whole == s.view && s.whole?["title"] != nil)
        }
    }

    @Test func routesMatchAPartialViewAsTheWholeOne() throws {
        let table = try Self.table(Self.viewRoutes)
        let decoder = FindingDecoder(viewFields: table.viewFields)
        #expect(table.viewFields != .routing)
        let scratch = MatchScratch()
        let lines = try String(contentsOf: PackagePaths.root.appendingPathComponent("examples/findings-all-formats.ndjson"), encoding: .utf8)
            .split(separator: "\n")
        var findings = 0
        var firstRoute = 0
        for line in lines {
            _ = decoder.decode(String(line)) { f in
                findings += 1
                let compiled = table.matchIgnoringStop(f.event, scratch: scratch)
                // The brute-force matcher on the event with the whole view.
                let reference = table.referenceMatch(f.materialized().event)
                #expect(compiled == reference, "\(f.findingID() ?? "?")")
                if compiled.contains(0) { firstRoute += 1 }
            }
        }
        // docs/formats.md §10, from examples/expected-views.json.
        #expect(findings == 27)
        #expect(firstRoute == 14)
    }

    @Test func aDottedKeyNeverSpoofsTheView() throws {
        let table = try Self.table([#"{"sluice": {"severity_id": [{"numeric": [">=", 5]}]}}"#])
        let spoof = #"{"sluice.severity_id":6,"sluice":{"severity_id":6},"rule":"r","output":"o","priority":"Notice","time":"2025-01-01T00:00:00Z"}"#
        for decoder in [FindingDecoder(viewFields: table.viewFields), FindingDecoder(), FindingDecoder(injectsView: false)] {
            var matched: [[Int]] = []
            var keys: [[String]] = []
            _ = decoder.decode(spoof) { f in
                matched.append(table.match(f.event))
                keys.append(JSON(f.event).objectValue?.map(\.key) ?? [])
            }
            #expect(matched == [[]])
            #expect(keys.first?.contains("sluice.severity_id") == false)
        }
    }
}
