/// Locates a pattern's errors in its YAML: every value list and operator is checked on its own,
/// so one pass reports every error, each at the line and column of the operator (or value) it
/// concerns rather than at `match:`. The parser stays the one judge of what is valid: each part
/// is parsed as the one-field pattern it would be, and its message is the parser's.
enum PatternLocator {
    /// `whole` is the parser's error for the whole pattern; it is reported at `node` when no part
    /// alone explains it (a `$or` that expands too far, a dialect's criteria, a JSON string).
    static func diagnostics(_ node: YAMLNode, label: String, whole: PatternError) -> [Diagnostic] {
        var found: [Diagnostic] = []
        if node.isMapping, !node.entries.contains(where: { PatternDialects.keywords[$0.key] != nil }) {
            walk(node, prefix: [], label: label, into: &found)
        }
        return found.isEmpty ? [node.error("\(label): \(whole.message)")] : found
    }

    static func walk(_ node: YAMLNode, prefix: [String], label: String, into found: inout [Diagnostic]) {
        if node.entries.isEmpty {
            check(prefix, .object([]), at: node, label: label, into: &found)
            return
        }
        // A dialect's keyword (`Criterion` in a `$or` branch or under a field): the object is
        // judged whole, as the parser reads it, at the keyword.
        if let keyword = node.entries.first(where: { PatternDialects.keywords[$0.key] != nil }) {
            check(prefix, node.json(), at: keyword.keyNode, label: label, into: &found)
            return
        }
        for (key, keyNode, value) in node.entries {
            if key == "$or" {
                guard value.isSequence, value.items.count >= 2 else {
                    check(prefix + [key], value.json(), at: keyNode, label: label, into: &found)
                    continue
                }
                for item in value.items {
                    if item.isMapping { walk(item, prefix: prefix, label: label, into: &found) } else {
                        found.append(item.error("\(label): Only JSON object is allowed in array of $or relationship."))
                    }
                }
                continue
            }
            let path = prefix + [key]
            if value.isMapping {
                walk(value, prefix: path, label: label, into: &found)
            } else if value.isSequence, !value.items.isEmpty {
                for item in value.items {
                    // An operator is reported at its name: `numeric:` in `[{numeric: [">", "x"]}]`.
                    let at = item.isMapping ? (item.entries.first?.keyNode ?? item) : item
                    check(path, .array([item.json()]), at: at, label: label, into: &found)
                }
            } else {
                check(path, value.json(), at: value, label: label, into: &found)
            }
        }
    }

    static func check(_ path: [String], _ value: JSON, at node: YAMLNode, label: String, into found: inout [Diagnostic]) {
        var json = value
        for key in path.reversed() { json = .object([(key: key, value: json)]) }
        do { _ = try Pattern(json: json) } catch { found.append(node.error("\(label): \(error.message)")) }
    }
}
