/// An EventBridge `wildcard` value: literal segments separated by `*`. `\*` is a literal star
/// and `\\` a literal backslash; any other escape and consecutive `*` are rejected, as
/// EventBridge does.
public struct WildcardPattern: Sendable, Hashable {
    /// The pattern as written.
    public let source: String
    /// Literal segments in UTF-8; a `*` sits between each pair. `["a", "b"]` is `a*b`.
    public let segments: [[UInt8]]

    public init(_ source: String) throws(PatternError) {
        self.source = source
        var segments: [[UInt8]] = [[]]
        var bytes = Array(source.utf8)[...]
        var previousWasStar = false
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "\\") {
                guard let next = bytes.popFirst(), next == UInt8(ascii: "*") || next == UInt8(ascii: "\\") else {
                    throw PatternError("wildcard \"\(source)\": a backslash may only escape * or \\")
                }
                segments[segments.count - 1].append(next)
                previousWasStar = false
            } else if b == UInt8(ascii: "*") {
                if previousWasStar {
                    throw PatternError("wildcard \"\(source)\": consecutive wildcard characters are not allowed")
                }
                segments.append([])
                previousWasStar = true
            } else {
                segments[segments.count - 1].append(b)
                previousWasStar = false
            }
        }
        self.segments = segments
    }

    /// Number of `*` in the pattern.
    public var starCount: Int { segments.count - 1 }
    /// The literal text before the first `*` (the whole value when there is none).
    public var literalPrefix: [UInt8] { segments[0] }

    /// Whether `value` matches: first and last segments anchor, middle segments are found
    /// leftmost-first (which is optimal for `*` — no backtracking is ever needed).
    public func matches<C: RandomAccessCollection>(_ value: C) -> Bool where C.Element == UInt8, C.Index == Int {
        let first = segments[0]
        if segments.count == 1 { return value.count == first.count && WildcardPattern.equal(value, at: value.startIndex, first) }
        let last = segments[segments.count - 1]
        guard value.count >= first.count + last.count else { return false }
        var start = value.startIndex
        guard WildcardPattern.equal(value, at: start, first) else { return false }
        start += first.count
        let end = value.endIndex - last.count
        guard WildcardPattern.equal(value, at: end, last) else { return false }
        var i = 1
        while i < segments.count - 1 {
            let seg = segments[i]
            guard let found = WildcardPattern.find(seg, in: value, from: start, to: end) else { return false }
            start = found + seg.count
            i += 1
        }
        return start <= end
    }

    /// Whether `segment` sits in `value` at `start` (the caller checked it fits). A plain loop:
    /// `elementsEqual` on slices went through iterators, and wildcard routes test every
    /// cluster name of every finding.
    @inline(__always) static func equal<C: RandomAccessCollection>(_ value: C, at start: Int, _ segment: [UInt8]) -> Bool where C.Element == UInt8, C.Index == Int {
        var k = 0
        while k < segment.count {
            if value[start + k] != segment[k] { return false }
            k += 1
        }
        return true
    }

    static func find<C: RandomAccessCollection>(_ needle: [UInt8], in hay: C, from: Int, to: Int) -> Int? where C.Element == UInt8, C.Index == Int {
        if needle.isEmpty { return from }
        guard to - from >= needle.count else { return nil }
        let first = needle[0]
        var i = from
        let lastStart = to - needle.count
        while i <= lastStart {
            if hay[i] == first {
                var k = 1
                while k < needle.count && hay[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}
