import Foundation
import Synchronization
import SluiceKafka

// swift-testing runs test functions on the cooperative pool, which has one thread per core (two
// here). A test that blocks one (a process wait, usleep polling, a blocking read) stalls every other
// test queued behind it, and on a loaded machine unrelated tests then miss their timeouts. The
// helpers below wait without holding a pool thread: polling with `Task.sleep`, or running the
// blocking call on a thread of its own. They have names of their own rather than async
// overloads of the blocking calls: an overload would turn every unconverted call in an async
// test into a compile error in files other engineers are editing. The `stop()`s called from
// `defer` (which cannot await) only signal and leave the waiting to a reaper thread.

/// Runs a blocking call on a thread of its own and resumes the caller when it returns: the
/// cooperative pool stays free while it blocks.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        BlockingThreads.shared.run {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
    }
}

/// The threads `offPool` runs its calls on: started as needed (one per call running at once, so
/// no call waits for another), then kept, never ended. A `Process` started on a thread adds its
/// run-loop source to that thread's run loop, and a thread that ends tears its run loop down;
/// in swift-corelibs-foundation that teardown can race with the process monitor invalidating the
/// same source when the child exits (the kind of run-loop-source use-after-free its PR #3125
/// narrowed). A thread per call ended right after its `Process.run()`; kept threads never end.
final class BlockingThreads: Sendable {
    static let shared = BlockingThreads()

    private struct Queue {
        var jobs: [@Sendable () -> Void] = []
        var idle = 0  // threads waiting for a job that no submitted job has claimed yet
    }
    private let queue = Mutex(Queue())
    private let ready = DispatchSemaphore(value: 0)  // one signal per submitted job

    func run(_ job: @escaping @Sendable () -> Void) {
        let start = queue.withLock { q -> Bool in
            q.jobs.append(job)
            if q.idle > 0 { q.idle -= 1; return false }
            return true
        }
        if start {
            let thread = Thread { [self] in work() }
            thread.start()
        }
        ready.signal()
    }

    private func work() {
        while true {
            ready.wait()
            let job = queue.withLock { $0.jobs.removeFirst() }
            job()
            queue.withLock { $0.idle += 1 }
        }
    }
}

/// How often the pool-free waits look again: short against the waits they replace, long enough
/// to cost nothing.
let pollInterval: Duration = .milliseconds(20)

extension Process {
    /// Blocks until the process has exited, by polling `isRunning` (Foundation's own monitor
    /// reaps the child and sets the status before `isRunning` turns false). Never
    /// `waitUntilExit()`: swift-corelibs-foundation's stores the waiting thread's run loop (a weak
    /// reference) in the process and clears it and the run-loop source (a strong one) again,
    /// unsynchronised, so two threads waiting for one process (a `stop()` and then the owner's
    /// `deinit` calling `stop()` again, each with its reaper thread) can release the source
    /// twice, and the test process dies later in whatever releases the freed object: the likely
    /// cause of a signal 11 in CI's `make test` (not reproduced here).
    public func waitUntilGone() {
        var pause: useconds_t = 1_000
        while isRunning {
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
    }

    /// Waits until the process has exited, polling without holding a pool thread. Returns false
    /// when `timeout` (seconds) passed first or the task was cancelled.
    public func waitForExit(timeout: Double) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while isRunning {
            guard ContinuousClock.now < deadline, (try? await Task.sleep(for: pollInterval)) != nil else { return !isRunning }
        }
        return true
    }

    /// Waits until the process has exited, however long that takes (the test's own time limit
    /// bounds it); returns early only when the task is cancelled.
    public func waitForExit() async {
        while isRunning {
            guard (try? await Task.sleep(for: pollInterval)) != nil else { return }
        }
    }
}

extension ChildProcess {
    /// SIGTERM, `grace` seconds, then SIGKILL; returns once the process is gone, without holding
    /// a pool thread.
    public static func stopAndWait(_ process: Process, grace: Double = 2) async {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        if await process.waitForExit(timeout: grace) { return }
        kill(process.processIdentifier, SIGKILL)
        await process.waitForExit()
    }

    /// SIGKILL now; the exit is reaped on a thread of its own, so this returns at once.
    public static func killNow(_ process: Process) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        reapInBackground(process, grace: 0)
    }

    /// What the synchronous `stop` does after the SIGTERM, on a thread of its own: the grace
    /// period, SIGKILL, and the wait until Foundation has reaped it.
    static func reapInBackground(_ process: Process, grace: Double) {
        let reaper = Thread {
            let deadline = Date().addingTimeInterval(grace)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilGone()
        }
        reaper.start()
    }
}

extension LoopbackPort {
    /// `waitUntilAccepting`, polling without holding a pool thread: true once something accepts
    /// TCP connections on 127.0.0.1:`port`, false when `timeout` (seconds) passed first.
    public static func accepts(_ port: Int, within timeout: Double) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while true {
            if let fd = connect(port) {
                close(fd)
                return true
            }
            guard ContinuousClock.now < deadline, (try? await Task.sleep(for: .milliseconds(50))) != nil else { return false }
        }
    }

    /// `get(_:_:)` with the read on a thread of its own (it reads until the server closes).
    public static func fetch(_ port: Int, _ path: String) async -> String? {
        (try? await offPool { get(port, path) }) ?? nil
    }
}

extension CommandRun {
    /// `run` with the child's output read and its exit awaited on a thread of their own.
    public static func result(of executable: URL, _ arguments: [String], environment: [String: String] = [:],
                              in directory: URL? = nil) async throws -> (status: Int32, output: String) {
        try await offPool { try run(executable, arguments, environment: environment, in: directory) }
    }

    /// Starts `process` (configured, not yet run) with stdout and stderr into one pipe, and
    /// returns its combined output once it has exited; the reading and the waiting happen on a
    /// thread of their own. The exit status is then in `process.terminationStatus`.
    public static func output(of process: Process) async throws -> String {
        try await offPool {
            let out = Pipe.closedOnExec()
            process.standardOutput = out
            process.standardError = out
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilGone()
            return String(decoding: data, as: UTF8.self)
        }
    }
}

extension TansuBroker {
    /// Topics created with the admin client on a thread of its own (it waits for the broker).
    public func create(topics names: [String], partitions: Int32 = 1) async throws {
        try await offPool { [self] in try createTopics(names, partitions: partitions) }
    }
}

extension Findings {
    /// `produce`, with the producer's acknowledgements waited for on a thread of its own.
    public static func publish(_ findings: [(id: String, bytes: [UInt8])], to topic: String, broker: TansuBroker) async throws {
        try await offPool { try produce(findings, to: topic, broker: broker) }
    }
}

extension MotoServer {
    /// The process-wide server; the first caller waits for moto to start on a thread of its own.
    public static func startShared() async throws -> MotoServer {
        try await offPool { try shared() }
    }
}
