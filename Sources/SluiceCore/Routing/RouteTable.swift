/// All enabled routes, compiled together. Immutable: a reload builds a new table and swaps it in.
///
/// NOTE: interim implementation (exact values, value lists, nested fields) until the compiled
/// matcher lands; the public surface below is the contract the runtime relies on.
public final class RouteTable: Sendable {
    /// Enabled routes in evaluation order (`order` first, then file order).
    public let routes: [Route]

    public init(routes: [Route]) throws(Diagnostics) {
        self.routes = routes.filter(\.enabled).enumerated()
            .sorted { ($0.element.order ?? Int.max, $0.offset) < ($1.element.order ?? Int.max, $1.offset) }
            .map(\.element)
    }

    /// Indices into `routes` of the routes whose pattern matches `event` and no suppression does,
    /// in evaluation order, honouring `stop`.
    public func match(_ event: JSONView) -> [Int] {
        var out: [Int] = []
        for (i, route) in routes.enumerated() where InterimMatcher.matches(route.match, event) {
            if route.suppress.contains(where: { InterimMatcher.matches($0, event) }) { continue }
            out.append(i)
            if route.stop { break }
        }
        return out
    }
}

enum InterimMatcher {
    static func matches(_ pattern: JSON, _ event: JSONView) -> Bool {
        guard case .object(let fields) = pattern else { return false }
        for (key, want) in fields {
            let value = event[key]
            switch want {
            case .object:
                guard let value else { return false }
                if value.kind == .array {
                    var any = false
                    value.forEachElement { if !any && matches(want, $0) { any = true } }
                    if !any { return false }
                } else if !matches(want, value) { return false }
            case .array(let allowed):
                guard let value else { return false }
                var candidates: [JSON] = []
                if value.kind == .array { value.forEachElement { candidates.append(JSON($0)) } } else { candidates = [JSON(value)] }
                if !candidates.contains(where: { allowed.contains($0) }) { return false }
            default:
                return false
            }
        }
        return true
    }
}
