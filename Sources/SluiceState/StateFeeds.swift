import Foundation
import Logging
import SluiceCore
import SluiceKafka
import Synchronization

/// Follows a small compacted topic that every instance reads whole (silences, inhibition
/// sources): `catchUp` applies the records written before it, `follow` then applies new ones as
/// they arrive until `stop` (the runtime runs it on a thread of its own, as a service).
public final class WholeTopicFeed: Sendable {
    let reader: KafkaTopicReader
    let apply: @Sendable (KafkaRecord) -> Void
    /// Called between polls (at least every 100 ms while following): time-driven work of the feed.
    let tick: (@Sendable () -> Void)?
    private let stopped = Atomic<Bool>(false)

    public init(config: KafkaConfig, topic: String, logger: Logger, tick: (@Sendable () -> Void)? = nil,
                apply: @escaping @Sendable (KafkaRecord) -> Void) throws(KafkaError) {
        self.tick = tick
        var c = config
        // New silences must reach every instance within a second: do not wait for full fetches.
        c["fetch.wait.max.ms"] = "50"
        reader = try KafkaTopicReader(config: c, topic: topic, logger: logger)
        self.apply = apply
    }

    /// Applies the topic up to its end as of now.
    public func catchUp() throws(KafkaError) {
        for r in try reader.readToEnd(timeoutMs: 60_000) { apply(r) }
    }

    /// Applies new records until `stop`, then closes the reader. Blocks the calling thread.
    public func follow() {
        while !stopped.load(ordering: .acquiring) {
            if let r = reader.poll(timeoutMs: 100) { apply(r) }
            tick?()
        }
        reader.close()
    }

    public func stop() { stopped.store(true, ordering: .releasing) }
}

/// Silences in the `<prefix>silences` topic: what `sluice silence add|list|expire` writes and
/// every instance follows.
public enum SilenceRecords {
    public static func value(_ s: Silence) -> [UInt8] { Array(s.json.serialized().utf8) }

    /// Applies a record of the silences topic to `stage` (a record that does not decode removes the silence).
    public static func apply(_ r: KafkaRecord, to stage: HoldStage) {
        guard let key = r.key else { return }
        let id = String(decoding: key, as: UTF8.self)
        guard !id.hasPrefix(SilenceSummaries.reportPrefix) else { return }
        let silence = r.value.flatMap { try? JSON.parse(String(decoding: $0, as: UTF8.self)) }.flatMap(Silence.init(json:))
        stage.applySilence(id: id, silence?.id == id ? silence : nil)
    }

    /// Every silence of the topic as of now (the CLI's `list`).
    public static func readAll(config: KafkaConfig, topics: StateTopics, logger: Logger) throws(KafkaError) -> [Silence] {
        let reader = try KafkaTopicReader(config: config, topic: topics.silences, logger: logger)
        defer { reader.close() }
        var byID: [String: Silence] = [:]
        for r in try reader.readToEnd(timeoutMs: 30_000) {
            guard let key = r.key else { continue }
            let id = String(decoding: key, as: UTF8.self)
            if id.hasPrefix(SilenceSummaries.reportPrefix) { continue }
            byID[id] = r.value.flatMap { try? JSON.parse(String(decoding: $0, as: UTF8.self)) }.flatMap(Silence.init(json:))
        }
        return byID.values.sorted { $0.startsAt == $1.startsAt ? $0.id < $1.id : $0.startsAt < $1.startsAt }
    }
}

/// Inhibition sources in the `<prefix>inhibit.<group>` topic: key = rule and equal values.
public enum InhibitRecords {
    public static func value(_ s: InhibitIndex.Sighting) -> [UInt8] {
        Array(JSON.object([(key: "id", value: s.findingID.map { .string($0) } ?? .null), (key: "at", value: JSON.number(Double(s.seenAt)))]).serialized().utf8)
    }

    public static func apply(_ r: KafkaRecord, to stage: HoldStage) {
        guard let key = r.key else { return }
        let k = String(decoding: key, as: UTF8.self)
        guard let v = r.value else { return stage.applySighting(key: k, nil) }
        guard let j = try? JSON.parse(String(decoding: v, as: UTF8.self)), let at = StateCodec.int(j["at"]) else { return }
        stage.applySighting(key: k, InhibitIndex.Sighting(findingID: j["id"]?.stringValue, seenAt: at))
    }
}
