import Testing
@testable import SluiceCore

/// The condition automaton against the brute-force reference on more generated route sets than
/// `DifferentialMatcherTests` (other seeds, route sets that share conditions the way real
/// route files do), plus the walker's and parser's edge cases.
@Suite struct AutomatonDifferentialTests {
    typealias Gen = DifferentialMatcherTests

    static func disagreements(seed: UInt64, routeCount: Int, events: Int, shared: Bool) throws -> (disagreements: Int, matches: Int) {
        var g = Gen.SplitMix(state: seed)
        var routes: [Route] = []
        // Shared conditions: many routes repeat the same field conditions with one varying
        // field, so automaton states are shared and reached from several parents' groups.
        let common = (0..<4).map { _ in Gen.pattern(&g, depth: 1) }
        while routes.count < routeCount {
            var p = Gen.pattern(&g)
            if shared, case .object(var members) = p, case .object(let extra) = common.randomElement(using: &g)! {
                for m in extra where !members.contains(where: { $0.key == m.key }) { members.append(m) }
                p = .object(members)
            }
            guard (try? Pattern(json: p)) != nil else { continue }
            let suppress = Int.random(in: 0..<6, using: &g) == 0 ? [common.randomElement(using: &g)!] : []
            if !suppress.isEmpty && (try? Pattern(json: suppress[0])) == nil { continue }
            routes.append(Route(name: "r\(routes.count)", match: p, suppress: suppress, targets: [RouteTarget(connector: "c")]))
        }
        let table = try RouteTable(routes: routes)
        let parser = JSONParser(maxBytes: 1 << 20, maxDepth: 64)
        let scratch = MatchScratch()
        var bad = 0
        var matches = 0
        for _ in 0..<events {
            let event = Gen.object(&g, depth: 0)
            let expected = table.referenceMatch(event)
            let got = try parser.parse(event.serialized()) { table.match($0.root, scratch: scratch) }.get()
            matches += expected.count
            if expected != got {
                bad += 1
                if bad <= 3 { Issue.record("seed \(seed): event \(event.serialized()): reference \(expected), compiled \(got)") }
            }
        }
        return (bad, matches)
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func generatedRouteSetsAgree(seed: UInt64) throws {
        let r = try Self.disagreements(seed: seed, routeCount: 250, events: 500, shared: false)
        #expect(r.disagreements == 0)
        #expect(r.matches > 300)
    }

    @Test(arguments: [5, 6, 7] as [UInt64])
    func routeSetsSharingConditionsAgree(seed: UInt64) throws {
        let r = try Self.disagreements(seed: seed, routeCount: 250, events: 500, shared: true)
        #expect(r.disagreements == 0)
        #expect(r.matches > 100)
    }

    @Test func dottedKeysLongKeysAndWideObjectsMatchTheirPaths() throws {
        var members: [(key: String, value: JSON)] = (0..<40).map { (key: "field\($0)", value: .number(Double($0))) }
        members.append((key: "a.b", value: ["c": "x"]))
        members.append((key: "averyveryverylongkeyname", value: "long"))
        let event = JSON.object(members)
        let routes = [
            Route(name: "dotted", match: ["a": ["b": ["c": ["x"]]]], targets: [RouteTarget(connector: "c")]),
            Route(name: "long", match: ["averyveryverylongkeyname": ["long"]], targets: [RouteTarget(connector: "c")]),
            Route(name: "wide", match: ["field39": [39], "field7": [["numeric": [">", 6]]]], targets: [RouteTarget(connector: "c")]),
            Route(name: "miss", match: ["averyveryverylongkeynamf": ["long"]], targets: [RouteTarget(connector: "c")]),
        ]
        let table = try RouteTable(routes: routes)
        let got = try JSONParser().parse(event.serialized()) { table.match($0.root) }.get()
        #expect(got == [0, 1, 2])
        #expect(got == table.referenceMatch(event))
    }

    @Test func paddedAndUnpaddedBuffersParseAlike() throws {
        let text = #"{"detail":{"severity":8.9,"type":"Recon:EC2/PortProbeUnprotectedPort"}}"#
        var padded = Array(text.utf8)
        padded.reserveCapacity(padded.count + JSONParser.padding)
        let exact = Array(text.utf8)
        let parser = JSONParser()
        let a = try parser.parse(padded) { JSON($0.root) }.get()
        let b = try parser.parse(exact) { JSON($0.root) }.get()
        #expect(a == b)
        #expect(a.serialized() == text)
    }
}
