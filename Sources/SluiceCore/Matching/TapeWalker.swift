/// One event's pass through a `CompiledMatcher`: walks simdjson's tape along the path trie,
/// records the leaves at pattern paths, collects anchor candidates, then verifies them.
struct TapeWalker {
    let m: CompiledMatcher
    let tape: UnsafePointer<UInt64>
    let strings: UnsafePointer<UInt8>
    var state: MatchState

    init(matcher: CompiledMatcher, document: JSONDocument, state: consuming MatchState) {
        m = matcher
        tape = document.tape
        strings = document.strings
        self.state = state
    }

    static let objectType = UInt8(ascii: "{")
    static let arrayType = UInt8(ascii: "[")
    static let stringType = UInt8(ascii: "\"")

    @inline(__always) func type(_ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: tape[i] >> 56) }

    @inline(__always) func end(_ i: Int) -> Int {
        let w = tape[i]
        switch UInt8(truncatingIfNeeded: w >> 56) {
        case TapeWalker.objectType, TapeWalker.arrayType: return Int(truncatingIfNeeded: w & 0xFFFF_FFFF)
        case UInt8(ascii: "l"), UInt8(ascii: "u"), UInt8(ascii: "d"): return i + 2
        default: return i + 1
        }
    }

    @inline(__always) func stringBytes(_ i: Int) -> UnsafeBufferPointer<UInt8> {
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

    mutating func walk(_ i: Int, node: Int32) {
        let w = tape[i]
        let t = UInt8(truncatingIfNeeded: w >> 56)
        if t == TapeWalker.objectType {
            guard m.nodeHasChildren[Int(node)] else { return }
            let stop = Int(truncatingIfNeeded: w & 0xFFFF_FFFF) - 1
            var k = i + 1
            while k < stop {
                let value = k + 1
                let child = child(of: node, key: stringBytes(k))
                if child >= 0 { walk(value, node: child) }
                k = end(value)
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
            state.arrayStack.removeLast()
        } else {
            let p = m.nodePath[Int(node)]
            if p >= 0 { record(Int(p), i) }
        }
    }

    /// The trie node reached from `node` by `key` (a key with dots walks several edges), or -1.
    @inline(__always) func child(of node: Int32, key: UnsafeBufferPointer<UInt8>) -> Int32 {
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
        return m.edges.find(UInt64(n), count == 0 ? nil : key.baseAddress! + start, count - start)
    }

    mutating func record(_ p: Int, _ i: Int) {
        let gen = state.generation
        let previous: Int32 = state.pathStamp[p] == gen ? state.pathHead[p] : -1
        state.pathStamp[p] = gen
        state.pathHead[p] = Int32(state.leaves.count)
        let trailStart = Int32(state.trails.count)
        if !state.arrayStack.isEmpty { state.trails += state.arrayStack }
        state.leaves.append(MatchState.Leaf(tape: Int32(i), next: previous, trailStart: trailStart, trailCount: Int32(state.arrayStack.count)))
        if m.pathInfo[p].isAnchor { anchor(p, i) }
    }

    @inline(__always) mutating func addPosting(_ posting: Int32) {
        let r = m.postings[Int(posting)]
        let gen = state.generation
        var k = Int(r.lowerBound)
        while k < Int(r.upperBound) {
            let b = Int(m.postingBranches[k])
            if state.branchStamp[b] != gen {
                state.branchStamp[b] = gen
                state.candidates.append(Int32(b))
            }
            k += 1
        }
    }

    @inline(__always) mutating func lookup(_ p: Int, _ kind: CompiledMatcher.Kind, _ base: UnsafePointer<UInt8>?, _ count: Int) {
        let posting = m.values.find(CompiledMatcher.namespace(p, kind), base, count)
        if posting >= 0 { addPosting(posting) }
    }

    mutating func anchor(_ p: Int, _ i: Int) {
        let t = type(i)
        if t == TapeWalker.stringType {
            let bytes = stringBytes(i)
            let base = bytes.baseAddress
            let n = bytes.count
            if m.pathInfo[p].hasExact { lookup(p, .exact, base, n) }
            if !m.pathInfo[p].prefixLengths.isEmpty { for length in m.pathInfo[p].prefixLengths where length <= n { lookup(p, .prefix, base, length) } }
            if !m.pathInfo[p].suffixLengths.isEmpty { for length in m.pathInfo[p].suffixLengths where length <= n { lookup(p, .suffix, base! + (n - length), length) } }
            if m.pathInfo[p].needsLowercase {
                var lowered = state.lowered
                state.lowered = []
                lowercase(bytes, into: &lowered)
                lowered.withUnsafeBufferPointer { low in
                    let lb = low.baseAddress
                    let ln = low.count
                    if m.pathInfo[p].hasEqualsIgnoreCase { lookup(p, .equalsIgnoreCase, lb, ln) }
                    if !m.pathInfo[p].prefixIgnoreCaseLengths.isEmpty { for length in m.pathInfo[p].prefixIgnoreCaseLengths where length <= ln { lookup(p, .prefixIgnoreCase, lb, length) } }
                    if !m.pathInfo[p].suffixIgnoreCaseLengths.isEmpty { for length in m.pathInfo[p].suffixIgnoreCaseLengths where length <= ln { lookup(p, .suffixIgnoreCase, lb! + (ln - length), length) } }
                }
                state.lowered = lowered
            }
            if m.pathInfo[p].cidr >= 0, let ip = IPRange.parseAddress(bytes) {
                let index = m.cidrIndexes[m.pathInfo[p].cidr]
                let r = ip.isIPv6 ? index.v6.lookup(ip.address) : index.v4.lookup(ip.address)
                for k in r { addPosting(ip.isIPv6 ? index.v6.members[Int(k)] : index.v4.members[Int(k)]) }
            }
        } else if let d = number(i) {
            if m.pathInfo[p].hasNumber {
                var key = orderedKey(d)
                withUnsafeBytes(of: &key) { raw in
                    lookup(p, .number, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), 8)
                }
            }
            if m.pathInfo[p].numeric >= 0 {
                let index = m.numericIndexes[m.pathInfo[p].numeric]
                for k in index.lookup(orderedKey(d)) { addPosting(index.members[Int(k)]) }
            }
        } else if m.pathInfo[p].hasLiteral {
            var literal: UInt8 = t == UInt8(ascii: "t") ? UInt8(ascii: "t") : (t == UInt8(ascii: "f") ? UInt8(ascii: "f") : UInt8(ascii: "n"))
            withUnsafePointer(to: &literal) { lookup(p, .literal, $0, 1) }
        }
        if m.pathInfo[p].always >= 0 { addPosting(m.pathInfo[p].always) }
    }

    // MARK: verification

    mutating func finish() {
        for b in m.unconditional where state.branchStamp[Int(b)] != state.generation {
            state.branchStamp[Int(b)] = state.generation
            state.candidates.append(b)
        }
        let gen = state.generation
        // Match branches first: suppressions matter only for routes that matched.
        for b in state.candidates where !m.branchIsSuppression[Int(b)] {
            let r = Int(m.branchRoute[Int(b)])
            if state.routeStamp[r] == gen { continue }
            if verify(Int(b)) {
                state.routeStamp[r] = gen
                state.matchedRoutes.append(Int32(r))
            }
        }
        if state.matchedRoutes.isEmpty { return }
        for b in state.candidates where m.branchIsSuppression[Int(b)] {
            let r = Int(m.branchRoute[Int(b)])
            if state.routeStamp[r] != gen || state.suppressStamp[r] == gen { continue }
            if verify(Int(b)) { state.suppressStamp[r] = gen }
        }
        state.matchedRoutes.sort()
    }

    func head(_ p: Int) -> Int32 { state.pathStamp[p] == state.generation ? state.pathHead[p] : -1 }

    /// Result codes of a field condition on this event.
    static let conditionFails: UInt8 = 1, conditionHolds: UInt8 = 2, conditionHoldsInArray: UInt8 = 3

    /// Whether field condition `c` holds on this event (memoised per event: branches of many
    /// routes share conditions such as `region` or a type prefix).
    @inline(__always) mutating func condition(_ c: Int) -> UInt8 {
        if state.conditionStamp[c] == state.generation { return state.conditionResult[c] }
        let r = evaluateCondition(c)
        state.conditionStamp[c] = state.generation
        state.conditionResult[c] = r
        return r
    }

    func evaluateCondition(_ c: Int) -> UInt8 {
        let f = m.fields[c]
        var leaf = head(Int(f.path))
        if leaf < 0 { return f.allowsAbsence ? TapeWalker.conditionHolds : TapeWalker.conditionFails }
        var found = false
        var hasTrail = false
        while leaf >= 0 {
            let l = state.leaves[Int(leaf)]
            if l.trailCount > 0 { hasTrail = true }
            if !found && f.matchers.contains(where: { test($0, Int(l.tape)) }) {
                found = true
                if hasTrail { break }
            }
            leaf = l.next
        }
        if !found { return TapeWalker.conditionFails }
        return hasTrail ? TapeWalker.conditionHoldsInArray : TapeWalker.conditionHolds
    }

    mutating func verify(_ b: Int) -> Bool {
        let range = m.branchFields[b]
        var arrayed = 0
        var k = Int(range.lowerBound)
        while k < Int(range.upperBound) {
            let r = condition(Int(m.branchConditions[k]))
            if r == TapeWalker.conditionFails { return false }
            if r == TapeWalker.conditionHoldsInArray { arrayed += 1 }
            k += 1
        }
        return arrayed < 2 || consistent(b)
    }

    /// Backtracking search for array-consistent leaves; only for branches with two or more
    /// fields whose leaves sit in arrays (rare in findings: tags, network interfaces).
    mutating func consistent(_ b: Int) -> Bool {
        var lists: [[Int32]] = []
        for k in m.branchFields[b] {
            let f = m.fields[Int(m.branchConditions[Int(k)])]
            var leaf = head(Int(f.path))
            var good: [Int32] = []
            var hasTrail = false
            while leaf >= 0 {
                let l = state.leaves[Int(leaf)]
                if l.trailCount > 0 { hasTrail = true }
                if f.matchers.contains(where: { test($0, Int(l.tape)) }) { good.append(leaf) }
                leaf = l.next
            }
            if hasTrail && !good.isEmpty { lists.append(good) }
        }
        var chosen: [Int32] = []
        func agree(_ a: Int32, _ b: Int32) -> Bool {
            let la = state.leaves[Int(a)]
            let lb = state.leaves[Int(b)]
            let n = Int(min(la.trailCount, lb.trailCount))
            var k = 0
            while k < n {
                let x = state.trails[Int(la.trailStart) + k]
                let y = state.trails[Int(lb.trailStart) + k]
                if x == y {
                    k += 1
                    continue
                }
                // Same array, other element: inconsistent. Different arrays: no common array below.
                return x >> 32 != y >> 32
            }
            return true
        }
        func search(_ k: Int) -> Bool {
            if k == lists.count { return true }
            for leaf in lists[k] where chosen.allSatisfy({ agree($0, leaf) }) {
                chosen.append(leaf)
                if search(k + 1) { return true }
                chosen.removeLast()
            }
            return false
        }
        return search(0)
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
