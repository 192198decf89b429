/// One event's pass through a `CompiledMatcher`: walks simdjson's tape along the path trie,
/// records the leaves at pattern paths, then steps through the condition automaton.
struct TapeWalker {
    let m: CompiledMatcher
    let tape: UnsafePointer<UInt64>
    let strings: UnsafePointer<UInt8>
    /// The scratch's state, worked on in place.
    let statePointer: UnsafeMutablePointer<MatchState>

    var state: MatchState {
        unsafeAddress { UnsafePointer(statePointer) }
        nonmutating unsafeMutableAddress { statePointer }
    }

    init(matcher: CompiledMatcher, document: JSONDocument, state: UnsafeMutablePointer<MatchState>) {
        m = matcher
        tape = document.tape
        strings = document.strings
        statePointer = state
    }

    static let objectType = UInt8(ascii: "{")
    static let arrayType = UInt8(ascii: "[")
    static let stringType = UInt8(ascii: "\"")

    @inline(__always) func type(_ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: tape[i] >> 56) }

    @inline(__always) func end(_ i: Int) -> Int { TapeWalker.end(tape, i) }

    @inline(__always) static func end(_ tape: UnsafePointer<UInt64>, _ i: Int) -> Int {
        let w = tape[i]
        switch UInt8(truncatingIfNeeded: w >> 56) {
        case TapeWalker.objectType, TapeWalker.arrayType: return Int(truncatingIfNeeded: w & 0xFFFF_FFFF)
        case UInt8(ascii: "l"), UInt8(ascii: "u"), UInt8(ascii: "d"): return i + 2
        default: return i + 1
        }
    }

    @inline(__always) func stringBytes(_ i: Int) -> UnsafeBufferPointer<UInt8> { TapeWalker.stringBytes(tape, strings, i) }

    @inline(__always) static func stringBytes(_ tape: UnsafePointer<UInt64>, _ strings: UnsafePointer<UInt8>, _ i: Int) -> UnsafeBufferPointer<UInt8> {
        let base = strings + Int(tape[i] & 0x00FF_FFFF_FFFF_FFFF)
        let length = UnsafeRawPointer(base).loadUnaligned(as: UInt32.self)
        return UnsafeBufferPointer(start: base + 4, count: Int(UInt32(littleEndian: length)))
    }

    @inline(__always) func number(_ i: Int) -> Double? {
        let next = tape[i + 1]
        switch type(i) {
        case UInt8(ascii: "d"): return Double(bitPattern: next)
        case UInt8(ascii: "l"): return Double(Int64(bitPattern: next))
        case UInt8(ascii: "u"): return Double(next)
        default: return nil
        }
    }

    // MARK: walk

    func walk(_ i: Int, node: Int32) {
        let tape = tape
        let w = tape[i]
        let t = UInt8(truncatingIfNeeded: w >> 56)
        if t == TapeWalker.objectType {
            let m = m
            let strings = strings
            let record = m.nodes[Int(node)]
            guard record.edgeStart < record.edgeEnd else { return }
            let filter = record.filter
            let longFilter = record.longFilter
            let stop = Int(truncatingIfNeeded: w & 0xFFFF_FFFF) - 1
            var k = i + 1
            while k < stop {
                let value = k + 1
                let child = TapeWalker.child(m, of: node, filter: filter, longFilter: longFilter, key: TapeWalker.stringBytes(tape, strings, k))
                // The value's word read once, for its kind and for the next key's index.
                let vw = tape[value]
                let vt = UInt8(truncatingIfNeeded: vw >> 56)
                let container = vt == TapeWalker.objectType || vt == TapeWalker.arrayType
                if child >= 0 {
                    if container {
                        walk(value, node: child)
                    } else {
                        // A scalar: recorded here, no call.
                        let p = m.nodes[Int(child)].path
                        if p >= 0 { self.record(Int(p), value) }
                    }
                }
                if container {
                    k = Int(truncatingIfNeeded: vw & 0xFFFF_FFFF)
                } else {
                    // Numbers take two tape words, other scalars one.
                    let number = vt == UInt8(ascii: "l") || vt == UInt8(ascii: "u") || vt == UInt8(ascii: "d")
                    k = value &+ (number ? 2 : 1)
                }
            }
        } else if t == TapeWalker.arrayType {
            let stop = Int(truncatingIfNeeded: w & 0xFFFF_FFFF) - 1
            var k = i + 1
            var index: UInt64 = 0
            state.arrayStack.append(UInt64(i) << 32)
            let top = state.arrayStack.count - 1
            while k < stop {
                state.arrayStack[top] = UInt64(i) << 32 | index
                walk(k, node: node)
                k = end(k)
                index += 1
            }
            _ = state.arrayStack.popLast()
        } else {
            let p = m.nodes[Int(node)].path
            if p >= 0 { record(Int(p), i) }
        }
    }

    /// The trie node reached from `node` by `key` (a key with dots walks several edges), or -1.
    /// A key is compared by length and first eight bytes (reading eight bytes from any string is
    /// safe: simdjson's string buffer is padded), and only with the edges sharing its filter bit.
    /// Dots are looked for only when no edge matched: edges are dot-free segments, so a key
    /// equal to one has none, and the ~21 keys per finding that match an edge skip the test
    /// (and a long key the scan of its tail).
    @inline(__always) static func child(
        _ m: CompiledMatcher, of node: Int32, filter: UInt64, longFilter: UInt64, key: UnsafeBufferPointer<UInt8>
    ) -> Int32 {
        let count = key.count
        let base = key.baseAddress!
        let raw = UnsafeRawPointer(base)
        var word = raw.loadUnaligned(as: UInt64.self)
        if count < 8 { word &= (1 &<< UInt64(count &* 8)) &- 1 }
        if count > 8 && longFilter & CompiledMatcher.wordBit(word) == 0 {
            // No edge longer than eight bytes starts with these eight: the whole key matches
            // none, and were it dotted, its first segment must end within them.
            return TapeWalker.hasDot(word) ? dottedChild(m, of: node, key: key) : -1
        }
        let bit = CompiledMatcher.keyBitIndex(word, count)
        if filter & (1 &<< bit) != 0 {
            var e = Int(m.edgeByBit[Int(node) &* 64 &+ Int(bit)])
            while e >= 0 {
                let edge = m.edgeRecords[e]
                if edge.word == word && Int(edge.length) == count {
                    if count <= 8 { return edge.child }
                    let equal = m.edgeKeys.withUnsafeBufferPointer { keys in
                        paddedTailsEqual(keys.baseAddress! + Int(edge.keyStart) + 8, base + 8, count - 8)
                    }
                    if equal { return edge.child }
                }
                e = Int(edge.nextWithBit)
            }
        }
        // No edge: a dotted key (rare; `a.b` keys are unusual in findings) walks several.
        if TapeWalker.hasDot(word) || (count > 8 && TapeWalker.hasDot(raw, from: 8, count)) { return dottedChild(m, of: node, key: key) }
        return -1
    }

    /// Whether `n` bytes at `a` and `b` are equal, compared a word at a time, the last word
    /// masked: both must be followed by eight readable bytes (`CompiledMatcher.edgeKeys` is
    /// padded for this, simdjson's string buffer is).
    @inline(__always) static func paddedTailsEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        while i < n {
            var x = UnsafeRawPointer(a).loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ UnsafeRawPointer(b).loadUnaligned(fromByteOffset: i, as: UInt64.self)
            if n - i < 8 { x &= (1 &<< UInt64((n - i) &* 8)) &- 1 }
            if x != 0 { return false }
            i += 8
        }
        return true
    }

    /// Whether one of the eight bytes of `word` is a dot (SWAR: a zero byte of word ^ "........").
    @inline(__always) static func hasDot(_ word: UInt64) -> Bool {
        let x = word ^ 0x2E2E_2E2E_2E2E_2E2E
        return (x &- 0x0101_0101_0101_0101) & ~x & 0x8080_8080_8080_8080 != 0
    }

    @inline(__always) static func hasDot(_ raw: UnsafeRawPointer, from start: Int, _ count: Int) -> Bool {
        var i = start
        while i < count {
            var word = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            if count - i < 8 { word &= (1 &<< UInt64((count - i) &* 8)) &- 1 }
            if hasDot(word) { return true }
            i += 8
        }
        return false
    }

    static func dottedChild(_ m: CompiledMatcher, of node: Int32, key: UnsafeBufferPointer<UInt8>) -> Int32 {
        var n = node
        var start = 0
        var k = 0
        let count = key.count
        while k < count {
            if key[k] == UInt8(ascii: ".") {
                n = m.edges.find(UInt64(n), key.baseAddress! + start, k - start)
                if n < 0 { return -1 }
                start = k + 1
            }
            k += 1
        }
        return m.edges.find(UInt64(n), key.baseAddress! + start, count - start)
    }

    /// Records the leaf at tape index `i` for path `p`. Inlined into the walk's scalar branch
    /// (a call and its checked conversions were a third of its ~75 instructions per leaf);
    /// tape indexes and counts fit in 32 bits (simdjson's tape words hold 32-bit indexes).
    @inline(__always) func record(_ p: Int, _ i: Int) {
        let gen = state.generation
        let slot = state.pathHead[p]
        let previous: Int32 = UInt32(truncatingIfNeeded: slot >> 32) == gen ? Int32(truncatingIfNeeded: slot) : -1
        state.pathHead[p] = UInt64(gen) << 32 | UInt64(UInt32(truncatingIfNeeded: state.leaves.count))
        let trailStart = Int32(truncatingIfNeeded: state.trails.count)
        let depth = state.arrayStack.count
        if depth > 0 { recordTrail(p, depth, gen) }
        // Atoms are found when a state first asks for their kind (-2 / -1: not yet).
        let kinds = m.pathAtomStages.withUnsafeBufferPointer { $0[p] }
        state.leaves.append(MatchState.Leaf(
            tape: Int32(truncatingIfNeeded: i), next: previous, trailStart: trailStart, trailCount: Int32(truncatingIfNeeded: depth),
            atomStart: 0, atomCount: kinds & CompiledMatcher.affixStage != 0 ? -1 : 0,
            primaryAtom: kinds & CompiledMatcher.primaryStage != 0 ? MatchState.Leaf.notFound : -1))
        if kinds & CompiledMatcher.rootStage != 0 { recordRootValue(p, i) }
    }

    /// The leaf just recorded is at a path where the root indexes whole values: its atom and
    /// the root's posting list for it come from one probe of the atom table. The posting is
    /// entered later, in `step`: entering needs every leaf recorded (evaluated conditions, the
    /// arrayed-path mask, whether the leaf is its path's only one).
    func recordRootValue(_ p: Int, _ i: Int) {
        let found = findPrimaryEntry(p, i)
        state.leaves[state.leaves.count - 1].primaryAtom = found.value
        if found.extra >= 0 { state.rootHits.append(UInt64(UInt32(bitPattern: found.extra)) << 32 | UInt64(UInt32(truncatingIfNeeded: p))) }
    }

    /// The array elements holding a leaf (its trail), for consistency checks.
    func recordTrail(_ p: Int, _ depth: Int, _ gen: UInt32) {
        for k in 0..<depth { state.trails.append(state.arrayStack[k]) }
        state.pathArrayed[p] = gen
        state.arrayedPaths |= CompiledMatcher.pathBit(p)
    }

    @inline(__always) @discardableResult
    func atom(_ p: Int, _ kind: CompiledMatcher.Kind, _ base: UnsafePointer<UInt8>?, _ count: Int, padded: Bool = false) -> Int32 {
        let ns = CompiledMatcher.namespace(p, kind)
        let a = padded && base != nil ? m.atoms.findPadded(ns, base.unsafelyUnwrapped, count) : m.atoms.find(ns, base, count)
        if a >= 0 { state.atoms.append(a) }
        return a
    }

    /// The named prefixes `value` starts with: the last prefix sorting at or before it, then up
    /// its parents (every prefix of `value` in the set is one of them).
    func prefixAtoms(_ range: Range<Int32>, _ value: UnsafePointer<UInt8>, _ n: Int) {
        var lo = Int(range.lowerBound)
        var hi = Int(range.upperBound)
        m.prefixKeys.withUnsafeBufferPointer { keys in
            while lo < hi {
                let mid = (lo + hi) >> 1
                let key = keys.baseAddress! + Int(m.prefixKeyStart[mid])
                if lexicographicCompare(key, Int(m.prefixKeyLength[mid]), value, n) <= 0 { lo = mid + 1 } else { hi = mid }
            }
            var e = lo - 1
            while e >= Int(range.lowerBound) {
                let length = Int(m.prefixKeyLength[e])
                if length <= n && memcmpBytes(keys.baseAddress! + Int(m.prefixKeyStart[e]), value, length) {
                    // It and all its parents are prefixes of the value.
                    while e >= 0 {
                        state.atoms.append(m.prefixAtom[e])
                        e = Int(m.prefixParent[e])
                    }
                    return
                }
                e = Int(m.prefixParent[e])
            }
        }
    }

    /// The leaf's one whole-value atom at path `p`: its exact string, number or literal if
    /// some pattern names it there, else -1. Found apart from the affixes: most groups only
    /// look up whole values (a type, an account), and the prefix search and suffix probes
    /// were paid on every leaf although only states entered late (an account's) ask for them.
    func findPrimaryAtom(_ p: Int, _ i: Int) -> Int32 { findPrimaryEntry(p, i).value }

    /// `findPrimaryAtom` with the atom table's second value (the root's posting list for it).
    @inline(__always) func findPrimaryEntry(_ p: Int, _ i: Int) -> ByteKeyTable.Entry {
        let info = m.pathAtoms[p]
        let t = type(i)
        if t == TapeWalker.stringType {
            guard info.exact else { return .absent }
            // A string in simdjson's padded buffer: its first sixteen bytes are two loads.
            let base = strings + Int(tape[i] & 0x00FF_FFFF_FFFF_FFFF)
            let count = Int(UInt32(littleEndian: UnsafeRawPointer(base).loadUnaligned(as: UInt32.self)))
            return m.atoms.entryPadded(CompiledMatcher.namespace(p, .exact), base + 4, count)
        } else if let d = number(i) {
            guard info.number else { return .absent }
            // The ordered key's bytes in memory order, as the table stored them.
            return m.atoms.entry(CompiledMatcher.namespace(p, .number), word: orderedKey(d), count: 8)
        } else if info.literal {
            let literal: UInt8 = t == UInt8(ascii: "t") ? UInt8(ascii: "t") : (t == UInt8(ascii: "f") ? UInt8(ascii: "f") : UInt8(ascii: "n"))
            return m.atoms.entry(CompiledMatcher.namespace(p, .literal), word: UInt64(literal), count: 1)
        }
        return .absent
    }

    /// The affix atoms of the (string) leaf at tape index `i`, appended to `state.atoms`: the
    /// prefixes and suffixes of it that patterns name at path `p`, and their ignore-case forms.
    func findAffixAtoms(_ p: Int, _ i: Int) {
        let info = m.pathAtoms[p]
        guard type(i) == TapeWalker.stringType else { return }
        let bytes = stringBytes(i)
        // A leaf's bytes point into simdjson's string buffer (never nil); guarded, not unwrapped.
        guard let base = bytes.baseAddress else { return }
        let n = bytes.count
        if !info.prefixes.isEmpty { prefixAtoms(info.prefixes, base, n) }
        for k in info.suffixLengths {
            let length = Int(m.lengths[Int(k)])
            if length > n { break }
            atom(p, .suffix, base + (n - length), length, padded: true)
        }
        if info.needsLowercase {
            func loweredAtoms(_ low: UnsafeBufferPointer<UInt8>) {
                let lb = low.baseAddress
                let ln = low.count
                if info.equalsIgnoreCase { atom(p, .equalsIgnoreCase, lb, ln) }
                for k in info.prefixIgnoreCaseLengths {
                    let length = Int(m.lengths[Int(k)])
                    if length > ln { break }
                    atom(p, .prefixIgnoreCase, lb, length)
                }
                for k in info.suffixIgnoreCaseLengths {
                    let length = Int(m.lengths[Int(k)])
                    if length > ln { break }
                    atom(p, .suffixIgnoreCase, lb! + (ln - length), length)
                }
            }
            if n <= 64 && bytes.allSatisfy({ $0 < 0x80 }) {
                // Short ASCII (a protocol, a status): lower-cased on the stack, not in an
                // array allocated per leaf.
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
                    for k in 0..<n {
                        let b = bytes[k]
                        buffer[k] = b >= 65 && b <= 90 ? b | 0x20 : b
                    }
                    loweredAtoms(UnsafeBufferPointer(rebasing: buffer[0..<n]))
                }
            } else {
                var lowered: [UInt8] = []
                lowercase(bytes, into: &lowered)
                lowered.withUnsafeBufferPointer { loweredAtoms($0) }
            }
        }
    }

    // MARK: automaton

    /// Steps through the automaton from the root: every state whose condition holds is
    /// entered once; a state where branches complete matches their routes.
    func step() {
        let gen = state.generation
        state.stateStamp[0] = gen
        // The root: branches with no condition, the whole values the walk found (one posting
        // list per leaf, `recordRootValue`), then the groups that still need a visit.
        let root = m.states[0]
        if root.terminalStart < root.terminalEnd { complete(root) }
        var h = 0
        while h < state.rootHits.count {
            let hit = state.rootHits[h]
            h += 1
            let leaf = head(Int(truncatingIfNeeded: hit & 0xFFFF_FFFF))
            // The hit's path has a leaf on this event (it came from one).
            let single = leaf >= 0 && state.leaves[Int(leaf)].next < 0
            addPosting(Int32(truncatingIfNeeded: hit >> 32), single: single)
        }
        m.rootVisits.withUnsafeBufferPointer { visits in
            for g in visits where hasWork(Int(g)) { visit(Int(g)) }
        }
        while let s = state.pending.popLast() {
            let record = m.states[Int(s)]
            if record.terminalStart < record.terminalEnd { complete(record) }
            var g = Int(record.groupStart)
            while g < Int(record.groupEnd) {
                if hasWork(g) { visit(g) }
                g += 1
            }
        }
    }

    /// Enters the state of a posting entry (`CompiledMatcher.postingEntries`). `single`: the
    /// entry was found on the only leaf at its group's path (or not on a leaf), so an entry
    /// marked `enteredOnce` cannot come again this event and needs no stamp.
    @inline(__always) func enter(_ entry: Int32, single: Bool) {
        if entry & CompiledMatcher.directRoute != 0 {
            if entry & CompiledMatcher.evaluate == 0 { setRoute(Int(entry >> 3)) } else { setCheckedRoute(Int(entry >> 3)) }
            return
        }
        let s = Int(entry >> 3)
        if !single || entry & CompiledMatcher.enteredOnce == 0 {
            if state.stateStamp[s] == state.generation { return }
            state.stateStamp[s] = state.generation
        }
        let record = m.states[s]
        if entry & CompiledMatcher.evaluate != 0 && condition(Int(record.condition)) == TapeWalker.conditionFails { return }
        // A final state with one route and nothing after it (an account list, a severity
        // floor, a tag's exclusions): its route is set here, not pushed, popped and completed
        // (~20 instructions less per matched route), unless its leaves need a consistency check.
        let r = record.route
        if r >= 0 {
            let arrayed = record.arrayMask & state.arrayedPaths
            if arrayed & (arrayed &- 1) == 0 {
                setRoute(Int(r))
                return
            }
        }
        state.pending.append(Int32(s))
    }

    /// `complete` for a state with one branch (`CompiledMatcher.checkedRoutes[k]`): its route,
    /// unless two of its paths have leaves in arrays and they are not array-consistent. A call
    /// of its own: inlined, it made `enter` too large for `addPosting` to be inlined.
    @inline(never) func setCheckedRoute(_ k: Int) {
        let checked = m.checkedRoutes[k]
        let arrayed = checked.arrayMask & state.arrayedPaths
        if arrayed & (arrayed &- 1) == 0 || arrayConsistent(Int(checked.branch)) { setRoute(Int(checked.route)) }
    }

    @inline(__always) func addPosting(_ posting: Int32, single: Bool) {
        var k = Int(posting) + 1
        let stop = k + Int(m.postingEntries[Int(posting)])
        while k < stop {
            enter(m.postingEntries[k], single: single)
            k += 1
        }
    }

    /// The outgoing conditions of a state on one path: evaluated ones, then index lookups for
    /// every leaf at the path.
    func visit(_ g: Int) {
        // The group's record is read in place: copying it to the stack was ~20 instructions
        // of each of the ~18 visits per finding.
        m.groups.withUnsafeBufferPointer { groups in
            guard g < groups.count, let base = groups.baseAddress else { return }
            visit(g, base + g)
        }
    }

    /// Whether group `g` can have work on this event. A group whose conditions all need a leaf
    /// at its path has none on an event with no leaf there (its evaluated conditions,
    /// exclusions, windows and lookups all start from the path's leaves): tested in `step`,
    /// without the call (a quarter of the visits per finding at 1,000 mixed routes).
    @inline(__always) func hasWork(_ g: Int) -> Bool {
        m.groups.withUnsafeBufferPointer { groups in
            guard g < groups.count, let base = groups.baseAddress else { return false }
            return !base[g].flags.contains(.evaluatedNeedLeaf) || head(Int(base[g].path)) >= 0
        }
    }

    /// Callers skip a group without work (`hasWork`): a group whose conditions need a leaf has one here.
    @inline(__always) func visit(_ g: Int, _ group: UnsafePointer<CompiledMatcher.Group>) {
        var k = Int(group.pointee.evaluated.lowerBound)
        while k < Int(group.pointee.evaluated.upperBound) {
            // Each evaluated child once per visit of its group: no stamp.
            enter(CompiledMatcher.stateEntry(m.evaluatedStates[k], CompiledMatcher.enteredOnce | CompiledMatcher.evaluate), single: true)
            k += 1
        }
        if group.pointee.flags.contains(.exclusive) { visitExclusive(g, path: Int(group.pointee.path)) }
        if group.pointee.flags.contains(.substrings) { visitSubstrings(g, path: Int(group.pointee.path)) }
        if !group.pointee.flags.contains(.atoms) && group.pointee.numeric < 0 && group.pointee.cidr < 0 { return }
        var leaf = head(Int(group.pointee.path))
        if leaf < 0 { return }
        let single = state.leaves[Int(leaf)].next < 0
        while leaf >= 0 {
            let l = state.leaves[Int(leaf)]
            lookups(g, group, Int(leaf), single: single)
            leaf = l.next
        }
    }

    /// The `anything-but` children of a state (a tag key's routes, each excluding its own
    /// values), entered on the leaves in the elements that satisfy the state's condition: a
    /// child holds unless every such leaf is in its list, and the lists are inverted at
    /// compile time (the leaf's atom → the children excluding it). The pair is then
    /// array-consistent by construction (`branchElementPair`): a tag route costs its state
    /// entry, not a condition evaluation and a consistency check.
    func visitExclusive(_ g: Int, path: Int) {
        let side = m.groupSides[g]
        let siblings = siblingLeaves(Int(side.fixedCondition), path: path)
        // No leaf satisfies the state's condition (cannot happen for a state entered on a
        // leaf): it does not hold, and no branch through it can match.
        if siblings == TapeWalker.noFixedLeaf { return }
        let start = Int(siblings >> 32)
        let count = UInt32(truncatingIfNeeded: siblings & 0xFFFF_FFFF)
        if count == 0 { return }  // no leaf to test the lists on in those elements
        let gen = state.generation
        var i = start
        while i < start + Int(count) {
            let exact = primaryAtom(Int(state.satisfying[i]), path: path)
            i += 1
            if exact < 0 { continue }  // not a listed string: every child holds on it
            let list = m.exclusions.find(UInt64(g) << 32 | UInt64(UInt32(exact)))
            if list < 0 { continue }
            for k in m.exclusionRanges[Int(list)] {
                let t = Int(m.exclusionChildren[Int(k)])
                let tally = state.exclusionTally[t]
                state.exclusionTally[t] = tally >> 32 == UInt64(gen) ? tally &+ 1 : UInt64(gen) << 32 | 1
            }
        }
        // The group's children and their tallies are side by side (`exclusiveEntries`). Most
        // are direct routes (a tag route each: ~70 per finding at 10,000 mixed routes), first
        // in the group (`GroupSide.directEnd`): each is set unless excluded without a branch,
        // through a `RouteRun` whose bounds cover them all at once (`GroupSide.directRoutes`).
        // The others are entered. The tallies and entries are read through local pointers:
        // through the scratch and the matcher they were reloaded for every child (the
        // bitmap's stores may alias them).
        var run = RouteRun(state)
        run.cover(Int(side.directRoutes.low), Int(side.directRoutes.high))
        let tallies = state.exclusionTally
        let excluded = UInt64(gen) << 32 | UInt64(count)
        m.exclusiveEntries.withUnsafeBufferPointer { entries in
            guard let entry = entries.baseAddress, Int(side.exclusive.upperBound) <= entries.count else { return }
            var k = Int(side.exclusive.lowerBound)
            let directEnd = Int(side.directEnd)
            while k < directEnd {
                run.setBit(Int(entry[k] >> 3), if: tallies[k] != excluded)
                k += 1
            }
            run.store(into: statePointer)
            let stop = Int(side.exclusive.upperBound)
            while k < stop {
                if tallies[k] != excluded { enter(entry[k], single: true) }
                k += 1
            }
        }
    }

    /// Wildcards with no literal prefix, entered (to be evaluated) when a window of their
    /// longest literal segment is in a string leaf at the path: a few table probes per leaf
    /// instead of evaluating every such wildcard (120 `*teamN-*-eks` routes on every cluster name).
    func visitSubstrings(_ g: Int, path: Int) {
        let substrings = m.groupSides[g].substrings
        var leaf = head(path)
        while leaf >= 0 {
            let l = state.leaves[Int(leaf)]
            leaf = l.next
            let i = Int(l.tape)
            guard type(i) == TapeWalker.stringType else { continue }
            let bytes = stringBytes(i)
            let n = bytes.count
            // Eight bytes are read at every position: simdjson's string buffer is padded.
            let raw = UnsafeRawPointer(bytes.baseAddress!)
            for k in substrings {
                let length = Int(m.lengths[Int(k)])
                if length > n { break }  // sorted
                let mask: UInt64 = length == 8 ? .max : (1 &<< UInt64(length &* 8)) &- 1
                var p = 0
                while p <= n - length {
                    let word = raw.loadUnaligned(fromByteOffset: p, as: UInt64.self) & mask
                    let posting = m.substringTable.find(CompiledMatcher.substringKey(g, length, word))
                    if posting >= 0 { addPosting(posting, single: false) }
                    p += 1
                }
            }
        }
    }

    /// The leaf's whole-value atom (found once per leaf and event), or -1.
    @inline(__always) func primaryAtom(_ leafIndex: Int, path: Int) -> Int32 {
        let a = state.leaves[leafIndex].primaryAtom
        if a != MatchState.Leaf.notFound { return a }
        let found = findPrimaryAtom(path, Int(state.leaves[leafIndex].tape))
        state.leaves[leafIndex].primaryAtom = found
        return found
    }

    /// The leaf with its affix atoms found (once per leaf and event).
    @inline(__always) func leafWithAffixes(_ leafIndex: Int, path: Int) -> MatchState.Leaf {
        var leaf = state.leaves[leafIndex]
        if leaf.atomCount < 0 {
            let start = state.atoms.count
            findAffixAtoms(path, Int(leaf.tape))
            leaf.atomStart = Int32(start)
            leaf.atomCount = Int32(state.atoms.count - start)
            state.leaves[leafIndex] = leaf
        }
        return leaf
    }

    /// Whether the leaf satisfies condition `c` (at the condition's path).
    @inline(__always) func holds(_ c: Int, _ leafIndex: Int32) -> Bool {
        let test = m.leafTests[c]
        if test.kind == .generic {
            let tape = Int(state.leaves[Int(leafIndex)].tape)
            return m.fields[c].matchers.contains { self.test($0, tape) }
        }
        let exact = primaryAtom(Int(leafIndex), path: Int(m.fields[c].path))
        var found = false
        if exact >= 0 {
            var j = Int(test.atoms.lowerBound)
            while j < Int(test.atoms.upperBound) {
                if m.testAtoms[j] == exact {
                    found = true
                    break
                }
                j += 1
            }
        }
        return test.kind == .anyAtom ? found : !found
    }

    @inline(__always) func lookup(_ g: Int, _ group: UnsafePointer<CompiledMatcher.Group>, _ a: Int32, single: Bool) {
        if group.pointee.singleAtom >= 0 {
            if a == group.pointee.singleAtom { addPosting(group.pointee.singlePosting, single: single) }
        } else {
            let posting = m.groupAtoms.find(UInt64(g) << 32 | UInt64(UInt32(a)))
            if posting >= 0 { addPosting(posting, single: single) }
        }
    }

    /// Index lookups of one leaf at the group's path; `single`: it is the path's only leaf.
    /// Inlined into `visit` (a call per leaf and group); the group is read in place.
    @inline(__always) func lookups(_ g: Int, _ group: UnsafePointer<CompiledMatcher.Group>, _ leafIndex: Int, single: Bool) {
        if group.pointee.flags.contains(.atoms) {
            // A leaf's atoms of the kinds this group indexes only: its whole value, its affixes.
            if group.pointee.flags.contains(.primaryAtoms) {
                let a = primaryAtom(leafIndex, path: Int(group.pointee.path))
                if a >= 0 { lookup(g, group, a, single: single) }
            }
            let compared = group.pointee.flags.contains(.affixesCompared) && compareAffixes(g, group, leafIndex, single: single)
            if !compared && group.pointee.flags.contains(.affixAtoms) {
                let leaf = leafWithAffixes(leafIndex, path: Int(group.pointee.path))
                var k = Int(leaf.atomStart)
                let stop = k + Int(leaf.atomCount)
                while k < stop {
                    lookup(g, group, state.atoms[k], single: single)
                    k += 1
                }
            }
        }
        if group.pointee.numeric < 0 && group.pointee.cidr < 0 { return }
        let i = Int(state.leaves[leafIndex].tape)
        if group.pointee.cidr >= 0 && type(i) == TapeWalker.stringType, let ip = IPRange.parseAddress(stringBytes(i)) {
            // The index sets are read in place (`IntervalIndexSet`): no index copied, retained, released.
            let index = Int(group.pointee.cidr)
            if ip.isIPv6 {
                for k in m.cidrV6Intervals.lookup(index, ip.address) { addPosting(m.cidrV6Intervals.members[Int(k)], single: single) }
            } else {
                for k in m.cidrV4Intervals.lookup(index, ip.address) { addPosting(m.cidrV4Intervals.members[Int(k)], single: single) }
            }
        } else if group.pointee.numeric >= 0, let d = number(i) {
            let index = Int(group.pointee.numeric)
            for k in m.numericIntervals.lookup(index, orderedKey(d)) { addPosting(m.numericIntervals.members[Int(k)], single: single) }
        }
    }

    /// The group's few affixes (`CompiledMatcher.ComparedAffix`) compared with the leaf's
    /// bytes, a word at a time (the keys are padded, and so is simdjson's string buffer); an
    /// ignore-case affix with the leaf's ASCII letters lowered in the word. False, with nothing
    /// posted, when the group ignores case and the leaf is not ASCII (`String.lowercased()` may
    /// turn other letters into ASCII ones: the atom lookup decides).
    func compareAffixes(_ g: Int, _ group: UnsafePointer<CompiledMatcher.Group>, _ leafIndex: Int, single: Bool) -> Bool {
        let i = Int(state.leaves[leafIndex].tape)
        guard type(i) == TapeWalker.stringType else { return true }
        let bytes = stringBytes(i)
        guard let base = bytes.baseAddress else { return true }
        let n = bytes.count
        if group.pointee.flags.contains(.comparedIgnoringCase) && !TapeWalker.isASCII(base, n) { return false }
        let range = m.groupSides[g].comparedAffixes
        m.comparedAffixKeys.withUnsafeBufferPointer { keys in
            guard let keyBase = keys.baseAddress else { return }
            var k = Int(range.lowerBound)
            while k < Int(range.upperBound) {
                let affix = m.comparedAffixes[k]
                k += 1
                let length = Int(affix.length)
                let key = keyBase + Int(affix.keyStart)
                let equal: Bool
                switch affix.kind {
                case UInt8(CompiledMatcher.Kind.prefix.rawValue):
                    equal = length <= n && TapeWalker.paddedTailsEqual(key, base, length)
                case UInt8(CompiledMatcher.Kind.suffix.rawValue):
                    equal = length <= n && TapeWalker.paddedTailsEqual(key, base + (n - length), length)
                case UInt8(CompiledMatcher.Kind.prefixIgnoreCase.rawValue):
                    equal = length <= n && TapeWalker.paddedLoweredEqual(key, base, length)
                case UInt8(CompiledMatcher.Kind.suffixIgnoreCase.rawValue):
                    equal = length <= n && TapeWalker.paddedLoweredEqual(key, base + (n - length), length)
                default:  // equals-ignore-case
                    equal = length == n && TapeWalker.paddedLoweredEqual(key, base, length)
                }
                if equal { addPosting(affix.posting, single: single) }
            }
        }
        return true
    }

    /// Whether `n` bytes at `p` (followed by eight readable bytes) are all ASCII.
    @inline(__always) static func isASCII(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        while i < n {
            var w = UnsafeRawPointer(p).loadUnaligned(fromByteOffset: i, as: UInt64.self)
            if n - i < 8 { w &= (1 &<< UInt64((n - i) &* 8)) &- 1 }
            if w & 0x8080_8080_8080_8080 != 0 { return false }
            i += 8
        }
        return true
    }

    /// `paddedTailsEqual` with the ASCII letters of `b`'s words lowered (`b` is ASCII: no byte
    /// of a masked word carries into the next when 0x3F is added).
    @inline(__always) static func paddedLoweredEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        while i < n {
            let mask: UInt64 = n - i < 8 ? (1 &<< UInt64((n - i) &* 8)) &- 1 : .max
            let x = UnsafeRawPointer(a).loadUnaligned(fromByteOffset: i, as: UInt64.self) & mask
            let y = UnsafeRawPointer(b).loadUnaligned(fromByteOffset: i, as: UInt64.self) & mask
            // A byte's top bit: at least "A" (y + 0x3F) and not above "Z" (y + 0x25).
            let upper = (y &+ 0x3F3F_3F3F_3F3F_3F3F) & ~(y &+ 0x2525_2525_2525_2525) & 0x8080_8080_8080_8080
            if x != y | upper >> 2 { return false }
            i += 8
        }
        return true
    }

    /// Match branches reached their final state: every condition holds, each on some leaf.
    /// With two or more fields in arrays, the leaves must also be array-consistent. The
    /// branches completing in one state have the same conditions (the state's path from the
    /// root), so that check is made once for all of them: broad routes repeat one pattern
    /// (a role and a flag), and 150 routes per finding completed in one state at 10,000 routes.
    @inline(__always)
    func complete(_ record: CompiledMatcher.State) {
        // Fewer than two of its paths have leaves in arrays on this event: nothing to check.
        let mask = record.arrayMask
        if mask != 0 {
            let arrayed = mask & state.arrayedPaths
            if (mask == .max || arrayed & (arrayed &- 1) != 0) && !arrayConsistent(Int(m.terminalBranches[Int(record.terminalStart)])) { return }
        }
        setRoutes(Int(record.terminalStart)..<Int(record.terminalEnd))
    }

    /// `setRoute` for the routes of `terminalRoutes[range]` (a broad state completes ~135
    /// routes per finding at 10,000 mixed routes), through a `RouteRun` whose bounds come from
    /// the first and last route (a state's routes are in ascending order).
    @inline(__always) func setRoutes(_ range: Range<Int>) {
        if range.isEmpty { return }
        var run = RouteRun(state)
        m.terminalRoutes.withUnsafeBufferPointer { routes in
            guard let first = routes.baseAddress, range.upperBound <= routes.count else { return }
            run.cover(Int(first[range.lowerBound]), Int(first[range.upperBound - 1]))
            // Walked by pointer: a `for` over the range tested for its last index as well.
            var route = first + range.lowerBound
            let end = first + range.upperBound
            while route < end {
                run.setBit(Int(route.pointee))
                route += 1
            }
        }
        run.store(into: statePointer)
    }

    /// Sets a matched route in the route bitmap: a route matched by two branches is set once,
    /// and `finish` reads the routes out of it in route order (no sort).
    @inline(__always) func setRoute(_ r: Int) {
        let w = r >> 6
        state.routeBits[w] |= 1 &<< UInt64(r & 63)
        if w < state.routeWordLow { state.routeWordLow = w }
        if w > state.routeWordHigh { state.routeWordHigh = w }
    }

    /// Whether branch `b`'s leaves can be chosen array-consistently. Only fields with leaves in
    /// arrays matter; with exactly two (a tag's key and value) the answer is memoised per event.
    func arrayConsistent(_ b: Int) -> Bool {
        let gen = state.generation
        var arrayed = 0
        var first: Int32 = 0, second: Int32 = 0
        let range = m.branchFields[b]
        for k in Int(range.lowerBound)..<Int(range.upperBound) {
            let c = m.branchConditions[k]
            if state.pathArrayed[Int(m.branchPaths[k])] == gen {
                if arrayed == 0 { first = c } else { second = c }
                arrayed += 1
            }
        }
        if arrayed < 2 { return true }
        if arrayed > 2 { return consistent(b) }
        let key = UInt64(UInt32(min(first, second))) << 32 | UInt64(UInt32(max(first, second)))
        if m.branchElementPair[b] == key { return true }  // proved when the automaton entered it
        let slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 56)
        if state.pairStamp[slot] == gen && state.pairKey[slot] == key { return state.pairResult[slot] != 0 }
        let result = pairConsistent(first, second)
        state.pairStamp[slot] = gen
        state.pairKey[slot] = key
        state.pairResult[slot] = result ? 1 : 0
        return result
    }

    // MARK: verification

    /// The answer, in one pass over the route bitmap's words: a matched route with
    /// suppressions (`routeSuppressible`) is verified, and listed apart if one holds; the
    /// others are written into `state.answer` in route order, which `MatchScratch.selectedRoutes`
    /// copies out. One pass, not two (suppressions, then the answer): each pass cost ~11
    /// instructions a word, and a finding's matches span ~150 words at 10,000 mixed routes.
    func finish() {
        let low = state.routeWordLow, high = state.routeWordHigh
        if high < low { return }
        let bits = state.routeBits
        // Four slots of room past the last route: a word's first four routes are written
        // whether or not it has them (below).
        state.answer.reserveCapacity((high - low + 1) &* 64 &+ 4)
        let out = state.answer.base
        var n = 0
        m.routeSuppressible.withUnsafeBufferPointer { suppressibleWords in
            // The bitmap's words and these both cover every route.
            guard high < suppressibleWords.count, let suppressibleWord = suppressibleWords.baseAddress else { return }
            var w = low
            while w <= high {
                var word = bits[w]
                let base = w << 6
                let suppressible = word & suppressibleWord[w]
                if suppressible != 0 { word = unsuppressed(word, suppressible, base: base) }
                // A word's first four routes without a branch: a word holds 0, 1, 2 or more
                // routes about as often each (~1.4 on average at 10,000 mixed routes), and a
                // loop exit at that count, which differs from word to word and finding to
                // finding, was the matcher's most mispredicted branch (after two slots, ~66
                // routes per finding were left to the loop at 10,000 mixed routes; after four,
                // ~12). A slot is written and not counted when there is no route for it.
                TapeWalker.writeLowestRoute(&word, base: base, to: out, &n)
                TapeWalker.writeLowestRoute(&word, base: base, to: out, &n)
                TapeWalker.writeLowestRoute(&word, base: base, to: out, &n)
                TapeWalker.writeLowestRoute(&word, base: base, to: out, &n)
                while word != 0 {
                    out[n] = base | word.trailingZeroBitCount
                    n &+= 1
                    word &= word &- 1
                }
                w &+= 1
            }
        }
        state.answer.setCount(n)
    }

    /// Writes `word`'s lowest route at `out[n]` and removes it from `word`, without a branch:
    /// `n` counts it only if `word` had one (the slot is written either way).
    @inline(__always) static func writeLowestRoute(_ word: inout UInt64, base: Int, to out: UnsafeMutablePointer<Int>, _ n: inout Int) {
        out[n] = base | word.trailingZeroBitCount
        n &+= word != 0 ? 1 : 0
        word &= word &- 1
    }

    /// `word` (the bitmap's word of routes `base` to `base + 63`) without its routes in
    /// `suppressible` that one of their suppressions removes; those are listed apart. A call
    /// of its own: inlined, its loop's registers spilled `finish`'s (~16 % of the words).
    @inline(never) func unsuppressed(_ word: UInt64, _ suppressible: UInt64, base: Int) -> UInt64 {
        let gen = state.generation
        var word = word
        var suppressible = suppressible
        // Read through pointers: through the matcher's arrays, their bounds were checked and
        // their bases reloaded for every route.
        m.routeSuppressions.withUnsafeBufferPointer { ranges in
            m.suppressionBranches.withUnsafeBufferPointer { branches in
                while suppressible != 0 {
                    let r = base | suppressible.trailingZeroBitCount
                    let bit = suppressible & (0 &- suppressible)
                    suppressible &= suppressible &- 1
                    guard r < ranges.count, Int(ranges[r].upperBound) <= branches.count else { continue }
                    var k = Int(ranges[r].lowerBound)
                    let end = Int(ranges[r].upperBound)
                    while k < end {
                        if verifyOnce(Int(branches[k])) {
                            state.suppressStamp[r] = gen
                            word &= ~bit
                            state.suppressedRoutes.append(Int32(truncatingIfNeeded: r))
                            break
                        }
                        k += 1
                    }
                }
            }
        }
        return word
    }

    @inline(__always) func head(_ p: Int) -> Int32 {
        let slot = state.pathHead[p]
        return UInt32(truncatingIfNeeded: slot >> 32) == state.generation ? Int32(truncatingIfNeeded: slot) : -1
    }

    /// Result codes of a field condition on this event.
    static let conditionFails: UInt8 = 1, conditionHolds: UInt8 = 2, conditionHoldsInArray: UInt8 = 3

    /// Whether field condition `c` holds on this event (memoised per event: branches of many
    /// routes share conditions such as `region` or a type prefix).
    @inline(__always) func condition(_ c: Int) -> UInt8 {
        let memo = state.conditionMemo[c]
        if UInt32(truncatingIfNeeded: memo >> 32) == state.generation { return UInt8(truncatingIfNeeded: memo) }
        let r = evaluateCondition(c)
        state.conditionMemo[c] = UInt64(state.generation) << 32 | UInt64(r)
        return r
    }

    func evaluateCondition(_ c: Int) -> UInt8 {
        let path = Int(m.fields[c].path)
        var leaf = head(path)
        if leaf < 0 { return m.fields[c].allowsAbsence ? TapeWalker.conditionHolds : TapeWalker.conditionFails }
        if state.pathArrayed[path] == state.generation {
            // Leaves in arrays: one satisfying leaf is enough here; a consistency check tests
            // only the leaves in the elements it needs (`pairConsistent`).
            if state.conditionLeafStamp[c] == state.generation {
                return state.conditionLeafSpan[c] & 0xFFFF_FFFF == 0 ? TapeWalker.conditionFails : TapeWalker.conditionHoldsInArray
            }
            while leaf >= 0 {
                if holds(c, leaf) { return TapeWalker.conditionHoldsInArray }
                leaf = state.leaves[Int(leaf)].next
            }
            return TapeWalker.conditionFails
        }
        var found = false
        var hasTrail = false
        while leaf >= 0 {
            let l = state.leaves[Int(leaf)]
            if l.trailCount > 0 { hasTrail = true }
            if !found && holds(c, leaf) {
                found = true
                if hasTrail { break }
            }
            leaf = l.next
        }
        if !found { return TapeWalker.conditionFails }
        return hasTrail ? TapeWalker.conditionHoldsInArray : TapeWalker.conditionHolds
    }

    /// `verify`, memoised per event: many routes share one suppression branch.
    @inline(__always) func verifyOnce(_ b: Int) -> Bool {
        let memo = state.branchMemo[b]
        if UInt32(truncatingIfNeeded: memo >> 32) == state.generation { return memo & 1 != 0 }
        let result = verify(b)
        state.branchMemo[b] = UInt64(state.generation) << 32 | (result ? 1 : 0)
        return result
    }

    func verify(_ b: Int) -> Bool {
        let range = m.branchFields[b]
        var arrayed = 0
        var k = Int(range.lowerBound)
        while k < Int(range.upperBound) {
            let r = condition(Int(m.branchConditions[k]))
            if r == TapeWalker.conditionFails { return false }
            if r == TapeWalker.conditionHoldsInArray { arrayed += 1 }
            k += 1
        }
        return arrayed < 2 || arrayConsistent(b)
    }

    /// Backtracking search for array-consistent leaves; only for branches with two or more
    /// fields whose leaves sit in arrays (tags, network interfaces, containers). Works on the
    /// scratch's buffers: no allocation (it ran once per tag route per event, and allocating
    /// its candidate lists was 70 % of matching on the mixed route sets).
    func consistent(_ b: Int) -> Bool {
        let gen = state.generation
        state.levels.removeAll()
        let range = m.branchFields[b]
        for k in Int(range.lowerBound)..<Int(range.upperBound) {
            guard state.pathArrayed[Int(m.branchPaths[k])] == gen else { continue }
            let span = satisfyingLeaves(Int(m.branchConditions[k]))
            if span & 0xFFFF_FFFF != 0 { state.levels.append(span) }
        }
        if state.levels.count < 2 { return true }
        if state.levels.count == 2 {
            // The usual case (a tag's key and value): any agreeing pair, no recursion.
            let a = state.levels[0], b = state.levels[1]
            var i = Int(a >> 32)
            while i < Int(a >> 32) + Int(a & 0xFFFF_FFFF) {
                var j = Int(b >> 32)
                while j < Int(b >> 32) + Int(b & 0xFFFF_FFFF) {
                    if agree(state.satisfying[i], state.satisfying[j]) { return true }
                    j += 1
                }
                i += 1
            }
            return false
        }
        state.chosen.removeAll()
        return search(0)
    }

    /// `consistent` for two conditions in arrays (a tag's key and value), element-aware: the
    /// leaves satisfying one of them (the equality, usually one tag key) fix the elements, and
    /// the other is tested only on its leaves in those elements — not on every leaf, as a
    /// route's own `anything-but` list would be.
    func pairConsistent(_ x: Int32, _ y: Int32) -> Bool {
        let gen = state.generation
        // Fix the elements by the equality (shared by many routes: `key = team`), else by the
        // condition whose leaves are listed already.
        var fixed = Int(x), other = Int(y)
        let xAtom = m.leafTests[fixed].kind == .anyAtom, yAtom = m.leafTests[other].kind == .anyAtom
        if (yAtom && !xAtom) || (xAtom == yAtom && state.conditionLeafStamp[other] == gen && state.conditionLeafStamp[fixed] != gen) {
            swap(&fixed, &other)
        }
        let siblings = siblingLeaves(fixed, path: Int(m.fields[other].path))
        if siblings == TapeWalker.noFixedLeaf { return true }  // nothing to be consistent with (as `consistent`)
        var i = Int(siblings >> 32)
        while i < Int(siblings >> 32) + Int(siblings & 0xFFFF_FFFF) {
            if holds(other, state.satisfying[i]) { return true }
            i += 1
        }
        // Inconsistent unless the other condition has no satisfying leaf at all.
        if state.conditionLeafStamp[other] == gen { return state.conditionLeafSpan[other] & 0xFFFF_FFFF == 0 }
        var leaf = head(Int(m.fields[other].path))
        while leaf >= 0 {
            if holds(other, leaf) { return false }
            leaf = state.leaves[Int(leaf)].next
        }
        return true
    }

    static let noFixedLeaf = UInt64.max

    /// The leaves at `path` in the elements of the leaves satisfying condition `c` (a tag
    /// key's value leaves), memoised per event: (start << 32 | count) into `state.satisfying`,
    /// or `noFixedLeaf` when no leaf satisfies `c`. Every route testing its own `anything-but`
    /// list on `tags.value` next to `tags.key = team` shares this list.
    func siblingLeaves(_ c: Int, path: Int) -> UInt64 {
        let gen = state.generation
        let key = UInt64(UInt32(c)) << 32 | UInt64(UInt32(path))
        let slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 56)
        if state.siblingStamp[slot] == gen && state.siblingKey[slot] == key { return state.siblingSpan[slot] }
        let span = satisfyingLeaves(c)
        var result = TapeWalker.noFixedLeaf
        if span & 0xFFFF_FFFF != 0 {
            let start = state.satisfying.count
            let pathHead = head(path)
            var i = Int(span >> 32)
            while i < Int(span >> 32) + Int(span & 0xFFFF_FFFF) {
                let a = state.satisfying[i]
                var leaf = pathHead
                while leaf >= 0 {
                    if agree(a, leaf) { state.satisfying.append(leaf) }
                    leaf = state.leaves[Int(leaf)].next
                }
                i += 1
            }
            result = UInt64(start) << 32 | UInt64(state.satisfying.count - start)
        }
        state.siblingStamp[slot] = gen
        state.siblingKey[slot] = key
        state.siblingSpan[slot] = result
        return result
    }

    private func search(_ level: Int) -> Bool {
        if level == state.levels.count { return true }
        let span = state.levels[level]
        let start = Int(span >> 32)
        let stop = start + Int(span & 0xFFFF_FFFF)
        var j = start
        while j < stop {
            let leaf = state.satisfying[j]
            var agrees = true
            var c = 0
            while c < state.chosen.count {
                if !agree(state.chosen[c], leaf) {
                    agrees = false
                    break
                }
                c += 1
            }
            if agrees {
                state.chosen.append(leaf)
                if search(level + 1) { return true }
                _ = state.chosen.popLast()
            }
            j += 1
        }
        return false
    }

    /// Two leaves agree when, in every array holding both, they sit in the same element.
    @inline(__always) private func agree(_ a: Int32, _ b: Int32) -> Bool {
        let la = state.leaves[Int(a)]
        let lb = state.leaves[Int(b)]
        let n = Int(min(la.trailCount, lb.trailCount))
        var k = 0
        while k < n {
            let x = state.trails[Int(la.trailStart) + k]
            let y = state.trails[Int(lb.trailStart) + k]
            if x != y {
                // Same array, other element: inconsistent. Different arrays: no common array below.
                return x >> 32 != y >> 32
            }
            k += 1
        }
        return true
    }

    /// The leaves satisfying condition `c`, memoised per event: (start << 32 | count) into
    /// `state.satisfying`.
    func satisfyingLeaves(_ c: Int) -> UInt64 {
        if state.conditionLeafStamp[c] == state.generation { return state.conditionLeafSpan[c] }
        let start = state.satisfying.count
        var leaf = head(Int(m.fields[c].path))
        while leaf >= 0 {
            if holds(c, leaf) { state.satisfying.append(leaf) }
            leaf = state.leaves[Int(leaf)].next
        }
        let span = UInt64(start) << 32 | UInt64(state.satisfying.count - start)
        state.conditionLeafStamp[c] = state.generation
        state.conditionLeafSpan[c] = span
        return span
    }

    func test(_ matcher: ValueMatcher, _ i: Int) -> Bool {
        let t = type(i)
        switch matcher {
        case .string(let s): return t == TapeWalker.stringType && utf8Equal(s, stringBytes(i))
        case .number(let d): return number(i) == d
        case .bool(let b): return t == (b ? UInt8(ascii: "t") : UInt8(ascii: "f"))
        case .null: return t == UInt8(ascii: "n")
        case .prefix(let s, let ignoreCase):
            guard t == TapeWalker.stringType else { return false }
            if ignoreCase { return lowercased(stringBytes(i)).withUnsafeBufferPointer { utf8HasPrefix($0, s) } }
            return utf8HasPrefix(stringBytes(i), s)
        case .suffix(let s, let ignoreCase):
            guard t == TapeWalker.stringType else { return false }
            if ignoreCase { return lowercased(stringBytes(i)).withUnsafeBufferPointer { utf8HasSuffix($0, s) } }
            return utf8HasSuffix(stringBytes(i), s)
        case .equalsIgnoreCase(let s):
            guard t == TapeWalker.stringType else { return false }
            return lowercased(stringBytes(i)).withUnsafeBufferPointer { utf8Equal(s, $0) }
        case .wildcard(let w): return t == TapeWalker.stringType && w.matches(stringBytes(i))
        case .numeric(let r):
            guard let d = number(i) else { return false }
            return r.contains(d)
        case .cidr(let r):
            guard t == TapeWalker.stringType, let ip = IPRange.parseAddress(stringBytes(i)) else { return false }
            return r.contains(isIPv6: ip.isIPv6, ip.address)
        case .ipAddress(let r, let text):
            guard t == TapeWalker.stringType else { return false }
            let bytes = stringBytes(i)
            if utf8Equal(text, bytes) { return true }
            guard let ip = IPRange.parseAddress(bytes) else { return false }
            return r.contains(isIPv6: ip.isIPv6, ip.address)
        case .exists(let e): return e
        case .regex(let r): return t == TapeWalker.stringType && r.matches(stringBytes(i))
        case .anythingBut(let excluded): return !excluded.contains { test($0, i) }
        case .all(let inner): return inner.allSatisfy { test($0, i) }
        }
    }
}

/// `TapeWalker.setRoute` for a run of routes, with the route bitmap's word bounds held in
/// registers until `store`: `setRoute` reloads and stores them through the scratch pointer
/// per route.
struct RouteRun {
    let bits: ScratchTable<UInt64>
    var low: Int, high: Int

    @inline(__always) init(_ state: MatchState) {
        bits = state.routeBits
        low = state.routeWordLow
        high = state.routeWordHigh
    }

    /// Sets route `r`'s bit; its word must be covered (`cover`) before or after.
    @inline(__always) func setBit(_ r: Int) {
        bits[r >> 6] |= 1 &<< UInt64(r & 63)
    }

    /// `setBit` when `kept`, written without a branch (its word is read and stored either way).
    @inline(__always) func setBit(_ r: Int, if kept: Bool) {
        bits[r >> 6] |= UInt64(kept ? 1 : 0) &<< UInt64(r & 63)
    }

    /// Widens the word bounds to the words of routes `first` to `last` (ascending; a `last`
    /// of -1 and a `first` of `Int32.max` widen nothing).
    @inline(__always) mutating func cover(_ first: Int, _ last: Int) {
        low = min(low, first >> 6)
        high = max(high, last >> 6)
    }

    @inline(__always) func store(into state: UnsafeMutablePointer<MatchState>) {
        state.pointee.routeWordLow = low
        state.pointee.routeWordHigh = high
    }
}

// MARK: byte helpers

/// Lower-cases UTF-8 the way `String.lowercased()` does (ASCII without leaving the bytes).
func lowercase(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
    out.removeAll(keepingCapacity: true)
    var ascii = true
    for b in bytes where b >= 0x80 {
        ascii = false
        break
    }
    if ascii {
        for b in bytes { out.append(b >= 65 && b <= 90 ? b | 0x20 : b) }
    } else {
        out += String(decoding: bytes, as: UTF8.self).lowercased().utf8
    }
}

func lowercased(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
    var out: [UInt8] = []
    lowercase(bytes, into: &out)
    return out
}

@inline(__always) func utf8Equal(_ s: String, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    var s = s
    return s.withUTF8 { $0.count == bytes.count && ($0.isEmpty || memcmpBytes($0.baseAddress!, bytes.baseAddress!, $0.count)) }
}

@inline(__always) func utf8HasPrefix(_ bytes: UnsafeBufferPointer<UInt8>, _ s: String) -> Bool {
    var s = s
    return s.withUTF8 { $0.count <= bytes.count && ($0.isEmpty || memcmpBytes($0.baseAddress!, bytes.baseAddress!, $0.count)) }
}

@inline(__always) func utf8HasSuffix(_ bytes: UnsafeBufferPointer<UInt8>, _ s: String) -> Bool {
    var s = s
    return s.withUTF8 { $0.count <= bytes.count && ($0.isEmpty || memcmpBytes($0.baseAddress!, bytes.baseAddress! + (bytes.count - $0.count), $0.count)) }
}
