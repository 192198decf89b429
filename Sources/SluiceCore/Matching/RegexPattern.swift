/// Sluice's `regex` matcher: a regular expression run by a Pike VM (Thompson's NFA simulation),
/// so matching takes time linear in the value's length times the program's size — there is no
/// backtracking and hence no catastrophic pattern. Search semantics (like `grep`): the value
/// matches when any part of it does; anchor with `^` and `$`.
///
/// Syntax: literals, `.`, classes `[a-z]` `[^...]`, `\d \D \w \W \s \S`, escapes (`\.`, `\t`,
/// `\n`, `\\`, ...), groups `(...)` and `(?:...)`, alternation `|`, quantifiers `* + ? {n} {n,}
/// {n,m}` (lazy forms accepted; without captures they match the same), anchors `^ $`.
/// Not supported (they need backtracking or captures): backreferences, lookaround.
public struct RegexPattern: Sendable, Hashable {
    public let source: String
    let program: [RegexInstruction]
    let classes: [RegexClass]

    /// Programs above this many instructions are rejected; it bounds the cost per byte.
    public static let maxInstructions = 2_000

    public init(_ source: String) throws(PatternError) {
        self.source = source
        var parser = RegexParser(Array(source.unicodeScalars))
        let node: RegexNode
        do { node = try parser.parse() } catch { throw PatternError("regex \"\(source)\": \(error.message)") }
        var compiler = RegexCompiler()
        compiler.emit(node)
        compiler.program.append(.match)
        guard compiler.program.count <= RegexPattern.maxInstructions else {
            throw PatternError("regex \"\(source)\" is too complex (\(compiler.program.count) NFA states; at most \(RegexPattern.maxInstructions))")
        }
        program = compiler.program
        classes = compiler.classes
    }

    public static func == (a: RegexPattern, b: RegexPattern) -> Bool { a.source == b.source }
    public func hash(into h: inout Hasher) { h.combine(source) }

    /// Number of NFA states, for the complexity evaluator.
    public var stateCount: Int { program.count }

    /// Whether some part of `value` (UTF-8) matches.
    public func matches<C: Collection>(_ value: C) -> Bool where C.Element == UInt8 {
        let scalars = Array(String(decoding: value, as: UTF8.self).unicodeScalars)
        var current = RegexThreadSet(capacity: program.count)
        var next = RegexThreadSet(capacity: program.count)
        var stack: [Int] = []
        let n = scalars.count
        var i = 0
        while true {
            // Search semantics: a new thread starts at every position.
            addThread(&current, 0, position: i, count: n, stack: &stack)
            if current.contains(program.count - 1) { return true }  // reached .match
            if i == n { return false }
            let c = scalars[i].value
            for k in 0..<current.count {
                let pc = current.dense[k]
                let advance: Bool
                switch program[pc] {
                case .scalar(let s): advance = s == c
                case .any: advance = true
                case .classRef(let index): advance = classes[index].contains(c)
                default: advance = false
                }
                if advance { addThread(&next, pc + 1, position: i + 1, count: n, stack: &stack) }
            }
            swap(&current, &next)
            next.clear()
            i += 1
        }
    }

    private func addThread(_ set: inout RegexThreadSet, _ start: Int, position: Int, count: Int, stack: inout [Int]) {
        stack.append(start)
        while let pc = stack.popLast() {
            if set.contains(pc) { continue }
            set.insert(pc)
            switch program[pc] {
            case .jump(let target): stack.append(target)
            case .split(let a, let b):
                stack.append(b)
                stack.append(a)
            case .lineStart: if position == 0 { stack.append(pc + 1) }
            case .lineEnd: if position == count { stack.append(pc + 1) }
            default: break
            }
        }
    }
}

enum RegexInstruction: Sendable, Hashable {
    case scalar(UInt32)
    case any
    case classRef(Int)
    case split(Int, Int)
    case jump(Int)
    case lineStart
    case lineEnd
    case match
}

struct RegexClass: Sendable, Hashable {
    var ranges: [ClosedRange<UInt32>]
    var negated: Bool
    func contains(_ c: UInt32) -> Bool {
        var hit = false
        for r in ranges where r.contains(c) {
            hit = true
            break
        }
        return hit != negated
    }
}

/// A sparse set of program counters (Briggs–Torczon): O(1) insert, test and clear.
struct RegexThreadSet {
    var dense: [Int]
    var sparse: [Int]
    var count = 0
    init(capacity: Int) {
        dense = Array(repeating: 0, count: capacity)
        sparse = Array(repeating: 0, count: capacity)
    }
    func contains(_ pc: Int) -> Bool { let s = sparse[pc]; return s < count && dense[s] == pc }
    mutating func insert(_ pc: Int) {
        sparse[pc] = count
        dense[count] = pc
        count += 1
    }
    mutating func clear() { count = 0 }
}

indirect enum RegexNode {
    case empty
    case scalar(UInt32)
    case any
    case charClass(RegexClass)
    case concat([RegexNode])
    case alternation([RegexNode])
    case repeated(RegexNode, min: Int, max: Int?)
    case lineStart
    case lineEnd
}

struct RegexSyntaxError: Error { let message: String }

struct RegexParser {
    let s: [Unicode.Scalar]
    var i = 0
    init(_ s: [Unicode.Scalar]) { self.s = s }

    mutating func parse() throws(RegexSyntaxError) -> RegexNode {
        let node = try parseAlternation(depth: 0)
        if i < s.count { throw RegexSyntaxError(message: "unbalanced ')' at offset \(i)") }
        return node
    }

    mutating func parseAlternation(depth: Int) throws(RegexSyntaxError) -> RegexNode {
        if depth > 100 { throw RegexSyntaxError(message: "groups nested too deeply") }
        var alternatives = [try parseConcat(depth: depth)]
        while i < s.count && s[i] == "|" {
            i += 1
            alternatives.append(try parseConcat(depth: depth))
        }
        return alternatives.count == 1 ? alternatives[0] : .alternation(alternatives)
    }

    mutating func parseConcat(depth: Int) throws(RegexSyntaxError) -> RegexNode {
        var items: [RegexNode] = []
        while i < s.count && s[i] != "|" && s[i] != ")" {
            var atom = try parseAtom(depth: depth)
            while i < s.count, let (lo, hi) = try parseQuantifier() {
                if case .lineStart = atom { throw RegexSyntaxError(message: "nothing to repeat") }
                if case .lineEnd = atom { throw RegexSyntaxError(message: "nothing to repeat") }
                atom = .repeated(atom, min: lo, max: hi)
                if i < s.count && s[i] == "?" { i += 1 }  // lazy: same language without captures
            }
            items.append(atom)
        }
        return items.count == 1 ? items[0] : (items.isEmpty ? .empty : .concat(items))
    }

    mutating func parseQuantifier() throws(RegexSyntaxError) -> (Int, Int?)? {
        switch s[i] {
        case "*": i += 1; return (0, nil)
        case "+": i += 1; return (1, nil)
        case "?": i += 1; return (0, 1)
        case "{":
            var j = i + 1
            func number(_ j: inout Int) -> Int? {
                var v = 0
                var digits = 0
                while j < s.count, s[j].value >= 48, s[j].value <= 57 {
                    v = v * 10 + Int(s[j].value - 48)
                    digits += 1
                    j += 1
                    if v > 100_000 { return nil }
                }
                return digits > 0 ? v : nil
            }
            guard let lo = number(&j) else { throw RegexSyntaxError(message: "invalid repetition at offset \(i)") }
            var hi: Int? = lo
            if j < s.count && s[j] == "," {
                j += 1
                hi = number(&j)
                if hi == nil && (j >= s.count || s[j] != "}") { throw RegexSyntaxError(message: "invalid repetition at offset \(i)") }
            }
            guard j < s.count && s[j] == "}" else { throw RegexSyntaxError(message: "unterminated repetition at offset \(i)") }
            if let hi, hi < lo { throw RegexSyntaxError(message: "repetition {\(lo),\(hi)} has max below min") }
            if lo > 1000 || (hi ?? 0) > 1000 { throw RegexSyntaxError(message: "repetition count above 1000") }
            i = j + 1
            return (lo, hi)
        default: return nil
        }
    }

    mutating func parseAtom(depth: Int) throws(RegexSyntaxError) -> RegexNode {
        let c = s[i]
        i += 1
        switch c {
        case "(":
            if i + 1 < s.count && s[i] == "?" {
                guard s[i + 1] == ":" else { throw RegexSyntaxError(message: "unsupported group syntax (?\(s[i + 1]) (lookaround and flags are not supported)") }
                i += 2
            }
            let inner = try parseAlternation(depth: depth + 1)
            guard i < s.count && s[i] == ")" else { throw RegexSyntaxError(message: "missing ')'") }
            i += 1
            return inner
        case ".": return .any
        case "^": return .lineStart
        case "$": return .lineEnd
        case "[": return .charClass(try parseClass())
        case "\\": return try parseEscape(inClass: false)
        case "*", "+", "?": throw RegexSyntaxError(message: "nothing to repeat at offset \(i - 1)")
        case "{":
            throw RegexSyntaxError(message: "nothing to repeat at offset \(i - 1)")
        default: return .scalar(c.value)
        }
    }

    static let digit = RegexClass(ranges: [48...57], negated: false)
    static let word = RegexClass(ranges: [48...57, 65...90, 95...95, 97...122], negated: false)
    static let space = RegexClass(ranges: [9...13, 32...32], negated: false)

    mutating func parseEscape(inClass: Bool) throws(RegexSyntaxError) -> RegexNode {
        guard i < s.count else { throw RegexSyntaxError(message: "trailing backslash") }
        let c = s[i]
        i += 1
        switch c {
        case "d": return .charClass(RegexParser.digit)
        case "D": var k = RegexParser.digit; k.negated = true; return .charClass(k)
        case "w": return .charClass(RegexParser.word)
        case "W": var k = RegexParser.word; k.negated = true; return .charClass(k)
        case "s": return .charClass(RegexParser.space)
        case "S": var k = RegexParser.space; k.negated = true; return .charClass(k)
        case "t": return .scalar(9)
        case "n": return .scalar(10)
        case "r": return .scalar(13)
        case "f": return .scalar(12)
        case "v": return .scalar(11)
        default:
            if c.properties.isAlphabetic || ("0"..."9").contains(c) {
                throw RegexSyntaxError(message: "unsupported escape \\\(c)")
            }
            return .scalar(c.value)
        }
    }

    mutating func parseClass() throws(RegexSyntaxError) -> RegexClass {
        var negated = false
        if i < s.count && s[i] == "^" {
            negated = true
            i += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while true {
            guard i < s.count else { throw RegexSyntaxError(message: "missing ']'") }
            var c = s[i]
            if c == "]" && !first {
                i += 1
                break
            }
            first = false
            i += 1
            var low: UInt32
            if c == "\\" {
                switch try parseEscape(inClass: true) {
                case .scalar(let v): low = v
                case .charClass(let k):
                    if k.negated { throw RegexSyntaxError(message: "negated shorthand inside a class is not supported") }
                    ranges += k.ranges
                    continue
                default: throw RegexSyntaxError(message: "invalid escape in class")
                }
            } else {
                low = c.value
            }
            if i + 1 < s.count && s[i] == "-" && s[i + 1] != "]" {
                i += 1
                c = s[i]
                i += 1
                var high = c.value
                if c == "\\" {
                    guard case .scalar(let v) = try parseEscape(inClass: true) else { throw RegexSyntaxError(message: "invalid class range") }
                    high = v
                }
                guard low <= high else { throw RegexSyntaxError(message: "invalid class range") }
                ranges.append(low...high)
            } else {
                ranges.append(low...low)
            }
        }
        return RegexClass(ranges: ranges, negated: negated)
    }
}

struct RegexCompiler {
    var program: [RegexInstruction] = []
    var classes: [RegexClass] = []

    mutating func emit(_ node: RegexNode) {
        if program.count > RegexPattern.maxInstructions { return }  // reported by the caller
        switch node {
        case .empty: break
        case .scalar(let c): program.append(.scalar(c))
        case .any: program.append(.any)
        case .charClass(let k):
            classes.append(k)
            program.append(.classRef(classes.count - 1))
        case .lineStart: program.append(.lineStart)
        case .lineEnd: program.append(.lineEnd)
        case .concat(let items): for item in items { emit(item) }
        case .alternation(let alternatives):
            var jumps: [Int] = []
            for (k, alternative) in alternatives.enumerated() {
                if k < alternatives.count - 1 {
                    let split = program.count
                    program.append(.split(split + 1, 0))
                    emit(alternative)
                    jumps.append(program.count)
                    program.append(.jump(0))
                    program[split] = .split(split + 1, program.count)
                } else {
                    emit(alternative)
                }
            }
            for j in jumps { program[j] = .jump(program.count) }
        case .repeated(let inner, let min, let max):
            for _ in 0..<min { emit(inner) }
            if let max {
                var splits: [Int] = []
                for _ in min..<max {
                    splits.append(program.count)
                    program.append(.split(program.count + 1, 0))
                    emit(inner)
                }
                for s in splits { program[s] = .split(s + 1, program.count) }
            } else {
                let loop = program.count
                program.append(.split(loop + 1, 0))
                emit(inner)
                program.append(.jump(loop))
                program[loop] = .split(loop + 1, program.count)
            }
        }
    }
}
