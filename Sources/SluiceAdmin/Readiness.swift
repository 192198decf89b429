import Synchronization

/// `GET /-/ready`: ready when every registered condition holds. The runtime registers
/// `consumer.assigned`; the state module registers `state.restored`. Until a condition is
/// registered it does not hold anyone back, so each part registers before the server starts.
public final class Readiness: Sendable {
    private let conditions = Mutex<[String: Bool]>([:])

    public init() {}

    /// Adds `name`, not yet met.
    public func require(_ name: String) {
        conditions.withLock { if $0[name] == nil { $0[name] = false } }
    }

    public func set(_ name: String, met: Bool) {
        conditions.withLock { $0[name] = met }
    }

    /// Conditions not met, sorted.
    public var unmet: [String] {
        conditions.withLock { $0.filter { !$0.value }.keys.sorted() }
    }

    public var isReady: Bool { unmet.isEmpty }
}
