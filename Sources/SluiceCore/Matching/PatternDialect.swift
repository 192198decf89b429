import Synchronization

/// Another product's filter language that a pattern may be written in (GuardDuty's `Criterion`
/// objects), compiled to a `Pattern`. SluiceCore knows none of them: the layer that knows the
/// product registers its dialect once at start (`PatternDialects.register`), from above.
public protocol PatternDialect: Sendable {
    /// The pattern `members` (a pattern object's members) stand for in this dialect, or nil when
    /// they are not written in it.
    func pattern(from members: [(key: String, value: JSON)]) throws(PatternError) -> Pattern?
}

/// The dialects `Pattern(json:)` reads besides EventBridge's pattern language.
public enum PatternDialects {
    private static let registered = Mutex<[any PatternDialect]>([])

    /// Adds `dialect` (once per type: registering again changes nothing).
    public static func register(_ dialect: any PatternDialect) {
        registered.withLock { all in
            let kind = ObjectIdentifier(type(of: dialect))
            if !all.contains(where: { ObjectIdentifier(type(of: $0)) == kind }) { all.append(dialect) }
        }
    }

    /// The pattern some registered dialect reads in `members`, or nil.
    static func pattern(from members: [(key: String, value: JSON)]) throws(PatternError) -> Pattern? {
        for dialect in registered.withLock({ $0 }) {
            if let pattern = try dialect.pattern(from: members) { return pattern }
        }
        return nil
    }
}
