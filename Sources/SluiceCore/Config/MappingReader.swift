import Foundation

/// Reads the keys of one YAML mapping and reports, in one pass, keys it did not expect and
/// values of the wrong type, each located at its line and column. Every loader of a
/// configuration object goes through it, so unknown keys are errors everywhere.
public final class MappingReader {
    public let node: YAMLNode
    public private(set) var diagnostics: [Diagnostic] = []
    private var known: [String] = []

    public init(_ node: YAMLNode, what: String) {
        self.node = node
        if !node.isMapping { diagnostics.append(node.error("\(what) must be a mapping of keys to values")) }
    }

    public var path: String { node.path }

    public func report(_ diagnostic: Diagnostic) { diagnostics.append(diagnostic) }

    /// The raw node of `key`, marking it known.
    public func node(_ key: String) -> YAMLNode? {
        known.append(key)
        return node[key]
    }

    public func string(_ key: String, required: Bool = false) -> String? {
        guard let n = node(key) else {
            if required { diagnostics.append(node.error("missing required key '\(key)'")) }
            return nil
        }
        guard let s = n.string, !n.isMapping, !n.isSequence else {
            diagnostics.append(n.error("'\(key)' must be a string"))
            return nil
        }
        return s
    }

    public func int(_ key: String, min: Int? = nil) -> Int? {
        guard let n = node(key) else { return nil }
        guard let s = n.string, let v = Int(s) else {
            diagnostics.append(n.error("'\(key)' must be an integer"))
            return nil
        }
        if let min, v < min {
            diagnostics.append(n.error("'\(key)' must be at least \(min)"))
            return nil
        }
        return v
    }

    public func double(_ key: String) -> Double? {
        guard let n = node(key) else { return nil }
        guard let s = n.string, let v = Double(s) else {
            diagnostics.append(n.error("'\(key)' must be a number"))
            return nil
        }
        return v
    }

    public func bool(_ key: String) -> Bool? {
        guard let n = node(key) else { return nil }
        switch n.string {
        case "true", "True", "TRUE", "yes": return true
        case "false", "False", "FALSE", "no": return false
        default:
            diagnostics.append(n.error("'\(key)' must be true or false"))
            return nil
        }
    }

    public func duration(_ key: String) -> Duration? {
        guard let n = node(key) else { return nil }
        guard let s = n.string, let d = DurationText.parse(s) else {
            diagnostics.append(n.error("'\(key)' must be a duration such as 500ms, 10s, 5m or 24h"))
            return nil
        }
        return d
    }

    /// A mapping of string keys to string values (headers, labels).
    public func stringMap(_ key: String) -> [(String, String)]? {
        guard let n = node(key) else { return nil }
        guard n.isMapping else {
            diagnostics.append(n.error("'\(key)' must be a mapping"))
            return nil
        }
        return n.entries.compactMap { k, _, v in
            guard let s = v.string, !v.isMapping, !v.isSequence else {
                diagnostics.append(v.error("'\(key).\(k)' must be a string"))
                return nil
            }
            return (k, s)
        }
    }

    /// A nested mapping read by its own reader; its diagnostics join this one's on `finish`.
    public func nested(_ key: String, what: String) -> MappingReader? {
        guard let n = node(key) else { return nil }
        let r = MappingReader(n, what: what)
        children.append(r)
        return r
    }
    private var children: [MappingReader] = []

    /// Marks keys as known without reading them (read elsewhere).
    public func allow(_ keys: String...) { known.append(contentsOf: keys) }

    /// Reports keys nobody asked for and returns every diagnostic.
    public func finish() -> [Diagnostic] {
        var out = diagnostics
        for (key, keyNode, _) in node.entries where !known.contains(key) {
            let suggestion = known.min { editDistance($0, key) < editDistance($1, key) }
            let hint = suggestion.flatMap { editDistance($0, key) <= 2 ? " (did you mean '\($0)'?)" : nil } ?? ""
            out.append(keyNode.error("unknown key '\(key)'\(hint)"))
        }
        for child in children { out.append(contentsOf: child.finish()) }
        return out
    }
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    for i in 1...a.count {
        var cur = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return prev[b.count]
}

/// Durations as written in configuration files: `250ms`, `10s`, `5m`, `24h`, `1.5s`.
public enum DurationText {
    public static func parse(_ text: String) -> Duration? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, seconds) in units where t.hasSuffix(suffix) {
            // Bounded before converting: Int64(_:) traps on a value like 1e300h.
            guard let v = Double(t.dropLast(suffix.count)), v >= 0, v.isFinite, v * seconds < 9e12 else { return nil }
            return .milliseconds(Int64((v * seconds * 1000).rounded()))
        }
        return nil
    }
}
