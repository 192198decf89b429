import Foundation
import SluiceAWS
@testable import SluiceConnectors
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

/// docs/formats.md §8: a finding that came from Security Hub is never imported back.
@Suite struct SecurityHubLoopGuardTests {
    /// A region of its own on the shared moto server.
    static let region = "sa-east-1"

    static func fixture(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: PackagePaths.root.appendingPathComponent("examples/findings/\(name)")))
    }

    @Test func securityHubEventsAndOwnProductFindingsAreSettledWithoutAnImport() async throws {
        let moto = try await MotoServer.startShared()
        let http = HTTPClient()
        defer { http.shutdown() }
        let product = "arn:aws:securityhub:\(Self.region):111122223333:product/111122223333/default"
        let connector = try AWSFixtures.connector("""
            name: security-hub
            type: aws-securityhub
            region: \(Self.region)
            endpoint: \(moto.endpoint)
            product_arn: \(product)
            timeout: \(AWSFixtures.motoCallTimeout)s
            \(AWSFixtures.credentialsYAML)
            """, http: http) as! SecurityHubConnector
        let fromHub = try Self.fixture("asff/01-guardduty-ec2-cryptominer.json")
        let fromHubV2 = try Self.fixture("ocsf/01-securityhub-v2-guardduty-eks.json")
        var ownProduct = try JSON.parse(String(decoding: try Self.fixture("asff/06-bare-access-analyzer-informational.json"), as: UTF8.self))
        if case .object(var m) = ownProduct, let i = m.firstIndex(where: { $0.key == "ProductArn" }) {
            m[i].value = .string(product)
            ownProduct = .object(m)
        }
        let guardDuty = try #require(try Findings.examples().first)
        let batch = [fromHub, fromHubV2, Array(ownProduct.serialized().utf8), Array(guardDuty.utf8)].map {
            Delivery(payload: $0, route: "loop-guard")
        }
        #expect(SecurityHubConnector.cameFromSecurityHub(batch[0].payload, productARN: product))
        #expect(SecurityHubConnector.cameFromSecurityHub(batch[1].payload, productARN: product))
        #expect(SecurityHubConnector.cameFromSecurityHub(batch[2].payload, productARN: product))
        #expect(!SecurityHubConnector.cameFromSecurityHub(batch[3].payload, productARN: product))

        let outcomes = try await AWSFixtures.attempt(connector, batch: batch)
        #expect(outcomes.map(AWSFixtures.kind) == Array(repeating: "delivered", count: 4))
        #expect(connector.loopSkips.snapshot == ["security-hub": 3], "sluice_skipped_loop_total counts the three skipped")
        let aws = AWSFixtures.moto(moto, http: http, region: Self.region)
        let stored = try await SecurityHubConnectorTests.allFindings(aws: aws)
        let arn = try JSON.parse(guardDuty).value(atPath: "detail.arn")?.stringValue
        #expect(stored.compactMap { $0["Id"]?.stringValue } == [arn].compactMap { $0 }, "only the GuardDuty finding was imported")
    }
}
