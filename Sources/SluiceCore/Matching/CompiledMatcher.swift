/// Interim: evaluates with the reference matcher until the automaton lands.
final class CompiledMatcher: Sendable {
    let patterns: [Pattern]
    let suppressions: [[Pattern]]
    init(patterns: [Pattern], suppressions: [[Pattern]]) {
        self.patterns = patterns
        self.suppressions = suppressions
    }

    func run(_ event: JSONView, scratch: MatchScratch) {
        let json = JSON(event)
        scratch.matchedRoutes = []
        scratch.suppressed = []
        for (i, p) in patterns.enumerated() where ReferenceMatcher.matches(p, json) {
            scratch.matchedRoutes.append(i)
            if suppressions[i].contains(where: { ReferenceMatcher.matches($0, json) }) { scratch.suppressed.insert(i) }
        }
    }
}

/// Per-thread working memory for matching; reuse one per decoding thread.
public final class MatchScratch {
    var matchedRoutes: [Int] = []
    var suppressed: Set<Int> = []
    public init() {}
    func isSuppressed(_ route: Int) -> Bool { suppressed.contains(route) }
}
