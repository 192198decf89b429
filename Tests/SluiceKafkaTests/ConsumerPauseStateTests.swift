import Testing
@testable import SluiceKafka

/// The consumer's pause bookkeeping, without a broker: partitions being assigned always get the
/// consumer's pause state set, so a pause flag librdkafka kept from an earlier assignment of the
/// same partition cannot outlive the back-pressure that set it (RebalanceTests has the broker case).
@Suite struct ConsumerPauseStateTests {
    let p0 = TopicPartition("findings", 0)
    let p1 = TopicPartition("findings", 1)

    @Test func partitionsBeingAssignedAreResumedWhenTheConsumerIsNotPaused() throws {
        var s = KafkaConsumer.StateMachine()
        s.assigned([p0, p1])
        let pause = s.pause()
        let paused = try #require(pause)
        #expect(Set(paused.parts) == [p0, p1] && paused.paused)
        s.revoked([p1])  // p1 goes while paused: librdkafka keeps its pause flag
        let resume = s.resume()
        let resumed = try #require(resume)
        #expect(resumed.parts == [p0] && !resumed.paused)
        // p1 comes back while the consumer is not paused: it is resumed explicitly.
        let back = try #require(s.assigning([p1]))
        #expect(back.parts == [p1] && !back.paused)
    }

    @Test func partitionsBeingAssignedArePausedWhileTheConsumerIsPaused() throws {
        var s = KafkaConsumer.StateMachine()
        s.assigned([p0])
        _ = s.pause()
        let incoming = try #require(s.assigning([p1]))
        #expect(incoming.parts == [p1] && incoming.paused)
        s.assigned([p1])
        let resume = s.resume()
        let resumed = try #require(resume)
        #expect(Set(resumed.parts) == [p0, p1] && !resumed.paused)
    }

    @Test func aClosedConsumerChangesNothing() {
        var s = KafkaConsumer.StateMachine()
        _ = s.close()
        #expect(s.assigning([p0])?.parts == nil)
    }
}
