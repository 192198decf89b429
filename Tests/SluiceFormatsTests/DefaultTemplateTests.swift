import Foundation
import SluiceConnectors
import SluiceCore
import SluiceTestSupport
import Testing
@testable import SluiceFormats

/// Issue 14: every connector's built-in template renders the findings of all four formats —
/// title, severity label and resource — from the view, never an empty title or severity.
/// Expected texts are the hand-written views of expected-views.json.
@Suite struct DefaultTemplateTests {
    static let samples: [(fixture: String, title: String, severity: String, resource: String)] = [
        ("01-ec2-cryptominer.json", "Bitcoin-related IP address contacted by EC2 instance i-0a4f1c2b3d5e6f789.", "High", "i-0a4f1c2b3d5e6f789"),
        ("asff/02-inspector-ecr-critical-cve.json", "CVE-2024-3094 - xz-utils, liblzma5", "Critical",
         "sha256:5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592"),
        ("ocsf/02-edr-detection-critical-1.1.json", "Credential dumping tool executed", "Critical", "payments-api-01"),
        ("falco/03-k8s-drop-and-execute-critical.json", "Drop and execute new binary in container", "Critical", "storefront-6c8f7d9b4-mq7tz"),
    ]

    @Test(arguments: ConnectorRegistry.types.filter { $0.defaultTemplate != nil }.map(\.kind))
    func builtInTemplateRendersEveryFormat(kind: String) throws {
        let type = try #require(ConnectorRegistry.types.first { $0.kind == kind })
        let source = try #require(type.defaultTemplate)
        let template = try PayloadTemplate(source, format: type.templateFormat)
        for s in Self.samples {
            var rendered = ""
            _ = FindingDecoder().decode(try FindingViewTests.fixture(s.fixture)) { finding in
                let m = finding.materialized()
                rendered = template.render(m.event, summary: m.summary)
            }
            if source.contains("sluice.title") { #expect(rendered.contains(s.title), "\(kind), \(s.fixture): \(rendered.prefix(600))") }
            if source.contains("{{sluice.severity") {
                #expect(rendered.contains(s.severity), "\(kind), \(s.fixture): \(rendered.prefix(600))")
            }
            if source.contains("sluice.resource_summary") {
                #expect(rendered.contains(s.resource), "\(kind), \(s.fixture): \(rendered.prefix(600))")
            }
        }
    }

    /// The hostile records (CR/LF, Mustache tags, NUL, RTL override, numbers out of range) render
    /// through every built-in template without a crash, as valid JSON where the payload is JSON,
    /// and their Mustache tags stay text.
    @Test(arguments: ["hostile/asff-out-of-contract.json", "hostile/falco-injection-and-limits.json",
                      "hostile/guardduty-out-of-contract.json", "hostile/ocsf-out-of-contract.json"])
    func hostileRecordsRenderAsText(fixture: String) throws {
        for type in ConnectorRegistry.types {
            guard let source = type.defaultTemplate else { continue }
            let template = try PayloadTemplate(source, format: type.templateFormat)
            var rendered: [String] = []
            _ = FindingDecoder().decode(try FindingViewTests.fixture(fixture)) { finding in
                let m = finding.materialized()
                rendered.append(template.render(m.event, summary: m.summary))
            }
            #expect(!rendered.isEmpty)
            for text in rendered where type.payloadFormat == .json {
                #expect((try? JSON.parse(text)) != nil, "\(type.kind), \(fixture): \(text.prefix(400))")
            }
            // The Falco rule name carries a Mustache tag: it is printed, never evaluated.
            if fixture.contains("falco"), source.contains("sluice.title") {
                #expect(rendered.allSatisfy { $0.contains("{{sluice.title}}") }, "\(type.kind): \(rendered.first?.prefix(400) ?? "")")
            }
        }
    }
}
