/// Why a route did not match an event (`sluice test --explain`): the first condition that failed
/// and the value the event had there. Slow path over the reference matcher, like `explain`.
public struct RouteMiss: Sendable {
    public enum Reason: Sendable {
        /// A field condition failed: `values` are the event's leaves at `path` (empty: absent).
        case condition(path: String, expected: String, values: [JSON])
        /// Every condition holds alone, but not on leaves of the same array element.
        case arrayElements(paths: [String])
        /// The pattern matched, but suppression `index` (0-based, as written) matched too.
        case suppressed(index: Int)
        /// The pattern matched, but an earlier route with `stop: true` matched first.
        case stoppedBy(route: String)
    }

    /// Index into `RouteTable.routes`.
    public var route: Int
    /// One reason per alternative of the pattern (a `$or` pattern has several); one for the others.
    public var reasons: [Reason]
}

extension RouteTable {
    /// For each enabled route that `event` does not take, why not.
    public func explainMisses(_ event: JSON) -> [RouteMiss] {
        let leaves = ReferenceMatcher.flatten(event)
        let taken = Set(referenceMatch(event))
        var stopper: String?
        var misses: [RouteMiss] = []
        for (i, route) in routes.enumerated() {
            if taken.contains(i) {
                if route.stop, stopper == nil { stopper = route.name }
                continue
            }
            let pattern = patterns[i]
            if pattern.branches.contains(where: { ReferenceMatcher.matchingLeaves($0, leaves) != nil }) {
                if let k = suppressions[i].firstIndex(where: { ReferenceMatcher.matches($0, event) }) {
                    misses.append(RouteMiss(route: i, reasons: [.suppressed(index: k)]))
                } else {
                    misses.append(RouteMiss(route: i, reasons: [.stoppedBy(route: stopper ?? "an earlier route")]))
                }
                continue
            }
            misses.append(RouteMiss(route: i, reasons: pattern.branches.map { Self.firstFailure($0, leaves) }))
        }
        return misses
    }

    static func firstFailure(_ branch: PatternBranch, _ leaves: [ReferenceMatcher.Leaf]) -> RouteMiss.Reason {
        for field in branch.fields {
            let values = leaves.filter { $0.path == field.path }.map(\.value)
            let expected = field.matchers.map(ConditionText.describe).joined(separator: " or ")
            if values.isEmpty {
                if field.allowsAbsence { continue }
                return .condition(path: field.path, expected: expected, values: [])
            }
            let matchers = field.leafMatchers
            if matchers.isEmpty || !values.contains(where: { v in matchers.contains { ReferenceMatcher.matches($0, v) } }) {
                return .condition(path: field.path, expected: expected, values: values)
            }
        }
        return .arrayElements(paths: branch.fields.map(\.path))
    }
}

/// A value condition as a person would write it: `"Instance"`, `prefix "Crypto"`, `>= 7`.
public enum ConditionText {
    public static func describe(_ m: ValueMatcher) -> String {
        switch m {
        case .string(let s): return JSON.string(s).serialized()
        case .number(let d): return number(d)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .prefix(let p, let ic): return "prefix \(JSON.string(p).serialized())\(ic ? " (ignoring case)" : "")"
        case .suffix(let p, let ic): return "suffix \(JSON.string(p).serialized())\(ic ? " (ignoring case)" : "")"
        case .equalsIgnoreCase(let s): return "equals-ignore-case \(JSON.string(s).serialized())"
        case .wildcard(let w): return "wildcard \(JSON.string(w.source).serialized())"
        case .numeric(let r):
            var parts: [String] = []
            if let l = r.lower { parts.append("\(r.lowerInclusive ? ">=" : ">") \(number(l))") }
            if let u = r.upper { parts.append("\(r.upperInclusive ? "<=" : "<") \(number(u))") }
            if r.lower == r.upper, let l = r.lower { return "= \(number(l))" }
            return parts.joined(separator: " and ")
        case .cidr(let r): return "cidr \(r)"
        case .ipAddress(_, let text): return JSON.string(text).serialized()
        case .exists(let e): return e ? "exists" : "absent"
        case .regex(let r): return "regex \(JSON.string(r.source).serialized())"
        case .anythingBut(let inner): return "anything but (\(inner.map(describe).joined(separator: " or ")))"
        case .all(let inner): return "(" + inner.map(describe).joined(separator: " and ") + ")"
        }
    }

    /// `7` rather than `7.0`; the guard keeps the conversion from trapping.
    static func number(_ d: Double) -> String {
        if d.isFinite, d.rounded() == d, abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }
}
