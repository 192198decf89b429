import Foundation
import Logging
import SluiceCore
import Synchronization

/// What one replay does: which letters, where to, how fast.
public struct ReplayRequest: Sendable {
    /// Names the replay in progress records, the `X-Sluice-Replay` header and run ids.
    public var name: String
    public var filter: DeadLetterFilter
    /// Through all routes again (the finding is matched anew) instead of only the target that failed.
    public var reroute: Bool
    /// Report what would be replayed; deliver and record nothing.
    public var dryRun: Bool
    /// Target deliveries per second at most; nil: as fast as the targets answer.
    public var ratePerSecond: Double?
    /// How the letters were chosen, for the record (the flags as given).
    public var selection: String

    public init(name: String, filter: DeadLetterFilter = DeadLetterFilter(), reroute: Bool = false, dryRun: Bool = false,
                ratePerSecond: Double? = nil, selection: String = "") {
        self.name = name
        self.filter = filter
        self.reroute = reroute
        self.dryRun = dryRun
        self.ratePerSecond = ratePerSecond
        self.selection = selection
    }

    /// Replay names go into a header and progress keys: letters, digits, `.`, `_`, `-`, at most 64.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { b in
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
        }
    }

    /// A default name from the selection: the same flags give the same name, so running the same
    /// command again resumes the same replay.
    public static func defaultName(selection: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a: stable across processes, unlike Hasher
        for b in selection.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        return "replay-" + String(hash, radix: 16)
    }
}

/// Where a replayed letter goes, and the act of delivering it: the runtime binds this to its
/// routes, connectors and lanes (`ReplayDispatcher` in SluiceRuntime); tests bind it to a model.
public protocol ReplayDispatch: Sendable {
    /// The targets `letter` would be replayed to, or why there are none.
    func targets(for letter: DeadLetterRecord, reroute: Bool) -> Result<[ReplayTarget], ReplaySkip>
    /// Delivers `letter` to each of `targets`, marked as part of replay `name`; one outcome per target.
    func deliver(_ letter: DeadLetterRecord, to targets: [ReplayTarget], replay name: String) async -> [ReplayTarget: ReplayTargetOutcome]
}

/// Why a letter has no target to replay to.
public struct ReplaySkip: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Set to stop a replay between two letters (`DELETE /api/v1/replays/{name}`, SIGINT).
public final class ReplayCancellation: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func cancel() { flag.store(true, ordering: .releasing) }
    public var isCancelled: Bool { flag.load(ordering: .acquiring) }
}

/// Runs replays: for each chosen letter, the targets not yet done by this replay, paced, with
/// every outcome recorded before the next letter. Running the same replay again delivers only
/// what failed or was never reached; a crash repeats at most the letter in hand.
public final class ReplayEngine: Sendable {
    let ledger: any ReplayLedger
    let dispatch: any ReplayDispatch
    let logger: Logger

    public init(ledger: any ReplayLedger, dispatch: any ReplayDispatch, logger: Logger) {
        self.ledger = ledger
        self.dispatch = dispatch
        self.logger = logger
    }

    /// A dry run's answer for one letter.
    public struct PlannedLetter: Sendable {
        public var letter: DeadLetterRecord
        public var targets: [ReplayTarget]
        public var alreadyDone: [ReplayTarget]
        public var skip: ReplaySkip?
    }

    /// What `request` would do, letter by letter; nothing is delivered or recorded.
    public func plan(_ request: ReplayRequest, letters: [DeadLetterRecord]) -> [PlannedLetter] {
        let done = ledger.done(replay: request.name)
        return letters.filter(request.filter.matches).map { letter in
            switch dispatch.targets(for: letter, reroute: request.reroute) {
            case .failure(let skip): return PlannedLetter(letter: letter, targets: [], alreadyDone: [], skip: skip)
            case .success(let targets):
                let finished = done[letter.id] ?? []
                return PlannedLetter(letter: letter, targets: targets.filter { !finished.contains($0) }, alreadyDone: targets.filter(finished.contains))
            }
        }
    }

    /// Runs `request` over `letters` (the dead-letter topic as read); `progress` sees the summary
    /// after every letter. Throws when progress cannot be recorded (the replay stops: going on
    /// would deliver what a rerun could not know was delivered).
    public func run(_ request: ReplayRequest, letters: [DeadLetterRecord], cancellation: ReplayCancellation = ReplayCancellation(),
                    progress: @Sendable (ReplaySummary) -> Void = { _ in }) async throws(ReplayError) -> ReplaySummary {
        let chosen = plan(request, letters: letters)
        var summary = ReplaySummary(name: request.name, status: .running, reroute: request.reroute, selection: request.selection,
                                    startedMs: Self.nowMs())
        summary.matched = chosen.count
        if !request.dryRun { try await ledger.put(summary) }
        let clock = ContinuousClock()
        var nextSlot = clock.now
        var nextLook = clock.now + .seconds(1)
        for planned in chosen {
            // A cancel asked of another instance reaches this one through the ledger.
            if !request.dryRun, clock.now >= nextLook {
                nextLook = clock.now + .seconds(1)
                ledger.refresh()
                if let asked = ledger.cancelRequest(request.name), asked.atMs >= summary.startedMs { cancellation.cancel() }
            }
            if cancellation.isCancelled {
                summary.status = .cancelled
                break
            }
            summary.processed += 1
            summary.alreadyDone += planned.alreadyDone.count
            if planned.skip != nil { summary.skipped += 1 }
            if !planned.targets.isEmpty, !request.dryRun {
                if let rate = request.ratePerSecond, rate > 0 {
                    // Paced by the clock, not by a fixed sleep per letter: slow targets do not lower the rate further.
                    if nextSlot > clock.now { try? await Task.sleep(until: nextSlot, clock: clock) }
                    nextSlot = max(nextSlot, clock.now) + .milliseconds(Int64(clamping: 1000 * Double(planned.targets.count) / rate))
                }
                let outcomes = await dispatch.deliver(planned.letter, to: planned.targets, replay: request.name)
                for target in planned.targets {
                    let outcome = outcomes[target] ?? .failed("no outcome")
                    switch outcome {
                    case .delivered: summary.delivered += 1
                    case .approvalRequested: summary.approvalsRequested += 1
                    case .failed(let why):
                        summary.failed += 1
                        logger.warning("replay delivery failed", metadata: [
                            "sluice.replay": "\(request.name)", "sluice.letter": "\(planned.letter.id)",
                            "route.name": "\(target.route)", "connector.name": "\(target.connector)", "error": "\(why)",
                        ])
                    }
                    try await ledger.put(ReplayEntry(replay: request.name, letter: planned.letter.id, target: target, outcome: outcome, atMs: Self.nowMs()))
                }
            } else if request.dryRun {
                summary.delivered += planned.targets.count
            }
            summary.updatedMs = Self.nowMs()
            progress(summary)
        }
        if summary.status == .running { summary.status = .finished }
        summary.updatedMs = Self.nowMs()
        if !request.dryRun { try await ledger.put(summary) }
        progress(summary)
        return summary
    }

    static func nowMs() -> Int64 { Int64(clamping: Date().timeIntervalSince1970 * 1000) }
}
