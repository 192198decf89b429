import Foundation
import SluiceTestSupport
import Testing

/// The fixture the integration tests stand on: whatever step throws, what the steps before it
/// started is stopped, newest first.
@Suite struct RunHarnessTests {
    @Test func aStepThatThrowsLeavesNothingRunningAndStopsNewestFirst() async throws {
        try await withRunHarness { harness in
            var stopped: [String] = []
            harness.onStop { stopped.append("first") }
            let broker = try await harness.broker(topics: [])
            let receiver = try await harness.receiver()
            #expect(Self.accepts(broker.port) && Self.accepts(receiver.port))
            harness.onStop { stopped.append("last") }
            // A second receiver on the first one's port cannot start: the step throws.
            await #expect(throws: (any Error).self) { _ = try await harness.receiver(port: receiver.port) }

            await harness.stopAndWait()
            #expect(stopped == ["last", "first"])
            #expect(!Self.accepts(broker.port), "the broker is stopped")
            #expect(!Self.accepts(receiver.port), "the receiver is stopped")
        }
    }

    static func accepts(_ port: Int) -> Bool {
        guard let fd = LoopbackPort.connect(port) else { return false }
        close(fd)
        return true
    }
}
