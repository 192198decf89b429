/// Rejects, at validation, route sets whose wildcards (and regexes) would make matching blow
/// up — the role of event-ruler's `MachineComplexityEvaluator`.
///
/// Exact values, prefixes, numbers and CIDRs cost one index probe however many routes use
/// them. A wildcard costs a scan of the value per `*`, and every wildcard a worst-case value
/// can reach is scanned: all those on the path without a literal prefix, plus those sharing the
/// longest-populated literal prefix. That sum, per field path, is the path's complexity.
enum ComplexityEvaluator {
    struct Finding {
        var route: Int
        var message: String
    }

    /// More `*` than this in one wildcard is rejected outright.
    static let maxStarsPerWildcard = 16
    /// Per field path, the worst-case wildcard work (sum of `*` counts reachable at once).
    static let maxPathComplexity = 512
    /// Per field path, the regex NFA states reachable at once.
    static let maxPathRegexStates = 50_000

    static func evaluate(patterns: [Pattern], suppressions: [[Pattern]], names: [String]) -> [Finding] {
        struct Use {
            var route: Int
            var text: String
            var stars: Int
            var prefix: [UInt8]
        }
        var wildcards: [String: [Use]] = [:]
        var regexes: [String: [(route: Int, text: String, states: Int)]] = [:]
        var findings: [Finding] = []

        func visit(_ m: ValueMatcher, path: String, route: Int) {
            switch m {
            case .wildcard(let w) where w.starCount > 0:
                if w.starCount > maxStarsPerWildcard {
                    findings.append(Finding(route: route, message: "route '\(names[route])': \(path): wildcard \"\(w.source)\" has \(w.starCount) wildcard characters (at most \(maxStarsPerWildcard)); matching it would be too costly"))
                }
                wildcards[path, default: []].append(Use(route: route, text: w.source, stars: w.starCount, prefix: w.literalPrefix))
            case .regex(let r): regexes[path, default: []].append((route, r.source, r.stateCount))
            case .anythingBut(let inner), .all(let inner): for x in inner { visit(x, path: path, route: route) }
            default: break
            }
        }
        for (r, p) in patterns.enumerated() {
            for pattern in [p] + suppressions[r] {
                for b in pattern.branches { for f in b.fields { for m in f.matchers { visit(m, path: f.path, route: r) } } }
            }
        }
        for (path, all) in wildcards.sorted(by: { $0.key < $1.key }) {
            // The same wildcard in many routes is matched once per event (conditions are
            // memoised), so each distinct wildcard counts once.
            var seen: Set<String> = []
            let uses = all.filter { seen.insert($0.text).inserted }
            // A value reaches every prefix-less wildcard and, at worst, one group of prefixed ones
            // (values with a longer matching prefix reach the shorter prefixes' groups too).
            let free = uses.filter { $0.prefix.isEmpty }
            var groups: [[UInt8]: Int] = [:]
            for u in uses where !u.prefix.isEmpty { groups[u.prefix, default: 0] += u.stars }
            var worstPrefixed = 0
            for (prefix, _) in groups {
                var sum = 0
                for length in 1...prefix.count { sum += groups[Array(prefix[0..<length])] ?? 0 }
                worstPrefixed = max(worstPrefixed, sum)
            }
            let score = free.reduce(0) { $0 + $1.stars } + worstPrefixed
            if score > maxPathComplexity {
                let worst = uses.max { $0.stars < $1.stars }!
                findings.append(Finding(route: worst.route, message: "route '\(names[worst.route])': \(path): wildcard \"\(worst.text)\" makes the wildcards on this field too complex (complexity \(score), at most \(maxPathComplexity); \(uses.count) distinct wildcards on it); give wildcards distinct literal prefixes or fewer '*'"))
            }
        }
        for (path, uses) in regexes.sorted(by: { $0.key < $1.key }) {
            let states = uses.reduce(0) { $0 + $1.states }
            if states > maxPathRegexStates {
                let worst = uses.max { $0.states < $1.states }!
                findings.append(Finding(route: worst.route, message: "route '\(names[worst.route])': \(path): regex \"\(worst.text)\" makes the regexes on this field too complex (\(states) NFA states, at most \(maxPathRegexStates))"))
            }
        }
        return findings
    }
}
