import Testing
@testable import SluiceCore

/// aws/event-ruler's own cases (../shared/event-ruler), with the answers event-ruler gives.
@Suite struct PatternEventRulerTests {
    @Test(.enabled(if: SharedData.path("event-ruler/correctness-cases.json") != nil, "needs ../shared/event-ruler/correctness-cases.json")) func correctnessCases() throws {
        let cases = try #require(try SharedData.json("event-ruler/correctness-cases.json")?.arrayValue)
        #expect(cases.count == 51)
        for c in cases {
            let name = c["name"]?.stringValue ?? "?"
            let expected = c["expected"]?.stringValue == "true"
            let got = try PatternCheck.evaluate(c["rule"]!, c["event"]!)
            #expect(got == expected, "\(name)")
        }
    }

    @Test(.enabled(if: SharedData.path("event-ruler/data") != nil, "needs ../shared/event-ruler/data")) func arrayRulesAndEvents() throws {
        var rules: [JSON] = []
        var events: [JSON] = []
        for i in 1...4 {
            rules.append(try #require(try SharedData.json("event-ruler/data/arrayRule\(i).json")))
            events.append(try #require(try SharedData.json("event-ruler/data/arrayEvent\(i).json")))
        }
        // expected[event][rule]
        let expected: [[Bool]] = [
            [true, true, false, false],
            [false, false, false, false],
            [false, false, false, true],
            [false, false, true, true],
        ]
        for (ei, event) in events.enumerated() {
            for (ri, rule) in rules.enumerated() {
                #expect(try PatternCheck.evaluate(rule, event) == expected[ei][ri], "arrayRule\(ri + 1) on arrayEvent\(ei + 1)")
            }
        }
    }

    @Test(.enabled(if: SharedData.path("event-ruler/data") != nil, "needs ../shared/event-ruler/data")) func bigEvent() throws {
        let rule = try #require(try SharedData.json("event-ruler/data/bigEventRule.json"))
        let event = try #require(try SharedData.json("event-ruler/data/bigEvent.json"))
        #expect(try PatternCheck.evaluate(rule, event))
    }

    @Test(.enabled(if: SharedData.path("event-ruler/data") != nil, "needs ../shared/event-ruler/data")) func orRelationshipRules() throws {
        let rules = try #require(try SharedData.json("event-ruler/data/orRelationshipRules.json")?.arrayValue)
        let patterns = try rules.map { try Pattern(json: $0) }
        #expect(patterns.map(\.branches.count) == [2, 4, 3, 4, 2])
        let e1 = try JSON.parse(#"{"source":"aws.cloudwatch","namespace":"AWS/EC2","metricType":"MetricType","spaceId":1000}"#)
        #expect(try PatternCheck.evaluate(rules[0], e1))
        #expect(try !PatternCheck.evaluate(rules[1], e1))  // detail.source / detail.detail-type absent
        #expect(try PatternCheck.evaluate(rules[2], e1))
        #expect(try PatternCheck.evaluate(rules[3], e1))
        let e2 = try JSON.parse(#"{"source":"aws.cloudwatch","namespace":"AWS/EC2","metricType":"MetricType","metricId":7}"#)
        #expect(try !PatternCheck.evaluate(rules[3], e2))
        let e3 = try JSON.parse(#"{"source":"aws.cloudwatch","detail":{"state":{"value":"ALARM"}},"withoutConfiguration":{"metric":{"name":"AWS/Default"}}}"#)
        #expect(try PatternCheck.evaluate(rules[4], e3))
    }

    @Test(.enabled(if: SharedData.path("event-ruler/data") != nil, "needs ../shared/event-ruler/data")) func dollarOrAsAFieldNameInOldRules() throws {
        let rules = try #require(try SharedData.json("event-ruler/data/normalRulesWithOrWording.json")?.arrayValue)
        let patterns = try rules.map { try Pattern(json: $0) }
        #expect(patterns[0].branches[0].fields.map(\.path) == ["$or"])
        #expect(patterns[1].branches[0].fields.map(\.path) == ["$or.metricType", "$or.namespace", "source"])
        #expect(try PatternCheck.evaluate(rules[0], try JSON.parse(#"{"$or":"10.0.0.7"}"#)))
        #expect(try PatternCheck.evaluate(rules[3], try JSON.parse(#"{"detail":{"$or":11}}"#)))
        #expect(try !PatternCheck.evaluate(rules[3], try JSON.parse(#"{"detail":{"$or":7}}"#)))
    }

    @Test(.enabled(if: SharedData.path("event-ruler/data") != nil, "needs ../shared/event-ruler/data")) func wrongOrRelationshipRulesAreRejected() throws {
        let rules = try #require(try SharedData.json("event-ruler/data/wrongOrRelationshipRules.json")?.arrayValue)
        for rule in rules {
            #expect(throws: PatternError.self) { try Pattern(json: rule) }
        }
    }

    /// The citylots2 benchmark banks of event-ruler must at least all compile.
    @Test(.enabled(if: SharedData.path("event-ruler/cl2-benchmark-cases.json") != nil, "needs ../shared/event-ruler/cl2-benchmark-cases.json")) func benchmarkBanksCompile() throws {
        let bank = try #require(try SharedData.json("event-ruler/cl2-benchmark-cases.json"))
        var count = 0
        for c in bank["cases"]?.arrayValue ?? [] {
            for p in c["patterns"]?.arrayValue ?? [] {
                _ = try Pattern(json: p["pattern"]!)
                count += 1
            }
        }
        #expect(count == 70)
    }
}
