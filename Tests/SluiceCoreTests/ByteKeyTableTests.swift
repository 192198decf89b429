import Testing
@testable import SluiceCore

/// `ByteKeyTable` holds a key's first sixteen bytes in its slot and reads a leaf's bytes with
/// masked eight-byte loads when they sit in simdjson's padded string buffer. The lengths where
/// that can go wrong are around the word boundaries (0, 7, 8, 9, 15, 16, 17, 24, 33 bytes), and
/// the bytes after a string (the next string, not zeros) must not leak into the compare. The
/// values looked up are the ones stored by hand here; the matcher's answers are written out.
@Suite struct ByteKeyTableTests {
    /// Key n: the first n bytes of one alphabet (so keys of neighbouring lengths share heads).
    static func key(_ n: Int) -> [UInt8] { Array("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ".utf8.prefix(n)) }

    static let table: ByteKeyTable = {
        var entries: [(namespace: UInt64, key: [UInt8], value: Int32)] = []
        for n in 0...40 {
            entries.append((1, key(n), Int32(n)))
            entries.append((2, key(n), Int32(100 + n)))
        }
        entries.append((3, withUnsafeBytes(of: orderedKey(4.5)) { Array($0) }, 45))
        entries.append((3, [UInt8(ascii: "t")], 7))
        return ByteKeyTable(entries)
    }()

    @Test func everyLengthIsFoundFromAnExactSizeBuffer() {
        for n in 0...40 {
            let bytes = Self.key(n)
            bytes.withUnsafeBufferPointer { b in
                #expect(Self.table.find(1, b.baseAddress, n) == Int32(n), "length \(n)")
                #expect(Self.table.find(2, b.baseAddress, n) == Int32(100 + n), "length \(n)")
                #expect(Self.table.find(4, b.baseAddress, n) == -1, "length \(n), unknown namespace")
            }
        }
    }

    /// Padded lookups read past the key: the bytes after it are set to 0xFF (as the next
    /// string in simdjson's buffer would be non-zero), and must be masked away.
    @Test func paddedLookupsIgnoreTheBytesAfterTheKey() {
        for n in 0...40 {
            let buffer = Self.key(n) + [UInt8](repeating: 0xFF, count: 24)
            buffer.withUnsafeBufferPointer { b in
                #expect(Self.table.findPadded(1, b.baseAddress!, n) == Int32(n), "length \(n)")
                #expect(Self.table.findPadded(2, b.baseAddress!, n) == Int32(100 + n), "length \(n)")
            }
        }
    }

    /// The same length with its last byte changed is not found, padded or not (a key that
    /// differs only past the sixteenth byte is compared from the key store).
    @Test func aChangedLastByteIsAMiss() {
        for n in 1...40 {
            var bytes = Self.key(n)
            bytes[n - 1] = UInt8(ascii: "!")
            let padded = bytes + [UInt8](repeating: 0, count: 24)
            bytes.withUnsafeBufferPointer { b in #expect(Self.table.find(1, b.baseAddress, n) == -1, "length \(n)") }
            padded.withUnsafeBufferPointer { b in #expect(Self.table.findPadded(1, b.baseAddress!, n) == -1, "length \(n)") }
        }
    }

    /// Each key's second value (the root's posting list in the matcher's atom table) comes
    /// with it from every kind of probe; keys given none, and missing keys, read -1.
    @Test func secondValuesComeWithTheirKeys() {
        var entries: [(namespace: UInt64, key: [UInt8], value: Int32)] = []
        var extras: [Int32] = []
        for n in 0...40 {
            entries.append((1, Self.key(n), Int32(n)))
            extras.append(n % 3 == 0 ? -1 : Int32(1_000 + n))  // every third key: none
        }
        entries.append((3, withUnsafeBytes(of: orderedKey(4.5)) { Array($0) }, 41))
        extras.append(4_500)
        entries.append((3, [UInt8(ascii: "t")], 42))  // beyond `extras`: none
        let table = ByteKeyTable(entries, extras: extras)
        for n in 0...40 {
            let expected = ByteKeyTable.Entry(value: Int32(n), extra: n % 3 == 0 ? -1 : Int32(1_000 + n))
            #expect(table.entry(1, Self.key(n)) == expected, "length \(n)")
            let padded = Self.key(n) + [UInt8](repeating: 0xFF, count: 24)
            padded.withUnsafeBufferPointer { b in
                #expect(table.entryPadded(1, b.baseAddress!, n) == expected, "length \(n), padded")
                #expect(table.entryPadded(2, b.baseAddress!, n) == .absent, "length \(n), unknown namespace")
            }
        }
        #expect(table.entry(3, word: orderedKey(4.5), count: 8) == ByteKeyTable.Entry(value: 41, extra: 4_500))
        #expect(table.entry(3, word: UInt64(UInt8(ascii: "t")), count: 1) == ByteKeyTable.Entry(value: 42, extra: -1))
        #expect(table.entry(3, word: orderedKey(4.25), count: 8) == .absent)
    }

    /// One key in many namespaces (a value named at many paths): every namespace finds its own
    /// value, with the slots crowded so that probe sequences run over the other namespaces'.
    @Test func theSameBytesInManyNamespacesAreDistinctKeys() {
        for key in [Self.key(8), Self.key(16), Self.key(20)] {
            let table = ByteKeyTable((0..<200).map { (namespace: UInt64($0), key: key, value: Int32(1000 + $0)) })
            let padded = key + [UInt8](repeating: 0xFF, count: 24)
            for ns in 0..<200 {
                key.withUnsafeBufferPointer { b in #expect(table.find(UInt64(ns), b.baseAddress, key.count) == Int32(1000 + ns)) }
                padded.withUnsafeBufferPointer { b in #expect(table.findPadded(UInt64(ns), b.baseAddress!, key.count) == Int32(1000 + ns)) }
            }
            key.withUnsafeBufferPointer { b in #expect(table.find(500, b.baseAddress, key.count) == -1) }
        }
    }

    @Test func wordKeysMatchTheirByteForms() {
        #expect(Self.table.find(3, word: orderedKey(4.5), count: 8) == 45)
        #expect(Self.table.find(3, word: orderedKey(4.0), count: 8) == -1)
        #expect(Self.table.find(3, word: UInt64(UInt8(ascii: "t")), count: 1) == 7)
        #expect(Self.table.find(3, word: UInt64(UInt8(ascii: "f")), count: 1) == -1)
    }

    /// Through the matcher: exact values around the word boundaries, each next to another
    /// string member (so the padded read of one value runs into the next one's bytes).
    @Test func exactValuesAroundWordBoundariesMatchOnlyThemselves() throws {
        let lengths = [1, 7, 8, 9, 15, 16, 17, 24, 33]
        let routes = lengths.map { n in
            Route(name: "len\(n)", match: ["v": [.string(String(decoding: Self.key(n), as: UTF8.self))]], targets: [RouteTarget(connector: "sink")])
        }
        let table = try RouteTable(routes: routes)
        let parser = JSONParser(maxBytes: 1 << 20, maxDepth: 64)
        let scratch = MatchScratch()
        func answer(_ text: String) throws -> [Int] {
            try parser.parse(Array(text.utf8)) { table.match($0.root, scratch: scratch) }.get()
        }
        for (route, n) in lengths.enumerated() {
            let value = String(decoding: Self.key(n), as: UTF8.self)
            #expect(try answer(#"{"v":"\#(value)","w":"zzzzzzzzzzzzzzzzzzzzzzzz"}"#) == [route], "length \(n)")
            // One byte more or less, or the last byte changed: no route.
            #expect(try answer(#"{"v":"\#(value)!","w":"zzzz"}"#) == [], "length \(n) + 1")
            #expect(try answer(#"{"v":"\#(value.dropLast())!","w":"zzzz"}"#) == [], "length \(n), last byte changed")
        }
        // Keys around the boundaries too (path-trie edges of 7 to 17 bytes).
        let keyed = try RouteTable(routes: [
            Route(name: "k", match: ["abcdefghijklmnopq": ["abcdefg": ["x"]]], targets: [RouteTarget(connector: "sink")]),
        ])
        func keyedAnswer(_ text: String) throws -> [Int] {
            try parser.parse(Array(text.utf8)) { keyed.match($0.root, scratch: scratch) }.get()
        }
        #expect(try keyedAnswer(#"{"abcdefghijklmnopq":{"abcdefg":"x"}}"#) == [0])
        #expect(try keyedAnswer(#"{"abcdefghijklmnopr":{"abcdefg":"x"}}"#) == [])
        #expect(try keyedAnswer(#"{"abcdefghijklmnopq":{"abcdefgh":"x"}}"#) == [])
        #expect(try keyedAnswer(#"{"abcdefghijklmnopq.abcdefg":"x"}"#) == [0])
    }
}
