import SluiceCore

/// GuardDuty filter criteria — the `FindingCriteria` of a suppression or filter rule, as the
/// console, the API and `aws guardduty create-filter` write them — compiled to a `Pattern`:
///
/// ```json
/// {"Criterion": {"type": {"Equals": ["Recon:EC2/PortProbeUnprotectedPort"]},
///                "severity": {"GreaterThanOrEqual": 7},
///                "service.resourceRole": {"NotEquals": ["ACTOR"]}}}
/// ```
///
/// Field names are GuardDuty's (the camelCase finding keys, dotted); they are looked up under
/// `detail.` because findings arrive in EventBridge envelopes. All criteria must hold (AND);
/// `Equals` holds when the field equals any listed value, `NotEquals` when it equals none.
/// Listed values are strings in GuardDuty's API; a value that reads as a number or a boolean
/// also matches that number or boolean (`"8"` matches `severity: 8.0`). The short forms `Eq`,
/// `Neq`, `Gt`, `Gte`, `Lt`, `Lte` are accepted too. Timestamp criteria (`updatedAt`) compare
/// epoch milliseconds in GuardDuty but ISO strings in findings, so they are rejected.
public enum GuardDutyCriteria {
    /// Where criteria fields live in the matched event.
    public static let root = "detail"

    /// Criteria as a pattern dialect: registered by the executable (and tests) at start, so the
    /// pattern parser reads them without knowing GuardDuty.
    public static let dialect: any PatternDialect = Dialect()

    struct Dialect: PatternDialect {
        func pattern(from members: [(key: String, value: JSON)]) throws(PatternError) -> Pattern? {
            guard let criteria = try criterionObject(in: members) else { return nil }
            return try GuardDutyCriteria.pattern(from: criteria)
        }
    }

    /// The `Criterion` object of a pattern written as criteria, nil for any other pattern. A
    /// keyword in another shape is an error, never a field name that would not match.
    static func criterionObject(in members: [(key: String, value: JSON)]) throws(PatternError) -> [(key: String, value: JSON)]? {
        guard let keyword = members.first(where: { Self.keywords.contains($0.key) })?.key else { return nil }
        guard members.count == 1 else {
            throw PatternError("\(keyword): GuardDuty criteria must be the only key of their pattern (not mixed with EventBridge fields)")
        }
        let value = members[0].value
        if keyword == "FindingCriteria" || keyword == "findingCriteria" {
            guard case .object(let inner) = value, inner.count == 1, inner[0].key == "Criterion" || inner[0].key == "criterion" else {
                throw PatternError("\(keyword): must be an object holding one `Criterion` object")
            }
            return try criterionObject(in: inner)
        }
        guard case .object(let criteria) = value else { throw PatternError("\(keyword): must be an object of field criteria") }
        return criteria
    }

    static let keywords: Set<String> = ["Criterion", "criterion", "FindingCriteria", "findingCriteria"]

    /// Compiles a `Criterion` object (field → conditions) to a pattern.
    public static func pattern(from criteria: [(key: String, value: JSON)]) throws(PatternError) -> Pattern {
        guard !criteria.isEmpty else { throw PatternError("Criterion: at least one field is required") }
        var fields: [FieldCondition] = []
        for (field, conditionJSON) in criteria {
            guard case .object(let conditions) = conditionJSON, !conditions.isEmpty else {
                throw PatternError("Criterion.\(field): must be an object of conditions (Equals, NotEquals, GreaterThan, ...)")
            }
            if field == "updatedAt" || field.hasSuffix("At") || field.hasSuffix("Time") {
                throw PatternError("Criterion.\(field): timestamp criteria are not supported (findings carry ISO-8601 strings)")
            }
            var equals: [ValueMatcher]?
            var notEquals: [ValueMatcher] = []
            var range = NumericRange(lower: nil, lowerInclusive: false, upper: nil, upperInclusive: false)
            var hasRange = false
            for (op, arg) in conditions {
                switch op {
                case "Equals", "Eq":
                    equals = (equals ?? []) + (try strings(arg, field: field, op: op)).flatMap(typedValues)
                case "NotEquals", "Neq":
                    notEquals += (try strings(arg, field: field, op: op)).flatMap(typedValues)
                case "GreaterThan", "Gt", "GreaterThanOrEqual", "Gte":
                    let v = try number(arg, field: field, op: op)
                    if let lower = range.lower, lower > v { continue }
                    range.lower = v
                    range.lowerInclusive = op == "GreaterThanOrEqual" || op == "Gte"
                    hasRange = true
                case "LessThan", "Lt", "LessThanOrEqual", "Lte":
                    let v = try number(arg, field: field, op: op)
                    if let upper = range.upper, upper < v { continue }
                    range.upper = v
                    range.upperInclusive = op == "LessThanOrEqual" || op == "Lte"
                    hasRange = true
                default:
                    throw PatternError("Criterion.\(field): unknown condition \(op) (Equals, NotEquals, GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual)")
                }
            }
            var parts: [ValueMatcher] = []
            if let equals, notEquals.isEmpty, !hasRange {
                fields.append(FieldCondition(path: root + "." + field, matchers: equals))
                continue
            }
            // An OR of values as one matcher: "not (none of them)".
            if let equals { parts.append(equals.count == 1 ? equals[0] : .anythingBut([.anythingBut(equals)])) }
            if !notEquals.isEmpty { parts.append(.anythingBut(notEquals)) }
            if hasRange { parts.append(.numeric(range)) }
            fields.append(FieldCondition(path: root + "." + field, matchers: [parts.count == 1 ? parts[0] : .all(parts)]))
        }
        return Pattern(branches: [PatternBranch(fields: fields)])
    }

    static func typedValues(_ s: String) -> [ValueMatcher] {
        var out: [ValueMatcher] = [.string(s)]
        if let d = Double(s), d.isFinite, s.allSatisfy({ "+-.0123456789eE".contains($0) }) { out.append(.number(d)) }
        if s == "true" || s == "false" { out.append(.bool(s == "true")) }
        return out
    }

    static func strings(_ arg: JSON, field: String, op: String) throws(PatternError) -> [String] {
        guard case .array(let items) = arg, !items.isEmpty else {
            throw PatternError("Criterion.\(field).\(op): must be a non-empty list of values")
        }
        var out: [String] = []
        for item in items {
            switch item {
            case .string(let s): out.append(s)
            case .number(_, let text): out.append(text)
            case .bool(let b): out.append(b ? "true" : "false")
            default: throw PatternError("Criterion.\(field).\(op): values must be strings")
            }
        }
        return out
    }

    static func number(_ arg: JSON, field: String, op: String) throws(PatternError) -> Double {
        switch arg {
        case .number(let d, _): return d
        case .string(let s): if let d = Double(s), d.isFinite { return d }
        default: break
        }
        throw PatternError("Criterion.\(field).\(op): must be a number")
    }
}
