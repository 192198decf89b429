// The `defer` of an async test. `defer` cannot await, so a deferred `stop()` only signals and a
// reaper thread waits: the test then ended while its broker, receivers and runs were still
// exiting, their CPU and ports went to the next test, and a child still exiting when the test
// process ended was left behind. `withCleanup` awaits each stop, on every path out of the body.
//
// In the body (a closure), keep closures out of `#expect` and `#require` arguments: compute the
// value first. With Swift 6.3.1, a closure inside such a macro's argument and another closure of
// the same type in the body can end up running one's code for both (by all signs their symbols
// clash): a `records.filter { … == nil }` after `#expect(records.filter { … != nil }.count == 5)`
// filtered with `!= nil` (StateTests' offline run). At a test function's top level it is right.
// Measured in a repro package: `#require` does it too, and so do an async body, a `Task { }`, a
// body with parameters and a closure in a closure. It took a closure literal after the macro, in
// the same closure body and of the same type (`(Int) -> Bool` then `(Int) -> Int` was right); one
// before the macro, in a sibling or inner closure, in a nested `func`, or in a second macro was
// right, and so was `#expect(throws:) { … }` (that closure is the argument itself). Which closure
// comes next is not for a test author to track, so no closure goes in such an argument:
// ClosuresInAssertionsTests fails on a new one.

/// The stops an async test registers as it starts things; `withCleanup` awaits them newest first
/// once the body has returned or thrown.
public final class Cleanup {
    private var stops: [() async -> Void] = []

    /// Registers `stop`, to be awaited before what was registered earlier (as `defer` orders).
    public func add(_ stop: @escaping () async -> Void) {
        stops.append(stop)
    }

    /// Registers a blocking stop (an HTTP client's shutdown, a Kafka handle's close): when its
    /// turn comes it runs on a thread of its own, so the pool stays free while it waits.
    public func addOffPool(_ stop: @escaping @Sendable () -> Void) {
        add { _ = try? await offPool(stop) }
    }

    fileprivate func run() async {
        let all = stops
        stops = []
        for stop in all.reversed() { await stop() }
    }
}

/// Runs `body`, then awaits every stop it registered in the `Cleanup` it is given, whether it
/// returned or threw.
public func withCleanup<T>(isolation: isolated (any Actor)? = #isolation, _ body: (Cleanup) async throws -> T) async throws -> T {
    let cleanup = Cleanup()
    do {
        let value = try await body(cleanup)
        await cleanup.run()
        return value
    } catch {
        await cleanup.run()
        throw error
    }
}
