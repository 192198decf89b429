import Foundation
import SluiceCore
import SluiceGuardDuty
import SluiceTestSupport
import Testing
@testable import SluiceFormats

/// The samples `validate` renders route templates for cover every finding format the decoder
/// knows at every severity band that format has (docs/formats.md §4, written out here by hand),
/// so a route on low severities, or on Falco findings only, gets its templates checked too.
@Suite struct TemplateSamplesTests {
    /// `sluice.format` → the `severity_id`s of docs/formats.md §4 that the format can produce
    /// (GuardDuty has no informational or fatal band; ASFF's 0 is only out-of-range input).
    static let bandsPerFormat: [String: Set<Int>] = [
        "guardduty": [2, 3, 4, 5],
        "asff": [1, 2, 3, 4, 5],
        "ocsf": [0, 1, 2, 3, 4, 5, 6],
        "falco": [0, 1, 2, 3, 4, 5, 6],
    ]

    static func severityAndFormat(_ sample: TemplateSample) -> (Int, String)? {
        guard let id = sample.event.value(atPath: "sluice.severity_id")?.doubleValue,
              let format = sample.event.value(atPath: "sluice.format")?.stringValue else { return nil }
        return (Int(exactly: id) ?? -1, format)
    }

    @Test func everyFormatIsSampledAtEveryBandItHas() throws {
        var seen: [String: Set<Int>] = [:]
        // The GuardDuty sample checked as an error counts: it is rendered for every route.
        for sample in [TemplateSamples.guardDuty] + TemplateSamples.everyFormatAndBand.map(\.template) {
            let (id, format) = try #require(Self.severityAndFormat(sample), "\(sample.kind)")
            seen[format, default: []].insert(id)
        }
        #expect(seen == Self.bandsPerFormat)
    }

    /// Each band's sample is named after the severity it was given, and decodes to that band:
    /// a base text that changed under the replacement would otherwise leave a duplicate behind.
    @Test func eachBandSampleDecodesToTheBandItNames() throws {
        let expected: [String: Int] = [
            "priority Emergency": 6, "priority Error": 4, "priority Warning": 3, "priority Notice": 2,
            "priority Informational": 1, "priority Unrecognised": 0,
            "severity_id 6": 6, "severity_id 4": 4, "severity_id 3": 3, "severity_id 2": 2, "severity_id 1": 1, "severity_id 0": 0,
            "Severity.Label HIGH": 4, "Severity.Label MEDIUM": 3, "Severity.Label LOW": 2, "Severity.Label INFORMATIONAL": 1,
            "severity 9.0": 5, "severity 5.0": 3, "severity 2.0": 2,
        ]
        var named = 0
        for sample in TemplateSamples.everyFormatAndBand.map(\.template) {
            guard let band = expected.keys.first(where: { sample.kind.hasSuffix(" at \($0)") }) else { continue }
            named += 1
            let (id, _) = try #require(Self.severityAndFormat(sample), "\(sample.kind)")
            #expect(id == expected[band], "\(sample.kind)")
        }
        #expect(named == expected.count)
    }

    /// The embedded base records are the example files they name (same JSON, key order aside).
    @Test(arguments: [
        ("falco/03-k8s-drop-and-execute-critical.json", TemplateSamples.falcoText),
        ("ocsf/02-edr-detection-critical-1.1.json", TemplateSamples.ocsfText),
        ("asff/02-inspector-ecr-critical-cve.json", TemplateSamples.asffText),
        ("03-eks-container-mining.json", SampleFinding.guardDutyText),
    ])
    func baseRecordsAreTheExampleFiles(file: String, text: String) throws {
        let fromFile = try JSON.parse(String(decoding: try FindingViewTests.fixture(file), as: UTF8.self))
        #expect(FindingViewTests.canonical(try JSON.parse(text)) == FindingViewTests.canonical(fromFile))
    }
}
