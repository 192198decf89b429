import CoreMetrics
import Synchronization

/// How long the successful deliveries of one connector instance took, from the moment a finding
/// was routed to the target's acknowledgement (retries and waits included). Recorded through
/// swift-metrics as `sluice_delivery_duration_seconds{connector}` (a Prometheus histogram once
/// the executable bootstraps the Prometheus backend with `bounds`), and kept here in the same
/// buckets for the admin API's p95.
final class DeliveryLatency: Sendable {
    /// Upper bounds in seconds: from a local webhook's milliseconds to a retried ticket's minutes.
    static let bounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
    static let metricName = "sluice_delivery_duration_seconds"

    private let counts = Mutex([Int](repeating: 0, count: DeliveryLatency.bounds.count + 1))  // the last: above every bound
    private let timer: CoreMetrics.Timer

    init(connector: String) {
        timer = CoreMetrics.Timer(label: Self.metricName, dimensions: [("connector", connector)])
    }

    func record(_ elapsed: Duration) {
        let seconds = elapsed.seconds
        let bucket = Self.bounds.firstIndex { seconds <= $0 } ?? Self.bounds.count
        counts.withLock { $0[bucket] += 1 }
        timer.record(duration: elapsed)
    }

    /// The upper bound of the bucket holding quantile `q` (0...1); nil before any delivery, and
    /// for quantiles above the last bound.
    func quantile(_ q: Double) -> Double? {
        let counts = counts.withLock { $0 }
        let total = counts.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = q * Double(total)
        var seen = 0
        for (i, bound) in Self.bounds.enumerated() {
            seen += counts[i]
            if Double(seen) >= rank { return bound }
        }
        return nil
    }
}
