import SluiceCore
import SluiceFormats
import SluiceState
import Testing
@testable import SluiceRuntime

/// The lane's send-time silence check reads the finding again from its bytes with the one
/// decoder (SluiceFormats.FindingDecoder): an EventBridge event as it is, a bare GuardDuty
/// finding in its envelope, an ASFF, OCSF or Falco finding with its `sluice` view, the right
/// finding of a split record.
@Suite struct SilenceAtSendTests {
    static func silence(_ matchers: String) throws -> Silence {
        Silence(id: "s", matchers: try JSON.parse(matchers), startsAt: 0, endsAt: .max, createdBy: "test", comment: "test")
    }

    static let decoder = SendTimeDecoder(limits: .standard)

    @Test func eventBridgeAndBareFindingsAreSilencedAlike() throws {
        let stage = HoldStage(routes: [], silences: [try Self.silence(#"{"source":["aws.guardduty"],"detail":{"id":["f-1"]}}"#)])
        let wrapped = Array(#"{"version":"0","source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{"schemaVersion":"2.0","id":"f-1","type":"Recon:EC2/PortProbe","severity":5}}"#.utf8)
        let bare = Array(#"{"schemaVersion":"2.0","accountId":"111122223333","region":"us-east-1","id":"f-1","type":"Recon:EC2/PortProbe","severity":5,"resource":{"resourceType":"Instance"},"arn":"arn:aws:guardduty:us-east-1:111122223333:detector/d/finding/f-1"}"#.utf8)
        let other = Array(#"{"source":"aws.guardduty","detail":{"id":"f-2"}}"#.utf8)
        for bytes in [wrapped, bare] {
            let found = try #require(Self.decoder.finding(bytes, part: 0))
            #expect(found.id == "f-1")
            #expect(stage.silencedAtSend(found.event, findingID: found.id, route: "r", target: "t", now: 1))
        }
        let e = try #require(Self.decoder.finding(other, part: 0))
        #expect(!stage.silencedAtSend(e.event, findingID: e.id, route: "r", target: "t", now: 1))
        #expect(Self.decoder.finding(Array("not json".utf8), part: 0) == nil)
        #expect(stage.held.total == 2)
    }

    /// A silence on the view (`sluice.product`) holds a Falco event at send time, not a GuardDuty one.
    @Test func silenceOnTheViewHoldsAFalcoEvent() throws {
        let stage = HoldStage(routes: [], silences: [try Self.silence(#"{"sluice":{"product":["Falco"]}}"#)])
        let falco = Array(#"{"uuid":"falco-1","output":"shell in container","priority":"Warning","rule":"Terminal shell in container","time":"2025-05-20T03:31:12Z","output_fields":{"container.id":"c1"}}"#.utf8)
        let guardDuty = Array(#"{"version":"0","source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{"schemaVersion":"2.0","id":"gd-1","type":"Recon:EC2/PortProbe","severity":5}}"#.utf8)
        let f = try #require(Self.decoder.finding(falco, part: 0))
        #expect(f.id == "falco-1")
        #expect(f.event.value(atPath: "sluice.product")?.stringValue == "Falco")
        #expect(stage.silencedAtSend(f.event, findingID: f.id, route: "r", target: "t", now: 1))
        let g = try #require(Self.decoder.finding(guardDuty, part: 0))
        #expect(!stage.silencedAtSend(g.event, findingID: g.id, route: "r", target: "t", now: 1))
        #expect(stage.held.total == 1)
    }

    /// A split ASFF record: the check reads the delivery's own part, so a silence on one
    /// finding's id holds that part only.
    @Test func splitRecordIsCheckedPartByPart() throws {
        let stage = HoldStage(routes: [], silences: [try Self.silence(#"{"sluice":{"id":["asff-2"]}}"#)])
        let record = Array(#"{"Findings":[{"SchemaVersion":"2018-10-08","Id":"asff-1","ProductArn":"arn:aws:securityhub:us-east-1::product/aws/inspector","Title":"one","Severity":{"Label":"HIGH"}},{"SchemaVersion":"2018-10-08","Id":"asff-2","ProductArn":"arn:aws:securityhub:us-east-1::product/aws/inspector","Title":"two","Severity":{"Label":"LOW"}}]}"#.utf8)
        let first = try #require(Self.decoder.finding(record, part: 0))
        let second = try #require(Self.decoder.finding(record, part: 1))
        #expect(first.id == "asff-1")
        #expect(second.id == "asff-2")
        #expect(!stage.silencedAtSend(first.event, findingID: first.id, route: "r", target: "t", now: 1))
        #expect(stage.silencedAtSend(second.event, findingID: second.id, route: "r", target: "t", now: 1))
        #expect(Self.decoder.finding(record, part: 2) == nil)
    }
}
