import Testing

@testable import SluiceKafka

/// The client id read back from a member id, for coordinators that describe members without it.
@Suite struct GroupMemberTests {
    @Test func theClientIDIsWhatPrecedesTheMembersUUID() {
        #expect(KafkaGroupMember.clientID(fromMemberID: "sluice-it-a-6a671daa-d288-43df-8c8d-60bfa808e0a7") == "sluice-it-a")
        #expect(KafkaGroupMember.clientID(fromMemberID: "rdkafka-16B10CF9-C78D-45AA-8C8D-60BFA808E0A7") == "rdkafka")
        // Not the coordinator's shape: nothing is made up.
        #expect(KafkaGroupMember.clientID(fromMemberID: "sluice-it-a") == "")
        #expect(KafkaGroupMember.clientID(fromMemberID: "-6a671daa-d288-43df-8c8d-60bfa808e0a7") == "")
        #expect(KafkaGroupMember.clientID(fromMemberID: "x_6a671daa-d288-43df-8c8d-60bfa808e0a7") == "")
        #expect(KafkaGroupMember.clientID(fromMemberID: "x-6a671daa-d288-43df-8c8d-60bfa808e0aZ") == "")
        #expect(KafkaGroupMember.clientID(fromMemberID: "") == "")
    }
}
