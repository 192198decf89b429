import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing
@testable import SluiceRuntime

/// Parts a reload starts stop with the run, in the reverse order of their start, each loop
/// awaited before the next part stops — in a real ServiceGroup, as `sluice run` has one.
@Suite struct LateServicesTests {
    /// What happened, in order, from any thread.
    final class Journal: Sendable {
        private let entries = Mutex<[String]>([])
        func add(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
    }

    /// A loop blocked until its stop; its end is journaled after a delay, so a stop that did not
    /// await it would journal the next part first.
    static func loop(_ name: String, _ journal: Journal) -> RunPart {
        let release = DispatchSemaphore(value: 0)
        return .loop(name: name, body: {
            release.wait()
            usleep(50_000)
            journal.add("\(name) ended")
        }, stop: {
            journal.add("stop \(name)")
            release.signal()
        })
    }

    @Test func partsStopInReverseOrderEachLoopAwaited() async throws {
        let journal = Journal()
        let late = LateServices()
        #expect(late.start([.closing(name: "producer") { journal.add("close producer") }, Self.loop("owner", journal)]))
        #expect(late.start([Self.loop("feed", journal)]))
        let group = ServiceGroup(configuration: .init(services: [.init(service: late)], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(journal.all == ["stop feed", "feed ended", "stop owner", "owner ended", "close producer"])
        // Once stopping, a reload starts nothing.
        #expect(!late.start([.closing(name: "late") { journal.add("close late") }]))
        #expect(journal.all.count == 5)
    }

    @Test func aLoopThatEndsOnItsOwnEndsTheServiceAndStopsTheOthers() async throws {
        let journal = Journal()
        let late = LateServices()
        #expect(late.start([Self.loop("feed", journal)]))
        let ended = DispatchSemaphore(value: 0)
        #expect(late.start([.loop(name: "owner", body: { ended.wait(); journal.add("owner ended") }, stop: { journal.add("stop owner") })]))
        ended.signal()
        // The service returns (the run's group then shuts down: successTerminationBehavior).
        try await late.run()
        #expect(journal.all == ["owner ended", "stop owner", "stop feed", "feed ended"])
    }
}
