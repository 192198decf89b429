import Testing
@testable import SluiceRuntime

/// Static membership settings turn into the consumer's librdkafka properties.
@Suite struct ConsumerMembershipTests {
    @Test func dynamicByDefaultStaticOnRequest() {
        #expect(ConsumerMembership().properties(group: "sluice", topics: ["t"]).isEmpty)
        let explicit = ConsumerMembership(instanceID: "sluice-0", assignor: "range").properties(group: "sluice", topics: ["t"])
        #expect(explicit == ["group.instance.id": "sluice-0", "partition.assignment.strategy": "range"])
        let byDefault = ConsumerMembership(staticMembership: true).effectiveInstanceID(group: "sluice", topics: ["b", "a"], hostname: "pod-7")
        #expect(byDefault?.hasPrefix("sluice-pod-7-") == true)
    }

    @Test func defaultIDsAreStablePerGroupAndValid() {
        let a = ConsumerMembership.defaultInstanceID(hostname: "host", group: "g", topics: ["x", "y"])
        #expect(a == ConsumerMembership.defaultInstanceID(hostname: "host", group: "g", topics: ["y", "x"]), "topic order does not matter")
        #expect(a != ConsumerMembership.defaultInstanceID(hostname: "host", group: "other", topics: ["x", "y"]))
        #expect(a != ConsumerMembership.defaultInstanceID(hostname: "host2", group: "g", topics: ["x", "y"]))
        // A hostname with characters Kafka ids do not take still gives a valid id.
        let odd = ConsumerMembership.defaultInstanceID(hostname: "node 1/ü", group: "g", topics: ["x"])
        #expect(ConsumerMembership.isValidInstanceID(odd), "\(odd)")
        #expect(!ConsumerMembership.isValidInstanceID("a b"))
        #expect(!ConsumerMembership.isValidInstanceID(""))
        #expect(!ConsumerMembership.isValidInstanceID(String(repeating: "a", count: 250)))
    }
}
