import Foundation
import SluiceAWS
@testable import SluiceConnectors
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

/// docs/formats.md §12: Falco and OCSF findings imported into Security Hub as ASFF, checked
/// against the ASFF contract and stored by moto; expected values written out by hand from the
/// fixtures (the Falco id by `sha256sum` over the §6 encoding, times by `date -u`).
@Suite struct SecurityHubConversionTests {
    /// A region of its own on the shared moto server.
    static let region = "ca-central-1"

    static func fixture(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: PackagePaths.root.appendingPathComponent("examples/findings/\(name)")))
    }

    static func connector(endpoint: String, http: HTTPClient, extra: String = "account_id: \"999988887777\"") throws -> SecurityHubConnector {
        try AWSFixtures.connector("""
            name: security-hub
            type: aws-securityhub
            region: \(region)
            endpoint: \(endpoint)
            timeout: \(AWSFixtures.motoCallTimeout)s
            \(extra)
            \(AWSFixtures.credentialsYAML)
            """, http: http) as! SecurityHubConnector
    }

    static let falco = ["01-k8s-terminal-shell-sidekick", "02-host-write-below-binary-dir", "03-k8s-drop-and-execute-critical",
                        "04-k8saudit-privileged-pod", "05-sidekick-test-debug", "06-custom-rule-emergency"].map { "falco/\($0).json" }
    static let ocsf = ["02-edr-detection-critical-1.1", "03-security-finding-2001-fatal-1.0", "04-cspm-detection-low-two-resources-1.6",
                       "05-minimal-informational-1.1"].map { "ocsf/\($0).json" }

    @Test func falcoAndOCSFFindingsAreImportedAsASFF() async throws {
        let moto = try await MotoServer.startShared()
        let http = HTTPClient()
        defer { http.shutdown() }
        let connector = try Self.connector(endpoint: moto.endpoint, http: http)
        let batch = try (Self.falco + Self.ocsf).map { Delivery(payload: try Self.fixture($0), route: "runtime") }
        let outcomes = try await AWSFixtures.attempt(connector, batch: batch)
        #expect(outcomes.map(AWSFixtures.kind) == Array(repeating: "delivered", count: batch.count), "\(outcomes)")

        let stored = try await SecurityHubConnectorTests.allFindings(aws: AWSFixtures.moto(moto, http: http, region: Self.region))
        let byID = Dictionary(stored.compactMap { f in f["Id"]?.stringValue.map { ($0, f) } }, uniquingKeysWith: { _, b in b })
        #expect(byID.count == 10)
        for f in byID.values { #expect(ASFFContract.violations(f).isEmpty, "\(f["Id"] ?? .null): \(ASFFContract.violations(f))") }

        // Falco 03: no uuid, so the §6 id; a pod and its container.
        let drop = try #require(byID["42086a0c71228bb726bd3799068793b6"])
        #expect(drop["Title"]?.stringValue == "Drop and execute new binary in container")
        #expect(drop["GeneratorId"]?.stringValue == "falco/Drop and execute new binary in container")
        #expect(drop["Severity"]?["Label"]?.stringValue == "CRITICAL" && drop["Severity"]?["Original"]?.stringValue == "Critical")
        #expect(drop["Types"]?.arrayValue?.compactMap(\.stringValue) == ["TTPs/Persistence"])
        #expect(drop["CreatedAt"]?.stringValue == "2025-06-02T09:15:48.905Z" && drop["UpdatedAt"]?.stringValue == "2025-06-02T09:15:48.905Z")
        #expect(drop["AwsAccountId"]?.stringValue == "999988887777")
        #expect(drop["ProductArn"]?.stringValue == "arn:aws:securityhub:ca-central-1:999988887777:product/999988887777/default")
        #expect(drop["Description"]?.stringValue?.hasPrefix("09:15:48.905127334: Critical Executing binary not part of base image") == true)
        let resources = drop["Resources"]?.arrayValue ?? []
        #expect(resources.compactMap { $0["Type"]?.stringValue } == ["Other", "Container"])
        #expect(resources.compactMap { $0["Id"]?.stringValue } == ["shop/storefront-6c8f7d9b4-mq7tz", "b41d07a2e9c3"])
        #expect(resources.first?["Details"]?["Other"]?["namespace"]?.stringValue == "shop")
        #expect(resources.last?["Details"]?["Container"]?["ImageName"]?.stringValue == "444455556666.dkr.ecr.eu-west-1.amazonaws.com/storefront:5.3.0")
        #expect(drop["Process"]?["Name"]?.stringValue == "kworkerd" && drop["Process"]?["Path"]?.stringValue == "/tmp/.x/kworkerd")
        let fields = drop["ProductFields"]
        #expect(fields?["sluice/route"]?.stringValue == "runtime")
        #expect(fields?["falco/k8s.pod.name"]?.stringValue == "storefront-6c8f7d9b4-mq7tz")
        #expect(fields?["falco/proc.cmdline"]?.stringValue == "kworkerd -o pool.miningpool.example:3333")
        #expect(fields?["falco/evt.time"]?.stringValue == "1748855748905127334", "integers beyond 2^53 keep every digit")
        #expect(fields?["falco/user.loginuid"]?.stringValue == "-1")
        #expect(fields?["falco/tags"]?.stringValue == "maturity_stable,container,process,mitre_persistence,TA0003,PCI_DSS_11.5.1")

        // Falco 01 (falcosidekick): its uuid is the id; mitre_execution.
        let shell = try #require(byID["5b3c9e2a-7f41-4d6b-a8e0-1c2d3e4f5a6b"])
        #expect(shell["Severity"]?["Label"]?.stringValue == "LOW" && shell["Types"]?.arrayValue?.first?.stringValue == "TTPs/Execution")
        // Falco 06: Emergency is fatal, which ASFF can only call CRITICAL.
        #expect(byID.values.contains { $0["Severity"]?["Original"]?.stringValue == "Emergency" && $0["Severity"]?["Label"]?.stringValue == "CRITICAL" })

        // OCSF 02: its own account, tactic, analytic and resource.
        let edr = try #require(byID["det-2025-05-30-000481"])
        #expect(edr["AwsAccountId"]?.stringValue == "111122223333")
        #expect(edr["Title"]?.stringValue == "Credential dumping tool executed")
        #expect(edr["Types"]?.arrayValue?.compactMap(\.stringValue) == ["TTPs/Credential Access"])
        #expect(edr["GeneratorId"]?.stringValue == "rule-4411")
        #expect(edr["Severity"]?["Label"]?.stringValue == "CRITICAL")
        #expect(edr["CreatedAt"]?.stringValue == "2025-05-30T12:00:11.250Z")
        #expect(edr["FirstObservedAt"]?.stringValue == "2025-05-30T11:59:58.004Z" && edr["LastObservedAt"]?.stringValue == "2025-05-30T12:00:09.871Z")
        #expect(edr["ProductName"]?.stringValue == "Sentry EDR" && edr["CompanyName"]?.stringValue == "Example Security Inc.")
        #expect(edr["Resources"]?.arrayValue?.first?["Type"]?.stringValue == "AwsEc2Instance")
        #expect(edr["Resources"]?.arrayValue?.first?["Id"]?.stringValue == "arn:aws:ec2:us-east-1:111122223333:instance/i-0a4f1c2b3d5e6f789")
        // OCSF 04: two resources, both mapped; OCSF 05: none, so the finding itself stands as Other.
        let cspm = try #require(byID.values.first { $0["ProductFields"]?["ocsf/version"]?.stringValue == "1.6.0" })
        #expect(cspm["Resources"]?.arrayValue?.compactMap { $0["Type"]?.stringValue } == ["AwsIamRole", "AwsS3Bucket"])
        let minimal = try #require(byID["osq-0001-new-listening-port"])
        #expect(minimal["Severity"]?["Label"]?.stringValue == "INFORMATIONAL")
        #expect(minimal["Types"]?.arrayValue?.compactMap(\.stringValue) == ["Unusual Behaviors/Application"])
        #expect(minimal["Description"]?.stringValue == "New listening port 8081 on build-runner-02", "no description: the title")
        #expect(minimal["Resources"]?.arrayValue?.first?["Id"]?.stringValue == "osq-0001-new-listening-port")
    }

    /// AWS's limits hold whatever the finding carries: 50 ProductFields, keys up to 128
    /// characters (longer ones left out), values up to 2048, a title up to 256.
    @Test func limitsHoldForOversizedFalcoAlerts() throws {
        let http = HTTPClient()
        defer { http.shutdown() }
        let connector = try Self.connector(endpoint: "http://127.0.0.1:1", http: http)
        var fields: [(key: String, value: JSON)] = [(String(repeating: "k", count: 130), "long key"), ("big.value", .string(String(repeating: "v", count: 3000)))]
        for i in 0..<60 { fields.append(("f.\(i)", JSON(integerLiteral: i))) }
        let event: JSON = .object([("rule", .string(String(repeating: "R", count: 300))), ("priority", "Warning"),
                                   ("output", "o\r\nX-Injected: 1 {{sluice.id}}"), ("time", "2025-06-02T09:15:48Z"),
                                   ("hostname", "node-1"), ("output_fields", .object(fields))])
        let asff = try JSON.parse(try connector.asff(for: Delivery(payload: Array(event.serialized().utf8), route: "r")).get().text)
        #expect(ASFFContract.violations(asff).isEmpty, "\(ASFFContract.violations(asff))")
        let product = asff["ProductFields"]?.objectValue ?? []
        #expect(product.count == 50)
        #expect(!product.contains { $0.key.count > 128 })
        #expect(product.first { $0.key == "falco/big.value" }?.value.stringValue?.count == 2048)
        #expect(asff["Title"]?.stringValue?.count == 256 && asff["Title"]?.stringValue?.hasSuffix("…") == true)
        #expect(asff["Description"]?.stringValue == "o\r\nX-Injected: 1 {{sluice.id}}", "text is copied, never evaluated")
        #expect(asff["Resources"]?.arrayValue?.first?["Id"]?.stringValue == "node-1")
        #expect(asff["CreatedAt"]?.stringValue == "2025-06-02T09:15:48.000Z")
    }

    @Test func aFindingWithNoAccountOrTimeIsRefusedWithItsReason() throws {
        let http = HTTPClient()
        defer { http.shutdown() }
        let noAccount = try Self.connector(endpoint: "http://127.0.0.1:1", http: http, extra: "")
        let falco = try Self.fixture(Self.falco[2])
        guard case .failure(let refusal) = noAccount.asff(for: Delivery(payload: falco, route: "r")) else {
            Issue.record("a Falco finding with nowhere to import was accepted")
            return
        }
        #expect(refusal.message == "the finding has no AWS account: set account_id or product_arn on the aws-securityhub connector")
        // The account of product_arn is enough.
        let withProduct = try Self.connector(endpoint: "http://127.0.0.1:1", http: http,
                                             extra: "product_arn: arn:aws:securityhub:ca-central-1:123456789012:product/123456789012/default")
        let asff = try JSON.parse(try withProduct.asff(for: Delivery(payload: falco, route: "r")).get().text)
        #expect(asff["AwsAccountId"]?.stringValue == "123456789012")
        let timeless = Array(#"{"rule": "r", "priority": "Error", "output": "o"}"#.utf8)
        guard case .failure(let noTime) = withProduct.asff(for: Delivery(payload: timeless, route: "r")) else {
            Issue.record("a Falco finding without time was accepted")
            return
        }
        #expect(noTime.message == "the finding has no valid time (ASFF requires CreatedAt and UpdatedAt)")
    }

    /// A digest's facts (`Delivery.digest`, as `Digest.templateContext` gives them).
    static let digestFacts = #"""
        {"sluice_digest": "throttle", "route": "ec2-alerts", "target": "security-hub", "key_text": "\"111122223333\"", "total": 5, "more": 3,
         "findings": [{"id": "f-1", "title": "Miner on i-1", "severity": 8, "account": "111122223333"},
                      {"id": "f-2", "title": "Port probe", "severity": 2, "account": "111122223333"}],
         "severities": [{"label": "High", "count": 3}, {"label": "Low", "count": 2}], "accounts": ["111122223333"],
         "headline": "5 throttled findings on route ec2-alerts (3 High, 2 Low)", "highest": "High",
         "text": "5 throttled findings on route ec2-alerts (3 High, 2 Low)\n- [High] Miner on i-1 (f-1)\n- [Low] Port probe (f-2)\nand 3 more",
         "time": "2025-12-06T05:46:40Z"}
        """#

    /// A digest is one ASFF finding per digest key, valid by the ASFF contract, in the account
    /// of its findings when the connector names none.
    @Test func aDigestIsOneASFFFindingPerDigestKey() throws {
        let http = HTTPClient()
        defer { http.shutdown() }
        let connector = try Self.connector(endpoint: "http://127.0.0.1:1", http: http, extra: "")
        var delivery = Delivery(payload: Array(#"{"sluice_digest": "throttle"}"#.utf8), route: "ec2-alerts")
        delivery.digest = try JSON.parse(Self.digestFacts)
        let asff = try JSON.parse(try connector.asff(for: delivery).get().text)
        #expect(ASFFContract.violations(asff).isEmpty, "\(ASFFContract.violations(asff))")
        #expect(asff["Id"]?.stringValue == #"sluice-digest:throttle:ec2-alerts:security-hub:"111122223333""#)
        #expect(asff["AwsAccountId"]?.stringValue == "111122223333")
        #expect(asff["ProductArn"]?.stringValue == "arn:aws:securityhub:\(Self.region):111122223333:product/111122223333/default")
        #expect(asff["Title"]?.stringValue == "5 throttled findings on route ec2-alerts (3 High, 2 Low)")
        #expect(asff["Severity"]?["Label"]?.stringValue == "HIGH")
        #expect(asff["CreatedAt"]?.stringValue == "2025-12-06T05:46:40Z")
        #expect(asff["Resources"]?.arrayValue?.compactMap { $0["Id"]?.stringValue } == ["f-1", "f-2"])
        #expect(asff["ProductFields"]?["sluice/total"]?.stringValue == "5")
        #expect(asff["ProductFields"]?["sluice/by_severity"]?.stringValue == "3 High, 2 Low")
        // The connector's account wins; with no account anywhere the digest is refused.
        let pinned = try Self.connector(endpoint: "http://127.0.0.1:1", http: http)
        #expect(try JSON.parse(try pinned.asff(for: delivery).get().text)["AwsAccountId"]?.stringValue == "999988887777")
        delivery.digest = try JSON.parse(Self.digestFacts.replacingOccurrences(of: #""accounts": ["111122223333"]"#, with: #""accounts": []"#))
        guard case .failure(let refusal) = connector.asff(for: delivery) else {
            Issue.record("a digest with no account was accepted")
            return
        }
        #expect(refusal.message == "the digest lists no AWS account: set account_id or product_arn on the aws-securityhub connector")
    }
}
