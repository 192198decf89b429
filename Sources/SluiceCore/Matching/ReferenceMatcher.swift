/// The brute-force matcher: the executable specification the compiled `RouteTable` automaton is
/// differential-tested against. Simple over fast — it flattens the owned `JSON` event and tries
/// every branch, every field and every leaf.
///
/// Semantics (EventBridge's, as aws/event-ruler implements them):
/// - the event flattens into leaves `(dotted path, value)`; objects and arrays are not leaves,
///   an empty array yields none, arrays are transparent in paths;
/// - a branch matches when each field condition is met by some leaf at its path, and the leaves
///   chosen are *array-consistent*: wherever two of them sit in the same array, they sit in the
///   same element of it;
/// - `exists: false` holds when no leaf has the path.
public enum ReferenceMatcher {
    /// One flattened leaf; `trail` lists (array id, element index) from the root down.
    public struct Leaf: Sendable {
        public var path: String
        public var value: JSON
        public var trail: [ArrayStep]
    }

    public struct ArrayStep: Sendable, Equatable {
        public var array: Int
        public var index: Int
    }

    public static func flatten(_ event: JSON) -> [Leaf] {
        var leaves: [Leaf] = []
        var nextArray = 0
        // nil at the root only: a member named "" is a step like any other (`{"": {"detail": …}}`
        // has no `detail`), which an empty-string root, taken for "no path yet", lost.
        func walk(_ value: JSON, _ path: String?, _ trail: [ArrayStep]) {
            switch value {
            case .object(let members):
                for (k, v) in members { walk(v, path.map { $0 + "." + k } ?? k, trail) }
            case .array(let items):
                let id = nextArray
                nextArray += 1
                for (i, item) in items.enumerated() { walk(item, path, trail + [ArrayStep(array: id, index: i)]) }
            default:
                leaves.append(Leaf(path: path ?? "", value: value, trail: trail))
            }
        }
        walk(event, nil, [])
        return leaves
    }

    public static func matches(_ pattern: Pattern, _ event: JSON) -> Bool {
        matches(pattern, byPath: byPath(flatten(event)))
    }

    /// An event's leaves grouped by path: flattened once, looked up by many patterns.
    public static func byPath(_ leaves: [Leaf]) -> [String: [Leaf]] {
        Dictionary(grouping: leaves, by: \.path)
    }

    public static func matches(_ pattern: Pattern, byPath leaves: [String: [Leaf]]) -> Bool {
        pattern.branches.contains { matchingLeaves($0, byPath: leaves) != nil }
    }

    /// For a matching branch, the leaf chosen for each field that needed one.
    public static func matchingLeaves(_ branch: PatternBranch, _ leaves: [Leaf]) -> [Leaf]? {
        matchingLeaves(branch, byPath: byPath(leaves))
    }

    public static func matchingLeaves(_ branch: PatternBranch, byPath leaves: [String: [Leaf]]) -> [Leaf]? {
        var candidates: [[Leaf]] = []
        for field in branch.fields {
            let atPath = leaves[field.path] ?? []
            if atPath.isEmpty {
                if field.allowsAbsence { continue }
                return nil
            }
            let matchers = field.leafMatchers
            let good = atPath.filter { leaf in matchers.contains { matches($0, leaf.value) } }
            if good.isEmpty { return nil }
            candidates.append(good)
        }
        var chosen: [Leaf] = []
        func search(_ k: Int) -> Bool {
            if k == candidates.count { return true }
            for leaf in candidates[k] where chosen.allSatisfy({ consistent($0.trail, leaf.trail) }) {
                chosen.append(leaf)
                if search(k + 1) { return true }
                chosen.removeLast()
            }
            return false
        }
        return search(0) ? chosen : nil
    }

    /// Two leaves agree when, in every array holding both, they are in the same element.
    public static func consistent(_ a: [ArrayStep], _ b: [ArrayStep]) -> Bool {
        for x in a { for y in b where x.array == y.array && x.index != y.index { return false } }
        return true
    }

    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Whether one leaf value satisfies one matcher (`exists: false` never does: it is about absence).
    public static func matches(_ matcher: ValueMatcher, _ value: JSON) -> Bool {
        switch matcher {
        case .string(let s): if case .string(let v) = value { return bytes(v) == bytes(s) }; return false
        case .number(let d): if case .number(let v, _) = value { return v == d }; return false
        case .bool(let b): return value == .bool(b)
        case .null: return value == .null
        case .prefix(let p, let ignoreCase):
            guard case .string(let v) = value else { return false }
            return bytes(ignoreCase ? v.lowercased() : v).starts(with: bytes(p))
        case .suffix(let p, let ignoreCase):
            guard case .string(let v) = value else { return false }
            return bytes(ignoreCase ? v.lowercased() : v).reversed().starts(with: bytes(p).reversed())
        case .equalsIgnoreCase(let p):
            guard case .string(let v) = value else { return false }
            return bytes(v.lowercased()) == bytes(p)
        case .wildcard(let w):
            guard case .string(let v) = value else { return false }
            return globMatches(w, bytes(v))
        case .numeric(let r):
            guard case .number(let v, _) = value else { return false }
            return r.contains(v)
        case .cidr(let r):
            guard case .string(let v) = value, let ip = IPRange.parseAddress(v.utf8) else { return false }
            return r.contains(isIPv6: ip.isIPv6, ip.address)
        case .ipAddress(let r, let text):
            guard case .string(let v) = value else { return false }
            if bytes(v) == bytes(text) { return true }
            guard let ip = IPRange.parseAddress(v.utf8) else { return false }
            return r.contains(isIPv6: ip.isIPv6, ip.address)
        case .exists(let e): return e
        case .regex(let r):
            guard case .string(let v) = value else { return false }
            return r.matches(v.utf8)
        case .anythingBut(let excluded): return !excluded.contains { matches($0, value) }
        case .all(let inner): return inner.allSatisfy { matches($0, value) }
        }
    }

    /// Plain dynamic-programming glob, independent of `WildcardPattern.matches`.
    static func globMatches(_ w: WildcardPattern, _ value: [UInt8]) -> Bool {
        // tokens: literal bytes and star markers
        var tokens: [Int] = []  // -1 = star, else byte
        for (i, seg) in w.segments.enumerated() {
            if i > 0 { tokens.append(-1) }
            tokens += seg.map(Int.init)
        }
        var row = [Bool](repeating: false, count: value.count + 1)
        row[0] = true
        for t in tokens {
            var next = [Bool](repeating: false, count: value.count + 1)
            if t == -1 {
                var any = false
                for j in 0...value.count {
                    any = any || row[j]
                    next[j] = any
                }
            } else {
                for j in 1...max(value.count, 1) where j <= value.count && row[j - 1] && Int(value[j - 1]) == t { next[j] = true }
            }
            row = next
        }
        return row[value.count]
    }
}
