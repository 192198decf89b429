/// All enabled routes, compiled together into one immutable matcher. A reload builds a new
/// table and swaps it in; a table never changes.
public final class RouteTable: Sendable {
    /// Enabled routes in evaluation order (`order` first, then file order).
    public let routes: [Route]
    /// The parsed `match` pattern of each route (same indices as `routes`).
    public let patterns: [Pattern]
    /// The parsed `suppress` patterns of each route.
    public let suppressions: [[Pattern]]
    let matcher: CompiledMatcher
    /// One bit per route with `stop`, in words of 64 (the matcher's route bitmap's layout);
    /// nil when no route stops, so the answer is not searched for one.
    let stopWords: [UInt64]?

    /// Compiles the enabled routes. Invalid patterns and patterns the complexity evaluator
    /// rejects are reported as diagnostics located at their route.
    public init(routes: [Route]) throws(Diagnostics) {
        let ordered = routes.filter(\.enabled).enumerated()
            .sorted { ($0.element.order ?? Int.max, $0.offset) < ($1.element.order ?? Int.max, $1.offset) }
            .map(\.element)
        var problems: [Diagnostic] = []
        var patterns: [Pattern] = []
        var suppressions: [[Pattern]] = []
        for route in ordered {
            func fail(_ message: String) {
                var d = route.location
                d.message = "route '\(route.name)': \(message)"
                problems.append(d)
            }
            do { patterns.append(try Pattern(json: route.match)) } catch {
                fail("match: \(error.message)")
                patterns.append(Pattern(branches: []))
            }
            var s: [Pattern] = []
            for (k, json) in route.suppress.enumerated() {
                do { s.append(try Pattern(json: json)) } catch { fail("suppress[\(k)]: \(error.message)") }
            }
            suppressions.append(s)
        }
        if problems.isEmpty {
            for finding in ComplexityEvaluator.evaluate(patterns: patterns, suppressions: suppressions, names: ordered.map(\.name)) {
                var d = ordered[finding.route].location
                d.message = finding.message
                problems.append(d)
            }
        }
        if !problems.isEmpty { throw Diagnostics(problems) }
        self.routes = ordered
        self.patterns = patterns
        self.suppressions = suppressions
        self.matcher = CompiledMatcher(patterns: patterns, suppressions: suppressions)
        var stopWords = [UInt64](repeating: 0, count: (ordered.count + 63) / 64)
        for (i, route) in ordered.enumerated() where route.stop { stopWords[i >> 6] |= 1 &<< UInt64(i & 63) }
        self.stopWords = ordered.contains(where: \.stop) ? stopWords : nil
    }

    /// Indices into `routes` of the routes whose pattern matches `event` and no suppression does,
    /// in evaluation order, honouring `stop`.
    public func match(_ event: JSONView) -> [Int] {
        let scratch = MatchScratch()
        return match(event, scratch: scratch)
    }

    /// `match(_:)` with caller-owned scratch memory: no allocation per event once warm. A scratch
    /// belongs to one thread at a time.
    public func match(_ event: JSONView, scratch: MatchScratch) -> [Int] {
        matcher.run(event, scratch: scratch)
        return selectRoutes(scratch)
    }

    func selectRoutes(_ scratch: MatchScratch) -> [Int] {
        scratch.selectedRoutes(stopWords: stopWords)
    }

    /// The brute-force answer for the same question, for tests and `sluice test`'s explanations.
    public func referenceMatch(_ event: JSON) -> [Int] {
        let leaves = ReferenceMatcher.byPath(ReferenceMatcher.flatten(event))
        var out: [Int] = []
        for (i, route) in routes.enumerated() where ReferenceMatcher.matches(patterns[i], byPath: leaves) {
            if suppressions[i].contains(where: { ReferenceMatcher.matches($0, byPath: leaves) }) { continue }
            out.append(i)
            if route.stop { break }
        }
        return out
    }

    /// Why each route matched: for every matching route (after suppression and `stop`), the
    /// leaves that satisfied its pattern. Slow path, for `sluice test`.
    public func explain(_ event: JSON) -> [RouteMatch] {
        let leaves = ReferenceMatcher.flatten(event)
        return referenceMatch(event).map { i in
            var fields: [RouteMatch.Field] = []
            for branch in patterns[i].branches {
                if let chosen = ReferenceMatcher.matchingLeaves(branch, leaves) {
                    fields = chosen.map { RouteMatch.Field(path: $0.path, value: $0.value) }
                    for f in branch.fields where f.allowsAbsence && !leaves.contains(where: { $0.path == f.path }) {
                        fields.append(RouteMatch.Field(path: f.path, value: nil))
                    }
                    break
                }
            }
            return RouteMatch(route: i, fields: fields)
        }
    }
}

/// One matching route and the fields that made it match.
public struct RouteMatch: Sendable {
    public struct Field: Sendable {
        public var path: String
        /// The leaf value; nil for a field matched by its absence (`exists: false`).
        public var value: JSON?
    }
    /// Index into `RouteTable.routes`.
    public var route: Int
    public var fields: [Field]
}

extension RouteTable {
    /// Every matching, unsuppressed route, ignoring `stop` (for backtests counting patterns independently).
    public func matchIgnoringStop(_ event: JSONView, scratch: MatchScratch) -> [Int] {
        matcher.run(event, scratch: scratch)
        return scratch.unsuppressedRoutes
    }
}

extension RouteTable {
    /// `match`, plus the routes whose pattern matched but a suppression removed (whatever
    /// `stop` did), for backtests' suppressed counts.
    public func matchReportingSuppressed(_ event: JSONView, scratch: MatchScratch) -> (routes: [Int], suppressed: [Int]) {
        matcher.run(event, scratch: scratch)
        return (selectRoutes(scratch), scratch.suppressedRoutes)
    }
}
