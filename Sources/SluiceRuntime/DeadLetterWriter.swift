import Foundation
import Logging
import SluiceCore
import SluiceKafka
import Synchronization

/// Why a message or one of its deliveries went to the dead-letter topic (the `sluice-reason` header).
public enum DeadLetterReason: String, Sendable, CaseIterable {
    case nullPayload = "null_payload"
    case tooLarge = "too_large"
    case tooDeep = "too_deep"
    case invalidUTF8 = "invalid_utf8"
    case notJSON = "not_json"
    case empty = "empty"
    /// The input topic requires a format (`format:`) the record is not of.
    case format = "format"
    case renderFailed = "render_failed"
    case retriesExhausted = "retries_exhausted"
    case permanentError = "permanent_error"
    case shutdown = "shutdown"
}

/// One dead letter: the original record's bytes and headers, plus why and where it failed.
public struct DeadLetter: Sendable {
    public var source: SourceRecord
    public var reason: DeadLetterReason
    public var route: String?
    public var connector: String?
    public var attempts: Int
    public var lastError: String?
    /// The failed finding's place in a split record (`sluice-part-index` / `sluice-part-count`).
    public var part: (index: Int, count: Int)? = nil
}

/// Writes dead letters to the dead-letter topic. A dead letter counts as settled only when the
/// broker acknowledged it; until then its record's offset cannot be committed. Without a
/// dead-letter topic (offline runs), dead letters are written as NDJSON to a file
/// (`--dead-letter-file`) or stderr: reason, route, connector, attempts, error, line, original.
public final class DeadLetterWriter: Sendable {
    let topic: String?
    let producer: KafkaProducer?
    let fallback: FileHandle
    /// Whole lines only: dead letters come from many threads.
    private let fallbackLock = Mutex(())
    let logger: Logger
    let stats: RunStats
    let stopping: StopSignal

    public init(topic: String?, producer: KafkaProducer?, fallback: FileHandle = .standardError, logger: Logger, stats: RunStats, stopping: StopSignal) {
        self.topic = topic
        self.producer = producer
        self.fallback = fallback
        self.logger = logger
        self.stats = stats
        self.stopping = stopping
    }

    /// The headers Sluice adds, documented in the README: every `sluice-*` header.
    static func headers(for letter: DeadLetter) -> [KafkaHeader] {
        var h = letter.source.headers.filter { !$0.name.hasPrefix("sluice-") }
        h.append(KafkaHeader("sluice-reason", letter.reason.rawValue))
        if let route = letter.route { h.append(KafkaHeader("sluice-route", route)) }
        if let connector = letter.connector { h.append(KafkaHeader("sluice-connector", connector)) }
        h.append(KafkaHeader("sluice-attempts", String(letter.attempts)))
        if let part = letter.part {
            h.append(KafkaHeader("sluice-part-index", String(part.index)))
            h.append(KafkaHeader("sluice-part-count", String(part.count)))
        }
        if let e = letter.lastError { h.append(KafkaHeader("sluice-error", String(e.prefix(1000)))) }
        if let t = letter.source.topic {
            h.append(KafkaHeader("sluice-source-topic", t))
            h.append(KafkaHeader("sluice-source-partition", String(letter.source.partition)))
            h.append(KafkaHeader("sluice-source-offset", String(letter.source.offset)))
        }
        h.append(KafkaHeader("sluice-failed-at", ISO8601DateFormatter().string(from: Date())))
        return h
    }

    /// Writes `letter` and calls `done` once it is durably written.
    public func write(_ letter: DeadLetter, done: @escaping @Sendable () -> Void) {
        stats.deadLettered(letter.reason, route: letter.route, connector: letter.connector)
        var metadata: Logger.Metadata = [
            "sluice.reason": "\(letter.reason.rawValue)", "route.name": "\(letter.route ?? "-")",
            "connector.name": "\(letter.connector ?? "-")", "sluice.attempts": "\(letter.attempts)",
            "sluice.error": "\(letter.lastError ?? "-")",
        ]
        // A Kafka record is named by topic, partition and offset; an offline record by its input
        // line (numbered from 1; 0 is a delivery released later, of no one record).
        if let t = letter.source.topic {
            metadata["kafka.topic"] = "\(t)"
            metadata["kafka.partition"] = "\(letter.source.partition)"
            metadata["kafka.offset"] = "\(letter.source.offset)"
        } else if letter.source.offset > 0 {
            metadata["input.line"] = "\(letter.source.offset)"
        }
        logger.warning("dead-lettered", metadata: metadata)
        guard let topic, let producer else {
            var members: [(key: String, value: JSON)] = [
                (key: "reason", value: .string(letter.reason.rawValue)),
                (key: "route", value: letter.route.map(JSON.string) ?? .null),
                (key: "connector", value: letter.connector.map(JSON.string) ?? .null),
                (key: "attempts", value: .number(Double(letter.attempts))),
                (key: "error", value: letter.lastError.map(JSON.string) ?? .null),
                (key: "line", value: letter.source.topic == nil ? .number(Double(letter.source.offset)) : .null),
            ]
            if let part = letter.part {
                members.append((key: "part", value: .object([(key: "index", value: .number(Double(part.index))),
                                                             (key: "count", value: .number(Double(part.count)))])))
            }
            // The finding's own bytes as one JSON string (invalid UTF-8 replaced): `jq '.original | fromjson'`.
            members.append((key: "original", value: .string(String(decoding: letter.source.value ?? [], as: UTF8.self))))
            let line = JSON.object(members)
            fallbackLock.withLock { _ in fallback.write(Data((line.serialized() + "\n").utf8)) }
            return done()
        }
        attempt(letter, topic: topic, producer: producer, tries: 1, done: done)
    }

    private func attempt(_ letter: DeadLetter, topic: String, producer: KafkaProducer, tries: Int, done: @escaping @Sendable () -> Void) {
        let retry: @Sendable (KafkaError) -> Void = { [self] error in
            // The record stays unsettled (so uncommitted) until its dead letter is written.
            logger.error("dead-letter write failed", metadata: ["kafka.topic": "\(topic)", "error": "\(error)", "sluice.tries": "\(tries)"])
            guard !stopping.isHardStopped else { return }
            DispatchQueue.global().asyncAfter(deadline: .now() + min(Double(tries), 10)) {
                self.attempt(letter, topic: topic, producer: producer, tries: tries + 1, done: done)
            }
        }
        do {
            try producer.produce(topic: topic, key: letter.source.key, value: letter.source.value, headers: Self.headers(for: letter)) { error in
                if let error { retry(error) } else { done() }
            }
        } catch {
            retry(error)
        }
    }
}
