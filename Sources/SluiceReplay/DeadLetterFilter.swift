import SluiceCore

/// Which dead letters a browse or a replay takes: time window, reason, route, connector, and an
/// event pattern on the finding (the route pattern language, matched by the reference matcher:
/// replays are small, and its answer is the definition of a match).
public struct DeadLetterFilter: Sendable {
    public var sinceMs: Int64?
    public var untilMs: Int64?
    public var reason: String?
    public var route: String?
    public var connector: String?
    /// The pattern's JSON text, kept to report it (progress records, the API).
    public private(set) var patternText: String?
    private var pattern: RouteTable?

    public init(sinceMs: Int64? = nil, untilMs: Int64? = nil, reason: String? = nil, route: String? = nil, connector: String? = nil) {
        self.sinceMs = sinceMs
        self.untilMs = untilMs
        self.reason = reason
        self.route = route
        self.connector = connector
    }

    /// Sets the event pattern; throws a message fit for the user when it is not a valid pattern.
    public mutating func setPattern(_ text: String) throws(DeadLetterFilterError) {
        let json: JSON
        do { json = try JSON.parse(text) } catch { throw DeadLetterFilterError("the filter is not a JSON event pattern (\(error.rawValue))") }
        do {
            pattern = try RouteTable(routes: [Route(name: "filter", match: json, targets: [RouteTarget(connector: "-")])])
        } catch {
            throw DeadLetterFilterError("invalid filter pattern: \(error.items.map(\.message).joined(separator: "; "))")
        }
        patternText = text
    }

    public func matches(_ letter: DeadLetterRecord) -> Bool {
        if let reason, letter.reason != reason { return false }
        if let route, letter.route != route { return false }
        if let connector, letter.connector != connector { return false }
        if let sinceMs { guard let t = letter.failedAtMs, t >= sinceMs else { return false } }
        if let untilMs { guard let t = letter.failedAtMs, t < untilMs else { return false } }
        if let pattern {
            guard let event = letter.findingJSON, !pattern.referenceMatch(event).isEmpty else { return false }
        }
        return true
    }
}

public struct DeadLetterFilterError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
