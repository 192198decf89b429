/// All routes' patterns compiled into one immutable machine (the approach of aws/event-ruler,
/// reshaped for a tape walk):
///
/// 1. **Path trie.** Every field path any pattern names is a path in a trie of key segments.
///    The event is walked on simdjson's tape once; at each object only the members whose key is
///    a trie edge are entered, so untouched parts of a finding cost one hash probe per key.
/// 2. **Anchor index.** Each pattern branch (an `$or` alternative) is indexed under its most
///    selective field: exact values, numbers (by their order-preserving 64-bit encoding) and
///    literals in one byte-keyed hash table; prefixes and suffixes under their length;
///    numeric ranges and CIDR blocks as interval partitions (one binary search); matchers that
///    cannot narrow anything (`anything-but`, `exists`, `regex`) under their path.
/// 3. **Verification.** A branch found by its anchor is checked field by field against the
///    leaves collected at its paths, with array consistency (leaves in the same array must be
///    in the same element), then `exists: false`.
///
/// Matching cost grows with the event's size and with the branches whose anchor the event hits
/// — not with the number of routes. `ReferenceMatcher` is the specification it is tested against.
final class CompiledMatcher: Sendable {
    enum Kind: UInt64 {
        case exact = 0, number, literal, equalsIgnoreCase, prefix, prefixIgnoreCase, suffix, suffixIgnoreCase
    }

    struct PathInfo: Sendable {
        var hasExact = false
        var hasNumber = false
        var hasLiteral = false
        var hasEqualsIgnoreCase = false
        var prefixLengths: [Int] = []
        var prefixIgnoreCaseLengths: [Int] = []
        var suffixLengths: [Int] = []
        var suffixIgnoreCaseLengths: [Int] = []
        var numeric = -1
        var cidr = -1
        var always: Int32 = -1
        var needsLowercase: Bool { hasEqualsIgnoreCase || !prefixIgnoreCaseLengths.isEmpty || !suffixIgnoreCaseLengths.isEmpty }
        var isAnchor = false
    }

    struct FieldSpec: Sendable {
        var path: Int32
        var matchers: [ValueMatcher]
        var allowsAbsence: Bool
    }

    // Path trie
    let edges: ByteKeyTable
    let nodePath: [Int32]
    let nodeHasChildren: [Bool]
    let pathCount: Int
    let pathNames: [String]
    // Anchors
    let pathInfo: [PathInfo]
    let values: ByteKeyTable
    let postings: [Range<Int32>]
    let postingBranches: [Int32]
    let numericIndexes: [IntervalIndex<UInt64>]
    let cidrIndexes: [(v4: IntervalIndex<UInt128>, v6: IntervalIndex<UInt128>)]
    // Branches
    let branchFields: [Range<Int32>]  // into branchConditions
    let branchConditions: [Int32]
    let fields: [FieldSpec]
    let branchRoute: [Int32]
    let branchIsSuppression: [Bool]
    let unconditional: [Int32]
    let routeCount: Int

    static func namespace(_ path: Int, _ kind: Kind) -> UInt64 { UInt64(path) << 3 | kind.rawValue }

    init(patterns: [Pattern], suppressions: [[Pattern]]) {
        // Branches: every $or alternative of every match and suppress pattern.
        var branches: [(route: Int, suppress: Bool, branch: PatternBranch)] = []
        for (r, p) in patterns.enumerated() {
            for b in p.branches { branches.append((r, false, b)) }
            for s in suppressions[r] { for b in s.branches { branches.append((r, true, b)) } }
        }
        routeCount = patterns.count

        // Path trie over key segments.
        var edgeEntries: [(namespace: UInt64, key: [UInt8], value: Int32)] = []
        var edgeMap: [Int: [[UInt8]: Int]] = [:]
        var nodePath: [Int32] = [-1]
        var pathIds: [String: Int] = [:]
        var pathNames: [String] = []
        func pathId(_ path: String) -> Int {
            if let id = pathIds[path] { return id }
            let id = pathNames.count
            pathIds[path] = id
            pathNames.append(path)
            var node = 0
            for segment in path.split(separator: ".", omittingEmptySubsequences: false) {
                let key = Array(segment.utf8)
                if let child = edgeMap[node]?[key] {
                    node = child
                } else {
                    let child = nodePath.count
                    nodePath.append(-1)
                    edgeMap[node, default: [:]][key] = child
                    edgeEntries.append((UInt64(node), key, Int32(child)))
                    node = child
                }
            }
            nodePath[node] = Int32(id)
            return id
        }

        var fields: [FieldSpec] = []  // distinct field conditions: verified once per event, whatever shares them
        var conditionIds: [FieldCondition: Int32] = [:]
        var branchConditions: [Int32] = []
        var branchFields: [Range<Int32>] = []
        var anchors: [(branch: Int, field: FieldCondition, path: Int)] = []
        var unconditional: [Int32] = []
        // How many branches test each (path, matcher): an anchor shared by many branches makes
        // them all candidates whenever it hits, so the anchor is the field with the fewest
        // expected candidates, not merely the most exact one.
        var popularity: [String: [ValueMatcher: Int]] = [:]
        for b in branches {
            for f in b.branch.fields where !f.allowsAbsence {
                for m in f.leafMatchers { popularity[f.path, default: [:]][m, default: 0] += 1 }
            }
        }
        for (bi, b) in branches.enumerated() {
            let start = Int32(branchConditions.count)
            var best: (cost: Double, field: FieldCondition, path: Int)?
            for f in b.branch.fields {
                let p = pathId(f.path)
                if let id = conditionIds[f] {
                    branchConditions.append(id)
                } else {
                    conditionIds[f] = Int32(fields.count)
                    branchConditions.append(Int32(fields.count))
                    fields.append(FieldSpec(path: Int32(p), matchers: f.leafMatchers, allowsAbsence: f.allowsAbsence))
                }
                guard !f.allowsAbsence else { continue }
                var cost = 0.0
                for m in f.leafMatchers {
                    cost += Double(popularity[f.path]?[m] ?? 1) * CompiledMatcher.breadth(CompiledMatcher.rank(m))
                }
                if best == nil || cost < best!.cost { best = (cost, f, p) }
            }
            branchFields.append(start..<Int32(branchConditions.count))
            if let best { anchors.append((bi, best.field, best.path)) } else { unconditional.append(Int32(bi)) }
        }

        // Anchor index.
        var pathInfo = [PathInfo](repeating: PathInfo(), count: pathNames.count)
        var valueKeys: [UInt64: [[UInt8]: Int]] = [:]  // namespace → key → posting list index
        var lists: [[Int32]] = []
        func post(_ ns: UInt64, _ key: [UInt8], _ branch: Int) {
            if let l = valueKeys[ns]?[key] {
                if lists[l].last != Int32(branch) { lists[l].append(Int32(branch)) }
            } else {
                valueKeys[ns, default: [:]][key] = lists.count
                lists.append([Int32(branch)])
            }
        }
        var numericIntervals = [[(lower: UInt64, upper: UInt64, posting: Int32)]](repeating: [], count: pathNames.count)
        var cidrIntervals = [[(v6: Bool, lower: UInt128, upper: UInt128, posting: Int32)]](repeating: [], count: pathNames.count)
        var alwaysLists = [[Int32]](repeating: [], count: pathNames.count)
        func index(_ m: ValueMatcher, path p: Int, branch: Int) {
            pathInfo[p].isAnchor = true
            switch m {
            case .string(let s):
                pathInfo[p].hasExact = true
                post(CompiledMatcher.namespace(p, .exact), Array(s.utf8), branch)
            case .number(let d):
                pathInfo[p].hasNumber = true
                post(CompiledMatcher.namespace(p, .number), CompiledMatcher.numberKey(d), branch)
            case .bool(let b):
                pathInfo[p].hasLiteral = true
                post(CompiledMatcher.namespace(p, .literal), [b ? UInt8(ascii: "t") : UInt8(ascii: "f")], branch)
            case .null:
                pathInfo[p].hasLiteral = true
                post(CompiledMatcher.namespace(p, .literal), [UInt8(ascii: "n")], branch)
            case .equalsIgnoreCase(let s):
                pathInfo[p].hasEqualsIgnoreCase = true
                post(CompiledMatcher.namespace(p, .equalsIgnoreCase), Array(s.utf8), branch)
            case .prefix(let s, let ignoreCase) where !s.isEmpty:
                let key = Array(s.utf8)
                if ignoreCase {
                    if !pathInfo[p].prefixIgnoreCaseLengths.contains(key.count) { pathInfo[p].prefixIgnoreCaseLengths.append(key.count) }
                    post(CompiledMatcher.namespace(p, .prefixIgnoreCase), key, branch)
                } else {
                    if !pathInfo[p].prefixLengths.contains(key.count) { pathInfo[p].prefixLengths.append(key.count) }
                    post(CompiledMatcher.namespace(p, .prefix), key, branch)
                }
            case .suffix(let s, let ignoreCase) where !s.isEmpty:
                let key = Array(s.utf8)
                if ignoreCase {
                    if !pathInfo[p].suffixIgnoreCaseLengths.contains(key.count) { pathInfo[p].suffixIgnoreCaseLengths.append(key.count) }
                    post(CompiledMatcher.namespace(p, .suffixIgnoreCase), key, branch)
                } else {
                    if !pathInfo[p].suffixLengths.contains(key.count) { pathInfo[p].suffixLengths.append(key.count) }
                    post(CompiledMatcher.namespace(p, .suffix), key, branch)
                }
            case .wildcard(let w) where w.starCount == 0:
                index(.string(String(decoding: w.segments[0], as: UTF8.self)), path: p, branch: branch)
            case .wildcard(let w) where !w.literalPrefix.isEmpty:
                index(.prefix(String(decoding: w.literalPrefix, as: UTF8.self), ignoreCase: false), path: p, branch: branch)
            case .numeric(let r):
                if let lo = r.lower, let hi = r.upper, lo == hi, r.lowerInclusive, r.upperInclusive {
                    index(.number(lo), path: p, branch: branch)
                    return
                }
                var lower: UInt64 = 0
                var upper = UInt64.max
                if let lo = r.lower { lower = orderedKey(lo) &+ (r.lowerInclusive ? 0 : 1) }
                if let hi = r.upper { upper = orderedKey(hi) &- (r.upperInclusive ? 0 : 1) }
                numericIntervals[p].append((lower, upper, Int32(branch)))
            case .cidr(let range), .ipAddress(let range, _):
                cidrIntervals[p].append((range.isIPv6, range.lower, range.upper, Int32(branch)))
            case .all(let inner):
                // Every inner matcher must hold, so the most selective one is a sound anchor.
                let best = inner.min { CompiledMatcher.rank($0) < CompiledMatcher.rank($1) }!
                index(best, path: p, branch: branch)
            default:
                if alwaysLists[p].last != Int32(branch) { alwaysLists[p].append(Int32(branch)) }
            }
        }
        for a in anchors {
            for m in a.field.leafMatchers { index(m, path: a.path, branch: a.branch) }
        }

        var entries: [(namespace: UInt64, key: [UInt8], value: Int32)] = []
        for (ns, keys) in valueKeys { for (k, l) in keys { entries.append((ns, k, Int32(l))) } }
        var numericIndexes: [IntervalIndex<UInt64>] = []
        var cidrIndexes: [(v4: IntervalIndex<UInt128>, v6: IntervalIndex<UInt128>)] = []
        for p in 0..<pathNames.count {
            if !numericIntervals[p].isEmpty {
                // One posting list per interval: a branch may appear in several segments.
                var ivs: [(lower: UInt64, upper: UInt64, posting: Int32)] = []
                for iv in numericIntervals[p] {
                    ivs.append((iv.lower, iv.upper, Int32(lists.count)))
                    lists.append([iv.posting])
                }
                pathInfo[p].numeric = numericIndexes.count
                numericIndexes.append(IntervalIndex(ivs))
            }
            if !cidrIntervals[p].isEmpty {
                var v4: [(lower: UInt128, upper: UInt128, posting: Int32)] = []
                var v6: [(lower: UInt128, upper: UInt128, posting: Int32)] = []
                for iv in cidrIntervals[p] {
                    let item = (iv.lower, iv.upper, Int32(lists.count))
                    if iv.v6 { v6.append(item) } else { v4.append(item) }
                    lists.append([iv.posting])
                }
                pathInfo[p].cidr = cidrIndexes.count
                cidrIndexes.append((IntervalIndex(v4), IntervalIndex(v6)))
            }
            if !alwaysLists[p].isEmpty {
                pathInfo[p].always = Int32(lists.count)
                lists.append(alwaysLists[p])
            }
        }
        var postings: [Range<Int32>] = []
        var postingBranches: [Int32] = []
        for l in lists {
            let start = Int32(postingBranches.count)
            postingBranches += l
            postings.append(start..<Int32(postingBranches.count))
        }

        var hasChildren = [Bool](repeating: false, count: nodePath.count)
        for e in edgeEntries { hasChildren[Int(e.namespace)] = true }
        self.edges = ByteKeyTable(edgeEntries)
        self.nodePath = nodePath
        self.nodeHasChildren = hasChildren
        self.pathCount = pathNames.count
        self.pathNames = pathNames
        self.pathInfo = pathInfo
        self.values = ByteKeyTable(entries)
        self.postings = postings
        self.postingBranches = postingBranches
        self.numericIndexes = numericIndexes
        self.cidrIndexes = cidrIndexes
        self.branchFields = branchFields
        self.branchConditions = branchConditions
        self.fields = fields
        self.branchRoute = branches.map { Int32($0.route) }
        self.branchIsSuppression = branches.map(\.suppress)
        self.unconditional = unconditional
    }

    /// How well a matcher narrows candidates when used as an anchor (lower is better).
    static func rank(_ m: ValueMatcher) -> Int {
        switch m {
        case .string, .number, .bool, .null: return 0
        case .equalsIgnoreCase: return 1
        case .prefix(let s, _): return s.isEmpty ? 10 : 2
        case .cidr, .ipAddress: return 3
        case .numeric(let r): return r.lower != nil && r.lower == r.upper ? 0 : 4
        case .suffix(let s, _): return s.isEmpty ? 10 : 5
        case .wildcard(let w): return w.starCount == 0 ? 0 : (w.literalPrefix.isEmpty ? 10 : 5)
        case .all(let inner): return inner.map(rank).min() ?? 10
        default: return 10
        }
    }

    /// Roughly how many distinct values a matcher of this rank accepts, relative to an exact value.
    static func breadth(_ rank: Int) -> Double {
        switch rank {
        case 0: return 1
        case 1: return 1.5
        case 2: return 4
        case 3: return 8
        case 4: return 40
        case 5: return 20
        default: return 1_000
        }
    }

    static func numberKey(_ d: Double) -> [UInt8] {
        withUnsafeBytes(of: orderedKey(d)) { Array($0) }
    }

    /// Matches one event; the answer is left in `scratch` (matched and suppressed routes).
    func run(_ event: JSONView, scratch: MatchScratch) {
        var state = scratch.take(for: self)
        state.begin()
        // `consume`: the walker must own the only reference, or every array would be copied.
        var walker = TapeWalker(matcher: self, document: event.document, state: consume state)
        walker.walk(event.index, node: 0)
        walker.finish()
        scratch.put(consume walker)
    }
}

/// Per-thread working memory for matching. Reuse one per decoding thread: after a few events
/// it stops allocating. Not thread-safe; a scratch serves one `match` at a time.
public final class MatchScratch {
    var state: MatchState?
    public init() {}

    func take(for matcher: CompiledMatcher) -> MatchState {
        if var s = state.take() {
            s.fit(matcher)
            return s
        }
        var s = MatchState()
        s.fit(matcher)
        return s
    }

    func put(_ s: MatchState) { state = s }
    func put(_ w: consuming TapeWalker) { state = w.state }

    /// Routes whose match pattern matched the last event (before suppression), in route order.
    var matchedRoutes: [Int] { (state?.matchedRoutes ?? []).map(Int.init) }
    func isSuppressed(_ route: Int) -> Bool { state?.isSuppressed(route) ?? false }
}

/// The mutable side of a match, moved out of its `MatchScratch` for the duration of one event
/// so the hot loop works on uniquely owned arrays.
struct MatchState {
    struct Leaf {
        var tape: Int32
        var next: Int32  // previous leaf at the same path, or -1
        var trailStart: Int32
        var trailCount: Int32
    }

    var generation: UInt32 = 0
    var leaves: [Leaf] = []
    var trails: [UInt64] = []  // (array tape index << 32 | element index)
    var arrayStack: [UInt64] = []
    var pathHead: [Int32] = []
    var pathStamp: [UInt32] = []
    var branchStamp: [UInt32] = []
    var candidates: [Int32] = []
    var routeStamp: [UInt32] = []
    var suppressStamp: [UInt32] = []
    var matchedRoutes: [Int32] = []
    var lowered: [UInt8] = []
    var conditionStamp: [UInt32] = []
    var conditionResult: [UInt8] = []
    var chosen: [[Int32]] = []

    mutating func fit(_ m: CompiledMatcher) {
        if pathHead.count < m.pathCount {
            pathHead = [Int32](repeating: -1, count: m.pathCount)
            pathStamp = [UInt32](repeating: 0, count: m.pathCount)
        }
        if conditionStamp.count < m.fields.count {
            conditionStamp = [UInt32](repeating: 0, count: m.fields.count)
            conditionResult = [UInt8](repeating: 0, count: m.fields.count)
        }
        if branchStamp.count < m.branchRoute.count { branchStamp = [UInt32](repeating: 0, count: m.branchRoute.count) }
        if routeStamp.count < m.routeCount {
            routeStamp = [UInt32](repeating: 0, count: m.routeCount)
            suppressStamp = [UInt32](repeating: 0, count: m.routeCount)
        }
    }

    mutating func begin() {
        generation &+= 1
        if generation == 0 {
            // Wrapped: stale stamps could look current.
            for i in pathStamp.indices { pathStamp[i] = 0 }
            for i in branchStamp.indices { branchStamp[i] = 0 }
            for i in conditionStamp.indices { conditionStamp[i] = 0 }
            for i in routeStamp.indices { routeStamp[i] = 0; suppressStamp[i] = 0 }
            generation = 1
        }
        leaves.removeAll(keepingCapacity: true)
        trails.removeAll(keepingCapacity: true)
        arrayStack.removeAll(keepingCapacity: true)
        candidates.removeAll(keepingCapacity: true)
        matchedRoutes.removeAll(keepingCapacity: true)
    }

    func isSuppressed(_ route: Int) -> Bool { route < suppressStamp.count && suppressStamp[route] == generation }
}
