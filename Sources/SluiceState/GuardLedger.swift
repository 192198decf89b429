import SluiceCore

/// Response-safety caps counted across every instance: hourly caps per executor kind and per
/// route, and concurrent isolations. The instances share one ledger, the single-partition topic
/// `<prefix>guards.<group>`: an instance that wants to act appends a reservation and waits until
/// it reads it back. Every instance applies the same records in the same order with this pure
/// state machine, so all reach the same verdict on every reservation without talking to each
/// other (a replicated state machine; Kafka's partition order is the only arbiter). Hours are
/// measured with the time written in each reservation, so the verdict never depends on a reader's clock.
///
/// Instances must run with the same caps; a reservation refused here is audited as a refusal.
public struct GuardLedger: Sendable {
    public struct Caps: Sendable, Equatable {
        /// Per executor kind; `default` applies to kinds not listed.
        public var perKind: [String: Int]
        public var perRoute: Int?
        public var isolations: Int?
        public init(perKind: [String: Int] = [:], perRoute: Int? = nil, isolations: Int? = nil) {
            self.perKind = perKind
            self.perRoute = perRoute
            self.isolations = isolations
        }
    }

    /// One ledger record.
    public enum Op: Sendable, Equatable {
        case reserve(id: String, kind: String, route: String, isolation: Bool, at: EpochMillis)
        /// The admitted action changed nothing (already done): its budget comes back.
        case refund(id: String)
        /// The admitted isolation's step ended: its concurrency slot comes back.
        case release(id: String)
    }

    struct Admitted: Sendable {
        var kind: String
        var route: String
        var isolation: Bool
        var at: EpochMillis
        var refunded = false
        var released = false
    }

    public let caps: Caps
    static let hour: EpochMillis = 3_600_000
    /// Admitted reservations in ledger order (refused ones leave no trace).
    var admitted: [(id: String, entry: Admitted)] = []
    var index: [String: Int] = [:]
    var latest: EpochMillis = 0

    public init(caps: Caps) { self.caps = caps }

    /// Applies one record; for a reservation, returns its verdict (nil reason: admitted).
    @discardableResult
    public mutating func apply(_ op: Op) -> (id: String, refusal: String?)? {
        switch op {
        case .refund(let id):
            if let i = index[id] { admitted[i].entry.refunded = true }
            return nil
        case .release(let id):
            if let i = index[id] { admitted[i].entry.released = true }
            return nil
        case .reserve(let id, let kind, let route, let isolation, let at):
            if index[id] != nil { return (id, nil) }  // the same record read twice
            latest = max(latest, at)
            prune()
            var byKind = 0, byRoute = 0, open = 0
            for (_, e) in admitted {
                if e.isolation, !e.released { open += 1 }
                guard !e.refunded, e.at > at - Self.hour else { continue }
                if e.kind == kind { byKind += 1 }
                if e.route == route { byRoute += 1 }
            }
            if let cap = caps.perKind[kind] ?? caps.perKind["default"], byKind >= cap {
                return (id, "cap: \(kind) reached its limit of \(cap) actions per hour (all instances)")
            }
            if let cap = caps.perRoute, byRoute >= cap {
                return (id, "cap: route '\(route)' reached its limit of \(cap) actions per hour (all instances)")
            }
            if isolation, let cap = caps.isolations, open >= cap {
                return (id, "cap: \(open) isolations already under way (limit \(cap), all instances)")
            }
            index[id] = admitted.count
            admitted.append((id, Admitted(kind: kind, route: route, isolation: isolation, at: at)))
            return (id, nil)
        }
    }

    /// Forgets reservations out of every window that hold no isolation slot.
    mutating func prune() {
        guard admitted.count > 64 else { return }
        let keep = admitted.filter { $0.entry.at > latest - Self.hour || ($0.entry.isolation && !$0.entry.released) }
        guard keep.count < admitted.count else { return }
        admitted = keep
        index = Dictionary(uniqueKeysWithValues: admitted.enumerated().map { ($0.element.id, $0.offset) })
    }

    // MARK: Records

    public static func value(_ op: Op) -> [UInt8] {
        let fields: [(key: String, value: JSON)]
        switch op {
        case .reserve(let id, let kind, let route, let isolation, let at):
            fields = [(key: "op", value: .string("reserve")), (key: "id", value: .string(id)), (key: "kind", value: .string(kind)),
                      (key: "route", value: .string(route)), (key: "iso", value: .bool(isolation)), (key: "at", value: JSON.number(Double(at)))]
        case .refund(let id): fields = [(key: "op", value: .string("refund")), (key: "id", value: .string(id))]
        case .release(let id): fields = [(key: "op", value: .string("release")), (key: "id", value: .string(id))]
        }
        return Array(JSON.object(fields).serialized().utf8)
    }

    /// nil for a record Sluice did not write (skipped, never trusted).
    public static func decode(_ bytes: [UInt8]) -> Op? {
        guard let j = try? JSON.parse(String(decoding: bytes, as: UTF8.self)), let op = j["op"]?.stringValue, let id = j["id"]?.stringValue else { return nil }
        switch op {
        case "reserve":
            guard let kind = j["kind"]?.stringValue, let route = j["route"]?.stringValue, let at = StateCodec.int(j["at"]) else { return nil }
            return .reserve(id: id, kind: kind, route: route, isolation: j["iso"]?.boolValue ?? false, at: at)
        case "refund": return .refund(id: id)
        case "release": return .release(id: id)
        default: return nil
        }
    }
}
