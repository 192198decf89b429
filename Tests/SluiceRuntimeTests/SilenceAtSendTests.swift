import SluiceCore
import SluiceState
import Testing
@testable import SluiceRuntime

/// The lane's send-time silence check reads the finding again from its bytes: an EventBridge
/// event as it is, a bare GuardDuty finding in its envelope (as routes match it).
@Suite struct SilenceAtSendTests {
    static let silence = Silence(id: "s", matchers: try! JSON.parse(#"{"source":["aws.guardduty"],"detail":{"id":["f-1"]}}"#),
                                 startsAt: 0, endsAt: .max, createdBy: "test", comment: "test")

    @Test func eventBridgeAndBareFindingsAreSilencedAlike() throws {
        let stage = HoldStage(routes: [], silences: [Self.silence])
        let wrapped = Array(#"{"version":"0","source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{"schemaVersion":"2.0","id":"f-1","type":"Recon:EC2/PortProbe","severity":5}}"#.utf8)
        let bare = Array(#"{"schemaVersion":"2.0","accountId":"111122223333","region":"us-east-1","id":"f-1","type":"Recon:EC2/PortProbe","severity":5,"resource":{"resourceType":"Instance"},"arn":"arn:aws:guardduty:us-east-1:111122223333:detector/d/finding/f-1"}"#.utf8)
        let other = Array(#"{"source":"aws.guardduty","detail":{"id":"f-2"}}"#.utf8)
        for bytes in [wrapped, bare] {
            let event = try #require(HoldGate.finding(bytes))
            #expect(stage.silencedAtSend(event, findingID: "f-1", route: "r", target: "t", now: 1))
        }
        let e = try #require(HoldGate.finding(other))
        #expect(!stage.silencedAtSend(e, findingID: "f-2", route: "r", target: "t", now: 1))
        #expect(HoldGate.finding(Array("not json".utf8)) == nil)
        #expect(stage.held.total == 2)
    }
}
