import Foundation
import Logging
import SluiceCore
import SluiceKafka
import Synchronization

/// The shared guard ledger on Kafka (see `GuardLedger`): reservations are appended to the
/// single-partition topic `<prefix>guards.<group>` and decided when read back, in topic order,
/// by every instance alike. Follow it with `feed` (a thread of its own, after `catchUp`).
public final class KafkaGuardLedger: Sendable {
    struct State {
        var ledger: GuardLedger
        /// Reservations of this instance waiting for their record to come back.
        var waiting: [String: CheckedContinuation<String?, Never>] = [:]
    }

    let topic: String
    let producer: KafkaProducer
    let logger: Logger
    /// How long a reservation waits for its record: past it the action is refused, never guessed.
    let timeout: Duration
    /// Shared with the feed's closure (made before `self` exists).
    final class Box: Sendable {
        let state: Mutex<State>
        init(_ caps: GuardLedger.Caps) { state = Mutex(State(ledger: GuardLedger(caps: caps))) }
    }
    private let box: Box
    public let feed: WholeTopicFeed

    public init(config: KafkaConfig, topic: String, caps: GuardLedger.Caps, producer: KafkaProducer, logger: Logger,
                timeout: Duration = .seconds(30)) throws(KafkaError) {
        self.topic = topic
        self.producer = producer
        self.logger = logger
        self.timeout = timeout
        let box = Box(caps)
        self.box = box
        feed = try WholeTopicFeed(config: config, topic: topic, logger: logger) { record in
            guard let value = record.value, let op = GuardLedger.decode(value) else { return }
            let (verdict, waiter) = box.state.withLock { s -> ((id: String, refusal: String?)?, CheckedContinuation<String?, Never>?) in
                let v = s.ledger.apply(op)
                return (v, v.flatMap { s.waiting.removeValue(forKey: $0.id) })
            }
            if let verdict, let waiter { waiter.resume(returning: verdict.refusal) }
        }
    }

    /// Reads the ledger up to now (before the first action).
    public func catchUp() throws(KafkaError) { try feed.catchUp() }

    /// Reserves one action: its id, and why it is refused (nil: admitted).
    public func reserve(kind: String, route: String, isolation: Bool) async -> (id: String, refusal: String?) {
        let id = UUID().uuidString.lowercased()
        let op = GuardLedger.Op.reserve(id: id, kind: kind, route: route, isolation: isolation, at: EpochMillis(Date().timeIntervalSince1970 * 1000))
        let refusal = await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
            box.state.withLock { $0.waiting[id] = continuation }
            do throws(KafkaError) {
                try producer.produce(topic: topic, key: nil, value: GuardLedger.value(op)) { [self] error in
                    if let error { answer(id, "cap: the guard ledger did not take the reservation (\(error.message))") }
                }
            } catch {
                answer(id, "cap: the guard ledger did not take the reservation (\(error.message))")
            }
            let timeout = timeout
            Task { [self] in
                try? await Task.sleep(for: timeout)
                answer(id, "cap: no verdict from the guard ledger within \(timeout)")
            }
        }
        return (id, refusal)
    }

    /// Ends a waiting reservation with a refusal (the first answer wins).
    private func answer(_ id: String, _ refusal: String) {
        box.state.withLock { $0.waiting.removeValue(forKey: id) }?.resume(returning: refusal)
    }

    public func refund(_ id: String) { append(.refund(id: id)) }
    public func release(_ id: String) { append(.release(id: id)) }

    private func append(_ op: GuardLedger.Op) {
        do {
            try producer.produce(topic: topic, key: nil, value: GuardLedger.value(op)) { [logger] error in
                if let error { logger.warning("guard ledger record not written", metadata: ["error": "\(error.message)"]) }
            }
        } catch {
            logger.warning("guard ledger record not written", metadata: ["error": "\(error.message)"])
        }
    }
}
