/// Where each key of a route file belongs, so an unknown key gets a useful hint: the key it is
/// probably a typo of ("did you mean 'targets'?"), or, for a known key written in the wrong place,
/// where it goes ("`dry_run` belongs under `playbook:`"). One table: a layer that adds route keys
/// adds them to `RouteLoader.routeKeys` and, when they are also valid elsewhere, a line here.
public enum RouteKeys {
    /// Keys that are valid somewhere in a route file, by the place they belong.
    public static let placeOfKey: [String: String] = [
        // playbook:
        "dry_run": "under `playbook:`",
        "steps": "under `playbook:`",
        // playbook steps
        "action": "in a step under `playbook: steps:`",
        "params": "in a step under `playbook: steps:`",
        "when": "in a step under `playbook: steps:`",
        "retry": "in a step under `playbook: steps:`",
        "on_failure": "in a step under `playbook: steps:`",
        "compensate": "in a step under `playbook: steps:`",
        "requires_approval": "in a step under `playbook: steps:`",
        // targets:
        "connector": "in an entry of `targets:`",
        "template": "in an entry of `targets:`",
        "input_paths": "in an entry of `targets:`",
        // suppress:
        "trusted_ips": "in an entry of `suppress:`",
        "fields": "in a `trusted_ips` entry of `suppress:`",
        // match: (EventBridge envelope fields)
        "source": "under `match:` (an event pattern)",
        "detail": "under `match:` (an event pattern)",
        "detail-type": "under `match:` (an event pattern)",
        "account": "under `match:` (an event pattern)",
        "region": "under `match:` (an event pattern)",
        "Criterion": "under `match:` or `suppress:`",
        // state rules (HoldRules)
        "key": "under `dedupe:` or `throttle:`",
        "window": "under `dedupe:`",
        "limit": "under `throttle:`",
        "per": "under `throttle:`",
        "by": "under `group:`",
        "wait": "under `group:`",
        "interval": "under `group:`",
        "repeat": "under `group:`",
        "inhibit": "at the top of a route file (beside one route or `routes:`)",
    ]

    /// "unknown KIND key 'KEY' (did you mean …? | … belongs …; expected one of: …)".
    public static func unknownKeyMessage(_ key: String, kind: String, known: some Collection<String>) -> String {
        let expected = known.sorted().joined(separator: ", ")
        if let hint = hint(for: key, known: known) {
            return "unknown \(kind) key '\(key)': \(hint) (expected one of: \(expected))"
        }
        return "unknown \(kind) key '\(key)' (expected one of: \(expected))"
    }

    /// A typo of a key valid here wins over a key valid elsewhere.
    public static func hint(for key: String, known: some Collection<String>) -> String? {
        let folded = fold(key)
        if let near = nearest(key, in: known) { return "did you mean '\(near)'?" }
        if let place = placeOfKey[key] { return "`\(key)` belongs \(place)" }
        if let other = placeOfKey.keys.first(where: { fold($0) == folded }), let place = placeOfKey[other] {
            return "did you mean '\(other)'? It belongs \(place)"
        }
        return nil
    }

    /// The name of `known` one or two typos away from `name` (a connector instance, a key).
    public static func nearest(_ name: String, in known: some Collection<String>) -> String? {
        let folded = fold(name)
        guard let near = known.min(by: { editDistance(fold($0), folded) < editDistance(fold($1), folded) }),
              editDistance(fold(near), folded) <= max(1, min(2, name.count / 3)) else { return nil }
        return near
    }

    /// `dryRun`, `dry-run` and `DRY_RUN` are the same typo of `dry_run`.
    static func fold(_ key: String) -> String {
        String(key.lowercased().filter { $0 != "_" && $0 != "-" })
    }
}
