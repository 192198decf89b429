import SluiceConnectors
import Synchronization

/// The delivery lanes of a run, one per connector instance, and the lanes a reload replaced.
///
/// A reload that changes a connector's file (or adds one) gives it a new lane with a new
/// connector; routes bound after the reload send to the new lane. The lane it replaced is retired:
/// it gets no new work from the pipeline and finishes what it has (retries, batches, dead letters
/// under its old settings). Its connector is shut down at exit with the others, not when it goes
/// idle: held findings the state owner releases later may still name it (they were planned with
/// it), and must find it working. Lanes of unchanged connectors stay, with their connections and
/// breaker state.
final class LaneSet: Sendable {
    private struct State {
        var current: [String: DeliveryLane]
        /// The definitions of the current connectors (digest template, whether they read the summary).
        var definitions: [String: ConnectorDefinition]
        var retired: [DeliveryLane] = []
        /// Lanes outside the connector files (the playbook lane): always current, never replaced.
        var fixed: [DeliveryLane]
        var shutDown = false
    }
    private let state: Mutex<State>

    init(_ lanes: [String: DeliveryLane], definitions: [ConnectorDefinition], fixed: [DeliveryLane] = []) {
        state = Mutex(State(current: lanes, definitions: Self.byName(definitions), fixed: fixed))
    }

    /// A lane outside the connector files that a reload set up (the first playbook's).
    func addFixed(_ lane: DeliveryLane) { state.withLock { $0.fixed.append(lane) } }

    /// The lane routes bind to now, by connector name.
    var current: [String: DeliveryLane] { state.withLock { $0.current } }

    /// The current lane of a connector and its definition (a digest released later is sent through it).
    func lane(named name: String) -> (lane: DeliveryLane, definition: ConnectorDefinition?)? {
        state.withLock { s in s.current[name].map { ($0, s.definitions[name]) } }
    }

    /// Every lane that has or may still have work: current (in name order), fixed, and retired
    /// (the drain at exit flushes and waits for them too).
    var all: [DeliveryLane] {
        let (current, fixed, retired) = state.withLock { ($0.current, $0.fixed, $0.retired) }
        return (current.values.sorted { $0.name < $1.name }) + fixed + retired
    }

    /// Lanes for the current connectors only (the admin view and metrics: one row a connector).
    var byName: [DeliveryLane] {
        let (current, fixed) = state.withLock { ($0.current, $0.fixed) }
        return current.values.sorted { $0.name < $1.name } + fixed
    }

    /// Makes `replacements` current (new or changed connectors) and retires the lanes they replace
    /// and those of `removed` connectors; `definitions` are the reloaded configuration's.
    func replace(_ replacements: [String: DeliveryLane], removing removed: Set<String>, definitions: [ConnectorDefinition]) {
        state.withLock { s in
            s.definitions = Self.byName(definitions)
            for (name, lane) in replacements {
                if let old = s.current[name] { s.retired.append(old) }
                s.current[name] = lane
            }
            for name in removed {
                if let old = s.current.removeValue(forKey: name) { s.retired.append(old) }
            }
        }
    }

    private static func byName(_ definitions: [ConnectorDefinition]) -> [String: ConnectorDefinition] {
        Dictionary(definitions.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// At exit, after the drain: every connector, current and retired, once.
    func shutDownAll() {
        let lanes = state.withLock { s -> [DeliveryLane] in
            guard !s.shutDown else { return [] }
            s.shutDown = true
            defer { s.retired = [] }
            return Array(s.current.values) + s.retired
        }
        for lane in lanes { lane.connector.shutdown() }
    }
}
