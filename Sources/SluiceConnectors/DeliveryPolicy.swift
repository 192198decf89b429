import SluiceCore
import SluiceHTTP

/// How the framework delivers to one connector instance: keys common to every connector type.
public struct DeliveryPolicy: Sendable {
    /// Attempts in flight at once for this instance (`concurrency`).
    public var concurrency: Int = 64
    /// Per-attempt timeout (`timeout`).
    public var timeout: Duration = .seconds(10)
    public var retry = RetryPolicy()

    public init() {}

    /// The per-attempt timeout a connector applies itself (the framework reads the key).
    static func read(timeoutOnly r: MappingReader) -> Duration {
        guard let n = r.node.node.mapping?["timeout"]?.string, let d = DurationText.parse(n) else { return DeliveryPolicy().timeout }
        return d
    }

    /// Reads `concurrency`, `timeout` and `retry:` from a connector file.
    static func read(_ r: MappingReader) -> DeliveryPolicy {
        var p = DeliveryPolicy()
        if let c = r.int("concurrency", min: 1) { p.concurrency = c }
        if let t = r.duration("timeout") { p.timeout = t }
        if let rr = r.nested("retry", what: "retry") {
            if let a = rr.int("attempts", min: 1) { p.retry.maxAttempts = a }
            if let b = rr.duration("backoff") { p.retry.baseBackoff = b }
            if let m = rr.duration("max_backoff") { p.retry.maxBackoff = m }
            if let age = rr.duration("max_age") { p.retry.maxAge = age }
        }
        return p
    }
}

/// Retries with exponential backoff and full jitter (AWS Architecture Blog, "Exponential Backoff
/// And Jitter"): attempt n waits a uniform random time in [0, min(cap, base * 2^(n-1))], or what
/// the target asked for in Retry-After. Defaults follow EventBridge's: 185 attempts over 24 h.
public struct RetryPolicy: Sendable, Equatable {
    public var maxAttempts = 185
    public var baseBackoff: Duration = .milliseconds(500)
    public var maxBackoff: Duration = .seconds(60)
    public var maxAge: Duration = .seconds(24 * 3600)

    public init(maxAttempts: Int = 185, baseBackoff: Duration = .milliseconds(500), maxBackoff: Duration = .seconds(60), maxAge: Duration = .seconds(24 * 3600)) {
        self.maxAttempts = maxAttempts
        self.baseBackoff = baseBackoff
        self.maxBackoff = maxBackoff
        self.maxAge = maxAge
    }

    /// The wait before attempt `attempt + 1`, after attempt `attempt` failed.
    public func backoff<G: RandomNumberGenerator>(after attempt: Int, retryAfter: Duration?, using rng: inout G) -> Duration {
        if let retryAfter { return min(retryAfter, maxBackoff) }
        let exponent = min(attempt - 1, 30)
        let ceiling = min(maxBackoff, baseBackoff * (1 << exponent))
        let ms = ceiling.wholeMilliseconds
        return .milliseconds(ms > 0 ? Int64.random(in: 0...ms, using: &rng) : 0)
    }

    /// Whether a delivery that failed its `attempt`-th attempt after `age` may be tried again.
    public func allowsRetry(after attempt: Int, age: Duration) -> Bool {
        attempt < maxAttempts && age < maxAge
    }
}
