import Foundation
import Logging
import SluiceKafka
import Synchronization

/// What the admin API shows that must be looked up rather than counted, every few seconds on a
/// thread of its own: route counts for rates, and (consuming Kafka) the consumer group as its
/// coordinator describes it — the instances and their partitions. A slow or failing coordinator
/// only leaves the last description in place.
final class AdminSampler: Sendable {
    static let interval: Duration = .seconds(5)

    private let bridge: AdminBridge
    private let inspector: KafkaGroupInspector?
    private let group: String
    private let memberID: @Sendable () -> String?
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)

    init(bridge: AdminBridge, inspector: KafkaGroupInspector?, group: String, memberID: @escaping @Sendable () -> String?, logger: Logger) {
        self.bridge = bridge
        self.inspector = inspector
        self.group = group
        self.memberID = memberID
        self.logger = logger
    }

    func run() {
        defer { inspector?.close() }
        var lastError: String?
        while !stopped.load(ordering: .relaxed) {
            bridge.sampleRoutes()
            if let inspector {
                do {
                    bridge.groupDescribed(try inspector.describe(group, timeoutMs: 3_000), me: memberID())
                    lastError = nil
                } catch {
                    // Once per kind of failure, not every tick.
                    if lastError != error.message { logger.warning("cannot describe the consumer group", metadata: ["error": "\(error.message)"]) }
                    lastError = error.message
                }
            }
            let wake = ContinuousClock.now + Self.interval
            while !stopped.load(ordering: .relaxed), ContinuousClock.now < wake { Thread.sleep(forTimeInterval: 0.1) }
        }
    }

    func stop() { stopped.store(true, ordering: .relaxed) }
}
