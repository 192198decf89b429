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
            var seenCounters = Set<Key>()
            for family in snapshot.counters {
                for sample in family.samples {
                    let key = Key(name: family.name, labels: sample.labels.flatMap { [$0.0, $0.1] })
                    seenCounters.insert(key)
                    let counter = s.counters[key] ?? {
                        let made = registry.makeCounter(descriptor: Self.descriptor(family), labels: sample.labels)
                        s.counters[key] = made
                        return made
                    }()
                    counter.reset()
                    counter.increment(by: Int64(sample.value))
                }
            }
            var seenGauges = Set<Key>()
            for family in snapshot.gauges {
                for sample in family.samples {
                    let key = Key(name: family.name, labels: sample.labels.flatMap { [$0.0, $0.1] })
                    seenGauges.insert(key)
                    let gauge = s.gauges[key] ?? {
                        let made = registry.makeGauge(descriptor: Self.descriptor(family), labels: sample.labels)
                        s.gauges[key] = made
                        return made
                    }()
                    gauge.set(Double(sample.value))
                }
            }
            // A connector or route removed by a reload leaves the exposition too.
            for (key, counter) in s.counters where !seenCounters.contains(key) {
                registry.unregisterCounter(counter)
                s.counters[key] = nil
            }
            for (key, gauge) in s.gauges where !seenGauges.contains(key) {
                registry.unregisterGauge(gauge)
                s.gauges[key] = nil
            }
            return registry.emitToBuffer()
        }
    }

    static func descriptor(_ family: MetricsSnapshot.Family) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: family.name, unitName: "", helpText: family.help)
    }
}
