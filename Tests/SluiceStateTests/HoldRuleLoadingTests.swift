import SluiceCore
import Testing

/// The state keys of route files: parsed, and every mistake located at path:line:column.
@Suite struct HoldRuleLoadingTests {
    func errors(_ text: String) -> [String] {
        do {
            _ = try RouteLoader.load(path: "routes/x.yaml", text: text, environment: [:])
            return []
        } catch { return error.items.map(\.description) }
    }

    @Test func keysAreParsed() throws {
        let routes = try RouteLoader.load(path: "routes/x.yaml", text: """
            routes:
              - name: dedupe-and-throttle
                match: {source: [aws.guardduty]}
                targets: [slack]
                dedupe: {key: [detail.type, detail.id], window: 1h}
                throttle: {key: [detail.type], limit: 20, per: 10m}
              - name: grouped
                match: {source: [aws.guardduty]}
                targets: [pager]
                group: {by: [detail.accountId], wait: 30s, interval: 5m, repeat: 4h}
            inhibit:
              - {name: compromised, source: {detail: {type: [Backdoor]}}, target: {source: [aws.guardduty]}, equal: [detail.resource.instanceId], for: 2h}
            """, environment: [:])
        #expect(routes.count == 2)
        #expect(routes[0].hold.dedupe == DedupeRule(key: ["detail.type", "detail.id"], window: .seconds(3600)))
        #expect(routes[0].hold.throttle == ThrottleRule(key: ["detail.type"], limit: 20, per: .seconds(600)))
        #expect(routes[0].hold.partitionPaths == ["detail.type"])
        #expect(routes[1].hold.group == GroupRule(by: ["detail.accountId"], wait: .seconds(30), interval: .seconds(300), repeatAfter: .seconds(14400)))
        #expect(routes[1].hold.partitionPaths == ["detail.accountId"])
    }

    @Test func digestTemplateIsReadAndNeedsARuleThatSendsDigests() throws {
        let routes = try RouteLoader.load(path: "routes/x.yaml", text: """
            name: t
            match: {source: [aws.guardduty]}
            targets: [hook]
            throttle: {key: [source], limit: 2, per: 1h}
            digest_template: '{"n": {{total}}}'
            """, environment: [:])
        #expect(routes.first?.hold.digestTemplate == #"{"n": {{total}}}"#)
        let e = errors("""
            name: d
            match: {source: [aws.guardduty]}
            targets: [hook]
            dedupe: {key: [detail.id], window: 1h}
            digest_template: '{"n": {{{total}}}}'
            """)
        #expect(e.contains { $0.hasPrefix("routes/x.yaml:5:18: route 'd': `digest_template` needs `throttle` or `group`") }, "\(e)")
        #expect(e.contains { $0.contains("digest_template: '{{{' would insert finding text unescaped into JSON") })
    }

    @Test func repeatNotAMultipleOfIntervalIsAnError() {
        let e = errors("""
            name: g
            match: {source: [aws.guardduty]}
            targets: [pager]
            group: {by: [detail.accountId], wait: 30s, interval: 5m, repeat: 12m}
            """)
        #expect(e == ["routes/x.yaml:4:66: route 'g': group: `repeat` (720.0 seconds) must be a multiple of `interval` (300.0 seconds)"])
    }

    @Test func mistakesAreLocated() {
        let e = errors("""
            name: d
            match: {source: [aws.guardduty]}
            targets: [slack]
            dedupe:
              key: detail.id
              windw: 1h
            throttle: {key: [detail.type], limit: 0, per: 1e300h}
            """)
        #expect(e.contains("routes/x.yaml:5:8: route 'd': dedupe: `key` must be a non-empty list of dotted field paths (detail.id)"))
        #expect(e.contains { $0.hasPrefix("routes/x.yaml:6:3: unknown key 'windw'") })
        #expect(e.contains { $0.hasPrefix("routes/x.yaml:5:3: route 'd': dedupe needs `window`") })
        #expect(e.contains("routes/x.yaml:7:39: 'limit' must be at least 1"))
        #expect(e.contains { $0.hasPrefix("routes/x.yaml:7:47: route 'd': throttle: `per` must be a duration") })
    }

    @Test func keysMustNestForOneOwner() {
        let e = errors("""
            name: d
            match: {source: [aws.guardduty]}
            targets: [slack]
            dedupe: {key: [detail.id], window: 1h}
            throttle: {key: [detail.type], limit: 5, per: 10m}
            """)
        #expect(e.count == 1)
        #expect(e.first?.hasPrefix("routes/x.yaml:4:9: route 'd': dedupe `key` must include every throttle `key` path") == true)
    }

    @Test func inhibitRulesAreValidated() {
        let e = errors("""
            routes: []
            inhibit:
              - {name: x, source: {detail: {type: [1]}}, equal: [], for: 2h}
            """)
        #expect(e.contains { $0.hasPrefix("routes/x.yaml:3:5: inhibit 'x' needs `target`") })
        #expect(e.contains { $0.hasPrefix("routes/x.yaml:3:53: inhibit 'x': `equal` must be a non-empty list") })
    }
}
