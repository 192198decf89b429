import SluiceCore
@testable import SluiceGuardDuty
import Testing

/// Bare GuardDuty findings get the EventBridge envelope GuardDuty would have given them.
@Suite struct GuardDutyEnvelopeTests {
    static let bare = #"{"schemaVersion":"2.0","accountId":"111122223333","region":"eu-west-1","id":"f1","type":"Recon:EC2/PortProbeUnprotectedPort","resource":{"resourceType":"Instance"},"updatedAt":"2026-01-02T03:04:05Z"}"#

    @Test func aBareFindingIsWrappedAsEventBridgeWouldDeliverIt() throws {
        let parser = JSONParser(maxBytes: 1 << 16, maxDepth: 64)
        let bytes = Array(Self.bare.utf8)
        let wrapped = try parser.parse(bytes) { doc -> [UInt8]? in
            guard GuardDutyEnvelope.isBareFinding(doc.root) else { return nil }
            return GuardDutyEnvelope.envelope(around: bytes, finding: doc.root)
        }.get()
        let text = String(decoding: try #require(wrapped), as: UTF8.self)
        #expect(text == #"{"version":"0","detail-type":"GuardDuty Finding","source":"aws.guardduty","account":"111122223333","region":"eu-west-1","time":"2026-01-02T03:04:05Z","resources":[],"detail":"# + Self.bare + "}")
        let event = try JSON.parse(text)
        #expect(GuardDutyEnvelope.findingID(event) == "f1")
        #expect(GuardDutyEnvelope.wrapped(try JSON.parse(Self.bare))["detail"]?["id"]?.stringValue == "f1")
    }

    @Test func anEnvelopeOrAnotherEventIsLeftAlone() throws {
        let enveloped = try JSON.parse(#"{"detail-type":"GuardDuty Finding","detail":{"id":"f2"}}"#)
        #expect(GuardDutyEnvelope.wrapped(enveloped) == enveloped)
        #expect(GuardDutyEnvelope.findingID(enveloped) == "f2")
        let other = try JSON.parse(#"{"source":"falco","rule":"x"}"#)
        #expect(GuardDutyEnvelope.wrapped(other) == other)
        let parser = JSONParser(maxBytes: 1 << 16, maxDepth: 64)
        let isBare = try parser.parse(Array(#"{"detail-type":"x","schemaVersion":"2.0","type":"t","resource":{}}"#.utf8)) {
            GuardDutyEnvelope.isBareFinding($0.root)
        }.get()
        #expect(!isBare)
    }
}
