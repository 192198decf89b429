import SluiceCore

/// What `sluice test` says about state rules for one event: which rule would hold it, and on
/// which key. `sluice test` keeps no state, so this describes the rule, not a decision.
public enum HoldExplanation {
    public static func lines(route: Route, inhibitRules: [InhibitRule], event: JSON) -> [String] {
        var out: [String] = []
        func values(_ paths: [String]) -> String {
            zip(paths, StateKey.values(paths: paths, event: event)).map { "\($0) = \($1 ?? "(missing)")" }.joined(separator: ", ")
        }
        if let g = route.hold.group {
            out.append("grouped: held into the group \(values(g.by)); first digest after \(g.wait), then every \(g.interval) when changed, unchanged again after \(g.repeatAfter)")
        }
        if let d = route.hold.dedupe {
            out.append("dedupe: the first with \(values(d.key)) is delivered; repeats within \(d.window) of the last delivery are held (a severity increase is delivered)")
        }
        if let t = route.hold.throttle {
            out.append("throttle: at most \(t.limit) per \(t.per) with \(values(t.key)); the overflow goes as one digest at the period's end")
        }
        for r in inhibitRules {
            guard let target = try? Pattern(json: r.target), ReferenceMatcher.matches(target, event) else { continue }
            out.append("inhibited by '\(r.name)' while a source finding with \(values(r.equal)) was seen within \(r.duration)")
        }
        return out
    }
}
