/// JSON → `Pattern`, with EventBridge's validation rules and messages (as aws/event-ruler words
/// them), plus Sluice's extensions.
enum PatternParser {
    /// Field names that, inside a `$or` object, mean the author wrote a matcher, not a field —
    /// then `$or` is read as an ordinary field name, as event-ruler does for old rules.
    static let reservedInOr: Set<String> = [
        "anything-but", "numeric", "prefix", "suffix", "exists", "cidr", "equals-ignore-case", "wildcard", "exactly",
        "regex", "$and",
    ]

    /// An `$or` may expand into this many branches at most (the product of nested `$or`s).
    static let maxBranches = 1_024

    typealias Branch = [(path: String, matchers: [ValueMatcher])]

    static func parse(_ json: JSON) throws(PatternError) -> Pattern {
        guard case .object(let members) = json else { throw PatternError("Filter is not an object") }
        if let pattern = try PatternDialects.pattern(from: members) { return pattern }
        let branches: [Branch]
        do throws(PatternError) {
            branches = try parseObject(members, prefix: "", orKeyword: true, insideOr: false)
        } catch let orError {
            // event-ruler keeps old rules that used "$or" as a field name working.
            guard json.containsKey("$or"), let legacy = try? parseObject(members, prefix: "", orKeyword: false, insideOr: false) else {
                throw orError
            }
            branches = legacy
        }
        return Pattern(branches: branches.map { branch in
            PatternBranch(fields: branch.map { FieldCondition(path: $0.path, matchers: $0.matchers) })
        })
    }

    static func join(_ prefix: String, _ key: String) -> String { prefix.isEmpty ? key : prefix + "." + key }

    static func parseObject(
        _ members: [(key: String, value: JSON)], prefix: String, orKeyword: Bool, insideOr: Bool
    ) throws(PatternError) -> [Branch] {
        guard !members.isEmpty else { throw PatternError("Empty objects are not allowed") }
        if let keyword = members.first(where: { PatternDialects.keywords[$0.key] != nil })?.key {
            return try dialectBranches(members, keyword: keyword, prefix: prefix)
        }
        var branches: [Branch] = [[]]
        for (key, value) in members {
            if orKeyword && key == "$or" {
                guard case .array(let alternatives) = value else {
                    throw PatternError("It must be an Array followed with $or.")
                }
                var expanded: [Branch] = []
                for alternative in alternatives {
                    guard case .object(let inner) = alternative else {
                        throw PatternError("Only JSON object is allowed in array of $or relationship.")
                    }
                    let sub = try parseObject(inner, prefix: prefix, orKeyword: true, insideOr: true)
                    for b in branches { for s in sub { expanded.append(merge(b, s)) } }
                    if expanded.count > maxBranches {
                        throw PatternError("$or expands into more than \(maxBranches) alternatives")
                    }
                }
                guard alternatives.count >= 2 else {
                    throw PatternError("There must have at least 2 Objects in $or relationship.")
                }
                branches = expanded
                continue
            }
            if insideOr && reservedInOr.contains(key) {
                throw PatternError("\(key) is Ruler reserved fieldName which cannot be used inside $or.")
            }
            let path = join(prefix, key)
            switch value {
            case .object(let inner):
                let sub = try parseObject(inner, prefix: path, orKeyword: orKeyword, insideOr: insideOr)
                var expanded: [Branch] = []
                for b in branches { for s in sub { expanded.append(merge(b, s)) } }
                if expanded.count > maxBranches { throw PatternError("$or expands into more than \(maxBranches) alternatives") }
                branches = expanded
            case .array(let values):
                let matchers = try parseValueList(values, path: path)
                branches = branches.map { merge($0, [(path, matchers)]) }
            default:
                throw PatternError("\"\(key)\" must be an object or an array")
            }
        }
        return branches
    }

    /// A dialect's keyword (`Criterion`) in an object: a whole branch of a top-level `$or` is
    /// read in the dialect (or is the dialect's error); under a field (a field's `$or` too) it
    /// is an error, never a field name that silently never matches.
    static func dialectBranches(
        _ members: [(key: String, value: JSON)], keyword: String, prefix: String
    ) throws(PatternError) -> [Branch] {
        guard prefix.isEmpty else {
            let name = PatternDialects.keywords[keyword] ?? "a pattern dialect"
            throw PatternError("\(join(prefix, keyword)): \(name) can only be a whole pattern or a whole branch of a top-level $or, not under a field")
        }
        guard let pattern = try PatternDialects.pattern(from: members) else {
            throw PatternError("\(keyword): not read by any registered pattern dialect")
        }
        return pattern.branches.map { branch in branch.fields.map { (path: $0.path, matchers: $0.matchers) } }
    }

    /// Later definitions of a path replace earlier ones, as in event-ruler.
    static func merge(_ a: Branch, _ b: Branch) -> Branch {
        var out = a
        for field in b {
            if let i = out.firstIndex(where: { $0.path == field.path }) { out[i] = field } else { out.append(field) }
        }
        return out
    }

    static func parseValueList(_ values: [JSON], path: String) throws(PatternError) -> [ValueMatcher] {
        guard !values.isEmpty else { throw PatternError("\(path): Empty arrays are not allowed") }
        var parsed: [ValueMatcher] = []
        parsed.reserveCapacity(values.count)
        for v in values { parsed.append(try parseValue(v, path: path)) }
        return firstOccurrences(parsed)
    }

    /// Each distinct item once, in first-seen order, in linear time: a 40,000-line trusted-IP
    /// list took 25 s with a quadratic de-duplication (`CrashSafetyTests` counts comparisons).
    static func firstOccurrences<T: Hashable>(_ items: [T]) -> [T] {
        var seen = Set<T>(minimumCapacity: items.count)
        return items.filter { seen.insert($0).inserted }
    }

    static func parseValue(_ value: JSON, path: String) throws(PatternError) -> ValueMatcher {
        switch value {
        case .string(let s):
            if s.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":") }),
                let ip = IPRange.parseAddress(s.utf8)
            {
                return .ipAddress(IPRange(isIPv6: ip.isIPv6, lower: ip.address, upper: ip.address), text: s)
            }
            return .string(s)
        case .number(let d, _): return .number(d)
        case .bool(let b): return .bool(b)
        case .null: return .null
        case .object(let members): return try parseExpression(members, path: path)
        case .array: throw PatternError("\(path): Match value must be String, number, true, false, or null")
        }
    }

    static func onlyKey(_ members: [(key: String, value: JSON)]) throws(PatternError) -> (String, JSON) {
        guard let first = members.first else { throw PatternError("Match expression name not found") }
        guard members.count == 1 else { throw PatternError("Only one key allowed in match expression") }
        return (first.key, first.value)
    }

    static func parseExpression(_ members: [(key: String, value: JSON)], path: String) throws(PatternError) -> ValueMatcher {
        let (op, arg) = try onlyKey(members)
        func string(_ what: String) throws(PatternError) -> String {
            guard case .string(let s) = arg else { throw PatternError("\(path): \(what) match pattern must be a string") }
            return s
        }
        switch op {
        case "exactly": return .string(try string("exact"))
        case "prefix", "suffix":
            var text: String
            var ignoreCase = false
            if case .object(let inner) = arg {
                let (innerOp, innerArg) = try onlyKey(inner)
                guard innerOp == "equals-ignore-case" else { throw PatternError("\(path): Unsupported \(op) pattern: \(innerOp)") }
                guard case .string(let s) = innerArg else { throw PatternError("\(path): equals-ignore-case match pattern must be a string") }
                text = s
                ignoreCase = true
            } else {
                text = try string(op)
            }
            if ignoreCase { text = text.lowercased() }
            return op == "prefix" ? .prefix(text, ignoreCase: ignoreCase) : .suffix(text, ignoreCase: ignoreCase)
        case "equals-ignore-case": return .equalsIgnoreCase(try string("equals-ignore-case").lowercased())
        case "wildcard": return .wildcard(try WildcardPattern(try string("wildcard")))
        case "numeric":
            guard case .array(let terms) = arg else { throw PatternError("\(path): Value of numeric must be an array.") }
            return .numeric(try parseNumeric(terms, path: path))
        case "exists":
            guard case .bool(let b) = arg else { throw PatternError("\(path): exists match pattern must be either true or false.") }
            return .exists(b)
        case "cidr":
            let text = try string("cidr")
            do { return .cidr(try IPRange(cidr: text)) } catch { throw PatternError("\(path): \(error.message)") }
        case "anything-but": return try parseAnythingBut(arg, path: path)
        case "regex":
            do { return .regex(try RegexPattern(try string("regex"))) } catch { throw PatternError("\(path): \(error.message)") }
        case "$and":
            guard case .array(let items) = arg, !items.isEmpty else {
                throw PatternError("\(path): $and must be a non-empty array of matchers")
            }
            var inner: [ValueMatcher] = []
            for item in items {
                let m = try parseValue(item, path: path)
                if case .exists(false) = m { throw PatternError("\(path): exists false cannot be used inside $and") }
                inner.append(m)
            }
            return inner.count == 1 ? inner[0] : .all(inner)
        default:
            throw PatternError("\(path): Unrecognized match type \(op)")
        }
    }

    static func parseAnythingBut(_ arg: JSON, path: String) throws(PatternError) -> ValueMatcher {
        switch arg {
        case .string(let s): return .anythingBut([.string(s)])
        case .number(let d, _): return .anythingBut([.number(d)])
        case .array(let items):
            var strings: [ValueMatcher] = []
            var numbers: [ValueMatcher] = []
            for item in items {
                switch item {
                case .string(let s): strings.append(.string(s))
                case .number(let d, _): numbers.append(.number(d))
                default: throw PatternError("\(path): Inside anything but list, start|null|boolean is not supported.")
                }
            }
            if strings.isEmpty == numbers.isEmpty {
                throw PatternError("\(path): Inside anything but list, either all values are number or string, mixed type is not supported")
            }
            return .anythingBut(strings + numbers)
        case .object(let members):
            guard !members.isEmpty else { throw PatternError("\(path): Anything-But expression name not found") }
            let (op, inner) = try onlyKey(members)
            switch op {
            case "prefix", "suffix":
                guard case .string(let s) = inner else { throw PatternError("\(path): prefix/suffix match pattern must be a string") }
                guard !s.isEmpty else { throw PatternError("\(path): Null prefix/suffix not allowed") }
                return .anythingBut([op == "prefix" ? .prefix(s, ignoreCase: false) : .suffix(s, ignoreCase: false)])
            case "equals-ignore-case":
                var values: [ValueMatcher] = []
                switch inner {
                case .string(let s): values = [.equalsIgnoreCase(s.lowercased())]
                case .array(let items):
                    for item in items {
                        guard case .string(let s) = item else {
                            throw PatternError("\(path): Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.")
                        }
                        values.append(.equalsIgnoreCase(s.lowercased()))
                    }
                default:
                    throw PatternError("\(path): Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.")
                }
                guard !values.isEmpty else { throw PatternError("\(path): Empty arrays are not allowed") }
                return .anythingBut(values)
            case "wildcard":
                var values: [ValueMatcher] = []
                switch inner {
                case .string(let s): values = [.wildcard(try WildcardPattern(s))]
                case .array(let items):
                    for item in items {
                        guard case .string(let s) = item else { throw PatternError("\(path): wildcard match pattern must be a string") }
                        values.append(.wildcard(try WildcardPattern(s)))
                    }
                default: throw PatternError("\(path): wildcard match pattern must be a string")
                }
                guard !values.isEmpty else { throw PatternError("\(path): Empty arrays are not allowed") }
                return .anythingBut(values)
            default:
                throw PatternError("\(path): Unsupported anything-but pattern: \(op)")
            }
        default:
            throw PatternError("\(path): Value of anything-but must be an array or single string/number value.")
        }
    }

    static func parseNumeric(_ terms: [JSON], path: String) throws(PatternError) -> NumericRange {
        func op(_ i: Int) throws(PatternError) -> String {
            guard i < terms.count, case .string(let s) = terms[i] else {
                throw PatternError("\(path): Invalid member in numeric match: \(i < terms.count ? terms[i].serialized() : "]")")
            }
            return s
        }
        func number(_ i: Int, _ op: String) throws(PatternError) -> Double {
            guard i < terms.count, case .number(let d, _) = terms[i], d.isFinite else {
                throw PatternError("\(path): Value of \(op) must be numeric")
            }
            return d
        }
        let first = try op(0)
        switch first {
        case "=":
            let v = try number(1, "equals")
            guard terms.count == 2 else { throw PatternError("\(path): Too many elements in numeric expression") }
            return .equal(v)
        case "<", "<=":
            let v = try number(1, first)
            guard terms.count == 2 else { throw PatternError("\(path): Too many elements in numeric expression") }
            return NumericRange(lower: nil, lowerInclusive: false, upper: v, upperInclusive: first == "<=")
        case ">", ">=":
            let bottom = try number(1, first)
            if terms.count == 2 {
                return NumericRange(lower: bottom, lowerInclusive: first == ">=", upper: nil, upperInclusive: false)
            }
            guard case .string(let second) = terms[2] else { throw PatternError("\(path): Bad value in numeric range: \(terms[2].serialized())") }
            guard second == "<" || second == "<=" else { throw PatternError("\(path): Bad numeric range operator: \(second)") }
            let top = try number(3, second)
            guard terms.count == 4 else { throw PatternError("\(path): Too many terms in numeric range expression") }
            guard bottom < top else { throw PatternError("\(path): Bottom must be less than top") }
            return NumericRange(lower: bottom, lowerInclusive: first == ">=", upper: top, upperInclusive: second == "<=")
        default:
            throw PatternError("\(path): Unrecognized numeric range operator: \(first)")
        }
    }
}

extension JSON {
    func containsKey(_ key: String) -> Bool {
        switch self {
        case .object(let members): return members.contains { $0.key == key || $0.value.containsKey(key) }
        case .array(let items): return items.contains { $0.containsKey(key) }
        default: return false
        }
    }
}
