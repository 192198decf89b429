/// Warnings for routes on GuardDuty findings (`source: [aws.guardduty]`): patterns that are valid
/// but can never match as meant. Each warning is located at the offending key or value.
///
/// - a path a GuardDuty event cannot have (`detail.resourceType`), with the paths that end in the
///   same key (`detail.resource.resourceType`);
/// - a string where the finding has a number (`severity: ["8"]`: EventBridge compares types, so it
///   never matches), or a number where the finding has a string (`accountId: [123456789012]`);
/// - an operator object not inside a list (`severity: {numeric: [">=", 7]}` is read as the field
///   `severity.numeric`).
public enum GuardDutyRouteLint {
    /// Names of EventBridge / Sluice value operators.
    public static let operators: Set<String> = [
        "prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric", "exists", "cidr", "regex", "$and",
    ]

    /// True when the pattern is for GuardDuty events.
    static func isGuardDutyPattern(_ node: YAMLNode) -> Bool {
        guard let source = node["source"] else { return false }
        let values = source.isSequence ? source.items.compactMap(\.string) : [source.string].compactMap { $0 }
        return values.contains("aws.guardduty")
    }

    /// Warnings for a pattern written as YAML; none when it is not a GuardDuty pattern.
    public static func warnings(_ node: YAMLNode, label: String) -> [Diagnostic] {
        guard node.isMapping, isGuardDutyPattern(node) else { return [] }
        var found: [Diagnostic] = []
        walk(node, prefix: [], label: label, into: &found)
        return found.map(\.asWarning)
    }

    static func walk(_ node: YAMLNode, prefix: [String], label: String, into found: inout [Diagnostic]) {
        node.forEachPatternField { key, keyNode, value in
            // The `sluice` view is not the finding's: SluiceViewRouteLint checks it.
            if prefix.isEmpty && (key == "sluice" || key.hasPrefix("sluice.")) { return }
            let path = prefix + [key]
            let dotted = path.joined(separator: ".")
            if value.isMapping, let op = value.entries.first?.key, operators.contains(op) {
                found.append(value.error("\(label): `\(dotted)`: an operator object must be inside a list: \(key): [{\(op): …}]"))
                return
            }
            guard let shape = GuardDutyFindingModel.shape(at: path) else {
                let alternatives = GuardDutyFindingModel.paths(endingWith: key)
                let hint = alternatives.isEmpty ? "" : " (did you mean \(alternatives.joined(separator: " or "))?)"
                found.append(keyNode.error("\(label): a GuardDuty finding has no field `\(dotted)`\(hint)"))
                return
            }
            if value.isMapping {
                walk(value, prefix: path, label: label, into: &found)
                return
            }
            for item in value.items {
                if let warning = typeMismatch(item, shape: shape.element, path: dotted) {
                    found.append(item.error("\(label): \(warning)"))
                }
            }
        }
    }

    /// An exact value whose JSON type the field never has.
    static func typeMismatch(_ item: YAMLNode, shape: GuardDutyFindingModel.Shape, path: String) -> String? {
        let value = item.json()
        switch (shape, value) {
        case (.number, .string(let s)):
            let fix = Double(s) != nil ? " (write \(s) unquoted, or use {numeric: [\"=\", \(s)]})" : ""
            return "`\(path)` is a number in GuardDuty findings, so the string \"\(s)\" never matches\(fix)"
        case (.string, .number(_, let text)):
            return "`\(path)` is a string in GuardDuty findings, so the number \(text) never matches (quote it: \"\(text)\")"
        case (.bool, .string(let s)) where s == "true" || s == "false":
            return "`\(path)` is a boolean in GuardDuty findings, so the string \"\(s)\" never matches (write \(s) unquoted)"
        default:
            return nil
        }
    }
}

extension YAMLNode {
    /// Calls `body` with each field of a pattern mapping, the branches of `$or` included (they
    /// sit at the same level), for the lints that walk a pattern where it is written.
    func forEachPatternField(_ body: (_ key: String, _ keyNode: YAMLNode, _ value: YAMLNode) -> Void) {
        for (key, keyNode, value) in entries {
            if key == "$or" {
                for item in value.items where item.isMapping { item.forEachPatternField(body) }
                continue
            }
            body(key, keyNode, value)
        }
    }
}
