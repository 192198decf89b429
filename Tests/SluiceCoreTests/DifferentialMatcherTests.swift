import SluiceTestSupport
import Testing
@testable import SluiceCore

/// The compiled matcher against the brute-force reference, on generated patterns and events.
@Suite struct DifferentialMatcherTests {
    typealias SplitMix = SluiceTestSupport.SplitMix

    static let strings = ["a", "ab", "abc", "AbC", "b", "prod-eks-1", "prod-web", "dev-eks", "10.0.0.1", "10.1.2.3", "192.168.1.9", "2001:db8::1", "", "x*y", "Éa", "éA"]
    static let numbers: [Double] = [0, 1, 1.5, 2, 7, 8.9, 10, -3, 1e9]
    static let keys = ["a", "b", "c", "d"]

    static func value(_ g: inout SplitMix, depth: Int) -> JSON {
        switch Int.random(in: 0..<(depth > 4 ? 6 : depth > 2 ? 7 : 10), using: &g) {
        case 0, 1, 2: return .string(strings.randomElement(using: &g)!)
        case 3, 4: return .number(numbers.randomElement(using: &g)!)
        case 5: return Bool.random(using: &g) ? .bool(Bool.random(using: &g)) : .null
        case 6: return .array((0..<Int.random(in: 0...3, using: &g)).map { _ in value(&g, depth: depth + 1) })
        default: return object(&g, depth: depth + 1)
        }
    }

    static func object(_ g: inout SplitMix, depth: Int) -> JSON {
        var members: [(key: String, value: JSON)] = []
        for k in keys where Int.random(in: 0..<3, using: &g) > 0 { members.append((k, value(&g, depth: depth))) }
        if depth > 1 && depth < 4 && Bool.random(using: &g) {
            // arrays of objects, for array consistency
            let items = (0..<Int.random(in: 1...3, using: &g)).map { _ in object(&g, depth: depth + 1) }
            members.append(("arr", .array(items)))
        }
        return .object(members)
    }

    static func matcher(_ g: inout SplitMix) -> JSON {
        let s = strings.randomElement(using: &g)!
        let n = numbers.randomElement(using: &g)!
        func obj(_ k: String, _ v: JSON) -> JSON { .object([(key: k, value: v)]) }
        switch Int.random(in: 0..<22, using: &g) {
        case 0, 1: return .string(s)
        case 2: return .number(n)
        case 3: return Bool.random(using: &g) ? .bool(true) : .null
        case 4: return obj("prefix", .string(String(s.prefix(2)).isEmpty ? "a" : String(s.prefix(2))))
        case 5: return obj("suffix", .string(String(s.suffix(1)).isEmpty ? "b" : String(s.suffix(1))))
        case 6: return obj("equals-ignore-case", .string(s))
        case 7: return obj("prefix", obj("equals-ignore-case", .string(s.isEmpty ? "A" : String(s.prefix(1)))))
        case 8: return obj("wildcard", .string(["*eks*", "prod-*", "a*c", "*", "x\\*y", "*b"].randomElement(using: &g)!))
        case 9: return obj("anything-but", .string(s))
        case 10: return obj("anything-but", .array([.number(n), .number(numbers.randomElement(using: &g)!)]))
        case 11: return obj("anything-but", obj("prefix", .string("prod")))
        case 12: return obj("numeric", .array([">", .number(n)]))
        case 13: return obj("numeric", .array([">=", .number(min(n, 1)), "<", .number(max(n, 1) + 1)]))
        case 14: return obj("numeric", .array(["=", .number(n)]))
        case 15: return obj("exists", .bool(Int.random(in: 0..<3, using: &g) > 0))
        case 16: return obj("cidr", .string(["10.0.0.0/8", "10.0.0.0/24", "2001:db8::/32", "192.168.0.0/16"].randomElement(using: &g)!))
        case 17: return obj("regex", .string(["^prod-(eks|web)", "b$", "[0-9]+\\.[0-9]", "É"].randomElement(using: &g)!))
        case 18: return obj("$and", .array([obj("prefix", "prod"), obj("anything-but", obj("suffix", "web"))]))
        case 19: return obj("suffix", obj("equals-ignore-case", .string("C")))
        case 20: return obj("anything-but", obj("equals-ignore-case", .array(["abc", "b"])))
        default: return obj("anything-but", obj("wildcard", "prod-*"))
        }
    }

    static func pattern(_ g: inout SplitMix, depth: Int = 0) -> JSON {
        var members: [(key: String, value: JSON)] = []
        for k in keys + ["arr"] where Int.random(in: 0..<(depth == 0 ? 3 : 4), using: &g) == 0 {
            if depth < 2 && Int.random(in: 0..<3, using: &g) == 0 {
                members.append((k, pattern(&g, depth: depth + 1)))
            } else {
                members.append((k, .array((0..<Int.random(in: 1...2, using: &g)).map { _ in matcher(&g) })))
            }
        }
        if members.isEmpty { members.append((keys.randomElement(using: &g)!, .array([matcher(&g)]))) }
        if depth == 0 && Int.random(in: 0..<5, using: &g) == 0 {
            members.append(("$or", .array([pattern(&g, depth: 1), pattern(&g, depth: 1)])))
        }
        return .object(members)
    }

    @Test func generatedPatternsAgreeWithTheReference() throws {
        var g = SplitMix(state: 0x5EED)
        var routes: [Route] = []
        while routes.count < 400 {
            let p = Self.pattern(&g)
            guard (try? Pattern(json: p)) != nil else { continue }
            let suppress = Int.random(in: 0..<8, using: &g) == 0 ? [Self.pattern(&g)] : []
            if !suppress.isEmpty && (try? Pattern(json: suppress[0])) == nil { continue }
            routes.append(Route(name: "r\(routes.count)", match: p, suppress: suppress, targets: [RouteTarget(connector: "c")]))
        }
        let table = try RouteTable(routes: routes)
        let parser = JSONParser(maxBytes: 1 << 20, maxDepth: 64)
        let scratch = MatchScratch()
        var matches = 0
        var disagreements = 0
        for _ in 0..<1500 {
            let event = Self.object(&g, depth: 0)
            let expected = table.referenceMatch(event)
            let got = try parser.parse(event.serialized()) { table.match($0.root, scratch: scratch) }.get()
            matches += expected.count
            if expected != got {
                disagreements += 1
                if disagreements <= 5 {
                    let diff = Set(expected).symmetricDifference(got).sorted().prefix(3)
                    Issue.record("event \(event.serialized()): reference \(expected.count) routes, compiled \(got.count); differing: \(diff.map { table.routes[$0].match.serialized() + " suppress " + (table.routes[$0].suppress.first?.serialized() ?? "-") })")
                }
            }
        }
        #expect(disagreements == 0)
        #expect(matches > 1000)  // the generator must exercise matching, not only misses
    }
}
