/// A compiled-from-JSON event pattern: Amazon EventBridge's pattern language plus Sluice's
/// extensions (`regex`, `$and`, GuardDuty filter criteria), validated and normalised.
///
/// `$or` is expanded up front, so a pattern is an OR of `branches`; each branch is an AND of
/// field conditions, each of which is an OR of value matchers — exactly event-ruler's model of
/// "sub-rules". Field paths are the dotted names of the flattened event (`detail.severity`).
public struct Pattern: Sendable, Hashable {
    public var branches: [PatternBranch]

    public init(branches: [PatternBranch]) { self.branches = branches }

    /// Parses and validates an EventBridge pattern (or a GuardDuty `Criterion` object).
    public init(json: JSON) throws(PatternError) {
        self = try PatternParser.parse(json)
    }

    /// Parses and validates a pattern written as JSON text.
    public init(text: String) throws(PatternError) {
        let json: JSON
        do { json = try JSON.parse(text) } catch { throw PatternError("pattern is not valid JSON (\(error.rawValue))") }
        try self.init(json: json)
    }
}

/// One alternative of a pattern: every field condition must hold, on array-consistent leaves.
public struct PatternBranch: Sendable, Hashable {
    /// Sorted by path; paths are unique within a branch.
    public var fields: [FieldCondition]
    public init(fields: [FieldCondition]) { self.fields = fields.sorted { $0.path < $1.path } }
}

/// The condition on one flattened field: it holds when any matcher accepts a leaf at `path`
/// (or, for `exists: false`, when no leaf has that path).
public struct FieldCondition: Sendable, Hashable {
    public var path: String
    public var matchers: [ValueMatcher]
    public init(path: String, matchers: [ValueMatcher]) {
        self.path = path
        self.matchers = matchers
    }

    /// True when the condition can hold without any leaf at `path` (`exists: false`).
    public var allowsAbsence: Bool { matchers.contains(.exists(false)) }
    /// Matchers that need a leaf (everything but `exists: false`).
    public var leafMatchers: [ValueMatcher] { matchers.filter { $0 != .exists(false) } }
}

/// A condition on one leaf value.
public indirect enum ValueMatcher: Sendable, Hashable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    case prefix(String, ignoreCase: Bool)
    case suffix(String, ignoreCase: Bool)
    case equalsIgnoreCase(String)
    case wildcard(WildcardPattern)
    case numeric(NumericRange)
    case cidr(IPRange)
    /// An exact string that is an IP address also matches other spellings of that address.
    case ipAddress(IPRange, text: String)
    case exists(Bool)
    case regex(RegexPattern)
    /// `anything-but`: holds for every leaf the inner matcher (an OR) rejects.
    case anythingBut([ValueMatcher])
    /// Sluice's `$and`: all inner matchers hold on the same leaf.
    case all([ValueMatcher])
}

/// A numeric interval; nil bounds are unbounded.
public struct NumericRange: Sendable, Hashable {
    public var lower: Double?
    public var lowerInclusive: Bool
    public var upper: Double?
    public var upperInclusive: Bool

    public init(lower: Double?, lowerInclusive: Bool, upper: Double?, upperInclusive: Bool) {
        self.lower = lower
        self.lowerInclusive = lowerInclusive
        self.upper = upper
        self.upperInclusive = upperInclusive
    }

    public static func equal(_ v: Double) -> NumericRange {
        NumericRange(lower: v, lowerInclusive: true, upper: v, upperInclusive: true)
    }

    public func contains(_ v: Double) -> Bool {
        if let lower { if lowerInclusive ? v < lower : v <= lower { return false } }
        if let upper { if upperInclusive ? v > upper : v >= upper { return false } }
        return true
    }
}

/// Why a pattern was rejected.
public struct PatternError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Order-preserving encoding of doubles: `a < b` ⇔ `key(a) < key(b)` (as unsigned integers, so
/// also as big-endian byte strings). Numeric ranges become key ranges.
@inlinable func orderedKey(_ value: Double) -> UInt64 {
    let bits = (value == 0 ? 0.0 : value).bitPattern  // -0 and +0 compare equal
    return bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
}
