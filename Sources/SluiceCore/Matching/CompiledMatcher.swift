/// All routes' patterns compiled into one immutable machine (the approach of aws/event-ruler,
/// reshaped for a tape walk):
///
/// 1. **Path trie.** Every field path any pattern names is a path in a trie of key segments.
///    The event is walked on simdjson's tape once; at each object only the members whose key is
///    a trie edge are entered. A node's few edges are compared by length and first eight bytes
///    (no hashing); wide nodes use a hash table. The leaves found are recorded per path.
/// 2. **Condition automaton.** Each match-pattern branch (an `$or` alternative) is an AND of
///    field conditions; the conditions of every branch, ordered most selective first, are
///    inserted into one trie of states that shares common prefixes (`account = A`, then
///    `severity >= 4`, …). A state's outgoing conditions are grouped by path and indexed: exact
///    values, numbers and literals in one byte-keyed hash table; prefixes and suffixes by
///    length; numeric ranges and CIDR blocks as interval partitions (one binary search);
///    conditions that cannot be indexed (`anything-but`, `exists`, `regex`) are evaluated —
///    except `anything-but` lists of strings below a state entered on a leaf (a tag key): those
///    are inverted (excluded string → children) and tested on the leaves in that leaf's
///    array elements only, so a tag route's key/value pair needs no consistency check later.
///    Matching steps from the root through the states whose condition holds, so the work grows
///    with the conditions the event satisfies — not with the routes, nor with candidates that
///    then fail.
/// 3. **Checks at the end.** A branch reached with two or more of its fields inside arrays is
///    checked for array consistency (leaves in the same array must be in the same element).
///    Suppressions are checked only for routes that matched, condition by condition (memoised
///    per event: many routes share one suppression).
///
/// `ReferenceMatcher` is the specification it is tested against.
final class CompiledMatcher: Sendable {
    enum Kind: UInt64 {
        case exact = 0, number, literal, equalsIgnoreCase, prefix, prefixIgnoreCase, suffix, suffixIgnoreCase
    }

    /// The outgoing conditions of one automaton state on one path, indexed, in 32 bytes (two
    /// records to a cache line; at 60 bytes most spanned two lines, and the record was
    /// `visit`'s first miss). What only tag exclusions and wildcard windows need is in
    /// `GroupSide`, read when the flags say so. Plain data.
    struct Group: Sendable {
        var path: Int32
        /// The group's one atom and its posting list when it has exactly one (else -1); with
        /// more (the `atoms` flag), they are looked up in `groupAtoms`.
        var singleAtom: Int32 = -1
        var singlePosting: Int32 = -1
        var numeric: Int32 = -1
        var cidr: Int32 = -1
        var evaluated: Range<Int32> = 0..<0  // into `evaluatedStates`
        var flags: Flags = [.evaluatedNeedLeaf]

        struct Flags: OptionSet, Sendable {
            let rawValue: UInt8
            /// Which of a leaf's atoms the group looks up: its whole value (exact string,
            /// number, literal), its affixes (prefixes, suffixes, ignore-case forms).
            static let primaryAtoms = Flags(rawValue: 1), affixAtoms = Flags(rawValue: 2)
            /// No evaluated condition holds without a leaf at the path: skipped when there is none.
            static let evaluatedNeedLeaf = Flags(rawValue: 4)
            /// Atoms lead out of this group (one or more).
            static let atoms = Flags(rawValue: 8)
            /// Its `GroupSide` has exclusive children, wildcard windows.
            static let exclusive = Flags(rawValue: 16), substrings = Flags(rawValue: 32)
            /// Its affixes are few, compared with the leaf's bytes (`GroupSide.comparedAffixes`)
            /// instead of looked up among its atoms; `comparedIgnoringCase`: some of them
            /// ignore case (compared on ASCII leaves only, others take the atom lookup).
            static let affixesCompared = Flags(rawValue: 64), comparedIgnoringCase = Flags(rawValue: 128)
        }
    }

    /// What a group's rarer conditions need, by group: read only when its `exclusive` or
    /// `substrings` flag is set.
    struct GroupSide: Sendable {
        /// Children whose condition is an `anything-but` list of strings, entered from an
        /// exclusion index (`exclusions`) on the leaves in the elements that satisfy the
        /// state's own condition (`fixedCondition`), instead of evaluated state by state.
        var exclusive: Range<Int32> = 0..<0  // into `exclusiveEntries`
        var fixedCondition: Int32 = -1
        /// The lowest and highest route among the `exclusive` children that are direct routes
        /// (`Int32.max` and -1 if none): `visitExclusive` widens the answer's word bounds to
        /// them once, not route by route.
        var directRoutes: (low: Int32, high: Int32) = (.max, -1)
        /// The `exclusive` children below it are direct routes, the others are entered:
        /// `visitExclusive` sets the first without a branch per child (whether a child is
        /// excluded differs from finding to finding, and was a mispredicted branch per tag route).
        var directEnd: Int32 = 0
        /// Wildcards with no literal prefix (`*team7-*-eks`), found by a window of their
        /// longest literal segment in the leaf (`substringTable`), then evaluated: window
        /// lengths, a range of `lengths`.
        var substrings: Range<Int32> = 0..<0
        /// With the `affixesCompared` flag: its prefixes and suffixes, a range of `comparedAffixes`.
        var comparedAffixes: Range<Int32> = 0..<0
    }

    /// A prefix, suffix or ignore-case value a group compares with each string leaf at its
    /// path, and the group's posting list for it. A state reached on one path (an account, a
    /// role) usually leads to one or two such conditions on another (a type's prefix, a
    /// protocol ignoring case): finding all the leaf's affix atoms (a prefix search, a table
    /// probe per suffix length in the whole route set, the leaf lower-cased: ~400 instructions
    /// per leaf at 1,000 mixed routes) to look up one or two of them cost more than comparing
    /// those few byte strings.
    struct ComparedAffix: Sendable {
        var keyStart: Int32  // into `comparedAffixKeys`; ignore-case keys are lower-cased
        var length: Int32
        var posting: Int32
        var kind: UInt8  // a `Kind`'s raw value: one of the affix kinds
    }
    /// Groups with at most this many affix conditions compare them (`ComparedAffix`).
    static let comparedAffixLimit = 8

    /// Which atoms a leaf at a path can have: the exact values, prefixes, suffixes… that some
    /// pattern names at that path. Each leaf's atoms are found once, when it is recorded.
    struct PathAtoms: Sendable {
        var exact = false
        var number = false
        var literal = false
        var equalsIgnoreCase = false
        var prefixes: Range<Int32> = 0..<0  // into the prefix arrays, sorted by key
        var prefixIgnoreCaseLengths: Range<Int32> = 0..<0
        var suffixLengths: Range<Int32> = 0..<0
        var suffixIgnoreCaseLengths: Range<Int32> = 0..<0
        /// `CompiledMatcher.primaryStage` and `.affixStage` bits: which atoms a leaf can have.
        var stages: UInt8 {
            (exact || number || literal ? CompiledMatcher.primaryStage : 0)
                | (!prefixes.isEmpty || !suffixLengths.isEmpty || needsLowercase ? CompiledMatcher.affixStage : 0)
        }
        var needsLowercase: Bool { equalsIgnoreCase || !prefixIgnoreCaseLengths.isEmpty || !suffixIgnoreCaseLengths.isEmpty }
    }

    /// One automaton state, everything `enter` and `step` read about it in one record (32
    /// bytes, two to a cache line in `CacheLineRecords`): separate arrays indexed by state cost
    /// a cache miss each (callgrind's cache simulation: 803 D1 read misses per finding at
    /// 10,000 routes).
    struct State: Sendable {
        /// The `branchArrayMask` of the branches completing here when they have two or more
        /// fields needing leaves (they share their conditions, so one mask), else 0.
        var arrayMask: UInt64 = 0
        /// The condition that leads into the state (-1 for the root).
        var condition: Int32 = -1
        /// Its route when it is final for exactly one branch and has no outgoing conditions
        /// (entering it matches that route), else -1.
        var route: Int32 = -1
        /// Its outgoing groups, a range of `groups`.
        var groupStart: Int32 = 0
        var groupEnd: Int32 = 0
        /// The match branches completing here, a range of `terminalBranches`.
        var terminalStart: Int32 = 0
        var terminalEnd: Int32 = 0
    }

    struct LeafTest: Sendable {
        enum Kind: UInt8, Sendable {
            case generic
            /// A string leaf whose exact atom is one of `atoms`.
            case anyAtom
            /// Any leaf but a string whose exact atom is one of `atoms` (`anything-but` strings).
            case noneOfAtoms
        }
        var kind: Kind
        var atoms: Range<Int32>  // into testAtoms
    }

    struct FieldSpec: Sendable {
        var path: Int32
        var matchers: [ValueMatcher]
        var allowsAbsence: Bool
    }

    /// A path-trie node: what the walk reads on entering an object, in one record.
    struct Node: Sendable {
        /// A 64-bit filter of its edges' keys (bit `keyBitIndex(word, length)` set per edge):
        /// most keys of an event are rejected by one test.
        var filter: UInt64 = 0
        /// A filter of the first eight bytes of its edge keys longer than eight bytes: a long
        /// key (or a dotted key with a long first segment) that misses it matches no edge.
        var longFilter: UInt64 = 0
        var edgeStart: Int32 = 0  // its edges, a range of `edgeRecords`
        var edgeEnd: Int32 = 0
        var path: Int32 = -1  // the path ending here, or -1
    }

    /// A path-trie edge, compared by length and first eight bytes, in one record.
    struct Edge: Sendable {
        var word: UInt64  // first eight bytes of the key, zero-padded
        var length: Int32
        var child: Int32
        /// The next edge of its node with the same filter bit, or -1.
        var nextWithBit: Int32
        var keyStart: Int32  // into edgeKeys
    }

    // Path trie
    let edges: ByteKeyTable  // (node, key segment) → child; for keys with dots and wide nodes
    let nodes: [Node]
    let edgeRecords: [Edge]
    /// The edge keys' bytes, then eight zero bytes (`TapeWalker.paddedTailsEqual` reads whole words).
    let edgeKeys: [UInt8]
    let pathCount: Int
    let pathNames: [String]
    /// Per node and filter bit (node * 64 + bit), the first edge with that bit, or -1; then
    /// `Edge.nextWithBit`: a key that passes the filter is compared with those edges only.
    let edgeByBit: [Int32]
    let pathAtoms: [PathAtoms]
    let pathAtomStages: [UInt8]
    /// `rootStage`: the automaton root has a group on the path that indexes whole values; the
    /// walk finds a leaf's whole-value atom as it records it, and with it (`atoms`' second
    /// value) the root group's posting list for that value, entered at the start of `step`.
    static let primaryStage: UInt8 = 1, affixStage: UInt8 = 2, rootStage: UInt8 = 4
    /// (path, kind, key) → atom id; for whole values at a path the root indexes, the second
    /// value is the root group's posting list for that atom (or -1).
    let atoms: ByteKeyTable
    /// The root's groups that still need a visit in `step`: the others only index whole values,
    /// which the walk serves from `atoms` (no visit, no second probe per leaf).
    let rootVisits: [Int32]
    // Case-sensitive prefixes per path, sorted: the ones a value starts with are found by one
    // binary search and a walk up `prefixParent` (the longest shorter prefix in the set).
    let prefixKeyStart: [Int32]  // into prefixKeys
    let prefixKeyLength: [Int32]
    let prefixKeys: [UInt8]
    let prefixAtom: [Int32]
    let prefixParent: [Int32]  // index, or -1
    // Conditions and branches (match and suppression)
    let fields: [FieldSpec]
    /// Per condition, how a leaf is tested: by its exact-value atom when the condition only
    /// compares whole strings, otherwise by its matchers.
    let leafTests: [LeafTest]
    let testAtoms: [Int32]
    let branchFields: [Range<Int32>]  // into branchConditions
    let branchConditions: [Int32]
    let branchPaths: [Int32]  // the path of each of branchConditions
    let branchRoute: [Int32]
    /// Two or more fields that need leaves: array consistency may have to be checked.
    let branchMultiField: [Bool]
    /// Per branch, the `pathBit`s of its paths (all ones when two of them share a bit): a
    /// check is needed only when two of these bits are among the event's arrayed paths.
    let branchArrayMask: [UInt64]
    let routeSuppressions: [Range<Int32>]  // into suppressionBranches
    /// One bit per route that has suppressions, in words of 64 routes.
    let routeSuppressible: [UInt64]
    let suppressionBranches: [Int32]
    let routeCount: Int
    // Condition automaton
    let states: CacheLineRecords<State>
    let terminalBranches: [Int32]
    let terminalRoutes: [Int32]  // the route of each of terminalBranches, ascending per state
    let groups: CacheLineRecords<Group>
    let groupSides: [GroupSide]
    let comparedAffixes: [ComparedAffix]
    /// Their bytes, then eight zero bytes (compared a word at a time, as `edgeKeys`).
    let comparedAffixKeys: [UInt8]
    let lengths: [Int32]
    let evaluatedStates: [Int32]
    /// The groups' exclusive children, group after group, as posting entries: the route when
    /// entering the child only sets it (`directRoute`), else the state. A child's position
    /// here also numbers its exclusion tally in the scratch, so one group's tallies are
    /// side by side (per state they were a random read each: 116 simulated D1 misses per
    /// finding at 10,000 routes).
    let exclusiveEntries: [Int32]
    /// (group << 32 | exact atom) → the group's exclusive children whose list holds that
    /// string, as a range of `exclusionChildren` (positions in `exclusiveEntries`): every
    /// other child holds on such a leaf.
    let exclusions: IntKeyTable
    let exclusionRanges: [Range<Int32>]
    let exclusionChildren: [Int32]
    /// Per branch, the pair of conditions (lower << 32 | higher) its automaton path already
    /// proved array-consistent (an exclusive child entered in its parent's elements), or
    /// `UInt64.max`: `arrayConsistent` need not check that pair again.
    let branchElementPair: [UInt64]
    let groupAtoms: IntKeyTable  // (group, atom) → posting list
    /// Posting lists, each its length then its entries (a posting list's id is the offset of
    /// its length): one array, so a list costs one cache line, not a range and its entries.
    /// An entry (`TapeWalker.enter`) is state << 3, | `enteredOnce` when no other entry of
    /// its group leads to that state, | `evaluate` when reaching the state needs its
    /// condition evaluated (a wildcard found by its literal prefix, one part of an `$and`);
    /// or route << 3 | `directRoute` when entering the state would only set that route, or
    /// k << 3 | `checkedRoute` when it would set `checkedRoutes[k]`'s route after a check.
    let postingEntries: [Int32]
    static let evaluate: Int32 = 1, enteredOnce: Int32 = 2
    /// A posting entry that names a route, not a state: its state is final for that one route,
    /// has nothing after it and needs no condition evaluated nor consistency check, so
    /// `TapeWalker.enter` sets the route without reading the state's stamp or record (a
    /// random read each, per matched route; setting a route twice is harmless).
    static let directRoute: Int32 = 4
    /// `directRoute` for a branch with two or more fields needing leaves: its route is set
    /// unless two of its paths have leaves in arrays and they are not array-consistent.
    static let checkedRoute: Int32 = directRoute | evaluate

    /// What a `checkedRoute` entry needs, in one 16-byte record (not the state's stamp and
    /// 32-byte record): the branch's `arrayMask`, the branch and its route.
    struct CheckedRoute: Sendable {
        var arrayMask: UInt64
        var branch: Int32
        var route: Int32
    }
    let checkedRoutes: [CheckedRoute]

    /// A posting entry for state `s` (`flags`: `evaluate`, `enteredOnce`).
    @inline(__always) static func stateEntry(_ s: Int32, _ flags: Int32) -> Int32 { s << 3 | flags }
    /// `substringKey(group, length, window)` → posting list of the wildcards whose longest
    /// literal segment starts with that window (a hash: a collision only adds a candidate).
    let substringTable: IntKeyTable
    /// A group's `numeric` / `cidr` number selects its index in these sets (CIDR: the same
    /// number in the IPv4 and the IPv6 set).
    let numericIntervals: IntervalIndexSet<UInt64>
    let cidrV4Intervals: IntervalIndexSet<UInt128>
    let cidrV6Intervals: IntervalIndexSet<UInt128>

    static func namespace(_ path: Int, _ kind: Kind) -> UInt64 { UInt64(path) << 3 | kind.rawValue }

    /// A path's bit in the per-event mask of paths with leaves in arrays (`arrayedPaths`).
    @inline(__always) static func pathBit(_ p: Int) -> UInt64 { 1 &<< UInt64(p & 63) }

    init(patterns: [Pattern], suppressions: [[Pattern]]) {
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

        // Branches: every $or alternative of every match pattern, then of every suppression.
        var fields: [FieldSpec] = []  // distinct field conditions: evaluated once per event, whatever shares them
        var conditionIds: [FieldCondition: Int32] = [:]
        var branchConditions: [Int32] = []
        var branchFields: [Range<Int32>] = []
        var branchRoute: [Int32] = []
        var branchMultiField: [Bool] = []
        func addBranch(_ branch: PatternBranch, route: Int) -> Int {
            let start = Int32(branchConditions.count)
            var needingLeaves = 0
            for written in branch.fields {
                let f = CompiledMatcher.canonical(written)
                let p = pathId(f.path)
                if let id = conditionIds[f] {
                    branchConditions.append(id)
                } else {
                    conditionIds[f] = Int32(fields.count)
                    branchConditions.append(Int32(fields.count))
                    fields.append(FieldSpec(path: Int32(p), matchers: f.leafMatchers, allowsAbsence: f.allowsAbsence))
                }
                if !f.leafMatchers.isEmpty { needingLeaves += 1 }
            }
            branchFields.append(start..<Int32(branchConditions.count))
            branchRoute.append(Int32(route))
            branchMultiField.append(needingLeaves >= 2)
            return branchFields.count - 1
        }
        var matchBranches: [Int] = []
        for (r, p) in patterns.enumerated() { for b in p.branches { matchBranches.append(addBranch(b, route: r)) } }
        var routeSuppressions: [Range<Int32>] = []
        var suppressionBranches: [Int32] = []
        // Routes repeat the same suppression (archived findings, a sandbox tag): one branch per
        // distinct list of conditions, so `finish` verifies it once per event.
        var sharedSuppressions: [[Int32]: Int] = [:]
        for r in patterns.indices {
            let start = Int32(suppressionBranches.count)
            for s in suppressions[r] {
                for b in s.branches {
                    var added = addBranch(b, route: r)
                    let conditions = Array(branchConditions[Int(branchFields[added].lowerBound)..<Int(branchFields[added].upperBound)])
                    if let earlier = sharedSuppressions[conditions] {
                        branchConditions.removeLast(conditions.count)
                        branchFields.removeLast()
                        branchRoute.removeLast()
                        branchMultiField.removeLast()
                        added = earlier
                    } else {
                        sharedSuppressions[conditions] = added
                    }
                    suppressionBranches.append(Int32(added))
                }
            }
            routeSuppressions.append(start..<Int32(suppressionBranches.count))
        }

        // Order each branch's conditions most selective first, so the automaton leaves the
        // root through few states. Selectivity is estimated from the patterns alone: a value
        // among many distinct values of its path (an account among 500) is more selective than
        // the one value every route repeats (`source: aws.guardduty`); conditions that cannot
        // be indexed go last. Ties go to the more shared condition, to share automaton prefixes.
        var distinct = [Set<ValueMatcher>](repeating: [], count: pathNames.count)
        var popularity = [Int](repeating: 0, count: fields.count)
        for b in matchBranches {
            for k in branchFields[b] {
                let c = Int(branchConditions[Int(k)])
                popularity[c] += 1
                for m in fields[c].matchers where CompiledMatcher.indexable(m) { distinct[Int(fields[c].path)].insert(m) }
            }
        }
        let conditionIndexable = fields.map { f in !f.allowsAbsence && !f.matchers.isEmpty && f.matchers.allSatisfy(CompiledMatcher.indexable) }
        // A numeric range is as selective as the share it covers of the span the path's
        // numbers are written over: 4,000 distinct pid ranges each covering a sixth of the
        // pids are not 4,000 distinct values (leading with them entered ~600 states per finding).
        var numericSpan = [(low: Double, high: Double)](repeating: (.infinity, -.infinity), count: pathNames.count)
        for f in fields {
            for case .numeric(let r) in f.matchers {
                for v in [r.lower, r.upper].compactMap({ $0 }) where v.isFinite {
                    numericSpan[Int(f.path)].low = min(numericSpan[Int(f.path)].low, v)
                    numericSpan[Int(f.path)].high = max(numericSpan[Int(f.path)].high, v)
                }
            }
        }
        let selectivity: [Double] = fields.indices.map { c in
            guard conditionIndexable[c] else { return 2 }
            let p = Int(fields[c].path)
            let share = fields[c].matchers.reduce(0.0) { total, m in
                if case .numeric(let r) = m, r.lower != r.upper {
                    let span = numericSpan[p]
                    guard span.high > span.low else { return total + 1 }
                    let covered = (min(r.upper ?? span.high, span.high) - max(r.lower ?? span.low, span.low)) / (span.high - span.low)
                    return total + max(covered, 1 / Double(distinct[p].count + 1))
                }
                return total + CompiledMatcher.breadth(CompiledMatcher.rank(m)) / Double(distinct[p].count + 1)
            }
            return min(1, share)
        }

        // The automaton: a trie over the ordered conditions.
        var stateCondition: [Int32] = [-1]
        var stateChildren: [[Int32]] = [[]]
        var terminals: [[Int32]] = [[]]
        var childOf: [Int64: Int32] = [:]
        var orderedConditions: [(branch: Int, conditions: [Int32])] = []
        for b in matchBranches {
            let conditions = branchConditions[Int(branchFields[b].lowerBound)..<Int(branchFields[b].upperBound)].sorted {
                (selectivity[Int($0)], -popularity[Int($0)], $0) < (selectivity[Int($1)], -popularity[Int($1)], $1)
            }
            var s: Int32 = 0
            for c in conditions {
                let key = Int64(s) << 32 | Int64(c)
                if let next = childOf[key] {
                    s = next
                } else {
                    let next = Int32(stateCondition.count)
                    stateCondition.append(c)
                    stateChildren.append([])
                    terminals.append([])
                    stateChildren[Int(s)].append(next)
                    childOf[key] = next
                    s = next
                }
            }
            terminals[Int(s)].append(Int32(b))
            orderedConditions.append((b, conditions))
        }

        // Index each state's outgoing conditions, grouped by path.
        var groups: [Group] = []
        var groupSides: [GroupSide] = []
        var stateGroups: [Range<Int32>] = []
        var lengths: [Int32] = []
        var evaluatedStates: [Int32] = []
        var exclusiveStates: [Int32] = []
        var exclusionLists: [UInt64: [Int32]] = [:]
        var exclusiveFixed: [Int32: Int32] = [:]  // exclusive child state → its parent's condition
        // Conditions that hold on any leaf but a few whole strings (`anything-but: [dev, test]`).
        let excludedStrings: [[String]?] = fields.map { f in
            guard !f.allowsAbsence, f.matchers.count == 1, case .anythingBut(let inner) = f.matchers[0] else { return nil }
            var strings: [String] = []
            for m in inner {
                guard case .string(let v) = m else { return nil }
                strings.append(v)
            }
            return strings
        }
        var atomIds: [UInt64: [[UInt8]: Int32]] = [:]  // (path, kind) → key → atom
        var atomEntries: [(namespace: UInt64, key: [UInt8], value: Int32)] = []
        var pathKinds = [Set<UInt64>](repeating: [], count: pathNames.count)
        var pathLengths = [[CompiledMatcher.Kind: Set<Int32>]](repeating: [:], count: pathNames.count)
        var groupAtomLists: [UInt64: Int] = [:]  // (group, atom) → posting list index
        var groupStages: [UInt8] = []  // per group, the atom stages it posts
        var lists: [[Int32]] = []
        func intern(_ p: Int, _ kind: Kind, _ key: [UInt8]) -> Int32 {
            let ns = CompiledMatcher.namespace(p, kind)
            pathKinds[p].insert(kind.rawValue)
            if let a = atomIds[ns]?[key] { return a }
            let atom = Int32(atomEntries.count)
            atomIds[ns, default: [:]][key] = atom
            atomEntries.append((ns, key, atom))
            return atom
        }
        func post(_ g: Int, _ p: Int, _ kind: Kind, _ key: [UInt8], _ entry: Int32) {
            let atom = intern(p, kind, key)
            switch kind {
            case .prefix, .suffix, .prefixIgnoreCase, .suffixIgnoreCase: pathLengths[p][kind, default: []].insert(Int32(key.count))
            default: break
            }
            switch kind {
            case .exact, .number, .literal: groupStages[g] |= CompiledMatcher.primaryStage
            default: groupStages[g] |= CompiledMatcher.affixStage
            }
            let k = UInt64(g) << 32 | UInt64(atom)
            if let l = groupAtomLists[k] {
                if !lists[l].contains(entry) { lists[l].append(entry) }
            } else {
                groupAtomLists[k] = lists.count
                lists.append([entry])
            }
        }
        // Intervals name posting lists by list index until the lists are laid out.
        var numericIntervalLists: [[(lower: UInt64, upper: UInt64, posting: Int32)]] = []
        var cidrIntervalLists: [(v4: [(lower: UInt128, upper: UInt128, posting: Int32)], v6: [(lower: UInt128, upper: UInt128, posting: Int32)])] = []
        var substringLists: [UInt64: Int] = [:]  // substringKey → posting list index
        for s in stateCondition.indices {
            var byPath: [Int32: [Int32]] = [:]
            var pathOrder: [Int32] = []
            for child in stateChildren[s] {
                let p = fields[Int(stateCondition[Int(child)])].path
                if byPath[p] == nil { pathOrder.append(p) }
                byPath[p, default: []].append(child)
            }
            let groupStart = Int32(groups.count)
            // The condition leading into this state, when it needs a leaf: its elements fix
            // where the children's `anything-but` lists are tested (a tag key, then its value).
            var fixed: Int32 = -1
            if s > 0 {
                let c = Int(stateCondition[s])
                if !fields[c].allowsAbsence && !fields[c].matchers.isEmpty { fixed = Int32(c) }
            }
            for p in pathOrder {
                let g = groups.count
                let pi = Int(p)
                var group = Group(path: p)
                var side = GroupSide()
                groupStages.append(0)
                var exclusive: [Int32] = []
                var numericIntervals: [(lower: UInt64, upper: UInt64, posting: Int32)] = []
                var cidrV4: [(lower: UInt128, upper: UInt128, posting: Int32)] = []
                var cidrV6: [(lower: UInt128, upper: UInt128, posting: Int32)] = []
                var evaluated: [Int32] = []
                var windowLengths: Set<Int32> = []
                func index(_ m: ValueMatcher, _ entry: Int32) {
                    switch m {
                    case .string(let s): post(g, pi, .exact, Array(s.utf8), entry)
                    case .number(let d): post(g, pi, .number, CompiledMatcher.numberKey(d), entry)
                    case .bool(let b): post(g, pi, .literal, [b ? UInt8(ascii: "t") : UInt8(ascii: "f")], entry)
                    case .null: post(g, pi, .literal, [UInt8(ascii: "n")], entry)
                    case .equalsIgnoreCase(let s): post(g, pi, .equalsIgnoreCase, Array(s.utf8), entry)
                    case .prefix(let s, let ignoreCase): post(g, pi, ignoreCase ? .prefixIgnoreCase : .prefix, Array(s.utf8), entry)
                    case .suffix(let s, let ignoreCase): post(g, pi, ignoreCase ? .suffixIgnoreCase : .suffix, Array(s.utf8), entry)
                    case .wildcard(let w) where w.starCount == 0:
                        index(.string(String(decoding: w.segments[0], as: UTF8.self)), entry)
                    case .wildcard(let w):
                        // Found by its literal prefix; the whole condition is then evaluated.
                        index(.prefix(String(decoding: w.literalPrefix, as: UTF8.self), ignoreCase: false), entry | 1)
                    case .numeric(let r):
                        if let lo = r.lower, let hi = r.upper, lo == hi, r.lowerInclusive, r.upperInclusive {
                            index(.number(lo), entry)
                            return
                        }
                        var lower: UInt64 = 0
                        var upper = UInt64.max
                        if let lo = r.lower { lower = orderedKey(lo) &+ (r.lowerInclusive ? 0 : 1) }
                        if let hi = r.upper { upper = orderedKey(hi) &- (r.upperInclusive ? 0 : 1) }
                        numericIntervals.append((lower, upper, Int32(lists.count)))
                        lists.append([entry])
                    case .cidr(let range), .ipAddress(let range, _):
                        let item = (range.lower, range.upper, Int32(lists.count))
                        if range.isIPv6 { cidrV6.append(item) } else { cidrV4.append(item) }
                        lists.append([entry])
                    case .all(let inner):
                        // Every inner matcher must hold: one indexable part finds it, then the
                        // whole condition is evaluated.
                        let best = inner.filter(CompiledMatcher.indexable).min { CompiledMatcher.rank($0) < CompiledMatcher.rank($1) }!
                        index(best, entry | 1)
                    default:
                        preconditionFailure("not indexable: \(m)")
                    }
                }
                for child in byPath[p]! {
                    let c = Int(stateCondition[Int(child)])
                    if conditionIndexable[c] {
                        for m in fields[c].matchers { index(m, child << 1) }
                    } else if fixed >= 0 && fields[Int(fixed)].path != p, let strings = excludedStrings[c] {
                        let position = Int32(exclusiveStates.count + exclusive.count)
                        exclusive.append(child)
                        exclusiveFixed[child] = fixed
                        for v in strings {
                            exclusionLists[UInt64(g) << 32 | UInt64(UInt32(intern(pi, .exact, Array(v.utf8)))), default: []].append(position)
                        }
                    } else if let window = CompiledMatcher.substringWindow(fields[c]) {
                        windowLengths.insert(Int32(window.length))
                        let key = CompiledMatcher.substringKey(g, window.length, window.word)
                        if let l = substringLists[key] {
                            if !lists[l].contains(child << 1 | 1) { lists[l].append(child << 1 | 1) }
                        } else {
                            substringLists[key] = lists.count
                            lists.append([child << 1 | 1])
                        }
                    } else {
                        evaluated.append(child)
                        if fields[c].allowsAbsence { group.flags.remove(.evaluatedNeedLeaf) }
                    }
                }
                if !windowLengths.isEmpty {
                    let start = Int32(lengths.count)
                    lengths += windowLengths.sorted()
                    side.substrings = start..<Int32(lengths.count)
                    group.flags.insert(.substrings)
                }
                if !exclusive.isEmpty {
                    let start = Int32(exclusiveStates.count)
                    exclusiveStates += exclusive
                    side.exclusive = start..<Int32(exclusiveStates.count)
                    side.fixedCondition = fixed
                    group.flags.insert(.exclusive)
                }
                if !numericIntervals.isEmpty {
                    group.numeric = Int32(numericIntervalLists.count)
                    numericIntervalLists.append(numericIntervals)
                }
                if !cidrV4.isEmpty || !cidrV6.isEmpty {
                    group.cidr = Int32(cidrIntervalLists.count)
                    cidrIntervalLists.append((cidrV4, cidrV6))
                }
                let evaluatedStart = Int32(evaluatedStates.count)
                evaluatedStates += evaluated
                group.evaluated = evaluatedStart..<Int32(evaluatedStates.count)
                groups.append(group)
                groupSides.append(side)
            }
            stateGroups.append(groupStart..<Int32(groups.count))
        }

        // Atoms per group: a single one compared directly, several through one integer table.
        var groupAtomKeys = [[Int32]](repeating: [], count: groups.count)
        for (k, l) in groupAtomLists { groupAtomKeys[Int(k >> 32)].append(Int32(l)) }
        for g in groups.indices {
            if groupStages[g] & CompiledMatcher.primaryStage != 0 { groups[g].flags.insert(.primaryAtoms) }
            if groupStages[g] & CompiledMatcher.affixStage != 0 { groups[g].flags.insert(.affixAtoms) }
        }
        // The root's whole-value lookups move into the walk (one probe of `atoms` per leaf
        // gives the atom and the root's postings): the root groups stop looking them up, and
        // those with nothing else to do are not visited at all.
        var rootServedPaths = Set<Int32>()
        var rootVisits: [Int32] = []
        for g in Int(stateGroups[0].lowerBound)..<Int(stateGroups[0].upperBound) {
            let group = groups[g]
            if group.flags.contains(.primaryAtoms) {
                rootServedPaths.insert(group.path)
                groups[g].flags.remove(.primaryAtoms)
            }
            let onlyWholeValues = group.flags.contains(.primaryAtoms) && !group.flags.contains(.affixAtoms) && group.numeric < 0 && group.cidr < 0
                && group.evaluated.isEmpty && !group.flags.contains(.exclusive) && !group.flags.contains(.substrings)
            if !onlyWholeValues { rootVisits.append(Int32(g)) }
        }
        for (k, l) in groupAtomLists {
            let g = Int(k >> 32)
            groups[g].flags.insert(.atoms)
            if groupAtomKeys[g].count == 1 {
                groups[g].singleAtom = Int32(truncatingIfNeeded: k & 0xFFFF_FFFF)
                groups[g].singlePosting = Int32(l)
            }
        }
        // Groups with a few affixes compare them.
        var groupAffixes = [[(atom: Int32, list: Int)]](repeating: [], count: groups.count)
        for (k, l) in groupAtomLists {
            let atom = Int32(truncatingIfNeeded: k & 0xFFFF_FFFF)
            if atomEntries[Int(atom)].namespace & 7 > Kind.literal.rawValue { groupAffixes[Int(k >> 32)].append((atom, l)) }
        }
        var comparedAffixLists: [(group: Int, atom: Int32, list: Int)] = []
        for g in groups.indices where !groupAffixes[g].isEmpty && groupAffixes[g].count <= CompiledMatcher.comparedAffixLimit {
            groups[g].flags.insert(.affixesCompared)
            let ignoringCase = groupAffixes[g].contains {
                let kind = atomEntries[Int($0.atom)].namespace & 7
                return kind != Kind.prefix.rawValue && kind != Kind.suffix.rawValue
            }
            if ignoringCase { groups[g].flags.insert(.comparedIgnoringCase) }
            // Atom order: the same tables compile to the same records.
            for a in groupAffixes[g].sorted(by: { $0.atom < $1.atom }) { comparedAffixLists.append((g, a.atom, a.list)) }
        }
        // Conditions that only compare whole strings are tested on a leaf's exact-value atom
        // (an integer compare) instead of its bytes: tag routes test `anything-but` lists on
        // every tag of every finding, and comparing strings was most of their cost.
        var leafTests: [LeafTest] = []
        var testAtoms: [Int32] = []
        for f in fields {
            let p = Int(f.path)
            var strings: [String] = []
            var negated = false
            if f.matchers.allSatisfy({ if case .string = $0 { return true } else { return false } }) {
                for case .string(let v) in f.matchers { strings.append(v) }
            } else if f.matchers.count == 1, case .anythingBut(let inner) = f.matchers[0],
                      inner.allSatisfy({ if case .string = $0 { return true } else { return false } }) {
                for case .string(let v) in inner { strings.append(v) }
                negated = true
            }
            if strings.isEmpty {
                leafTests.append(LeafTest(kind: .generic, atoms: 0..<0))
                continue
            }
            let start = Int32(testAtoms.count)
            for v in strings { testAtoms.append(intern(p, .exact, Array(v.utf8))) }
            leafTests.append(LeafTest(kind: negated ? .noneOfAtoms : .anyAtom, atoms: start..<Int32(testAtoms.count)))
        }

        var pathAtoms = [PathAtoms](repeating: PathAtoms(), count: pathNames.count)
        var prefixKeyStart: [Int32] = [], prefixKeyLength: [Int32] = [], prefixKeys: [UInt8] = []
        var prefixAtom: [Int32] = [], prefixParent: [Int32] = []
        for p in pathNames.indices {
            let sorted = (atomIds[CompiledMatcher.namespace(p, .prefix)] ?? [:]).sorted { $0.key.lexicographicallyPrecedes($1.key) }
            let start = prefixAtom.count
            for (k, (key, atom)) in sorted.enumerated() {
                prefixKeyStart.append(Int32(prefixKeys.count))
                prefixKeyLength.append(Int32(key.count))
                prefixKeys += key
                prefixAtom.append(atom)
                // Every prefix of `key` in the set sorts before it; the longest is its parent.
                var parent: Int32 = -1
                var j = k - 1
                while j >= 0 {
                    if key.starts(with: sorted[j].key) { parent = Int32(start + j); break }
                    j -= 1
                }
                prefixParent.append(parent)
            }
            pathAtoms[p].prefixes = Int32(start)..<Int32(prefixAtom.count)
            func stored(_ kind: Kind) -> Range<Int32> {
                let start = Int32(lengths.count)
                lengths += (pathLengths[p][kind] ?? []).sorted()
                return start..<Int32(lengths.count)
            }
            pathAtoms[p].exact = pathKinds[p].contains(Kind.exact.rawValue)
            pathAtoms[p].number = pathKinds[p].contains(Kind.number.rawValue)
            pathAtoms[p].literal = pathKinds[p].contains(Kind.literal.rawValue)
            pathAtoms[p].equalsIgnoreCase = pathKinds[p].contains(Kind.equalsIgnoreCase.rawValue)
            pathAtoms[p].prefixIgnoreCaseLengths = stored(.prefixIgnoreCase)
            pathAtoms[p].suffixLengths = stored(.suffix)
            pathAtoms[p].suffixIgnoreCaseLengths = stored(.suffixIgnoreCase)
        }
        // A state posted once in its parent's group (one indexed matcher, not a wildcard found
        // by a window, which can sit at several positions of a leaf) is entered at most once
        // per event when the group's path has one leaf: `enter` then skips its stamp (a
        // scratch word per state, a cache miss per matched route at 10,000 routes).
        var postedCount = [UInt8](repeating: 0, count: stateCondition.count)
        for l in lists {
            for entry in l { postedCount[Int(entry >> 1)] = min(postedCount[Int(entry >> 1)] &+ 1, 2) }
        }
        for l in substringLists.values { for entry in lists[l] { postedCount[Int(entry >> 1)] = 2 } }
        // Posting lists laid out as length + entries; list indices become offsets.
        var postingEntries: [Int32] = []
        var listOffset: [Int32] = []
        listOffset.reserveCapacity(lists.count)
        for l in lists {
            listOffset.append(Int32(postingEntries.count))
            postingEntries.append(Int32(l.count))
            for entry in l {
                let once: Int32 = postedCount[Int(entry >> 1)] == 1 ? CompiledMatcher.enteredOnce : 0
                postingEntries.append(CompiledMatcher.stateEntry(entry >> 1, once | entry & 1))
            }
        }
        for g in groups.indices where groups[g].singlePosting >= 0 {
            groups[g].singlePosting = listOffset[Int(groups[g].singlePosting)]
        }
        var comparedAffixes: [ComparedAffix] = []
        var comparedAffixKeys: [UInt8] = []
        for (g, atom, l) in comparedAffixLists {
            let key = atomEntries[Int(atom)].key
            if groupSides[g].comparedAffixes.isEmpty { groupSides[g].comparedAffixes = Int32(comparedAffixes.count)..<Int32(comparedAffixes.count) }
            comparedAffixes.append(ComparedAffix(
                keyStart: Int32(comparedAffixKeys.count), length: Int32(key.count), posting: listOffset[l],
                kind: UInt8(atomEntries[Int(atom)].namespace & 7)))
            comparedAffixKeys += key
            groupSides[g].comparedAffixes = groupSides[g].comparedAffixes.lowerBound..<Int32(comparedAffixes.count)
        }
        self.comparedAffixes = comparedAffixes
        self.comparedAffixKeys = comparedAffixKeys + [UInt8](repeating: 0, count: 8)
        let exclusionKeys = Array(exclusionLists.keys)
        let (exclusionRanges, exclusionChildren) = CompiledMatcher.flattened(exclusionKeys.map { exclusionLists[$0]! })
        var branchElementPair = [UInt64](repeating: .max, count: branchFields.count)
        for (b, conditions) in orderedConditions {
            var s: Int32 = 0
            for c in conditions {
                let next = childOf[Int64(s) << 32 | Int64(c)]!
                if let f = exclusiveFixed[next] {
                    branchElementPair[b] = UInt64(UInt32(min(f, c))) << 32 | UInt64(UInt32(max(f, c)))
                }
                s = next
            }
            // Its only two fields with leaves are that pair: nothing is left to check.
            if branchElementPair[b] != .max && conditions.count == 2 { branchMultiField[b] = false }
        }
        // In route order per state (branches are added route by route; sorted to be sure):
        // `TapeWalker.setRoutes` takes a run's word bounds from its first and last route.
        let (stateTerminals, terminalBranches) = CompiledMatcher.flattened(terminals.map { list in
            list.sorted { (branchRoute[Int($0)], $0) < (branchRoute[Int($1)], $1) }
        })
        let stateCount = stateCondition.count

        // Path-trie edges, grouped by node.
        let sortedEdges = edgeEntries.sorted { $0.namespace < $1.namespace }
        var nodeEdges = [Range<Int32>](repeating: 0..<0, count: nodePath.count)
        var edgeLength: [Int32] = [], edgeWord: [UInt64] = [], edgeKeyStart: [Int32] = [], edgeKeys: [UInt8] = [], edgeChild: [Int32] = []
        var e = 0
        while e < sortedEdges.count {
            let node = Int(sortedEdges[e].namespace)
            let start = Int32(edgeLength.count)
            while e < sortedEdges.count && Int(sortedEdges[e].namespace) == node {
                let key = sortedEdges[e].key
                var word: UInt64 = 0
                for (k, b) in key.prefix(8).enumerated() { word |= UInt64(b) << (8 * UInt64(k)) }
                edgeLength.append(Int32(key.count))
                edgeWord.append(word)
                edgeKeyStart.append(Int32(edgeKeys.count))
                edgeKeys += key
                edgeChild.append(sortedEdges[e].value)
                e += 1
            }
            nodeEdges[node] = start..<Int32(edgeLength.count)
        }

        self.edges = ByteKeyTable(edgeEntries)
        // Eight bytes of padding: the walk compares a long key's tail a word at a time.
        self.edgeKeys = edgeKeys + [UInt8](repeating: 0, count: 8)
        self.pathCount = pathNames.count
        self.pathNames = pathNames
        self.pathAtoms = pathAtoms
        self.pathAtomStages = pathAtoms.indices.map { p in
            pathAtoms[p].stages | (rootServedPaths.contains(Int32(p)) ? CompiledMatcher.rootStage : 0)
        }
        // Per atom, the root group's posting list for it (whole values only: an affix atom is
        // looked up in the root's visit, where it always was).
        var rootPostings = [Int32](repeating: -1, count: atomEntries.count)
        let rootGroups = stateGroups[0]
        for (k, l) in groupAtomLists where rootGroups.contains(Int32(truncatingIfNeeded: k >> 32)) {
            let atom = Int(k & 0xFFFF_FFFF)
            let kind = atomEntries[atom].namespace & 7
            if kind <= Kind.literal.rawValue { rootPostings[atom] = listOffset[l] }
        }
        self.atoms = ByteKeyTable(atomEntries, extras: rootPostings)
        self.rootVisits = rootVisits
        self.prefixKeyStart = prefixKeyStart
        self.prefixKeyLength = prefixKeyLength
        self.prefixKeys = prefixKeys
        self.prefixAtom = prefixAtom
        self.prefixParent = prefixParent
        self.nodes = nodeEdges.indices.map { n in
            let r = nodeEdges[n]
            return Node(
                filter: r.reduce(UInt64(0)) { filter, e in filter | 1 << CompiledMatcher.keyBitIndex(edgeWord[Int(e)], Int(edgeLength[Int(e)])) },
                longFilter: r.reduce(UInt64(0)) { filter, e in edgeLength[Int(e)] > 8 ? filter | CompiledMatcher.wordBit(edgeWord[Int(e)]) : filter },
                edgeStart: r.lowerBound, edgeEnd: r.upperBound, path: nodePath[n])
        }
        var edgeByBit = [Int32](repeating: -1, count: nodePath.count * 64)
        var edgeNextWithBit = [Int32](repeating: -1, count: edgeLength.count)
        for (node, r) in nodeEdges.enumerated() {
            for e in r.reversed() {
                let slot = node * 64 + Int(CompiledMatcher.keyBitIndex(edgeWord[Int(e)], Int(edgeLength[Int(e)])))
                edgeNextWithBit[Int(e)] = edgeByBit[slot]
                edgeByBit[slot] = e
            }
        }
        self.edgeByBit = edgeByBit
        self.edgeRecords = edgeLength.indices.map { e in
            Edge(word: edgeWord[e], length: edgeLength[e], child: edgeChild[e], nextWithBit: edgeNextWithBit[e], keyStart: edgeKeyStart[e])
        }
        self.fields = fields
        self.leafTests = leafTests
        self.testAtoms = testAtoms
        self.branchPaths = branchConditions.map { fields[Int($0)].path }
        self.branchFields = branchFields
        self.branchConditions = branchConditions
        self.branchRoute = branchRoute
        self.branchMultiField = branchMultiField
        self.routeSuppressions = routeSuppressions
        var routeSuppressible = [UInt64](repeating: 0, count: (patterns.count + 63) / 64)
        for (r, range) in routeSuppressions.enumerated() where !range.isEmpty { routeSuppressible[r >> 6] |= 1 &<< UInt64(r & 63) }
        self.routeSuppressible = routeSuppressible
        self.suppressionBranches = suppressionBranches
        self.terminalBranches = terminalBranches
        self.terminalRoutes = terminalBranches.map { branchRoute[Int($0)] }
        let branchArrayMask: [UInt64] = branchFields.map { range in
            var mask: UInt64 = 0
            for k in range {
                let bit = CompiledMatcher.pathBit(Int(fields[Int(branchConditions[Int(k)])].path))
                if mask & bit != 0 { return .max }  // two paths share a bit: always checked
                mask |= bit
            }
            return mask
        }
        self.branchArrayMask = branchArrayMask
        let stateRoute: [Int32] = stateCondition.indices.map { s in
            guard stateGroups[s].isEmpty, stateTerminals[s].count == 1 else { return -1 }
            let b = Int(terminalBranches[Int(stateTerminals[s].lowerBound)])
            if branchMultiField[b] && branchArrayMask[b] == .max { return -1 }  // always checked, in `complete`
            return branchRoute[b]
        }
        // The branches completing in one state have the same conditions: the first one's mask
        // stands for all of them (`TapeWalker.complete`).
        let stateArrayMask: [UInt64] = stateCondition.indices.map { s in
            guard !stateTerminals[s].isEmpty else { return 0 }
            let b = Int(terminalBranches[Int(stateTerminals[s].lowerBound)])
            return branchMultiField[b] ? branchArrayMask[b] : 0
        }
        self.states = CacheLineRecords((0..<stateCount).map { s in
            State(
                arrayMask: stateArrayMask[s], condition: stateCondition[s], route: stateRoute[s],
                groupStart: stateGroups[s].lowerBound, groupEnd: stateGroups[s].upperBound,
                terminalStart: stateTerminals[s].lowerBound, terminalEnd: stateTerminals[s].upperBound)
        })
        self.groups = CacheLineRecords(groups)
        self.lengths = lengths
        self.evaluatedStates = evaluatedStates
        // Entries of final one-route states (not evaluated) name the route, with what its
        // consistency check needs when the branch has two or more fields needing leaves.
        var checkedRoutes: [CheckedRoute] = []
        var checkedIndex: [Int: Int32] = [:]  // state → index in checkedRoutes
        func directEntry(_ s: Int) -> Int32? {
            guard stateRoute[s] >= 0 else { return nil }
            if stateArrayMask[s] == 0 { return stateRoute[s] << 3 | CompiledMatcher.directRoute }
            if let k = checkedIndex[s] { return k << 3 | CompiledMatcher.checkedRoute }
            let k = Int32(checkedRoutes.count)
            checkedIndex[s] = k
            checkedRoutes.append(CheckedRoute(
                arrayMask: stateArrayMask[s], branch: terminalBranches[Int(stateTerminals[s].lowerBound)], route: stateRoute[s]))
            return k << 3 | CompiledMatcher.checkedRoute
        }
        // An exclusive child is entered from its group alone, once per event: no stamp needed.
        // A group's direct routes go first (`GroupSide.directEnd`); the exclusion lists name
        // children by position, so they are renumbered.
        let unorderedEntries = exclusiveStates.map { t in directEntry(Int(t)) ?? CompiledMatcher.stateEntry(t, CompiledMatcher.enteredOnce) }
        var exclusiveEntries = unorderedEntries
        var exclusivePosition = Array(Int32(0)..<Int32(unorderedEntries.count))
        for g in groupSides.indices where !groupSides[g].exclusive.isEmpty {
            let range = groupSides[g].exclusive
            let isDirect = { (k: Int32) in
                unorderedEntries[Int(k)] & (CompiledMatcher.directRoute | CompiledMatcher.evaluate) == CompiledMatcher.directRoute
            }
            let direct = range.filter(isDirect)
            var at = range.lowerBound
            for k in direct + range.filter({ !isDirect($0) }) {
                exclusiveEntries[Int(at)] = unorderedEntries[Int(k)]
                exclusivePosition[Int(k)] = at
                at += 1
            }
            groupSides[g].directEnd = range.lowerBound + Int32(direct.count)
            for k in direct {
                let route = unorderedEntries[Int(k)] >> 3
                groupSides[g].directRoutes = (min(groupSides[g].directRoutes.low, route), max(groupSides[g].directRoutes.high, route))
            }
        }
        self.exclusiveEntries = exclusiveEntries
        self.groupSides = groupSides
        self.exclusions = IntKeyTable(exclusionKeys.enumerated().map { ($0.element, Int32($0.offset)) })
        self.exclusionRanges = exclusionRanges
        self.exclusionChildren = exclusionChildren.map { exclusivePosition[Int($0)] }
        self.branchElementPair = branchElementPair
        self.groupAtoms = IntKeyTable(groupAtomLists.map { ($0.key, listOffset[$0.value]) })
        var listStart = 0
        while listStart < postingEntries.count {
            let listEnd = listStart + 1 + Int(postingEntries[listStart])
            for slot in listStart + 1..<listEnd where postingEntries[slot] & CompiledMatcher.evaluate == 0 {
                if let direct = directEntry(Int(postingEntries[slot] >> 3)) { postingEntries[slot] = direct }
            }
            listStart = listEnd
        }
        self.postingEntries = postingEntries
        self.checkedRoutes = checkedRoutes
        self.substringTable = IntKeyTable(substringLists.map { ($0.key, listOffset[$0.value]) })
        func laidOut<Key: FixedWidthInteger & UnsignedInteger & Sendable>(_ intervals: [(lower: Key, upper: Key, posting: Int32)]) -> IntervalIndex<Key> {
            IntervalIndex(intervals.map { ($0.lower, $0.upper, listOffset[Int($0.posting)]) })
        }
        self.numericIntervals = IntervalIndexSet(numericIntervalLists.map { laidOut($0) })
        self.cidrV4Intervals = IntervalIndexSet(cidrIntervalLists.map { laidOut($0.v4) })
        self.cidrV6Intervals = IntervalIndexSet(cidrIntervalLists.map { laidOut($0.v6) })
    }

    /// A key's bit (0..<64) in a node's edge filter, from its length and first eight bytes.
    @inline(__always) static func keyBitIndex(_ word: UInt64, _ length: Int) -> UInt64 {
        // One multiply: the length folded into the word's top bits (a collision with a key's
        // eighth byte only costs an edge compare, never a wrong answer).
        ((word ^ UInt64(truncatingIfNeeded: length) &<< 58) &* 0x9E37_79B9_7F4A_7C15) >> 58
    }

    /// Lists as one flat array and a range into it per list.
    static func flattened(_ lists: [[Int32]]) -> (ranges: [Range<Int32>], flat: [Int32]) {
        var ranges: [Range<Int32>] = []
        var flat: [Int32] = []
        for l in lists {
            let start = Int32(flat.count)
            flat += l
            ranges.append(start..<Int32(flat.count))
        }
        return (ranges, flat)
    }

    /// A key's bit in a node's long-key filter, from its first eight bytes.
    @inline(__always) static func wordBit(_ word: UInt64) -> UInt64 {
        1 &<< ((word &* 0xC2B2_AE3D_27D4_EB4F) >> 58)
    }

    /// Whether a matcher can be found through an index (otherwise its condition is evaluated).
    /// The condition with its string lists sorted and without repeats: routes that list the
    /// same values in another order (`anything-but: [dev, test]`, `[test, dev]`) then share one
    /// condition, evaluated once per event, and one automaton state.
    static func canonical(_ f: FieldCondition) -> FieldCondition {
        func sortedStrings(_ list: [ValueMatcher]) -> [ValueMatcher]? {
            // By bytes: String's == would merge canonically equivalent spellings that
            // EventBridge tells apart.
            var strings: [[UInt8]: String] = [:]
            for m in list {
                guard case .string(let s) = m else { return nil }
                strings[Array(s.utf8)] = s
            }
            return strings.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { .string($0.value) }
        }
        if let strings = sortedStrings(f.matchers) { return FieldCondition(path: f.path, matchers: strings) }
        if f.matchers.count == 1, case .anythingBut(let inner) = f.matchers[0], let strings = sortedStrings(inner) {
            return FieldCondition(path: f.path, matchers: [.anythingBut(strings)])
        }
        return f
    }

    /// For a condition that is one wildcard with no literal prefix (`*team7-*-eks`, not found
    /// through the prefix atoms): up to eight bytes from the start of its longest literal
    /// segment, little-endian. Every value it matches holds that window somewhere.
    static func substringWindow(_ f: FieldSpec) -> (length: Int, word: UInt64)? {
        guard !f.allowsAbsence, f.matchers.count == 1, case .wildcard(let w) = f.matchers[0],
              w.starCount > 0, w.literalPrefix.isEmpty,
              let longest = w.segments.max(by: { $0.count < $1.count }), longest.count >= 2
        else { return nil }
        var word: UInt64 = 0
        for (k, b) in longest.prefix(8).enumerated() { word |= UInt64(b) << (8 * UInt64(k)) }
        return (min(longest.count, 8), word)
    }

    /// The `substringTable` key of a window of `length` bytes (`word`, zero above them) in a group.
    @inline(__always) static func substringKey(_ group: Int, _ length: Int, _ word: UInt64) -> UInt64 {
        var h = word &* 0x9E37_79B9_7F4A_7C15 ^ (UInt64(truncatingIfNeeded: group) << 4 | UInt64(truncatingIfNeeded: length)) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= h >> 31
        return h == .max ? h - 1 : h  // IntKeyTable's empty key
    }

    static func indexable(_ m: ValueMatcher) -> Bool {
        switch m {
        case .string, .number, .bool, .null, .equalsIgnoreCase, .numeric, .cidr, .ipAddress: return true
        case .prefix(let s, _), .suffix(let s, _): return !s.isEmpty
        case .wildcard(let w): return w.starCount == 0 || !w.literalPrefix.isEmpty
        case .all(let inner): return inner.contains(where: indexable)
        default: return false
        }
    }

    /// How well a matcher narrows the states it leads to (lower is better).
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
        let walker = TapeWalker(matcher: self, document: event.document, state: scratch.prepare(for: self))
        walker.state.begin()
        walker.walk(event.index, node: 0)
        walker.step()
        walker.finish()
    }
}

/// Per-thread working memory for matching. Reuse one per decoding thread: after a few events
/// it stops allocating. Not thread-safe; a scratch serves one `match` at a time.
public final class MatchScratch {
    let state: UnsafeMutablePointer<MatchState>

    public init() {
        state = .allocate(capacity: 1)
        state.initialize(to: MatchState())
    }

    deinit {
        state.pointee.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// The matcher the state was last sized for. Held, not identified by address: a reloaded
    /// table could be allocated where a freed one was.
    private var fitted: CompiledMatcher?

    /// The state, sized for `matcher`, for the walker to work on in place.
    func prepare(for matcher: CompiledMatcher) -> UnsafeMutablePointer<MatchState> {
        if fitted !== matcher {
            state.pointee.fit(matcher)
            fitted = matcher
        }
        return state
    }

    /// Routes whose match pattern matched the last event (before suppression), in route order.
    /// A slow path (tests); the hot readers below take the answer as `TapeWalker.finish` left it.
    var matchedRoutes: [Int] {
        let suppressed = state.pointee.suppressedRoutes
        return (unsuppressedRoutes + (0..<suppressed.count).map { Int(suppressed[$0]) }).sorted()
    }
    func isSuppressed(_ route: Int) -> Bool { state.pointee.isSuppressed(route) }

    /// Routes whose pattern matched the last event and no suppression did, in route order.
    var unsuppressedRoutes: [Int] { selectedRoutes(stopWords: nil) }

    /// Routes whose pattern matched the last event but a suppression removed, in route order.
    var suppressedRoutes: [Int] {
        let suppressed = state.pointee.suppressedRoutes
        return (0..<suppressed.count).map { Int(suppressed[$0]) }
    }

    /// Matched, unsuppressed routes in route order, up to and including the first whose bit in
    /// `stopWords` (one bit per route with `stop`, in words of 64) is set: the answer
    /// `TapeWalker.finish` wrote into the scratch, copied out. `[Int](unsafeUninitializedCapacity:)`
    /// allocated through the standard library's unspecialised `_allocateBufferUninitialized`
    /// (a generic metadata lookup per answer); the copy allocates through specialised code.
    func selectedRoutes(stopWords: [UInt64]?) -> [Int] {
        let answer = state.pointee.answer
        var n = answer.count
        if n == 0 { return [] }
        if let stopWords {
            var k = 0
            while k < n {
                let r = answer[k]
                k += 1
                if stopWords[r >> 6] & 1 &<< UInt64(r & 63) != 0 {
                    n = k
                    break
                }
            }
        }
        return Array(UnsafeBufferPointer(start: answer.base, count: n))
    }
}

/// A growable buffer of plain values owned by a `MatchScratch`: no copy on write, no
/// uniqueness checks, no reference counting in the hot loop.
struct ScratchArray<Element: BitwiseCopyable> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int = 16) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    var isEmpty: Bool { count == 0 }

    @inline(__always) subscript(_ i: Int) -> Element {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }

    @inline(__always) mutating func append(_ value: Element) {
        if count == capacity { grow() }
        base[count] = value
        count += 1
    }

    @inline(__always) mutating func popLast() -> Element? {
        if count == 0 { return nil }
        count -= 1
        return base[count]
    }

    @inline(__always) mutating func removeAll() { count = 0 }

    /// Room for `n` elements from `base` (the count is not changed).
    @inline(__always) mutating func reserveCapacity(_ n: Int) {
        while capacity < n { grow() }
    }

    /// The count after the first `n` elements were written through `base` (room reserved first).
    @inline(__always) mutating func setCount(_ n: Int) {
        assert(n <= capacity)
        count = n
    }


    mutating func grow() {
        let bigger = UnsafeMutablePointer<Element>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity *= 2
    }

    func deallocate() { base.deallocate() }
}

/// A fixed-size table of plain values, zero-filled.
struct ScratchTable<Element: BitwiseCopyable & FixedWidthInteger> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var count: Int

    init(count: Int) {
        self.count = count
        base = .allocate(capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
    }

    @inline(__always) subscript(_ i: Int) -> Element {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }

    func zero() { base.update(repeating: 0, count: count) }
    func deallocate() { base.deallocate() }
}

/// The mutable side of a match: moved out of its `MatchScratch` for the duration of one event.
/// Plain pointers and counts, so moving it costs nothing.
struct MatchState {
    struct Leaf {
        var tape: Int32
        var next: Int32  // previous leaf at the same path, or -1
        var trailStart: Int32
        var trailCount: Int32
        var atomStart: Int32  // into `atoms`: the affix atoms, once found
        var atomCount: Int32  // -1: not found yet
        var primaryAtom: Int32  // the whole-value atom, -1 if none, `notFound` if not looked up yet
        static let notFound: Int32 = -2
    }

    var generation: UInt32 = 0
    var leaves = ScratchArray<Leaf>(capacity: 64)
    var trails = ScratchArray<UInt64>(capacity: 64)  // (array tape index << 32 | element index)
    var arrayStack = ScratchArray<UInt64>(capacity: 16)
    var atoms = ScratchArray<Int32>(capacity: 64)
    var pending = ScratchArray<Int32>(capacity: 64)
    /// The root's posting lists the walk found (`TapeWalker.recordRootValue`): posting << 32 | path.
    var rootHits = ScratchArray<UInt64>(capacity: 32)
    /// Matched routes a suppression removed, in route order.
    var suppressedRoutes = ScratchArray<Int32>(capacity: 16)
    /// Matched routes no suppression removed, in route order (`TapeWalker.finish`), before
    /// they are copied out (`MatchScratch.selectedRoutes`).
    var answer = ScratchArray<Int>(capacity: 64)
    /// Per path, generation << 32 | its last leaf: stamp and head in one word, one load.
    var pathHead = ScratchTable<UInt64>(count: 0)
    var pathArrayed = ScratchTable<UInt32>(count: 0)  // stamp: some leaf at the path sits in an array
    var stateStamp = ScratchTable<UInt32>(count: 0)
    var suppressStamp = ScratchTable<UInt32>(count: 0)
    /// Per condition, generation << 32 | its result on this event (`TapeWalker.condition`).
    var conditionMemo = ScratchTable<UInt64>(count: 0)
    /// Per condition, the leaves satisfying it (for array consistency), memoised per event.
    var conditionLeafStamp = ScratchTable<UInt32>(count: 0)
    var conditionLeafSpan = ScratchTable<UInt64>(count: 0)
    var satisfying = ScratchArray<Int32>(capacity: 64)
    /// One bit per matched route (suppressed or not); the words set lie in
    /// `routeWordLow...routeWordHigh`, which `begin` zeroes for the next event.
    var routeBits = ScratchTable<UInt64>(count: 0)
    var routeWordLow = Int.max
    var routeWordHigh = -1
    /// `CompiledMatcher.pathBit` of every path with a leaf in an array on this event.
    var arrayedPaths: UInt64 = 0
    /// Per exclusive child (its position in `CompiledMatcher.exclusiveEntries`), generation << 32
    /// | how many of the leaves it was tested on are in its list.
    var exclusionTally = ScratchTable<UInt64>(count: 0)
    /// Per suppression branch, generation << 32 | its verification on this event (shared by
    /// the routes naming it).
    var branchMemo = ScratchTable<UInt64>(count: 0)
    /// The consistency search's candidate spans per field and the leaves chosen so far.
    var levels = ScratchArray<UInt64>(capacity: 8)
    var chosen = ScratchArray<Int32>(capacity: 8)
    /// Array consistency of two conditions, memoised per event (many routes share a pair such
    /// as tag key and tag value).
    var pairKey = ScratchTable<UInt64>(count: 256)
    var pairStamp = ScratchTable<UInt32>(count: 256)
    var pairResult = ScratchTable<UInt8>(count: 256)
    /// Per (condition, path), the leaves at the path in the elements of the condition's
    /// satisfying leaves, memoised per event (`TapeWalker.siblingLeaves`).
    var siblingKey = ScratchTable<UInt64>(count: 256)
    var siblingStamp = ScratchTable<UInt32>(count: 256)
    var siblingSpan = ScratchTable<UInt64>(count: 256)

    mutating func fit(_ m: CompiledMatcher) {
        func fitted<T>(_ t: inout ScratchTable<T>, _ n: Int) {
            if t.count < n {
                t.deallocate()
                t = ScratchTable(count: n)
            }
        }
        fitted(&pathHead, m.pathCount)
        fitted(&pathArrayed, m.pathCount)
        fitted(&stateStamp, m.states.count)
        fitted(&suppressStamp, m.routeCount)
        fitted(&conditionMemo, m.fields.count)
        fitted(&conditionLeafStamp, m.fields.count)
        fitted(&conditionLeafSpan, m.fields.count)
        fitted(&routeBits, (m.routeCount + 63) / 64)
        fitted(&exclusionTally, m.exclusiveEntries.count)
        fitted(&branchMemo, m.branchFields.count)
    }

    mutating func begin() {
        generation &+= 1
        if generation == 0 {
            // Wrapped: stale stamps could look current.
            for t in [pathArrayed, stateStamp, suppressStamp, conditionLeafStamp, pairStamp, siblingStamp] { t.zero() }
            for t in [pathHead, conditionMemo, exclusionTally, branchMemo] { t.zero() }
            generation = 1
        }
        leaves.removeAll()
        trails.removeAll()
        atoms.removeAll()
        arrayStack.removeAll()
        pending.removeAll()
        rootHits.removeAll()
        suppressedRoutes.removeAll()
        answer.removeAll()
        if routeWordLow <= routeWordHigh { (routeBits.base + routeWordLow).update(repeating: 0, count: routeWordHigh - routeWordLow + 1) }
        routeWordLow = Int.max
        routeWordHigh = -1
        arrayedPaths = 0
        satisfying.removeAll()
    }

    func isSuppressed(_ route: Int) -> Bool { route < suppressStamp.count && suppressStamp[route] == generation }

    func deallocate() {
        leaves.deallocate(); trails.deallocate(); arrayStack.deallocate(); atoms.deallocate()
        pending.deallocate(); rootHits.deallocate(); suppressedRoutes.deallocate(); answer.deallocate(); satisfying.deallocate(); levels.deallocate(); chosen.deallocate()
        for t in [pathArrayed, stateStamp, suppressStamp, conditionLeafStamp, pairStamp, siblingStamp] { t.deallocate() }
        for t in [pathHead, conditionMemo, exclusionTally, branchMemo] { t.deallocate() }
        conditionLeafSpan.deallocate(); routeBits.deallocate(); pairKey.deallocate(); pairResult.deallocate()
        siblingKey.deallocate(); siblingSpan.deallocate()
    }
}
