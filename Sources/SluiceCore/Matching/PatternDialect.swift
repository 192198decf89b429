/// Another product's filter language that a pattern may be written in (GuardDuty's `Criterion`
/// objects), compiled to a `Pattern`. SluiceCore knows none of them: the layer that knows the
/// product registers its dialect once at start (`PatternDialects.register`), from above.
public protocol PatternDialect: Sendable {
    /// The pattern `members` (a pattern object's members) stand for in this dialect, or nil when
    /// they are not written in it. A dialect that sees one of its keywords in a shape it cannot
    /// read throws rather than answering nil: nil would make the keyword a plain field name.
    func pattern(from members: [(key: String, value: JSON)]) throws(PatternError) -> Pattern?
}

/// The dialects `Pattern(json:)` reads besides EventBridge's pattern language.
public enum PatternDialects {
    private static let registry = ProcessRegistry<any PatternDialect>()

    /// The top-level keys that mark a pattern as written in a dialect, and the dialect's name.
    /// SluiceCore knows the words, not the languages: without them, code that parses patterns
    /// in-process without registering the dialect would read `Criterion` as a field name that
    /// never matches — silently. With them that pattern is an error at its place in the file.
    public static let keywords: [String: String] = [
        "Criterion": "GuardDuty filter criteria", "criterion": "GuardDuty filter criteria",
        "FindingCriteria": "GuardDuty filter criteria", "findingCriteria": "GuardDuty filter criteria",
    ]

    /// Adds `dialect` (once per type: registering again changes nothing).
    public static func register(_ dialect: any PatternDialect) { registry.register(dialect) }

    /// Runs `body` with exactly `dialects` read by the patterns it parses (on this task and the
    /// tasks it starts), whatever the process registered: the registry is process-wide, so code
    /// that must not depend on what others registered (a test of either path) says what it reads.
    public static func withDialects<T>(_ dialects: [any PatternDialect], _ body: () throws -> T) rethrows -> T {
        try registry.with(dialects, body)
    }

    /// The pattern some dialect in effect reads in `members`, or nil when they are plain
    /// EventBridge; throws when they use a dialect's keyword that no dialect in effect reads.
    static func pattern(from members: [(key: String, value: JSON)]) throws(PatternError) -> Pattern? {
        for dialect in registry.current {
            if let pattern = try dialect.pattern(from: members) { return pattern }
        }
        if let key = members.first(where: { keywords[$0.key] != nil })?.key, let name = keywords[key] {
            throw PatternError("\(key): \(name) are a pattern dialect this process has not registered "
                + "(PatternDialects.register); read as a field name, it would never match")
        }
        return nil
    }
}
