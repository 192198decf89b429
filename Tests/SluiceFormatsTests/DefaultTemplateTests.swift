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

    static let falcoWorkload = "namespace shop, pod storefront-6c8f7d9b4-mq7tz, container storefront (b41d07a2e9c3), "
        + "image 444455556666.dkr.ecr.eu-west-1.amazonaws.com/storefront:5.3.0, host ip-10-20-5-17.eu-west-1.compute.internal"

    /// What each built-in template shows of Falco 03 (a pod's container running a miner): the
    /// product, where it ran and the command line, written out by hand per target; no GuardDuty
    /// console link and no account line (Falco has neither).
    static let falcoLines: [String: [String]] = [
        "slack": [#"{"type":"mrkdwn","text":"*Product*\nFalco"}"#,
                  #"{"type":"plain_text","text":"Where: \#(falcoWorkload)","emoji":false}"#,
                  #"Process: kworkerd /tmp/.x/kworkerd (user www-data)\nCommand line: kworkerd -o pool.miningpool.example:3333"#,
                  #"{"type":"plain_text","text":"Falco finding 42086a0c71228bb726bd3799068793b6 · routed by Sluice","emoji":false}"#],
        "msteams": [#""text":"Critical severity · Falco""#, #"{"title":"Where","value":"\#(falcoWorkload)"}"#,
                    #"{"title":"Command line","value":"kworkerd -o pool.miningpool.example:3333"}"#, #""actions":[]"#],
        "discord": [#""content":"**[Critical]** Falco finding""#, #"{"name":"Where","value":"\#(falcoWorkload)","inline":false}"#,
                    #"(user www-data)\n`kworkerd -o pool.miningpool.example:3333`"#, #""timestamp":"2025-06-02T09:15:48.905Z""#],
        "google-chat": [#""subtitle":"Critical severity · Falco · syscall""#, #"{"topLabel":"Where","text":"\#(falcoWorkload)","wrapText":true}"#,
                        #"(user www-data): kworkerd -o pool.miningpool.example:3333"#],
        "mattermost": [#"{"short":true,"title":"Product","value":"Falco"}"#, #"{"short":false,"title":"Where","value":"\#(falcoWorkload)"}"#,
                       #""footer":"Falco finding 42086a0c71228bb726bd3799068793b6 · Sluice""#],
        "opsgenie": [#"\nProduct: Falco\nResource: KubernetesPod storefront-6c8f7d9b4-mq7tz\nWhere: \#(falcoWorkload)\n"#,
                     #"Command line: kworkerd -o pool.miningpool.example:3333\n"#, #""tags":["falco","severity:Critical"]"#,
                     #""workload":"\#(falcoWorkload)""#, #""source":"Sluice (Falco)""#],
        "pagerduty": [#""summary":"[Falco Critical] Drop and execute new binary in container","#,
                      #""source":"shop/storefront-6c8f7d9b4-mq7tz""#, #""group":"shop""#, #""workload":"\#(falcoWorkload)""#,
                      #""command_line":"kworkerd -o pool.miningpool.example:3333""#, #""client":"Sluice"}"#],
        "jira": ["\nProduct: Falco\nType: syscall\nResource: KubernetesPod storefront-6c8f7d9b4-mq7tz\nWhere: \(falcoWorkload)\n",
                 "\nCommand line: kworkerd -o pool.miningpool.example:3333\n"],
        "servicenow": ["\nProduct: Falco\nType: syscall\nResource: KubernetesPod storefront-6c8f7d9b4-mq7tz\nWhere: \(falcoWorkload)\n",
                       "\nCommand line: kworkerd -o pool.miningpool.example:3333\n"],
    ]

    @Test func falcoRuntimeFieldsInEveryBuiltInTemplate() throws {
        let kinds = ConnectorRegistry.types.filter { $0.defaultTemplate != nil }.map(\.kind)
        #expect(Set(kinds) == Set(Self.falcoLines.keys), "every built-in template has its expected lines")
        for type in ConnectorRegistry.types {
            guard let source = type.defaultTemplate, let lines = Self.falcoLines[type.kind] else { continue }
            let template = try PayloadTemplate(source, format: type.templateFormat)
            var rendered = ""
            _ = FindingDecoder().decode(try FindingViewTests.fixture("falco/03-k8s-drop-and-execute-critical.json")) { finding in
                let m = finding.materialized()
                rendered = template.render(m.event, summary: m.summary)
            }
            for line in lines { #expect(rendered.contains(line), "\(type.kind) lacks \(line):\n\(rendered)") }
            #expect(!rendered.contains("GuardDuty") && !rendered.contains("Account"), "\(type.kind): \(rendered)")
        }
    }

    /// GuardDuty keeps its account/region, console link and EKS workload (cluster, namespace, container).
    @Test func guardDutyKeepsAccountRegionAndConsoleLink() throws {
        let type = try #require(ConnectorRegistry.types.first { $0.kind == "slack" })
        let template = try PayloadTemplate(try #require(type.defaultTemplate), format: type.templateFormat)
        var rendered: [String] = []
        for fixture in ["01-ec2-cryptominer.json", "03-eks-container-mining.json"] {
            _ = FindingDecoder().decode(try FindingViewTests.fixture(fixture)) { finding in
                let m = finding.materialized()
                rendered.append(template.render(m.event, summary: m.summary))
            }
        }
        #expect(rendered[0].contains(#"{"type":"mrkdwn","text":"*Account / Region*\n111122223333 / us-east-1"}"#), "\(rendered[0])")
        #expect(rendered[0].contains(#""text":"View in GuardDuty"},"url":"https://us-east-1.console.aws.amazon.com/guardduty/"#))
        #expect(!rendered[0].contains("Where:"), "an EC2 finding has no workload line")
        #expect(rendered[1].contains(#"{"type":"mrkdwn","text":"*Product*\nGuardDuty"}"#))
        #expect(rendered[1].contains("Where: cluster "), "\(rendered[1])")
    }

    /// The hostile Falco record's workload reaches Slack as escaped text inside plain_text.
    @Test func hostileFalcoWorkloadIsTextInSlack() throws {
        let type = try #require(ConnectorRegistry.types.first { $0.kind == "slack" })
        let template = try PayloadTemplate(try #require(type.defaultTemplate), format: type.templateFormat)
        var rendered = ""
        _ = FindingDecoder().decode(try FindingViewTests.fixture("hostile/falco-injection-and-limits.json")) { finding in
            let m = finding.materialized()
            rendered = template.render(m.event, summary: m.summary)
        }
        let payload = try JSON.parse(rendered)
        let blocks = payload["attachments"]?.arrayValue?.first?["blocks"]?.arrayValue ?? []
        let texts = blocks.compactMap { $0["text"]?["text"]?.stringValue }
        #expect(texts.contains("Where: namespace a/b, pod ../../etc/passwd, host node-7\r\nX-Injected: yes"), "\(texts)")
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
