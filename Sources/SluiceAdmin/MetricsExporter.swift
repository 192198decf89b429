import Prometheus
import Synchronization

/// `/metrics` through swift-prometheus. The router counts on its hot path with plain atomics (a
/// metrics call per record would cost more than the routing); at scrape time the exporter copies
/// those counts into the registry, which also holds whatever the process records through
/// swift-metrics (the executable bootstraps `MetricsSystem` with a factory on this registry).
public final class MetricsExporter: Sendable {
    public let registry: PrometheusCollectorRegistry
    private struct Key: Hashable {
        var name: String
        var labels: [String]
    }
    private struct State {
        var counters: [Key: Counter] = [:]
        var gauges: [Key: Gauge] = [:]
    }
    // Held across copy and emit so two scrapes never see a counter between reset and set.
    private let state = Mutex(State())

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    /// The text exposition (format 0.0.4) after copying `snapshot` in.
    public func render(_ snapshot: MetricsSnapshot) -> [UInt8] {
        state.withLock { s in
            Self.copy(snapshot.counters, into: &s.counters,
                      make: { registry.makeCounter(descriptor: Self.descriptor($0), labels: $1) },
                      set: { counter, value in
                          counter.reset()
                          counter.increment(by: Int64(value))
                      },
                      unregister: registry.unregisterCounter)
            Self.copy(snapshot.gauges, into: &s.gauges,
                      make: { registry.makeGauge(descriptor: Self.descriptor($0), labels: $1) },
                      set: { gauge, value in gauge.set(Double(value)) },
                      unregister: registry.unregisterGauge)
            return registry.emitToBuffer()
        }
    }

    /// Sets each sample's metric (made on first sight); a series gone from the snapshot (a
    /// connector or route removed by a reload) leaves the exposition too.
    private static func copy<Metric>(_ families: [MetricsSnapshot.Family], into table: inout [Key: Metric],
                                     make: (MetricsSnapshot.Family, [(String, String)]) -> Metric, set: (Metric, Int) -> Void,
                                     unregister: (Metric) -> Void) {
        var seen = Set<Key>()
        for family in families {
            for sample in family.samples {
                let key = Key(name: family.name, labels: sample.labels.flatMap { [$0.0, $0.1] })
                seen.insert(key)
                let metric = table[key] ?? make(family, sample.labels)
                table[key] = metric
                set(metric, sample.value)
            }
        }
        for (key, metric) in table where !seen.contains(key) {
            unregister(metric)
            table[key] = nil
        }
    }

    static func descriptor(_ family: MetricsSnapshot.Family) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: family.name, unitName: "", helpText: family.help)
    }
}
