import Foundation

/// How the source consumer joins its group: static membership (`group.instance.id`, KIP-345)
/// and the partition assignor.
///
/// Why static membership: after `kill -9` a dynamic member's partitions stay with the dead member
/// until its session times out, and then every member rebalances. A static member that comes back
/// with the same id within `session.timeout.ms` gets its partitions back without a rebalance.
/// The price: a static member that stops for good is noticed only after the session timeout
/// (librdkafka sends no LeaveGroup for it), and two live processes must never share an id (the
/// broker fences the older one).
public struct ConsumerMembership: Sendable, Equatable {
    /// Join with `group.instance.id` = `instanceID`, or the default id when that is nil.
    public var staticMembership = false
    /// An explicit `group.instance.id` (implies static membership).
    public var instanceID: String?
    /// `partition.assignment.strategy`; nil keeps the consumer's default (cooperative-sticky).
    public var assignor: String?
    /// Send LeaveGroup when the consumer closes (the default): the group rebalances at once.
    /// false: the member is dropped by session timeout instead, which a coordinator that wedges
    /// on a leave during a rebalance (Tansu 0.6.0, README "Rebalances") survives.
    public var leaveGroupOnClose = true
    /// How long the group may stay stuck rebalancing before this member leaves and joins again
    /// (`GroupStallWatchdog`); nil: three session timeouts; zero: never.
    public var stallTimeout: Duration?

    public init(staticMembership: Bool = false, instanceID: String? = nil, assignor: String? = nil) {
        self.staticMembership = staticMembership
        self.instanceID = instanceID
        self.assignor = assignor
    }

    public static let assignors = ["cooperative-sticky", "range", "roundrobin"]

    /// The `group.instance.id` in force, if any.
    public func effectiveInstanceID(group: String, topics: [String], hostname: String = ProcessInfo.processInfo.hostName) -> String? {
        instanceID ?? (staticMembership ? Self.defaultInstanceID(hostname: hostname, group: group, topics: topics) : nil)
    }

    /// librdkafka properties for the source consumer.
    public func properties(group: String, topics: [String]) -> [String: String] {
        var out: [String: String] = [:]
        if let id = effectiveInstanceID(group: group, topics: topics) { out["group.instance.id"] = id }
        if let assignor { out["partition.assignment.strategy"] = assignor }
        return out
    }

    /// `sluice-<host>-<hash of group and topics>`: stable across restarts of the same process on
    /// the same host (a pod keeps its name when its container restarts; a StatefulSet keeps it
    /// across rescheduling), distinct for different groups. Two processes on one host with the
    /// same group need explicit ids.
    public static func defaultInstanceID(hostname: String, group: String, topics: [String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a: the same in every process, unlike Hasher
        for b in (group + "\u{0}" + topics.sorted().joined(separator: ",")).utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        let host = String(String(decoding: hostname.utf8.map { isAllowed($0) ? $0 : UInt8(ascii: "-") }, as: UTF8.self).prefix(200))
        return "sluice-\(host.isEmpty ? "host" : host)-\(String(hash & 0xFFFF_FFFF, radix: 16))"
    }

    /// Kafka's rule for ids (as for topic names): letters, digits, `.`, `_`, `-`, at most 249.
    public static func isValidInstanceID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 249 && id.utf8.allSatisfy(isAllowed)
    }

    private static func isAllowed(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
    }
}
