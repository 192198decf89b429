import Synchronization

/// How long the successful deliveries of one connector instance took, from the moment a finding
/// was routed to the target's acknowledgement (retries and waits included): a Prometheus histogram.
final class DeliveryLatency: Sendable {
    /// Upper bounds in seconds: from a local webhook's milliseconds to a retried ticket's minutes.
    static let bounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

    private struct State {
        var counts = [Int](repeating: 0, count: DeliveryLatency.bounds.count + 1)  // the last: above every bound
        var sum = 0.0
    }
    private let state = Mutex(State())

    func record(_ elapsed: Duration) {
        let seconds = elapsed.seconds
        let bucket = Self.bounds.firstIndex { seconds <= $0 } ?? Self.bounds.count
        state.withLock {
            $0.counts[bucket] += 1
            $0.sum += seconds
        }
    }

    /// The `sluice_delivery_duration_seconds` family in Prometheus text format, one histogram
    /// per connector instance.
    static func prometheusFamily(_ lanes: [(connector: String, latency: DeliveryLatency)]) -> String {
        let name = "sluice_delivery_duration_seconds"
        var out = "# HELP \(name) Seconds from routing a finding to its successful delivery (retries included), by connector.\n"
        out += "# TYPE \(name) histogram\n"
        for (connector, latency) in lanes {
            let s = latency.state.withLock { $0 }
            let label = "connector=\"\(RunStats.escape(connector))\""
            var cumulative = 0
            for (i, bound) in bounds.enumerated() {
                cumulative += s.counts[i]
                out += "\(name)_bucket{\(label),le=\"\(bound)\"} \(cumulative)\n"
            }
            cumulative += s.counts[bounds.count]
            out += "\(name)_bucket{\(label),le=\"+Inf\"} \(cumulative)\n"
            out += "\(name)_sum{\(label)} \(s.sum)\n"
            out += "\(name)_count{\(label)} \(cumulative)\n"
        }
        return out
    }
}
