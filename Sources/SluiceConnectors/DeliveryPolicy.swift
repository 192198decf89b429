import SluiceCore
import SluiceHTTP

/// How the framework delivers to one connector instance: keys common to every connector type.
///
/// ```yaml
/// concurrency: 16          # attempts in flight at once
/// timeout: 10s             # per attempt
/// rate_limit: 5            # attempts per second (token bucket); `burst:` defaults to the rate
/// burst: 10
/// retry: {attempts: 185, backoff: 500ms, max_backoff: 60s, max_age: 24h}
/// circuit_breaker: {failures: 5, cooldown: 30s}
/// batch: {max_items: 100, max_bytes: 1MB, max_wait: 1s}   # batch-capable types only
/// ```
public struct DeliveryPolicy: Sendable {
    /// Attempts in flight at once for this instance (`concurrency`).
    public var concurrency: Int = 64
    /// Per-attempt timeout (`timeout`).
    public var timeout: Duration = .seconds(10)
    public var retry = RetryPolicy()
    /// Attempts per second; nil: unlimited.
    public var rateLimit: Double?
    /// Attempts allowed at once after an idle period; defaults to the rate (at least 1).
    public var burst: Double?
    public var circuitBreaker: CircuitBreakerPolicy?
    public var batch: BatchPolicy?

    public init() {}

    /// Reads the framework's keys from a connector file (`concurrency`, `timeout`, `rate_limit`,
    /// `burst`, `retry:`, `circuit_breaker:`, `batch:`).
    static func read(_ r: MappingReader, supportsBatching: Bool, defaultConcurrency: Int = 64) -> DeliveryPolicy {
        var p = DeliveryPolicy()
        p.concurrency = defaultConcurrency
        if let c = r.int("concurrency", min: 1) { p.concurrency = c }
        if let t = r.duration("timeout") { p.timeout = t }
        if let rate = r.double("rate_limit") {
            // Bounded so that the wait for a token, 1 / rate seconds, stays a representable Duration.
            if rate >= 0.001 && rate <= 1_000_000 { p.rateLimit = rate } else {
                r.report(r.at("rate_limit").error("'rate_limit' must be between 0.001 and 1000000 (attempts per second)"))
            }
        }
        if let b = r.double("burst") {
            if b >= 1 && b <= 1_000_000 { p.burst = b } else { r.report(r.at("burst").error("'burst' must be between 1 and 1000000")) }
        }
        if let rr = r.nested("retry", what: "retry") {
            if let a = rr.int("attempts", min: 1) { p.retry.maxAttempts = a }
            if let b = rr.duration("backoff") { p.retry.baseBackoff = b }
            if let m = rr.duration("max_backoff") { p.retry.maxBackoff = m }
            if let age = rr.duration("max_age") { p.retry.maxAge = age }
        }
        if let cb = r.nested("circuit_breaker", what: "circuit_breaker") {
            var c = CircuitBreakerPolicy()
            if let f = cb.int("failures", min: 1) { c.failureThreshold = f }
            if let d = cb.duration("cooldown") { c.cooldown = d }
            p.circuitBreaker = c
        }
        // Known even when absent, so an unknown key's message lists it.
        if supportsBatching { r.allow("batch") }
        if let node = r.node["batch"] {
            if !supportsBatching {
                r.allow("batch")
                r.report(node.error("this connector type does not batch; remove 'batch'"))
            } else if let br = r.nested("batch", what: "batch") {
                var b = BatchPolicy()
                if let n = br.int("max_items", min: 1) { b.maxItems = n }
                if let s = br.string("max_bytes") {
                    if let bytes = ByteSizeText.parse(s) { b.maxBytes = bytes } else { br.report(br.at("max_bytes").error("'max_bytes' must be a size such as 512KB or 5MB")) }
                }
                if let w = br.duration("max_wait") { b.maxWait = w }
                p.batch = b
            }
        }
        return p
    }
}

/// Stops attempts to a target that keeps failing: after `failureThreshold` consecutive retryable
/// failures the circuit opens for `cooldown`; then one trial attempt decides (half-open).
/// Deliveries wait while it is open; none is dropped.
public struct CircuitBreakerPolicy: Sendable, Equatable {
    public var failureThreshold = 5
    public var cooldown: Duration = .seconds(30)
    public init() {}
}

/// Groups deliveries for batch-capable targets: a batch is sent when it holds `maxItems` or
/// `maxBytes`, or `maxWait` after its first item.
public struct BatchPolicy: Sendable, Equatable {
    public var maxItems = 100
    public var maxBytes = 1 << 20
    public var maxWait: Duration = .seconds(1)
    public init() {}
}

/// Sizes as written in configuration files: `512`, `64KB`, `5MB`.
public enum ByteSizeText {
    public static func parse(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        for (suffix, scale) in [("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("B", 1)] where t.hasSuffix(suffix) {
            guard let n = Int(t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), n >= 0 else { return nil }
            let (bytes, overflow) = n.multipliedReportingOverflow(by: scale)
            return overflow ? nil : bytes
        }
        return Int(t).flatMap { $0 >= 0 ? $0 : nil }
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
