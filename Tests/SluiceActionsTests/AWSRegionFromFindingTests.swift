import SluiceAWS
import SluiceCore
import Testing
@testable import SluiceActions

/// An AWS executor acts in the finding's region unless its step names one, and the region is part
/// of the endpoint's host (`https://ec2.<region>.amazonaws.com`): finding text must never name
/// the host (issue 10.5, found by the issue 10 audit of 2026-12-07).
@Suite struct AWSRegionFromFindingTests {
    static func request(region: String) throws -> ActionRequest {
        let finding = try JSON.parse(#"{"detail": {"region": "\#(region)", "accountId": "111122223333"}}"#)
        return ActionRequest(finding: finding, findingID: "f-1", route: "r", step: "isolate", runID: "r:f-1", parameters: ActionParameters([:]))
    }

    @Test func aFindingRegionThatIsNotARegionNameNeverBecomesTheHost() throws {
        let clients = AWSClients(settings: AWSSettings(region: "us-east-1"), http: ActionFixtures.http, environment: [:])
        for hostile in ["x@127.0.0.1:9/", "evil.example/", "us-east-1.evil.example#", "eu-west-1:443", "", "us-east-1\r\nHost: x"] {
            let escaped = hostile.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
            #expect(throws: ActionError.permanent("the region is not an AWS region name")) {
                try clients.client(for: try Self.request(region: escaped))
            }
        }
        // A region name still picks the regional endpoint.
        let client = try clients.client(for: try Self.request(region: "eu-west-1"))
        #expect(client.endpoint(for: .ec2) == "https://ec2.eu-west-1.amazonaws.com")
    }

    @Test func regionNamesAreLowercaseGroupsEndingInANumber() {
        for name in ["us-east-1", "us-gov-west-1", "cn-north-1", "ap-southeast-3", "eusc-de-east-1"] { #expect(AWSService.isRegionName(name), "\(name)") }
        for name in ["", "us-east", "US-EAST-1", "us--1", "-us-east-1", "us-east-1a", "us-east-1.evil", "us-east-١"] { #expect(!AWSService.isRegionName(name), "\(name)") }
    }
}
