import Foundation
import SluiceCore
import SluiceFormats
import SluiceKafka
import Synchronization

/// One record of the dead-letter topic, read back: the original finding's bytes and the
/// `sluice-*` headers `DeadLetterWriter` added (why, where, how many attempts). Header values
/// come from the wire: they are shown and compared, never interpreted.
public struct DeadLetterRecord: Sendable, Equatable {
    /// Position in the dead-letter topic: the letter's identity for replay progress.
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var reason: String
    public var route: String?
    public var connector: String?
    public var attempts: Int
    public var error: String?
    /// When the letter was written (`sluice-failed-at`, else the record's timestamp), ms since the epoch.
    public var failedAtMs: Int64?
    public var sourceTopic: String?
    public var sourcePartition: Int32?
    public var sourceOffset: Int64?
    /// Which finding of a split record failed (`sluice-part-index`); nil for a record of one finding.
    public var partIndex: Int?

    /// `partition-offset`: stable, unique within one dead-letter topic.
    public var id: String { "\(partition)-\(offset)" }

    public init(partition: Int32, offset: Int64, key: [UInt8]? = nil, value: [UInt8]?, reason: String, route: String? = nil,
                connector: String? = nil, attempts: Int = 0, error: String? = nil, failedAtMs: Int64? = nil,
                sourceTopic: String? = nil, sourcePartition: Int32? = nil, sourceOffset: Int64? = nil, partIndex: Int? = nil) {
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.reason = reason
        self.route = route
        self.connector = connector
        self.attempts = attempts
        self.error = error
        self.failedAtMs = failedAtMs
        self.sourceTopic = sourceTopic
        self.sourcePartition = sourcePartition
        self.sourceOffset = sourceOffset
        self.partIndex = partIndex
    }

    /// Reads the `sluice-*` headers; a record without `sluice-reason` was not written by Sluice
    /// and is reported with reason `unknown` (it can still be browsed, and replayed with `--reroute`).
    public init(_ record: KafkaRecord) {
        func header(_ name: String) -> String? {
            record.headers.last { $0.name == name }.flatMap { $0.value.map { String(decoding: $0, as: UTF8.self) } }
        }
        let failedAt = header("sluice-failed-at").flatMap { Self.parseTime($0) }
        self.init(
            partition: record.partition, offset: record.offset, key: record.key, value: record.value,
            reason: header("sluice-reason") ?? "unknown", route: header("sluice-route"), connector: header("sluice-connector"),
            attempts: header("sluice-attempts").flatMap { Int($0) } ?? 0, error: header("sluice-error"),
            failedAtMs: failedAt ?? record.timestampMs, sourceTopic: header("sluice-source-topic"),
            sourcePartition: header("sluice-source-partition").flatMap { Int32($0) },
            sourceOffset: header("sluice-source-offset").flatMap { Int64($0) },
            partIndex: header("sluice-part-index").flatMap { Int($0) }.flatMap { $0 >= 0 ? $0 : nil })
    }

    /// The finding id of the payload, as the pipeline reads it (any input format; the failed
    /// part of a split record).
    public var findingID: String? { finding?.id }

    /// The failed finding as routes saw it: decoded and normalised as the pipeline decodes
    /// (bare GuardDuty wrapped in its envelope, the failed part of a split record, the `sluice`
    /// view); nil when the payload is not a finding.
    public var findingJSON: JSON? { finding?.event }

    private var finding: (event: JSON, id: String?)? {
        guard let value else { return nil }
        return Self.decoder.withLock { decoder in
            var found: (event: JSON, id: String?)?
            decoder.decode(value) { f in
                if found == nil, partIndex == nil || f.part.index == partIndex { found = (JSON(f.event), f.findingID()) }
            }
            return found
        }
    }

    /// One decoder for every letter read back (it owns simdjson parsers: not per call).
    private static let decoder = Mutex(FindingDecoder())

    /// The letter for the API and `dlq list --json`: everything but the payload, which is cut
    /// to `payloadBytes` (a browse stays bounded whatever the findings' size).
    public func json(payloadBytes: Int = 2048) -> JSON {
        let payload = value.map { String(decoding: $0.prefix(payloadBytes), as: UTF8.self) }
        return JSON.members([
            ("id", .string(id)), ("partition", .number(Double(partition))), ("offset", .number(Double(offset))),
            ("reason", .string(reason)), ("route", route.map(JSON.string) ?? .null), ("connector", connector.map(JSON.string) ?? .null),
            ("attempts", .number(Double(attempts))), ("error", error.map(JSON.string) ?? .null),
            ("failed_at", failedAtMs.map { .string(Self.format($0)) } ?? .null),
            ("finding_id", findingID.map(JSON.string) ?? .null),
            ("source_topic", sourceTopic.map(JSON.string) ?? .null),
            ("source_offset", sourceOffset.map { .number(Double($0)) } ?? .null),
            ("payload", payload.map(JSON.string) ?? .null),
            ("payload_truncated", .bool((value?.count ?? 0) > payloadBytes)),
        ])
    }

    /// ISO 8601 with or without fractional seconds, or a plain date (`2026-12-06`): ms since the epoch.
    public static func parseTime(_ text: String) -> Int64? {
        let plain = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        for f in [plain, fractional, day] {
            if let d = f.date(from: text) { return Int64(clamping: d.timeIntervalSince1970 * 1000) }
        }
        return nil
    }

    public static func format(_ ms: Int64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}

extension JSON {
    /// An object from (key, value) pairs, in order; typed so long literals check quickly.
    static func members(_ pairs: [(String, JSON)]) -> JSON {
        .object(pairs.map { (key: $0.0, value: $0.1) })
    }
}
