// Polling until a condition holds, for tests. A loop that stops at the deadline after a sleep,
// and reports what it read before that sleep, fails a test whose condition came true during the
// sleep (on a loaded machine, the last sleep can be seconds long). `eventually` reads once more
// at the deadline, and hands back that last read for the test's assertion and failure message.

/// Reads `probe` every `interval` until `done` holds for what it read or `timeout` has passed,
/// then returns the last value read. No sleep comes between the last read and the return, so a
/// condition that came true during the last sleep is seen. The sleeps do not hold a pool thread;
/// a cancelled task reads once more and returns.
public func eventually<Value>(isolation: isolated (any Actor)? = #isolation, within timeout: Duration,
                              every interval: Duration = .milliseconds(100), _ probe: () async throws -> Value,
                              until done: (Value) -> Bool) async rethrows -> Value {
    let deadline = ContinuousClock.now + timeout
    while true {
        let value = try await probe()
        if done(value) { return value }
        if ContinuousClock.now >= deadline { return value }
        if (try? await Task.sleep(for: interval)) == nil { return try await probe() }
    }
}

/// `eventually(within:every:_:until:)` for a condition: true once `condition` held, false when
/// it still did not at the deadline.
public func eventually(isolation: isolated (any Actor)? = #isolation, within timeout: Duration,
                       every interval: Duration = .milliseconds(100), _ condition: () async throws -> Bool) async rethrows -> Bool {
    try await eventually(isolation: isolation, within: timeout, every: interval, condition, until: { $0 })
}
