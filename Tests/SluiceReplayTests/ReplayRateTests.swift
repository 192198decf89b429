import Logging
import Synchronization
import Testing
@testable import SluiceReplay

/// A dispatch that notes when each delivery starts (a monotonic clock) and delivers every target.
final class TimedDispatch: ReplayDispatch {
    let starts = Mutex<[ContinuousClock.Instant]>([])

    func targets(for letter: DeadLetterRecord, reroute: Bool) -> Result<[ReplayTarget], ReplaySkip> {
        RecordingDispatch().targets(for: letter, reroute: reroute)
    }

    func deliver(_ letter: DeadLetterRecord, to targets: [ReplayTarget], replay name: String) async -> [ReplayTarget: ReplayTargetOutcome] {
        starts.withLock { $0.append(ContinuousClock.now) }
        return Dictionary(uniqueKeysWithValues: targets.map { ($0, .delivered) })
    }

    /// Milliseconds between consecutive delivery starts.
    func gapsMs() -> [Double] {
        let s = starts.withLock { $0 }
        return zip(s, s.dropFirst()).map { a, b in
            let d = (b - a).components
            return Double(d.seconds) * 1000 + Double(d.attoseconds) / 1e15
        }
    }
}

/// `--rate N/s`: deliveries are spaced by at least 1/N s per target. Only lower bounds are
/// checked: a sleep never ends early, so a loaded machine can only widen the gaps, while a
/// replay that ignores the rate delivers these letters microseconds apart.
@Suite struct ReplayRateTests {
    @Test func aRateSpacesDeliveriesByItsIntervalPerTarget() async throws {
        let dispatch = TimedDispatch()
        let engine = ReplayEngine(ledger: MemoryReplayLedger(), dispatch: dispatch, logger: Logger(label: "test"))
        let letters = (0..<5).map { letter(Int64($0)) }
        let s = try await engine.run(ReplayRequest(name: "paced", ratePerSecond: 20), letters: letters)
        #expect(s.delivered == 5)
        let gaps = dispatch.gapsMs()
        #expect(gaps.count == 4)
        #expect(gaps.allSatisfy { $0 >= 50 }, "20/s, one target a letter: at least 50 ms apart; gaps \(gaps)")
    }

    @Test func aRerouteCountsEveryTargetAgainstTheRate() async throws {
        let dispatch = TimedDispatch()
        let engine = ReplayEngine(ledger: MemoryReplayLedger(), dispatch: dispatch, logger: Logger(label: "test"))
        // Two targets per letter (r1 → a, r2 → b), so 20 deliveries/s is one letter every 100 ms.
        let letters = (0..<4).map { letter(Int64($0), route: nil, connector: nil) }
        let s = try await engine.run(ReplayRequest(name: "paced-all", reroute: true, ratePerSecond: 20), letters: letters)
        #expect(s.delivered == 8)
        let gaps = dispatch.gapsMs()
        #expect(gaps.count == 3)
        #expect(gaps.allSatisfy { $0 >= 100 }, "20/s, two targets a letter: at least 100 ms apart; gaps \(gaps)")
    }
}
