import Foundation
import ServiceLifecycle
import Synchronization

/// A long-lived part of a run: a blocking loop on a thread of its own (a state owner, a topic
/// feed) stopped by `stop`, or a resource closed at shutdown (a producer).
enum RunPart: Sendable {
    case loop(name: String, body: @Sendable () -> Void, stop: @Sendable () -> Void)
    case closing(name: String, close: @Sendable () -> Void)

    /// As a service of the run's group, set up at start: a loop that ends on its own ends the run
    /// (an owner that cannot restore a partition must not leave its keys undecided).
    var service: ServiceGroupConfiguration.ServiceConfiguration {
        switch self {
        case .loop(let name, let body, let stop):
            .init(service: ThreadService(name: name, body: body, stop: stop), successTerminationBehavior: .gracefullyShutdownGroup)
        case .closing(let name, let close):
            .init(service: ClosingService(name, close: close))
        }
    }
}

/// The parts a reload starts (the key owner and its changelog producer, the inhibition feed, the
/// guard ledger). The run's ServiceGroup is fixed once it runs, so this one service of the group
/// stands in its place for them: parts start when a reload adds them, and on the group's graceful
/// shutdown (or cancellation) they stop in the reverse order of their start, each loop awaited
/// before the next part stops, as the group itself stops its services. A loop that ends on its
/// own ends this service, so the run shuts down as for a part set up at start.
final class LateServices: Service, Sendable, CustomStringConvertible {
    let description = "late services"

    private enum Event: Sendable {
        case shutdown
        case ended(index: Int)
    }
    private struct State {
        var parts: [RunPart] = []
        var stopping = false
    }
    private let state = Mutex(State())
    private let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation

    init() {
        (events, continuation) = AsyncStream.makeStream(of: Event.self)
    }

    /// Starts `parts` in order (loops on threads of their own). False, with nothing started, once
    /// the run is stopping: a reload then fails rather than start what no one would stop.
    func start(_ parts: [RunPart]) -> Bool {
        state.withLock { s in
            guard !s.stopping else { return false }
            for part in parts {
                let index = s.parts.count
                s.parts.append(part)
                guard case .loop(let name, let body, _) = part else { continue }
                let thread = Thread { [continuation] in
                    body()
                    continuation.yield(.ended(index: index))
                }
                thread.name = "sluice-\(name)"
                thread.start()
            }
            return true
        }
    }

    func run() async throws {
        var iterator = events.makeAsyncIterator()
        var ended = Set<Int>()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                // Until the shutdown, or a loop that ends on its own.
                if case .ended(let index) = await iterator.next() { ended.insert(index) }
            } onGracefulShutdown: { [continuation] in
                continuation.yield(.shutdown)
            }
        } onCancel: { [continuation] in
            continuation.yield(.shutdown)
        }
        let parts = state.withLock { s -> [RunPart] in
            s.stopping = true
            return s.parts
        }
        for (index, part) in parts.enumerated().reversed() {
            switch part {
            case .closing(_, let close):
                close()
            case .loop(_, _, let stop):
                stop()
                // The loop's end, not a fixed wait: the owner drains what it released first.
                while !ended.contains(index) {
                    guard let event = await iterator.next() else { break }
                    if case .ended(let i) = event { ended.insert(i) }
                }
            }
        }
        continuation.finish()
    }
}
