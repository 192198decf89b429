import Foundation
import SluiceCore
import SluiceTestSupport
import Testing
@testable import SluiceFormats

/// The view of every fixture against examples/expected-views.json, written by hand from the
/// vendors' documents (docs/formats.md), never computed by this code.
@Suite struct FindingViewTests {
    static let expected: [(String, JSON)] = {
        let url = PackagePaths.root.appendingPathComponent("examples/expected-views.json")
        guard let text = try? String(contentsOf: url, encoding: .utf8), case .object(let m)? = try? JSON.parse(text) else { return [] }
        return m.map { ($0.key, $0.value) }
    }()

    static func fixture(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: PackagePaths.root.appendingPathComponent("examples/findings/\(name)")))
    }

    /// Objects compared whatever their key order; arrays in order.
    static func canonical(_ j: JSON) -> JSON {
        switch j {
        case .object(let m): return .object(m.sorted { $0.key < $1.key }.map { ($0.key, canonical($0.value)) })
        case .array(let a): return .array(a.map(canonical))
        default: return j
        }
    }

    @Test func expectedViewsCoverEveryFixture() {
        #expect(Self.expected.count == 30)
    }

    @Test(arguments: expected.map(\.0))
    func viewOfFixtureIsTheDocumentedOne(name: String) throws {
        let want = try #require(Self.expected.first { $0.0 == name }?.1)
        let decoder = FindingDecoder()
        let got = try decoder.decodeOwned(try Self.fixture(name)).get()
        let views = JSON.array(got.map { $0.view?.json ?? .null })
        #expect(Self.canonical(views) == Self.canonical(want), "\(name): \(views.serialized())")
        // The injected field is the same view, whatever the record carried.
        for (event, view) in got {
            // (written into the event's tape by the decoder, read back here)
            #expect(event["sluice"].map(Self.canonical) == view.map { Self.canonical($0.json) })
        }
    }

    @Test func severityTableAsLiteralValues() throws {
        func severity(_ event: String) throws -> (Int, String) {
            let v = try #require(try FindingDecoder().decodeOwned(Array(event.utf8)).get().first?.view)
            return (v.severityID, v.severity)
        }
        let gd = #"{"type":"T","resource":{"resourceType":"Instance"},"accountId":"1","severity":%@}"#
        for (score, id, label) in [("1", 2, "Low"), ("3.9", 2, "Low"), ("4", 3, "Medium"), ("6.9", 3, "Medium"), ("7", 4, "High"),
                                   ("8.9", 4, "High"), ("9", 5, "Critical"), ("10", 5, "Critical"), ("\"8\"", 0, "Unknown")] {
            let r = try severity(String(format: gd, score))
            #expect(r.0 == id && r.1 == label, "GuardDuty \(score)")
        }
        let asff = #"{"SchemaVersion":"2018-10-08","ProductArn":"arn:aws:securityhub:us-east-1::product/aws/x","Severity":%@}"#
        for (sev, id) in [(#"{"Label":"INFORMATIONAL"}"#, 1), (#"{"Label":"LOW"}"#, 2), (#"{"Label":"MEDIUM"}"#, 3), (#"{"Label":"HIGH"}"#, 4),
                          (#"{"Label":"CRITICAL"}"#, 5), (#"{"Normalized":0}"#, 1), (#"{"Normalized":39}"#, 2), (#"{"Normalized":40}"#, 3),
                          (#"{"Normalized":69}"#, 3), (#"{"Normalized":70}"#, 4), (#"{"Normalized":89}"#, 4), (#"{"Normalized":90}"#, 5),
                          (#"{"Normalized":100}"#, 5), (#"{"Normalized":101}"#, 0), (#"{"Label":"SEVERE","Normalized":75}"#, 4),
                          (#"{"Label":"LOW","Normalized":95}"#, 2), ("{}", 0)] {
            #expect(try severity(String(format: asff, sev)).0 == id, "ASFF \(sev)")
        }
        let ocsf = #"{"class_uid":2004,"metadata":{},"severity_id":%@}"#
        for (v, id) in [("0", 0), ("1", 1), ("2", 2), ("3", 3), ("4", 4), ("5", 5), ("6", 6), ("99", 0), ("\"4\"", 0), ("4.5", 0)] {
            #expect(try severity(String(format: ocsf, v)).0 == id, "OCSF \(v)")
        }
        let falco = #"{"rule":"r","output":"o","priority":"%@"}"#
        for (p, id, label) in [("Debug", 1, "Informational"), ("Informational", 1, "Informational"), ("Info", 1, "Informational"),
                               ("Notice", 2, "Low"), ("Warning", 3, "Medium"), ("Error", 4, "High"), ("Critical", 5, "Critical"),
                               ("Alert", 6, "Fatal"), ("Emergency", 6, "Fatal"), ("EMERGENCY", 6, "Fatal"), ("Loud", 0, "Unknown")] {
            let r = try severity(String(format: falco, p))
            #expect(r.0 == id && r.1 == label, "Falco \(p)")
        }
    }

    @Test func falcoIDWithoutUUIDIsStable() throws {
        // Checked with sha256sum outside the code (docs/formats.md §6).
        let v = try FindingDecoder().decodeOwned(try Self.fixture("falco/02-host-write-below-binary-dir.json")).get()
        #expect(v.first?.view?.id == "0e5a6800a7deee5f2e16a8d33cfe7bb3")
    }

    @Test func timesAreNormalisedWithoutTrapping() {
        #expect(ViewValues.rfc3339("2025-05-12T08:14:37.512Z") == "2025-05-12T08:14:37.512Z")
        #expect(ViewValues.rfc3339("2025-05-12T08:14:37Z") == "2025-05-12T08:14:37.000Z")
        #expect(ViewValues.rfc3339("2025-06-03T16:22:09.004511876+02:00") == "2025-06-03T14:22:09.004Z")
        #expect(ViewValues.rfc3339("2025-01-01T01:00:00-0130") == "2025-01-01T02:30:00.000Z")
        #expect(ViewValues.rfc3339("2024-02-29T00:00:00.5Z") == "2024-02-29T00:00:00.500Z")
        #expect(ViewValues.rfc3339("2025-02-29T00:00:00Z") == nil)
        #expect(ViewValues.rfc3339("2025-05-12 08:14:37Z") == nil)
        #expect(ViewValues.rfc3339("2025-05-12T08:14:37.1234567890Z") == nil)
        #expect(ViewValues.format(epochMilliseconds: 1_700_000_000_123) == "2023-11-14T22:13:20.123Z")
        #expect(ViewValues.format(epochMilliseconds: 253_402_300_799_999) == "9999-12-31T23:59:59.999Z")
        #expect(ViewValues.epochMilliseconds(viewTime: "2023-11-14T22:13:20.123Z") == 1_700_000_000_123)
    }
}

/// `validate` checks `sluice.…` paths against a schema written down in SluiceCore
/// (`SluiceViewSchema`); here it is held to what the code builds, fixture by fixture: every
/// member of every template context is accepted in templates, and in routes exactly the
/// members the decoder puts into routed events (`ViewFields`), the others said template-only.
@Suite struct SluiceViewSchemaTests {
    /// The dotted paths (after `sluice`) of a Mustache context or a view.
    static func paths(_ value: Any, prefix: [String] = []) -> [[String]] {
        if let object = value as? [String: Any] {
            return object.flatMap { [prefix + [$0.key]] + paths($0.value, prefix: prefix + [$0.key]) }
        }
        return []
    }

    @Test func theSchemaAcceptsWhatEveryFixtureRendersAndRoutes() throws {
        var seen = Set<String>()
        for (name, _) in FindingViewTests.expected {
            let decoded = try FindingDecoder().decodeOwned(try FindingViewTests.fixture(name)).get()
            _ = FindingDecoder().decode(try FindingViewTests.fixture(name)) { finding in
                guard let context = finding.materialized().summary?.templateContext else { return }
                for path in Self.paths(context) {
                    seen.insert(path.joined(separator: "."))
                    #expect(SluiceViewSchema.problem(path, use: .template) == nil, "\(name): sluice.\(path.joined(separator: "."))")
                }
            }
            for view in decoded.compactMap(\.view) {
                guard case .object(let members) = view.json else { continue }
                for (key, _) in members {
                    let routed = !ViewFields(path: "sluice.\(key)").isEmpty
                    #expect((SluiceViewSchema.problem([key], use: .route) == nil) == routed, "\(name): sluice.\(key) routed: \(routed)")
                }
            }
        }
        // The fixtures reach the template-only members too.
        for path in ["kubernetes.namespace", "container.image", "host", "workload", "severity_score", "process.command_line"] {
            #expect(seen.contains(path), "no fixture renders sluice.\(path)")
        }
    }
}
