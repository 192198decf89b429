/// Warnings for routes on the findings of a registered `FindingFieldModel` (a pattern whose
/// `source` is one of the model's): patterns that are valid but can never match as meant. Each
/// warning is located at the offending key or value.
///
/// - a path the findings cannot have (`detail.resourceType`), with the paths that end in the
///   same key (`detail.resource.resourceType`);
/// - a string where the finding has a number (`severity: ["8"]`: EventBridge compares types, so it
///   never matches), or a number where the finding has a string (`accountId: [123456789012]`);
/// - an operator object not inside a list (`severity: {numeric: [">=", 7]}` is read as the field
///   `severity.numeric`).
///
/// With no model registered it warns about nothing: SluiceCore knows no product's findings.
public enum FindingFieldRouteLint {
    /// Names of EventBridge / Sluice value operators.
    public static let operators: Set<String> = [
        "prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric", "exists", "cidr", "regex", "$and",
    ]

    /// The models whose findings the pattern is for (by its `source` values).
    static func models(for node: YAMLNode) -> [any FindingFieldModel] {
        guard let source = node["source"] else { return [] }
        let values = source.isSequence ? source.items.compactMap(\.string) : [source.string].compactMap { $0 }
        return FindingFieldModels.models(forSources: values)
    }

    /// Warnings for a pattern written as YAML; none when no model in effect is for its source.
    public static func warnings(_ node: YAMLNode, label: String) -> [Diagnostic] {
        guard node.isMapping else { return [] }
        var found: [Diagnostic] = []
        for model in models(for: node) {
            walk(node, prefix: [], model: model, label: label, into: &found)
        }
        return found.map(\.asWarning)
    }

    static func walk(_ node: YAMLNode, prefix: [String], model: any FindingFieldModel, label: String, into found: inout [Diagnostic]) {
        node.forEachPatternField { key, keyNode, value in
            // The `sluice` view is not the finding's: SluiceViewRouteLint checks it.
            if prefix.isEmpty && (key == "sluice" || key.hasPrefix("sluice.")) { return }
            // A dialect's keyword (`Criterion`) is the pattern parser's: read there or an error.
            if PatternDialects.keywords[key] != nil { return }
            let path = prefix + [key]
            let dotted = path.joined(separator: ".")
            if value.isMapping, let op = value.entries.first?.key, operators.contains(op) {
                found.append(value.error("\(label): `\(dotted)`: an operator object must be inside a list: \(key): [{\(op): …}]"))
                return
            }
            guard let shape = model.shape(at: path) else {
                let alternatives = model.paths(endingWith: key, limit: 3)
                let hint = alternatives.isEmpty ? "" : " (did you mean \(alternatives.joined(separator: " or "))?)"
                found.append(keyNode.error("\(label): a \(model.productName) finding has no field `\(dotted)`\(hint)"))
                return
            }
            if value.isMapping {
                walk(value, prefix: path, model: model, label: label, into: &found)
                return
            }
            for item in value.items {
                if let warning = typeMismatch(item, shape: shape.element, path: dotted, product: model.productName) {
                    found.append(item.error("\(label): \(warning)"))
                }
            }
        }
    }

    /// An exact value whose JSON type the field never has.
    static func typeMismatch(_ item: YAMLNode, shape: FindingFieldShape, path: String, product: String) -> String? {
        let value = item.json()
        switch (shape, value) {
        case (.number, .string(let s)):
            let fix = Double(s) != nil ? " (write \(s) unquoted, or use {numeric: [\"=\", \(s)]})" : ""
            return "`\(path)` is a number in \(product) findings, so the string \"\(s)\" never matches\(fix)"
        case (.string, .number(_, let text)):
            return "`\(path)` is a string in \(product) findings, so the number \(text) never matches (quote it: \"\(text)\")"
        case (.bool, .string(let s)) where s == "true" || s == "false":
            return "`\(path)` is a boolean in \(product) findings, so the string \"\(s)\" never matches (write \(s) unquoted)"
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
